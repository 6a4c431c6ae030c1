"""Knee DESS MRI volumes: NIfTI/DICOM IO in one canonical orientation, OAI release manifests,
model frames and previews (the phantom cohort is the separate package ``knee-phantom``).

Canonical layout (see :mod:`knee_volumes.orientation`): ``array[slice, row, col]``
with slices right→left, rows superior→inferior, columns anterior→posterior
(axis codes ``L, I, P``), an affine to RAS+ mm and spacing in mm.

>>> import numpy as np
>>> from knee_volumes import Volume, prepare_frames
>>> v = Volume(np.full((8, 32, 32), 200, np.uint16), spacing=(0.7, 0.365, 0.365))
>>> v.axcodes
('L', 'I', 'P')
>>> f = prepare_frames(v, slices=4, size=(16, 16))
>>> f.array.shape, f.array.dtype, f.slice_indices
((4, 16, 16, 3), dtype('uint8'), (1, 3, 5, 7))
"""

from knee_volumes.atomic import atomic_file, atomic_folder
from knee_volumes.dicom import (
    SeriesHeader,
    read_dicom_series,
    read_series_header,
    write_dicom_series,
)
from knee_volumes.errors import VolumeError
from knee_volumes.frames import Frames, SliceRange, plan_slices, prepare_frames
from knee_volumes.manifest import (
    CONTENTS_COLUMNS,
    DESS_SERIES,
    MANIFEST_SCHEMA,
    PUBLIC_SPLIT_COLUMNS,
    read_public_splits,
    scan_oai_release,
)
from knee_volumes.nifti import read_label_map, read_nifti, write_nifti
from knee_volumes.orientation import (
    CANONICAL_AXCODES,
    axcodes,
    canonical_geometry,
    from_canonical,
    to_canonical,
)
from knee_volumes.pictures import BOX_COLOURS, montage_png, preview_png
from knee_volumes.reading import read_volume
from knee_volumes.sizes import parse_size
from knee_volumes.space import SPACE_ATOL_MM, Grid, check_same_space, check_side
from knee_volumes.volume import (
    STANDARD_SHAPE,
    STANDARD_SPACING,
    Volume,
    scan_id_of,
    shape_flags,
    side_from_description,
)
from knee_volumes.windowing import DEFAULT_PERCENTILES, PUBLIC_WINDOW, resolve_window, window

__version__ = "0.1.0"

__all__ = [
    "BOX_COLOURS",
    "CANONICAL_AXCODES",
    "CONTENTS_COLUMNS",
    "DEFAULT_PERCENTILES",
    "DESS_SERIES",
    "MANIFEST_SCHEMA",
    "PUBLIC_SPLIT_COLUMNS",
    "PUBLIC_WINDOW",
    "SPACE_ATOL_MM",
    "STANDARD_SHAPE",
    "STANDARD_SPACING",
    "Frames",
    "Grid",
    "SeriesHeader",
    "SliceRange",
    "Volume",
    "VolumeError",
    "__version__",
    "atomic_file",
    "atomic_folder",
    "axcodes",
    "canonical_geometry",
    "check_same_space",
    "check_side",
    "from_canonical",
    "montage_png",
    "parse_size",
    "plan_slices",
    "prepare_frames",
    "preview_png",
    "read_dicom_series",
    "read_label_map",
    "read_nifti",
    "read_public_splits",
    "read_series_header",
    "read_volume",
    "resolve_window",
    "scan_id_of",
    "scan_oai_release",
    "shape_flags",
    "side_from_description",
    "to_canonical",
    "window",
    "write_dicom_series",
    "write_nifti",
]
