"""NIfTI (.nii / .nii.gz) volumes and label maps in and out of the canonical layout."""

from __future__ import annotations

import re
from os import PathLike
from pathlib import Path

import nibabel as nib
import numpy as np

from knee_volumes.atomic import atomic_file
from knee_volumes.errors import VolumeError
from knee_volumes.orientation import to_canonical
from knee_volumes.space import SPACE_ATOL_MM, Grid, Gridded, check_same_space, check_side
from knee_volumes.volume import Volume, shape_flags

__all__ = ["read_label_map", "read_nifti", "write_nifti"]

_PUBLIC_NAME = re.compile(r"^(?P<date>\d{8})_(?P<series>\d+)_(?P<side>[12])\.nii(\.gz)?$")


def _load(path: Path) -> tuple[np.ndarray, np.ndarray, nib.Nifti1Image]:
    """Array (stored dtype in native byte order, or float32 when the header scales) and affine,
    with errors named."""
    if not path.is_file():
        raise VolumeError("no such NIfTI file", path=path)
    try:
        img = nib.load(path)
    except Exception as exc:  # nibabel raises many types for bad headers
        raise VolumeError(
            f"not a readable NIfTI file ({type(exc).__name__}: {exc})", path=path
        ) from exc
    if not isinstance(img, nib.Nifti1Image | nib.Nifti2Image):
        raise VolumeError(f"not a NIfTI image (nibabel read it as {type(img).__name__})", path=path)
    shape = img.shape
    if len(shape) == 4 and shape[3] == 1:
        shape = shape[:3]
    if len(shape) != 3:
        raise VolumeError(f"expected a 3D image, header says shape {img.shape}", path=path)
    try:
        proxy = img.dataobj
        slope, inter = getattr(proxy, "slope", 1.0), getattr(proxy, "inter", 0.0)
        if slope != 1.0 or inter != 0.0:  # scaled storage: float32, not nibabel's float64 default
            array = img.get_fdata(dtype=np.float32)
        else:
            array = np.asanyarray(proxy)  # stored dtype, no copy to float
    except Exception as exc:  # truncated or corrupt data: EOFError, zlib.error, ValueError ...
        raise VolumeError(
            f"image data unreadable, the file is truncated or corrupt ({type(exc).__name__}: {exc})",
            path=path,
        ) from exc
    array = array.reshape(shape)
    if not array.dtype.isnative:  # big-endian files: native order, so torch.from_numpy works
        array = array.astype(array.dtype.newbyteorder("="))
    affine = np.asarray(img.affine, dtype=float)
    if not np.isfinite(affine).all() or abs(np.linalg.det(affine[:3, :3])) < 1e-12:
        raise VolumeError(f"affine is not invertible: {affine.tolist()}", path=path)
    return array, affine, img


def _known_from_name(path: Path) -> dict[str, object]:
    """Patient, visit and side from the public layout ``<patient>/<visit>/<date>_<series>_<side>.nii.gz``."""
    from moaks_schema import VISITS

    known: dict[str, object] = {}
    m = _PUBLIC_NAME.match(path.name)
    if m:
        known.update(side=int(m["side"]), study_date=m["date"], series_number=int(m["series"]))
    parts = path.parts
    if len(parts) >= 3 and parts[-2] in {v.label for v in VISITS}:
        known["visit"] = parts[-2]
        if re.fullmatch(r"\d{7}", parts[-3]):
            known["patient_id"] = parts[-3]
    return known


def read_nifti(path: str | PathLike[str]) -> Volume:
    """Read a NIfTI scan into a canonical :class:`Volume` (any orientation on disk).

    Patient, visit and side are filled in when the path follows the public
    layout ``images/<patient>/<visit>/<date>_<series>_<side>.nii.gz``. An
    unusual shape is listed in ``flags``; an unreadable file raises
    :class:`VolumeError`.
    """
    path = Path(path)
    array, affine, img = _load(path)
    array, affine = to_canonical(array, affine)
    descrip = img.header.get("descrip")
    description = None
    if descrip is not None:
        text = (
            bytes(np.asarray(descrip).tobytes()).split(b"\0")[0].decode("ascii", "replace").strip()
        )
        description = text or None
    known = _known_from_name(path)
    return Volume(
        array=array,
        affine=affine,
        series_description=description,
        source=str(path),
        flags=shape_flags(array.shape),
        **known,  # type: ignore[arg-type]
    )


