"""What a DICOM file holds: image frames with their geometry, or an object that is no image.

Single-frame slices carry their geometry at the top level
(``ImagePositionPatient``, ``ImageOrientationPatient``, ``PixelSpacing``);
enhanced (multi-frame) images carry it per frame in the functional groups
(``PlanePositionSequence``, ``PlaneOrientationSequence``,
``PixelMeasuresSequence``, shared or per frame).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from knee_volumes.errors import VolumeError

__all__ = ["FrameGeometry", "frame_geometries", "frame_item", "refuse_non_image"]

#: SOP classes that hold no image slices (segmentations, RT objects, reports, indexes, ...).
_NON_IMAGE_PREFIXES = {
    "1.2.840.10008.5.1.4.1.1.66": "a segmentation, registration or raw-data object",
    "1.2.840.10008.5.1.4.1.1.481": "a radiotherapy object (dose, structures or plan)",
    "1.2.840.10008.5.1.4.1.1.88": "a structured report",
    "1.2.840.10008.5.1.4.1.1.11": "a presentation state",
    "1.2.840.10008.5.1.4.1.1.104": "an encapsulated document",
    "1.2.840.10008.5.1.4.1.1.9": "a waveform",
    "1.2.840.10008.1.3.10": "a DICOMDIR (media index)",
}


def _sop_name(uid: str) -> str:
    from pydicom.uid import UID

    name = UID(uid).name
    return name if name and name != uid else uid


def refuse_non_image(path: Path, ds: Any) -> None:
    """Raise :class:`VolumeError` saying what the object is when it is not an image slice."""
    uid = str(ds.get("SOPClassUID") or "")
    for prefix, what in _NON_IMAGE_PREFIXES.items():
        if uid == prefix or uid.startswith(prefix + "."):
            raise VolumeError(
                f"{_sop_name(uid)} ({uid}) is {what}, not an image series: "
                "knee-volumes reads MR/CT image slices",
                path=path,
            )
    image_type = [str(t).upper() for t in (ds.get("ImageType") or [])]
    if "MOSAIC" in image_type:
        raise VolumeError(
            "Siemens mosaic (several slices tiled in one image, ImageType MOSAIC): "
            "its tiles are not one plane; convert it with dcm2niix first",
            path=path,
        )
    samples = int(ds.get("SamplesPerPixel") or 1)
    if samples != 1:
        raise VolumeError(
            f"colour image (SamplesPerPixel {samples}, "
            f"PhotometricInterpretation {ds.get('PhotometricInterpretation')}): "
            "expected a greyscale MR/CT series",
            path=path,
        )


@dataclass(frozen=True)
class FrameGeometry:
    """Position (LPS mm), orientation (row then column direction) and in-plane spacing of a frame."""

    position: np.ndarray
    orientation: np.ndarray
    pixel_spacing: np.ndarray
    thickness: float | None


def _floats(value: Any, keyword: str, n: int, path: Path, where: str = "") -> np.ndarray:
    try:
        out = np.array([float(v) for v in value], dtype=float)
    except (TypeError, ValueError) as exc:
        raise VolumeError(f"missing or malformed {keyword}{where}: {value!r}", path=path) from exc
    if out.shape != (n,) or not np.isfinite(out).all():
        raise VolumeError(f"{keyword}{where} must hold {n} numbers, got {value!r}", path=path)
    return out


def _thickness(item: Any) -> float | None:
    for keyword in ("SpacingBetweenSlices", "SliceThickness"):
        value = item.get(keyword)
        if value not in (None, ""):
            return float(value)
    return None


def _group(item: Any, sequence: str) -> Any | None:
    seq = item.get(sequence) if item is not None else None
    return seq[0] if seq else None


def frame_item(ds: Any, frame: int, sequence: str) -> Any | None:
    """The first item of a functional group ``sequence`` for one frame (per-frame, else shared)."""
    per = ds.get("PerFrameFunctionalGroupsSequence") or []
    if frame < len(per):
        item = _group(per[frame], sequence)
        if item is not None:
            return item
    return _group(_group(ds, "SharedFunctionalGroupsSequence"), sequence)


def _multi_frame(path: Path, ds: Any, frames: int) -> list[FrameGeometry]:
    per = ds.get("PerFrameFunctionalGroupsSequence") or []
    if len(per) not in (0, frames):
        raise VolumeError(
            f"PerFrameFunctionalGroupsSequence has {len(per)} items for {frames} frames", path=path
        )
    out = []
    for k in range(frames):
        position = frame_item(ds, k, "PlanePositionSequence")
        orientation = frame_item(ds, k, "PlaneOrientationSequence")
        measures = frame_item(ds, k, "PixelMeasuresSequence")
        if position is None or orientation is None or measures is None:
            raise VolumeError(
                f"multi-frame image ({frames} frames) without per-frame geometry: frame {k + 1} "
                "lacks PlanePositionSequence, PlaneOrientationSequence or PixelMeasuresSequence "
                "in its functional groups, so its place in the patient is unknown",
                path=path,
            )
        where = f" of frame {k + 1}"
        out.append(
            FrameGeometry(
                position=_floats(
                    position.get("ImagePositionPatient"), "ImagePositionPatient", 3, path, where
                ),
                orientation=_floats(
                    orientation.get("ImageOrientationPatient"),
                    "ImageOrientationPatient",
                    6,
                    path,
                    where,
                ),
                pixel_spacing=_floats(measures.get("PixelSpacing"), "PixelSpacing", 2, path, where),
                thickness=_thickness(measures) or _thickness(ds),
            )
        )
    return out


def frame_geometries(path: Path, ds: Any) -> list[FrameGeometry]:
    """The geometry of every frame of an image file (one for a single-frame slice)."""
    frames = int(ds.get("NumberOfFrames") or 1)
    if frames > 1 or "PerFrameFunctionalGroupsSequence" in ds:
        return _multi_frame(path, ds, frames)
    if "ImagePositionPatient" not in ds:
        what = _sop_name(str(ds.get("SOPClassUID") or "")) or "image"
        raise VolumeError(
            f"missing ImagePositionPatient: this {what} slice has no position in the patient",
            path=path,
        )
    return [
        FrameGeometry(
            position=_floats(ds.get("ImagePositionPatient"), "ImagePositionPatient", 3, path),
            orientation=_floats(
                ds.get("ImageOrientationPatient"), "ImageOrientationPatient", 6, path
            ),
            pixel_spacing=_floats(ds.get("PixelSpacing"), "PixelSpacing", 2, path),
            thickness=_thickness(ds),
        )
    ]
