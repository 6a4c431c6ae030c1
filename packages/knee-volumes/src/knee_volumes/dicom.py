"""DICOM series (OAI style: one folder, slice files ``001``, ``002``, … without extension)."""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Sequence
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any, TypedDict

import numpy as np

from knee_volumes.atomic import atomic_folder
from knee_volumes.errors import VolumeError
from knee_volumes.orientation import canonical_geometry, to_canonical
from knee_volumes.volume import Volume, shape_flags, side_from_description

__all__ = ["SeriesHeader", "read_dicom_series", "read_series_header", "write_dicom_series"]

_LPS = np.diag([-1.0, -1.0, 1.0, 1.0])  # LPS <-> RAS (its own inverse)
_MR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.4"
_UID_ROOT = "1.2.826.0.1.3680043.8.498."  # pydicom's documented example root


def _slice_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise VolumeError("no such DICOM series folder", path=folder)
    files = sorted(
        p
        for p in folder.iterdir()
        if p.is_file() and not p.name.startswith(".") and p.name.lower() != "contents.csv"
    )
    if not files:
        raise VolumeError("DICOM series folder holds no slice files", path=folder)
    return files


def _read(path: Path, *, pixels: bool):  # -> pydicom.Dataset
    import pydicom
    from pydicom.errors import InvalidDicomError

    # headers only: large values (the pixels) are deferred, not read, but their
    # offset and length are known, which is enough to catch truncated files
    defer = None if pixels else 4096
    try:
        return pydicom.dcmread(path, defer_size=defer)
    except InvalidDicomError as exc:
        # older archives store datasets without the 128-byte preamble: accept those
        # that parse into an image slice, reject anything else
        try:
            ds = pydicom.dcmread(path, defer_size=defer, force=True)
        except Exception:
            ds = None
        if ds is None or "ImagePositionPatient" not in ds or "Rows" not in ds:
            raise VolumeError(f"not a DICOM file ({exc})", path=path) from exc
        return ds
    except Exception as exc:  # truncated files raise EOFError, OSError, struct.error ...
        raise VolumeError(
            f"unreadable DICOM file, truncated or corrupt ({type(exc).__name__}: {exc})", path=path
        ) from exc


def _floats(ds, keyword: str, n: int, path: Path) -> np.ndarray:
    value = ds.get(keyword)
    try:
        out = np.array([float(v) for v in value], dtype=float)
    except (TypeError, ValueError) as exc:
        raise VolumeError(f"missing or malformed {keyword}: {value!r}", path=path) from exc
    if out.shape != (n,) or not np.isfinite(out).all():
        raise VolumeError(f"{keyword} must hold {n} numbers, got {value!r}", path=path)
    return out


@dataclass(frozen=True)
class _Slice:
    path: Path
    ds: Any
    position: np.ndarray
    orientation: np.ndarray
    pixel_spacing: np.ndarray
    shape: tuple[int, int]
    series: str
    instance: int | None


def _slice_info(path: Path, ds) -> _Slice:
    for keyword in ("Rows", "Columns"):
        if keyword not in ds:
            raise VolumeError(f"missing {keyword}", path=path)
    series = (
        str(ds.get("SeriesInstanceUID") or "")
        or f"{ds.get('SeriesDescription')}#{ds.get('SeriesNumber')}"
    )
    instance = ds.get("InstanceNumber")
    return _Slice(
        path=path,
        ds=ds,
        position=_floats(ds, "ImagePositionPatient", 3, path),
        orientation=_floats(ds, "ImageOrientationPatient", 6, path),
        pixel_spacing=_floats(ds, "PixelSpacing", 2, path),
        shape=(int(ds.Rows), int(ds.Columns)),
        series=series,
        instance=None if instance in (None, "") else int(instance),
    )


