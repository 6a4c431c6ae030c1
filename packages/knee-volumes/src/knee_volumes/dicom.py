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
from nibabel.orientations import apply_orientation

from knee_volumes.atomic import atomic_folder
from knee_volumes.dicom_header import PixelExtent, check_pixel_extent, read_header
from knee_volumes.dicom_objects import frame_geometries, refuse_non_image
from knee_volumes.dicom_pixels import read_pixels, read_plane_into
from knee_volumes.errors import VolumeError
from knee_volumes.orientation import canonical_geometry, canonical_transform, to_canonical
from knee_volumes.volume import Volume, shape_flags, side_from_description

__all__ = ["SeriesHeader", "read_dicom_series", "read_series_header", "write_dicom_series"]

_LPS = np.diag([-1.0, -1.0, 1.0, 1.0])  # LPS <-> RAS (its own inverse)
_MR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.4"
_UID_ROOT = "1.2.826.0.1.3680043.8.498."  # pydicom's documented example root


_DICOM_SUFFIXES = ("", ".dcm", ".dicom", ".ima")


def _slice_files(folder: Path) -> list[Path]:
    if folder.is_file():
        return [folder]
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


@dataclass(frozen=True)
class _Slice:
    path: Path
    ds: Any
    extent: PixelExtent | None
    frame: int  # index of the frame within its file
    n_frames: int
    position: np.ndarray
    orientation: np.ndarray
    pixel_spacing: np.ndarray
    thickness: float | None
    shape: tuple[int, int]
    series: str
    instance: int | None

    @property
    def name(self) -> str:
        return self.path.name if self.n_frames == 1 else f"{self.path.name} frame {self.frame + 1}"


def _file_slices(path: Path, ds, extent: PixelExtent | None) -> list[_Slice]:
    refuse_non_image(path, ds)
    for keyword in ("Rows", "Columns"):
        if keyword not in ds:
            what = str(ds.get("SOPClassUID") or "no SOP class")
            raise VolumeError(f"no pixel data: not an image (missing {keyword}; {what})", path=path)
    geometries = frame_geometries(path, ds)
    series = (
        str(ds.get("SeriesInstanceUID") or "")
        or f"{ds.get('SeriesDescription')}#{ds.get('SeriesNumber')}"
    )
    instance = ds.get("InstanceNumber")
    return [
        _Slice(
            path=path,
            ds=ds,
            extent=extent,
            frame=k,
            n_frames=len(geometries),
            position=g.position,
            orientation=g.orientation,
            pixel_spacing=g.pixel_spacing,
            thickness=g.thickness,
            shape=(int(ds.Rows), int(ds.Columns)),
            series=series,
            instance=None if instance in (None, "") or len(geometries) > 1 else int(instance),
        )
        for k, g in enumerate(geometries)
    ]


def _collect(folder: Path) -> tuple[list[_Slice], tuple[str, ...]]:
    """Every image frame of a series folder (or one file), checked to fit in its file.

    Files that are plainly not DICOM (a ``README.txt``: a suffix other than
    none, ``.dcm``, ``.dicom`` or ``.ima``) and DICOMDIR indexes are skipped
    and returned as a flag; anything else that fails raises.
    """
    slices: list[_Slice] = []
    skipped: list[str] = []
    for path in _slice_files(folder):
        try:
            ds, extent = read_header(path)
        except VolumeError as exc:
            stray = path.suffix.lower() not in _DICOM_SUFFIXES
            if stray and folder.is_dir() and exc.reason.startswith("not a DICOM file"):
                skipped.append(path.name)
                continue
            raise
        meta = getattr(ds, "file_meta", None) or {}
        sop = str(ds.get("SOPClassUID") or meta.get("MediaStorageSOPClassUID") or "")
        if sop == "1.2.840.10008.1.3.10" and folder.is_dir():
            skipped.append(path.name)
            continue
        try:
            file_slices = _file_slices(path, ds, extent)
            check_pixel_extent(path, ds, extent)
        except (ValueError, TypeError, AttributeError, KeyError) as exc:
            if isinstance(exc, VolumeError):
                raise
            raise VolumeError(
                f"malformed DICOM header ({type(exc).__name__}: {exc})", path=path
            ) from exc
        slices.extend(file_slices)
    if not slices:
        raise VolumeError(
            f"no DICOM image slices (skipped as not DICOM or an index: {', '.join(skipped)})",
            path=folder,
        )
    flags = (f"skipped non-DICOM file(s): {', '.join(skipped)}",) if skipped else ()
    return slices, flags


