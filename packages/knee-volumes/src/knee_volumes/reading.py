"""One entry point for any scan: a NIfTI file or a DICOM series folder."""

from __future__ import annotations

from os import PathLike
from pathlib import Path

from knee_volumes.errors import VolumeError
from knee_volumes.volume import Volume

__all__ = ["read_volume"]


def read_volume(path: str | PathLike[str]) -> Volume:
    """Read a ``.nii`` / ``.nii.gz`` file, a DICOM series folder or one DICOM file (an enhanced
    multi-frame image, or a single slice) into a canonical :class:`Volume`.

    Raises :class:`VolumeError` (naming the file and the problem) for anything
    unreadable; an unusual shape loads and is listed in ``Volume.flags``.
    """
    from knee_volumes.dicom import read_dicom_series
    from knee_volumes.nifti import read_nifti

    p = Path(path)
    if p.is_dir():
        return read_dicom_series(p)
    if p.name.endswith(".nii") or p.name.endswith(".nii.gz"):
        return read_nifti(p)
    if not p.exists():
        raise VolumeError("no such file or folder", path=p)
    try:
        return read_dicom_series(p)  # one DICOM file: a multi-frame volume or a single slice
    except VolumeError as exc:
        if exc.reason.startswith("not a DICOM file"):
            raise VolumeError(
                f"{exc.reason}: expected a .nii / .nii.gz file, a DICOM file or a DICOM series "
                "folder",
                path=p,
            ) from None
        raise
