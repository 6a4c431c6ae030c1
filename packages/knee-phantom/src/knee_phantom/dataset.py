"""A small ReasonKnee dataset folder from phantom knees, for tests and demos that need one in seconds."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from knee_phantom.cohort import write_cohort
from knee_phantom.errors import PhantomError

__all__ = ["write_phantom_dataset"]


def write_phantom_dataset(
    out_dir: str | os.PathLike[str],
    *,
    n_patients: int = 8,
    shape: tuple[int, int, int] = (24, 48, 48),
    seed: int = 0,
    sides: tuple[int, ...] = (1,),
    question_ids: list[int] | None = None,
    prior: str = "realistic",
) -> Path:
    """Write a small dataset folder (docs/formats.md) from a phantom cohort; returns ``out_dir``.

    ``n_patients`` small phantom knees (:func:`knee_phantom.write_cohort`,
    visit 00M, ``sides``: right knees by default) with their true label maps and MOAKS grades, put
    through the real builder (:func:`quintuple_builder.build.build_dataset`,
    boxes from the phantom's label maps). Patients are spread over
    train/val/test by the builder's own split rule (every split non-empty from
    3 patients). ``prior`` names the grade prior (``"realistic"`` or ``"uniform"``,
    :class:`knee_phantom.GradePrior`). Deterministic in ``seed``; phantom
    numbers are not clinical.
    """
    import polars as pl
    from quintuple_builder.build import build_dataset

    out = Path(out_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    src = Path(tempfile.mkdtemp(prefix=f".{out.name}.cohort.", dir=out.parent))
    try:
        layout = write_cohort(
            src / "cohort",
            n_patients=n_patients,
            sides=sides,
            shape=shape,
            seed=seed,
            n_manual=0,
            prior=prior,
            progress=False,
        )
        rows = []
        for scan_id in layout.scan_ids:
            patient, visit, side = scan_id.split("_")
            rows.append(
                {
                    "scan_id": scan_id,
                    "patient_id": patient,
                    "visit": visit,
                    "side": int(side),
                    "image_path": str(layout.nifti_path(scan_id)),
                    "label_path": str(layout.label_path(scan_id)),
                }
            )
        readings = pl.read_parquet(layout.readings_path)
        result = build_dataset(
            pl.DataFrame(rows),
            readings,
            out,
            label_source="phantom",
            seed=seed,
            question_ids=question_ids,
            overwrite=True,
            progress=False,
        )
        if not result.ok:
            raise PhantomError(
                f"{out}: tiny dataset build failed: {result.failures.to_dicts()[:3]}"
            )
    finally:
        shutil.rmtree(src, ignore_errors=True)
    return out
