"""The steps of ``reasonknee build``: inputs (phantom or OAI), readings, label maps, build, report."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["BuildInputs", "nnunet_labels", "phantom_inputs", "run_build"]


@dataclass(frozen=True)
class BuildInputs:
    """Everything the command was given, resolved."""

    out: Path
    work: Path
    phantom: int | None
    oai_root: Path | None
    moaks: tuple[Path, ...]
    codebook: Path | None
    label_kind: str  # manual | nnunet | phantom
    label_where: Path | None
    executor: str = "local"
    workers: int = 1
    keep_going: bool = False
    seed: int = 0
    shape: tuple[int, int, int] = (32, 64, 64)
    visits: tuple[str, ...] = ("00M",)
    question_ids: list[int] | None = None
    device: str = "auto"
    mirroring: bool = True
    overwrite: bool = False
    progress: bool = True


def phantom_inputs(inputs: BuildInputs) -> tuple[Path, tuple[Path, ...], Path | None, Path]:
    """Write the phantom cohort (DICOM in the OAI layout); returns (oai_root, moaks, codebook, labels)."""
    from knee_phantom import write_cohort

    if inputs.phantom is None:
        raise ValueError("phantom_inputs needs BuildInputs.phantom (the number of patients)")
    cohort = inputs.work / "phantom"
    if cohort.exists():
        shutil.rmtree(cohort)
    write_cohort(
        cohort,
        n_patients=inputs.phantom,
        visits=inputs.visits,
        sides=(1, 2),
        seed=inputs.seed,
        shape=inputs.shape,
        dicom=True,
        progress=inputs.progress,
    )
    codebook = cohort / "moaks" / "phantom_codebook.csv"
    return (
        cohort / "oai",
        (cohort / "moaks",),
        codebook if codebook.is_file() else None,
        cohort / "labels",
    )


def _labels_from_folder(scans: pl.DataFrame, folder: Path) -> pl.DataFrame:
    paths = [
        str(folder / f"{s}.nii.gz") if (folder / f"{s}.nii.gz").is_file() else None
        for s in scans["scan_id"].to_list()
    ]
    return scans.with_columns(pl.Series("label_path", paths, dtype=pl.String))


def nnunet_labels(scans: pl.DataFrame, inputs: BuildInputs) -> pl.DataFrame:
    """Canonical NIfTI copies of the scans (under WORK/nifti) segmented by knee_segmenter.predict.

    Scans that cannot be converted get ``status="failed"``; predictions already in
    WORK/predictions are kept (prediction is resumable).
    """
    from knee_segmenter import predict
    from knee_volumes import read_volume, write_nifti
    from tqdm.auto import tqdm

    nifti = inputs.work / "nifti"
    nifti.mkdir(parents=True, exist_ok=True)
    if inputs.label_where is None:
        raise ValueError("nnunet labels need BuildInputs.label_where (the model folder)")
    images: list[str] = []
    status: list[str] = []
    errors: list[str | None] = []
    for row in tqdm(
        scans.iter_rows(named=True),
        total=scans.height,
        desc="converting to NIfTI",
        unit="scan",
        disable=not inputs.progress,
    ):
        target = nifti / f"{row['scan_id']}.nii.gz"
        image, state, error = row["image_path"], row["status"], row["error"]
        if state == "ok":
            try:
                if not target.is_file():
                    write_nifti(read_volume(row["image_path"]), target)
                image = str(target)
            except Exception as exc:  # reported as a failed scan
                state, error = "failed", f"conversion: {type(exc).__name__}: {exc}"
        images.append(image)
        status.append(state)
        errors.append(error)
    scans = scans.with_columns(
        pl.Series("image_path", images, dtype=pl.String),
        pl.Series("status", status, dtype=pl.String),
        pl.Series("error", errors, dtype=pl.String),
    )
    ok = scans.filter(pl.col("status") == "ok")
    pred_dir = inputs.work / "predictions"
    predict(
        ok.select("scan_id", "image_path"),
        pred_dir,
        model_dir=inputs.label_where,
        device=inputs.device,
        mirroring=inputs.mirroring,
        progress=inputs.progress,
    )
    return _labels_from_folder(scans, pred_dir)


def _print_report(console: Console, result, readings, oai_root: Path) -> None:
    from rich.table import Table

    if result.written:
        t = Table(title=f"dataset {result.out_dir}")
        for col in result.counts.columns:
            t.add_column(col, justify="right" if col != "split" else "left")
        for row in result.counts.iter_rows():
            t.add_row(*(str(v) for v in row))
        console.print(t)
        console.print(f"content hash: {result.content_hash}")
    conflicts = readings.conflicts.height
    n_missing = readings.missing.height
    console.print(
        f"MOAKS: {readings.readings.select('patient_id', 'visit', 'side').unique().height} knee-visits, "
        f"{conflicts} read more than once (conflicts report), {n_missing} grades missing "
        f"(never invented; see reports/moaks_missing_summary)"
    )
    if result.skipped.height:
        console.print(f"{result.skipped.height} scan(s) skipped: no MOAKS reading")
    if result.failures.height:
        t = Table(title=f"{result.failures.height} failed scan(s)", style="red")
        for col in result.failures.columns:
            t.add_column(col)
        for row in result.failures.head(30).iter_rows():
            t.add_row(*(str(v) for v in row))
        console.print(t)
        if not result.written:
            console.print("[red]nothing written[/red]: fix the inputs or rerun with --keep-going")


def run_build(inputs: BuildInputs, *, console: Console) -> bool:
    """Run the build; True when the dataset was written and nothing failed."""
    from knee_volumes import scan_oai_release
    from moaks_schema import default_variable_map
    from quintuple_builder import build_dataset, load_moaks_readings

    label_source = {"manual": "manual", "nnunet": "nnunet", "phantom": "phantom"}[inputs.label_kind]
    if inputs.out.exists() and not inputs.overwrite:
        console.print(f"[red]{inputs.out} exists[/red]: choose a new --out or pass --overwrite")
        return False
    if inputs.phantom is not None:
        console.print(
            f"writing a phantom cohort of {inputs.phantom} patients to {inputs.work / 'phantom'}"
        )
        oai_root, moaks, codebook, label_dir = phantom_inputs(inputs)
    else:
        assert inputs.oai_root is not None
        oai_root, moaks, codebook = inputs.oai_root, inputs.moaks, inputs.codebook
        label_dir = inputs.label_where
    scans = scan_oai_release(oai_root, progress=inputs.progress)
    vmap = default_variable_map()
    if codebook is not None:
        vmap = vmap.with_codebook(codebook)
    readings = load_moaks_readings(list(moaks), variable_map=vmap)
    knees = readings.readings.select("patient_id", "visit", "side").unique()
    n_scans = scans.height
    scans = scans.join(knees, on=["patient_id", "visit", "side"], how="semi").with_columns(
        pl.col("image_path")
        .map_elements(lambda p: _relative(p, oai_root), return_dtype=pl.String)
        .alias("source_path")
    )
    if scans.height < n_scans:
        console.print(
            f"{n_scans - scans.height} of {n_scans} scan(s) have no MOAKS reading: left out"
        )
    if label_source == "nnunet":
        scans = nnunet_labels(scans, inputs)
    else:
        assert label_dir is not None
        scans = _labels_from_folder(scans, label_dir)
    result = build_dataset(
        scans,
        readings.readings,
        inputs.out,
        label_source=label_source,
        seed=inputs.seed,
        executor=inputs.executor,
        workers=inputs.workers,
        question_ids=inputs.question_ids,
        keep_going=inputs.keep_going,
        overwrite=inputs.overwrite,
        progress=inputs.progress,
        reports={
            "moaks_conflicts": readings.conflicts,
            "moaks_missing_summary": readings.missing_summary(),
        },
        extra_manifest={
            "inputs": {
                "phantom_patients": inputs.phantom,
                "oai_root": str(oai_root),
                "moaks": [str(m) for m in moaks],
                "codebook": None if codebook is None else str(codebook),
                "labels": label_source,
            }
        },
    )
    _print_report(console, result, readings, oai_root)
    return result.ok


def _relative(path: str, root: Path) -> str:
    try:
        return Path(path).resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return Path(path).name