def _order_and_check(folder: Path, slices: list[_Slice]) -> tuple[list[_Slice], np.ndarray]:
    """Check one consistent series, sort along the slice normal; returns slices and the LPS affine."""
    series = sorted({s.series for s in slices})
    if len(series) > 1:
        counts = {u: sum(s.series == u for s in slices) for u in series}
        detail = ", ".join(
            f"{u} ({n} images, e.g. {next(s.name for s in slices if s.series == u)})"
            for u, n in counts.items()
        )
        raise VolumeError(
            f"mixed series in one folder: {len(series)} series: {detail}", path=folder
        )
    first = slices[0]
    orientations = np.array([s.orientation for s in slices])
    spacings = np.array([s.pixel_spacing for s in slices])
    same = (
        np.array([s.shape == first.shape for s in slices])
        & np.isclose(orientations, first.orientation, rtol=1e-5, atol=1e-4).all(axis=1)
        & np.isclose(spacings, first.pixel_spacing, rtol=1e-4).all(axis=1)
    )
    for s in [] if same.all() else slices[int(np.argmin(same)) :][:1]:  # the first that differs
        if s.shape != first.shape:
            raise VolumeError(
                f"{s.name}: slice size {s.shape} differs from {first.name}'s {first.shape}",
                path=s.path,
            )
        if not np.allclose(s.orientation, first.orientation, atol=1e-4):
            raise VolumeError(
                f"{s.name}: ImageOrientationPatient {s.orientation.tolist()} differs from {first.name}'s",
                path=s.path,
            )
        if not np.allclose(s.pixel_spacing, first.pixel_spacing, rtol=1e-4):
            raise VolumeError(
                f"{s.name}: PixelSpacing {s.pixel_spacing.tolist()} differs from {first.name}'s",
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
        return " and ".join(sorted((slices[i].name, slices[i + 1].name)))

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
        # one slice: its spacing is SpacingBetweenSlices, else SliceThickness, else 1 mm
        slice_vec = normal * float(first.thickness or 1.0)
    instances = [s.instance for s in slices]
    if all(i is not None for i in instances) and len(slices) > 1:
        ordered = sorted(instances)  # type: ignore[type-var]
        if len(set(ordered)) != len(ordered):
            dup = next(i for i in ordered if ordered.count(i) > 1)
            names = [s.name for s in slices if s.instance == dup]
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


def read_series_header(folder: str | PathLike[str]) -> SeriesHeader:
    """Check a series folder from its headers only (fast, pixels are not read): one series, no
    missing or duplicated slices, files long enough to hold their pixels. Raises :class:`VolumeError` like
    :func:`read_dicom_series`; the shape and affine are those of the canonical volume."""
    folder = Path(folder)
    slices, skipped = _collect(folder)
    slices, lps = _order_and_check(folder, slices)
    shape = (len(slices), *slices[0].shape)
    canon_shape, affine = canonical_geometry(shape, _LPS @ lps)
    meta = _meta(slices[0].ds)
    return SeriesHeader(
        folder=str(folder),
        shape=canon_shape,
        affine=affine,
        flags=shape_flags(canon_shape) + skipped,
        **meta,
    )  # type: ignore[arg-type]


def _visit_from_path(folder: Path) -> str | None:
    from moaks_schema import VISITS

    releases = {r: v.label for v in VISITS for r in v.releases}
    for part in reversed(folder.resolve().parts):
        if part in releases:
            return releases[part]
    return None


def _plane(s: _Slice, cache: dict[Path, np.ndarray]) -> np.ndarray:
    """One slice's stored pixels (each file decoded once; one file kept in memory)."""
    if s.path not in cache:
        cache.clear()
        cache[s.path] = read_pixels(s.path, s.ds, s.extent)
    return cache[s.path][s.frame]


def _volume_array(slices: list[_Slice], lps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The canonical array and affine of ordered slices, rescaled when a header says so.

    When the slice axis stays the canonical slice axis (sagittal series), each plane is
    written once into its canonical place, ordinary slices read straight from the file;
    otherwise the planes are stacked and reoriented.
    """
    affine_lps = _LPS @ lps
    transform = canonical_transform(affine_lps)
    scales = [_rescale(s) for s in slices]
    rescale = any(sc != (1.0, 0.0) for sc in scales)
    cache: dict[Path, np.ndarray] = {}
    if transform[0, 0] != 0:
        planes = [
            _plane(s, cache).astype(np.float32) * m + b if rescale else _plane(s, cache)
            for s, (m, b) in zip(slices, scales, strict=True)
        ]
        return to_canonical(np.stack(planes), affine_lps)
    n = len(slices)
    shape, affine = canonical_geometry((n, *slices[0].shape), affine_lps)
    in_plane = transform.copy()
    in_plane[0] = (0, 1)
    direct = not rescale and np.array_equal(in_plane, [[0, 1], [1, 1], [2, 1]])
    first = _plane(slices[0], cache)
    out = np.empty(shape, np.float32 if rescale else first.dtype)
    for i, (s, (slope, intercept)) in enumerate(zip(slices, scales, strict=True)):
        target = out[n - 1 - i if transform[0, 1] < 0 else i]
        if direct and i > 0 and read_plane_into(s.path, s.ds, s.extent, target):
            continue
        plane = apply_orientation(_plane(s, cache)[None], in_plane)[0]
        if plane.shape != target.shape:
            raise VolumeError(
                f"pixel array has shape {plane.shape}, expected {target.shape}", path=s.path
            )
        target[...] = plane.astype(np.float32) * slope + intercept if rescale else plane
    return out, affine


def _rescale(s: _Slice) -> tuple[float, float]:
    """Rescale slope and intercept of a slice (per-frame PixelValueTransformationSequence first)."""
    item = s.ds
    if s.n_frames > 1:
        from knee_volumes.dicom_objects import frame_item

        item = frame_item(s.ds, s.frame, "PixelValueTransformationSequence") or s.ds
    slope = float(item.get("RescaleSlope", 1) or 1)
    intercept = float(item.get("RescaleIntercept", 0) or 0)
    return slope, intercept


def read_dicom_series(folder: str | PathLike[str]) -> Volume:
    """Read one DICOM series folder (or one multi-frame file) into a canonical :class:`Volume`.

    Slices are ordered by position along the slice normal (not by file name);
    enhanced (multi-frame) files give one slice per frame, placed by the
    per-frame functional groups. Side comes from the series description
    (``SAG_3D_DESS_RIGHT``) or the laterality tag; the visit from an OAI
    release folder in the path (``1.C.2`` → ``12M``). Rescale slope /
    intercept are applied when present (float32 result); otherwise the stored
    integers are kept, in native byte order.

    Raises :class:`VolumeError` for a corrupt or truncated file, a non-image
    DICOM object (segmentation, RT dose, ...), a compressed file whose decoder
    is not installed (naming the extra to install), mixed series, duplicated
    or missing slices or inconsistent geometry. Files plainly not DICOM (a
    ``README.txt``) are skipped and listed in ``flags``, as is an unusual shape.
    """
    folder = Path(folder)
    slices, skipped = _collect(folder)
    slices, lps = _order_and_check(folder, slices)
    array, affine = _volume_array(slices, lps)
    return Volume(
        array=array,
        affine=affine,
        visit=_visit_from_path(folder),
        source=str(folder),
        flags=shape_flags(array.shape) + skipped,
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