def read_label_map(
    path: str | PathLike[str],
    *,
    like: Gridded | None = None,
    side: int | None = None,
    atol_mm: float = SPACE_ATOL_MM,
    expect_shape: tuple[int, int, int] | None = None,
) -> np.ndarray:
    """Read an integer label map in the canonical layout, without a float copy.

    The data are taken as stored (``np.asanyarray(img.dataobj)``); stored
    floats must hold whole numbers. The result is ``uint8`` when labels fit
    (0..255), otherwise the smallest fitting integer type.

    ``like``: the image the map belongs to (a :class:`Volume`, or anything
    with ``shape`` and ``affine``); the map must cover the same voxel grid
    within ``atol_mm`` (:func:`knee_volumes.space.check_same_space`), in any
    valid orientation on disk. ``side``: the knee's side (1 right, 2 left);
    a mirrored map is refused (:func:`knee_volumes.space.check_side`).
    ``expect_shape``: only the canonical shape is checked.
    """
    path = Path(path)
    array, affine, _ = _load(path)
    if like is not None:
        check_same_space(like, Grid(array.shape, affine), atol_mm=atol_mm, label_path=path)
    if array.dtype.kind == "f":
        if not np.isfinite(array).all() or not np.array_equal(array, np.round(array)):
            raise VolumeError(
                "label map holds non-integer values; expected integer labels", path=path
            )
    elif array.dtype.kind not in "iub":
        raise VolumeError(f"label map has dtype {array.dtype}; expected integers", path=path)
    lo, hi = (int(array.min()), int(array.max())) if array.size else (0, 0)
    if lo < 0:
        raise VolumeError(f"label map has negative label {lo}; expected labels >= 0", path=path)
    dtype = np.uint8 if hi < 256 else np.uint16 if hi < 65536 else np.int64
    if array.dtype != dtype:
        array = array.astype(dtype)
    array, _ = to_canonical(array, affine)
    if expect_shape is not None and tuple(array.shape) != tuple(expect_shape):
        raise VolumeError(
            f"label map shape {tuple(array.shape)} differs from the scan's {tuple(expect_shape)}",
            path=path,
        )
    if side is not None:
        check_side(array, side, label_path=path)
    return array


def write_nifti(
    volume: Volume | np.ndarray, path: str | PathLike[str], *, affine: np.ndarray | None = None
) -> Path:
    """Write a volume (or a bare array) to ``.nii`` / ``.nii.gz`` atomically; returns the path.

    The array is written as is (canonical layout) with ``affine`` (default: the
    volume's, or the canonical one for unit spacing), as both sform and qform,
    so :func:`read_nifti` gives back the same array and affine. The series
    description goes into the header's ``descrip``.
    """
    path = Path(path)
    if not (path.name.endswith(".nii") or path.name.endswith(".nii.gz")):
        raise VolumeError("NIfTI output must end in .nii or .nii.gz", path=path)
    if isinstance(volume, Volume):
        array = volume.array
        aff = volume.affine if affine is None else affine
        description = volume.series_description
    else:
        array = np.asanyarray(volume)
        aff = Volume(np.empty((1, 1, 1), np.uint8)).affine if affine is None else affine
        description = None
    aff = np.asarray(aff, dtype=float)
    if array.dtype == np.bool_:
        array = array.astype(np.uint8)
    img = nib.Nifti1Image(array, aff)
    img.set_sform(aff, code=1)
    img.set_qform(aff, code=1)
    if description:
        img.header["descrip"] = description.encode("ascii", "replace")[:79]
    suffix = ".nii.gz" if path.name.endswith(".gz") else ".nii"
    with atomic_file(path, suffix=suffix) as tmp:
        nib.save(img, tmp)
    return path
