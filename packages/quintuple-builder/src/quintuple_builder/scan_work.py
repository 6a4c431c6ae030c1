"""The per-scan work of a build: canonical volume and label map into the dataset, boxes out.

:func:`process_scan` is a plain function of plain data (:class:`ScanTask` in,
:class:`ScanResult` out), so the same code runs in-process, in a process pool
or as a Ray task. It never raises for a bad scan: the error is returned.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["ScanResult", "ScanTask", "dataset_file_name", "process_scan"]


@dataclass(frozen=True, slots=True)
class ScanTask:
    """What one scan needs: where it is, where its label map is, where to write."""

    scan_id: str
    patient_id: str
    visit: str
    side: int
    image_path: str
    label_path: str | None
    out_root: str
    study_folder: str | None = None
    series_folder: str | None = None
    question_ids: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class ScanResult:
    """What one scan gave: relative paths, geometry, per-question public boxes, or an error."""

    scan_id: str
    ok: bool
    error: str | None = None
    stage: str | None = None
    image_rel: str | None = None
    label_rel: str | None = None
    study_folder: str | None = None
    series_folder: str | None = None
    shape: tuple[int, int, int] | None = None
    spacing: tuple[float, float, float] | None = None
    boxes: tuple[tuple[int, tuple[int, ...] | None], ...] = ()
    absent_regions: tuple[str, ...] = ()
    flags: tuple[str, ...] = field(default_factory=tuple)


def _folder(value: str | None, fallback: str) -> str:
    value = (value or "").strip()
    return value if re.fullmatch(r"[A-Za-z0-9.-]+", value) else fallback


def dataset_file_name(
    patient_id: str, visit: str, study_folder: str, series_folder: str, side: int
) -> str:
    """``<patient>/<visit>/<date>_<series>_<side>.nii.gz`` (under ``images/`` or ``labels/``)."""
    return f"{patient_id}/{visit}/{study_folder}_{series_folder}_{side}.nii.gz"


def process_scan(task: ScanTask) -> ScanResult:
    """Read the volume and label map, write both canonical into the dataset, box every question."""
    from knee_volumes import read_label_map, read_volume, write_nifti
    from moaks_schema import question, region_by_label

    from quintuple_builder.region_boxes import question_boxes, region_boxes

    stage = "image"
    try:
        vol = read_volume(task.image_path)
        if vol.side is not None and vol.side != task.side:
            raise ValueError(
                f"{task.image_path}: side {vol.side} in the image, {task.side} in the manifest"
            )
        study = _folder(task.study_folder or vol.study_date, "00000000")
        series = _folder(
            task.series_folder
            or (None if vol.series_number is None else f"{vol.series_number:08d}"),
            "00000000",
        )
        rel = dataset_file_name(task.patient_id, task.visit, study, series, task.side)
        out = Path(task.out_root)
        write_nifti(vol, out / "images" / rel)
        stage = "label"
        if task.label_path is None:
            raise ValueError("no label map for this scan (the label provider gave no path)")
        if not Path(task.label_path).is_file():
            raise ValueError(f"no label map for this scan: {task.label_path} does not exist")
        # same voxel grid as the image (any valid orientation on disk), not mirrored
        labels = read_label_map(task.label_path, like=vol, side=task.side)
        write_nifti(labels, out / "labels" / rel, affine=vol.affine)
        stage = "boxes"
        lb = region_boxes(labels)
        qs = [question(i) for i in task.question_ids]
        boxes = question_boxes(lb, questions=qs)
        return ScanResult(
            scan_id=task.scan_id,
            ok=True,
            image_rel=f"images/{rel}",
            label_rel=f"labels/{rel}",
            study_folder=study,
            series_folder=series,
            shape=vol.shape,
            spacing=tuple(float(s) for s in vol.spacing),  # type: ignore[arg-type]
            boxes=tuple(
                (qid, None if b is None else tuple(b.to_public())) for qid, b in boxes.items()
            ),
            absent_regions=tuple(region_by_label(lab).code for lab in lb.absent),
            flags=tuple(vol.flags),
        )
    except Exception as exc:  # a bad scan is reported, never crashes the build
        return ScanResult(
            scan_id=task.scan_id, ok=False, error=f"{type(exc).__name__}: {exc}", stage=stage
        )