def _order_and_check(folder: Path, slices: list[_Slice]) -> tuple[list[_Slice], np.ndarray]:
    """Check one consistent series, sort along the slice normal; returns slices and the LPS affine."""
    series = sorted({s.series for s in slices})
    if len(series) > 1:
        counts = {u: sum(s.series == u for s in slices) for u in series}
        detail = ", ".join(
            f"{u} ({n} files, e.g. {next(s.path.name for s in slices if s.series == u)})"
            for u, n in counts.items()
        )
        raise VolumeError(
            f"mixed series in one folder: {len(series)} series: {detail}", path=folder
        )
    first = slices[0]
    for s in slices[1:]:
        if s.shape != first.shape:
            raise VolumeError(
                f"slice size {s.shape} differs from {first.path.name}'s {first.shape}", path=s.path
            )
        if not np.allclose(s.orientation, first.orientation, atol=1e-4):
            raise VolumeError(
                f"ImageOrientationPatient {s.orientation.tolist()} differs from {first.path.name}'s",
                path=s.path,
            )
        if not np.allclose(s.pixel_spacing, first.pixel_spacing, rtol=1e-4):
            raise VolumeError(
                f"PixelSpacing {s.pixel_spacing.tolist()} differs from {first.path.name}'s",
                path=s.path,
            )
    row_dir, col_dir = first.orientation[:3], first.orientation[3:]
    if not (
        np.isclose(np.linalg.norm(row_dir), 1, atol=1e-3)
        and np.isclose(np.linalg.norm(col_dir), 1, atol=1e-3)
    ):
        raise VolumeError(
            f"ImageOrientationPatient is not two unit vectors: {first.orientation.tolist()}",
            path=first.path,
        )
    normal = np.cross(row_dir, col_dir)
    slices = sorted(slices, key=lambda s: float(s.position @ normal))
    pos = np.array([float(s.position @ normal) for s in slices])
    gaps = np.diff(pos)

    def pair(i: int) -> str:
        return " and ".join(sorted((slices[i].path.name, slices[i + 1].path.name)))

    for i, gap in enumerate(gaps):
        if abs(gap) < 1e-3:
            raise VolumeError(
                f"duplicated slice: {pair(i)} "
                f"are at the same position {slices[i].position.tolist()}",
                path=folder,
            )
    if len(gaps):
        step = float(np.min(gaps))  # a missing slice only widens a gap
        for i, gap in enumerate(gaps):
            if gap > 1.5 * step:
                missing = round(gap / step) - 1
                raise VolumeError(
                    f"missing slice(s): gap of {gap:.3f} mm between {pair(i)} (slice spacing {step:.3f} mm, about {missing} missing)",
                    path=folder,
                )
            if abs(gap - step) > 0.1 * step:
                raise VolumeError(
                    f"uneven slice spacing: {gap:.3f} mm between {pair(i)}, expected {step:.3f} mm",
                    path=folder,
                )
        slice_vec = (slices[-1].position - slices[0].position) / (len(slices) - 1)
    else:
        thickness = first.ds.get("SpacingBetweenSlices") or first.ds.get("SliceThickness") or 1.0
        slice_vec = normal * float(thickness)
    instances = [s.instance for s in slices]
    if all(i is not None for i in instances) and len(slices) > 1:
        ordered = sorted(instances)  # type: ignore[type-var]
        if len(set(ordered)) != len(ordered):
            dup = next(i for i in ordered if ordered.count(i) > 1)
            names = [s.path.name for s in slices if s.instance == dup]
            raise VolumeError(
                f"duplicated InstanceNumber {dup} in files {', '.join(names)}", path=folder
            )
        if ordered[-1] - ordered[0] + 1 != len(ordered):
            holes = sorted(set(range(ordered[0], ordered[-1] + 1)) - set(ordered))  # type: ignore[arg-type]
            raise VolumeError(
                f"missing slice(s): InstanceNumber {holes[:10]} absent from {ordered[0]}..{ordered[-1]}",
                path=folder,
            )
    lps = np.eye(4)
    lps[:3, 0] = slice_vec
    lps[:3, 1] = col_dir * first.pixel_spacing[0]  # down the rows
    lps[:3, 2] = row_dir * first.pixel_spacing[1]  # along a row
    lps[:3, 3] = slices[0].position
    return slices, lps


@dataclass(frozen=True)
class SeriesHeader:
    """What a series' headers say, read without pixel data (see :func:`read_series_header`)."""

    folder: str
    shape: tuple[int, int, int]
    affine: np.ndarray
    series_description: str | None
    patient_id: str | None
    study_date: str | None
    series_number: int | None
    side: int | None
    flags: tuple[str, ...]


class _Meta(TypedDict):
    series_description: str | None
    patient_id: str | None
    study_date: str | None
    series_number: int | None
    side: int | None


def _meta(ds: Any) -> _Meta:
    description = str(ds.get("SeriesDescription") or "").strip() or None
    side = side_from_description(description)
    if side is None:
        lat = str(ds.get("ImageLaterality") or ds.get("Laterality") or "").strip().upper()
        side = {"R": 1, "L": 2}.get(lat)
    number = ds.get("SeriesNumber")
    return _Meta(
        series_description=description,
        patient_id=str(ds.get("PatientID") or "").strip() or None,
        study_date=str(ds.get("StudyDate") or "").strip() or None,
        series_number=None if number in (None, "") else int(number),
        side=side,
    )


