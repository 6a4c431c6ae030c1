"""Label maps for a table of scans from a trained model: canonical NIfTI copies, then :func:`predict`.

:func:`pseudo_label_scans` is what a dataset build calls for ``nnunet`` labels
(its signature fits ``quintuple_builder.release.LabelProvider`` once the
folders are bound, see :func:`pseudo_label_provider`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import polars as pl

from knee_segmenter.errors import SegmenterError

__all__ = ["pseudo_label_provider", "pseudo_label_scans"]


def _nifti_copies(scans: pl.DataFrame, nifti: Path, *, progress: bool) -> pl.DataFrame:
    """Scans whose ``image_path`` is a canonical NIfTI copy; unconvertible ones become ``failed``."""
    from knee_volumes import VolumeError, read_volume, write_nifti
    from tqdm.auto import tqdm

    nifti.mkdir(parents=True, exist_ok=True)
    images: list[str] = []
    status: list[str] = []
    errors: list[str | None] = []
    rows = scans.iter_rows(named=True)
    for row in tqdm(rows, total=scans.height, desc="converting to NIfTI", disable=not progress):
        target = nifti / f"{row['scan_id']}.nii.gz"
        image, state, error = row["image_path"], row["status"], row["error"]
        if state == "ok":
            try:
                if not target.is_file():
                    write_nifti(read_volume(row["image_path"]), target)
                image = str(target)
            except (VolumeError, OSError) as exc:  # reported as a failed scan
                state, error = "failed", f"conversion: {type(exc).__name__}: {exc}"
        images.append(image)
        status.append(state)
        errors.append(error)
    return scans.with_columns(
        pl.Series("image_path", images, dtype=pl.String),
        pl.Series("status", status, dtype=pl.String),
        pl.Series("error", errors, dtype=pl.String),
    )


def pseudo_label_scans(
    scans: pl.DataFrame,
    *,
    work: str | Path,
    model_dir: str | Path,
    device: str = "auto",
    mirroring: bool = True,
    threads: int | None = None,
    progress: bool = True,
) -> pl.DataFrame:
    """Segment every ``ok`` scan of ``scans`` with the model in ``model_dir``; adds ``label_path``.

    ``scans`` has ``scan_id, image_path, status, error`` (the knee-volumes
    manifest shape). Canonical NIfTI copies go to ``WORK/nifti`` and
    predictions to ``WORK/predictions``; predictions already there are kept
    (prediction is resumable). Scans that cannot be converted get
    ``status="failed"`` and no label map. ``threads``: see :func:`knee_segmenter.predict`.
    """
    from knee_segmenter.prediction import predict

    missing = [c for c in ("scan_id", "image_path", "status", "error") if c not in scans.columns]
    if missing:
        raise SegmenterError(f"scans: column(s) {missing} missing (the scan manifest's columns)")
    work = Path(work)
    scans = _nifti_copies(scans, work / "nifti", progress=progress)
    ok = scans.filter(pl.col("status") == "ok")
    predictions = work / "predictions"
    predict(
        ok.select("scan_id", "image_path"),
        predictions,
        model_dir=model_dir,
        device=device,
        mirroring=mirroring,
        threads=threads,
        progress=progress,
    )
    # the path is given even where prediction wrote nothing: the scan's failure names it
    paths = [str(predictions / f"{scan_id}.nii.gz") for scan_id in scans["scan_id"].to_list()]
    return scans.with_columns(pl.Series("label_path", paths, dtype=pl.String))


def pseudo_label_provider(
    *,
    work: str | Path,
    model_dir: str | Path,
    device: str = "auto",
    mirroring: bool = True,
    threads: int | None = None,
    progress: bool = True,
) -> Callable[[pl.DataFrame], pl.DataFrame]:
    """:func:`pseudo_label_scans` with its folders and options bound: scans -> scans with labels."""

    def provide(scans: pl.DataFrame) -> pl.DataFrame:
        return pseudo_label_scans(
            scans,
            work=work,
            model_dir=model_dir,
            device=device,
            mirroring=mirroring,
            threads=threads,
            progress=progress,
        )

    return provide
