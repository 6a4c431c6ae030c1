"""The canonical orientation of every volume in this project, and conversion to it.

Canonical layout: a 3D array ``(slice, row, col)`` whose index axes point, in
patient terms,

- axis 0 (slice): from the patient's **right to left** (sagittal slices),
- axis 1 (row):   from **superior to inferior** (head to feet),
- axis 2 (col):   from **anterior to posterior** (front to back),

i.e. nibabel axis codes ``("L", "I", "P")``. This is what a sagittal DESS
DICOM series gives natively (ImageOrientationPatient ``[0, 1, 0, 0, 0, -1]``,
slices stacked along +x of DICOM's LPS patient space). The affine that goes
with the array maps ``(slice, row, col, 1)`` to RAS+ millimetres (the NIfTI /
nibabel convention), and spacing is ``(slice_mm, row_mm, col_mm)``.

A right knee's slice 0 is therefore its lateral side, a left knee's slice 0
its medial side. Conversion never resamples: it only permutes and flips axes
(to the nearest canonical axes for an oblique acquisition) and updates the
affine so that every voxel keeps its world position.
"""

from __future__ import annotations

import numpy as np
from nibabel import orientations as _ornt

from knee_volumes.errors import VolumeError

__all__ = [
    "CANONICAL_AXCODES",
    "axcodes",
    "canonical_geometry",
    "canonical_transform",
    "from_canonical",
    "spacing_from_affine",
    "to_canonical",
]

#: nibabel axis codes of the canonical layout (the direction each index axis increases toward).
CANONICAL_AXCODES: tuple[str, str, str] = ("L", "I", "P")


def axcodes(affine: np.ndarray) -> tuple[str, str, str]:
    """Axis codes (nearest anatomical direction of each index axis) of an affine.

    >>> axcodes(np.diag([1.0, 1.0, 1.0, 1.0]))
    ('R', 'A', 'S')
    """
    return tuple(str(c) for c in _ornt.aff2axcodes(np.asarray(affine, dtype=float)))  # type: ignore[return-value]


def spacing_from_affine(affine: np.ndarray) -> tuple[float, float, float]:
    """Voxel size in mm along each index axis (the norms of the affine's columns)."""
    a = np.asarray(affine, dtype=float)
    return tuple(float(v) for v in np.linalg.norm(a[:3, :3], axis=0))  # type: ignore[return-value]


def canonical_transform(affine: np.ndarray) -> np.ndarray:
    """nibabel orientation transform (per input axis: output axis, flip) to the canonical layout."""
    current = _ornt.io_orientation(affine)
    if np.isnan(current).any():
        raise VolumeError(f"affine has a degenerate axis: {affine.tolist()}")
    return _ornt.ornt_transform(current, _ornt.axcodes2ornt(CANONICAL_AXCODES))


def canonical_geometry(
    shape: tuple[int, int, int], affine: np.ndarray
) -> tuple[tuple[int, int, int], np.ndarray]:
    """Shape and affine that :func:`to_canonical` would give, without touching any data.

    >>> canonical_geometry((2, 3, 4), np.eye(4))[0]
    (2, 4, 3)
    """
    affine = np.asarray(affine, dtype=float)
    transform = canonical_transform(affine)
    new_shape = tuple(int(shape[int(a)]) for a in np.argsort(transform[:, 0]))
    return new_shape, affine @ _ornt.inv_ornt_aff(transform, shape)  # type: ignore[return-value]


def to_canonical(array: np.ndarray, affine: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Permute / flip ``array`` into the canonical layout and return it with its new affine.

    The array is returned unchanged when it is already canonical, otherwise as
    a C-contiguous copy of the same dtype.

    >>> a = np.arange(24).reshape(2, 3, 4)
    >>> ras = np.diag([1.0, 1.0, 1.0, 1.0])          # axes point R, A, S
    >>> b, aff = to_canonical(a, ras)
    >>> b.shape, axcodes(aff)
    ((2, 4, 3), ('L', 'I', 'P'))
    """
    affine = np.asarray(affine, dtype=float)
    if array.ndim != 3:
        raise VolumeError(f"expected a 3D array, got shape {array.shape}")
    transform = canonical_transform(affine)
    if np.array_equal(transform, [[0, 1], [1, 1], [2, 1]]):
        return array, affine
    out = np.ascontiguousarray(_ornt.apply_orientation(array, transform))
    new_affine = affine @ _ornt.inv_ornt_aff(transform, array.shape)
    return out, new_affine


def from_canonical(array: np.ndarray, affine: np.ndarray) -> np.ndarray:
    """The inverse of :func:`to_canonical`: a canonical array back into the axes of ``affine``.

    ``affine`` is the (non-canonical) affine of the file the array should be
    written with, e.g. the image a label map belongs to.

    >>> a = np.arange(24).reshape(2, 3, 4)
    >>> b, _ = to_canonical(a, np.eye(4))
    >>> bool((from_canonical(b, np.eye(4)) == a).all())
    True
    """
    target = _ornt.io_orientation(np.asarray(affine, dtype=float))
    transform = _ornt.ornt_transform(_ornt.axcodes2ornt(CANONICAL_AXCODES), target)
    return np.ascontiguousarray(_ornt.apply_orientation(array, transform))