def _check_pixel_extent(path: Path, ds) -> None:
    """Without reading the pixels: they exist, have the size the header implies, and fit in the file."""
    if 0x7FE00010 not in ds:
        raise VolumeError("no pixel data", path=path)
    elem = ds.get_item(0x7FE00010)
    length, tell = getattr(elem, "length", None), getattr(elem, "value_tell", None)
    if length is None or tell is None or length == 0xFFFFFFFF:  # read already, or encapsulated
        return
    size = path.stat().st_size
    if tell + length > size:
        raise VolumeError(
            f"truncated: pixel data needs bytes {tell}..{tell + length}, file has {size}", path=path
        )
    need = (
        int(ds.Rows)
        * int(ds.Columns)
        * int(ds.get("SamplesPerPixel", 1))
        * (int(ds.get("BitsAllocated", 16)) // 8)
    )
    if length < need:
        raise VolumeError(
            f"pixel data holds {length} bytes, {ds.Rows}x{ds.Columns} pixels need {need}", path=path
        )


def read_series_header(folder: str | PathLike[str]) -> SeriesHeader:
    """Check a series folder from its headers only (fast, pixels are not decoded): one series, no
    missing or duplicated slices, files long enough to hold their pixels. Raises :class:`VolumeError` like
    :func:`read_dicom_series`; the shape and affine are those of the canonical volume."""
    folder = Path(folder)
    slices = []
    for path in _slice_files(folder):
        ds = _read(path, pixels=False)
        info = _slice_info(path, ds)
        _check_pixel_extent(path, ds)
        slices.append(info)
    slices, lps = _order_and_check(folder, slices)
    shape = (len(slices), *slices[0].shape)
    canon_shape, affine = canonical_geometry(shape, _LPS @ lps)
    meta = _meta(slices[0].ds)
    return SeriesHeader(
        folder=str(folder), shape=canon_shape, affine=affine, flags=shape_flags(canon_shape), **meta
    )  # type: ignore[arg-type]


def _visit_from_path(folder: Path) -> str | None:
    from moaks_schema import VISITS

    releases = {r: v.label for v in VISITS for r in v.releases}
    for part in reversed(folder.resolve().parts):
        if part in releases:
            return releases[part]
    return None


def read_dicom_series(folder: str | PathLike[str]) -> Volume:
    """Read one DICOM series folder into a canonical :class:`Volume`.

    Slices are ordered by position along the slice normal (not by file name).
    Side comes from the series description (``SAG_3D_DESS_RIGHT``) or the
    laterality tag; the visit from an OAI release folder in the path
    (``1.C.2`` → ``12M``). Rescale slope / intercept are applied when present
    (float32 result); otherwise the stored integers are kept.

    Raises :class:`VolumeError` for a corrupt or truncated file, a non-DICOM
    file, mixed series, duplicated or missing slices or inconsistent geometry.
    An unusual shape loads and is listed in ``flags``.
    """
    folder = Path(folder)
    slices = [_slice_info(p, _read(p, pixels=True)) for p in _slice_files(folder)]
    slices, lps = _order_and_check(folder, slices)
    planes = []
    rescale = False
    for s in slices:
        ds = s.ds
        try:
            plane = ds.pixel_array  # type: ignore[attr-defined]
        except Exception as exc:
            raise VolumeError(
                f"pixel data unreadable, truncated or corrupt ({type(exc).__name__}: {exc})",
                path=s.path,
            ) from exc
        if plane.shape != s.shape:
            raise VolumeError(
                f"pixel array has shape {plane.shape}, header says {s.shape}", path=s.path
            )
        slope = float(ds.get("RescaleSlope", 1) or 1)  # type: ignore[attr-defined]
        intercept = float(ds.get("RescaleIntercept", 0) or 0)  # type: ignore[attr-defined]
        if slope != 1 or intercept != 0:
            rescale = True
            plane = plane.astype(np.float32) * slope + intercept
        planes.append(plane)
    if rescale:
        planes = [p.astype(np.float32) for p in planes]
    array, affine = to_canonical(np.stack(planes), _LPS @ lps)
    return Volume(
        array=array,
        affine=affine,
        visit=_visit_from_path(folder),
        source=str(folder),
        flags=shape_flags(array.shape),
        **_meta(slices[0].ds),
    )


def _uid(*parts: object) -> str:
    from pydicom.uid import generate_uid

    return str(generate_uid(prefix=_UID_ROOT, entropy_srcs=[str(p) for p in parts]))


def _pixels(array: np.ndarray) -> np.ndarray:
    if array.dtype.kind in "ui" and array.dtype.itemsize <= 2:
        return array.astype(np.uint16 if array.dtype.kind == "u" else np.int16, copy=False)
    if array.dtype.kind == "b":
        return array.astype(np.uint16)
    lo, hi = float(np.min(array)), float(np.max(array))
    if array.dtype.kind == "f" and not np.array_equal(array, np.round(array)):
        raise VolumeError(
            f"DICOM output needs whole-number intensities; array has dtype {array.dtype} with fractions"
        )
    if lo >= 0 and hi <= 65535:
        return array.astype(np.uint16)
    if lo >= -32768 and hi <= 32767:
        return array.astype(np.int16)
    raise VolumeError(f"intensities {lo}..{hi} do not fit 16-bit DICOM pixels")


def write_dicom_series(
    volume: Volume,
    folder: str | PathLike[str],
    *,
    series_description: str | None = None,
    patient_id: str | None = None,
    study_date: str | None = None,
    series_number: int | None = None,
    overwrite: bool = False,
    file_names: Sequence[str] | None = None,
) -> Path:
    """Write a canonical volume as an OAI-style DICOM series folder (``001``, ``002``, …) atomically.

    One file per slice (in canonical slice order), MR Image Storage, explicit
    VR little endian, 16-bit pixels, geometry (ImagePositionPatient,
    ImageOrientationPatient, PixelSpacing) from the volume's affine so that
    :func:`read_dicom_series` gives back the same array and affine. Options
    default to the volume's own fields (then ``SAG_3D_DESS_RIGHT`` /
    ``SAG_3D_DESS_LEFT`` by side, patient ``9000000``, date ``20040101``,
    series 1). UIDs are derived from the content, so the same input gives the
    same bytes.
    """
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import UID, ExplicitVRLittleEndian

    folder = Path(folder)
    side = volume.side
    description = (
        series_description
        or volume.series_description
        or ("SAG_3D_DESS_LEFT" if side == 2 else "SAG_3D_DESS_RIGHT")
    )
    if side is None:
        side = side_from_description(description)
    patient = patient_id or volume.patient_id or "9000000"
    date = study_date or volume.study_date or "20040101"
    if not re.fullmatch(r"\d{8}", date):
        raise VolumeError(f"study_date must be YYYYMMDD, got {date!r}", path=folder)
    _dt.datetime.strptime(date, "%Y%m%d")
    number = series_number if series_number is not None else (volume.series_number or 1)
    pixels = _pixels(volume.array)
    n = pixels.shape[0]
    names = list(file_names) if file_names is not None else [f"{i + 1:03d}" for i in range(n)]
    if len(names) != n:
        raise VolumeError(f"{len(names)} file names for {n} slices", path=folder)
    lps = _LPS @ volume.affine
    col_step, row_step = lps[:3, 1], lps[:3, 2]
    row_mm, col_mm = float(np.linalg.norm(col_step)), float(np.linalg.norm(row_step))
    iop = np.concatenate([row_step / col_mm, col_step / row_mm])
    slice_mm = float(np.linalg.norm(lps[:3, 0]))
    study_uid = _uid("study", patient, date)
    series_uid = _uid("series", patient, date, number, description)
    with atomic_folder(folder, overwrite=overwrite) as tmp:
        for i in range(n):
            position = lps @ np.array([i, 0.0, 0.0, 1.0])
            sop_uid = _uid(series_uid, i)
            meta = FileMetaDataset()
            meta.MediaStorageSOPClassUID = UID(_MR_IMAGE_STORAGE)
            meta.MediaStorageSOPInstanceUID = UID(sop_uid)
            meta.TransferSyntaxUID = ExplicitVRLittleEndian
            ds = Dataset()
            ds.file_meta = meta
            ds.SOPClassUID = _MR_IMAGE_STORAGE
            ds.SOPInstanceUID = sop_uid
            ds.StudyInstanceUID = study_uid
            ds.SeriesInstanceUID = series_uid
            ds.Modality = "MR"
            ds.PatientID = patient
            ds.StudyDate = date
            ds.SeriesDate = date
            ds.SeriesDescription = description
            ds.SeriesNumber = int(number)
            ds.InstanceNumber = i + 1
            if side in (1, 2):
                ds.Laterality = "R" if side == 1 else "L"
            ds.ImagePositionPatient = [f"{v:.6f}" for v in position[:3]]
            ds.ImageOrientationPatient = [f"{v:.8f}" for v in iop]
            ds.PixelSpacing = [f"{row_mm:.6f}", f"{col_mm:.6f}"]
            ds.SliceThickness = f"{slice_mm:.6f}"
            ds.SpacingBetweenSlices = f"{slice_mm:.6f}"
            ds.SliceLocation = f"{float(position[:3] @ np.cross(iop[:3], iop[3:])):.6f}"
            ds.SamplesPerPixel = 1
            ds.PhotometricInterpretation = "MONOCHROME2"
            ds.Rows, ds.Columns = int(pixels.shape[1]), int(pixels.shape[2])
            ds.BitsAllocated = 16
            ds.BitsStored = 16
            ds.HighBit = 15
            ds.PixelRepresentation = 1 if pixels.dtype == np.int16 else 0
            ds.PixelData = (
                np.ascontiguousarray(pixels[i]).astype(pixels.dtype.newbyteorder("<")).tobytes()
            )
            ds.save_as(tmp / names[i], enforce_file_format=True)
    return folder
