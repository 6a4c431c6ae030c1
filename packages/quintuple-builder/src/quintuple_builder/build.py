"""Build a dataset folder from a scan table and MOAKS readings (docs/formats.md, "Dataset folder").

:func:`build_dataset` runs the per-scan work (canonical volume and label map
into the folder, boxes per question) with the chosen executor, assembles the
quintuples, assigns patient-level splits and checks them for leakage, writes
every format, the statistics and the reports into a temporary sibling folder,
and renames it into place only when everything succeeded: a failed or
interrupted build leaves nothing half-written.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl
from moaks_schema import QUESTIONS

from quintuple_builder.assemble import assemble_quintuples
from quintuple_builder.errors import QuintupleBuilderError
from quintuple_builder.executors import run_scans
from quintuple_builder.exports import SCAN_COLUMNS, write_core, write_hf, write_public, write_sft
from quintuple_builder.label_quality import flag_boxes
from quintuple_builder.manifest import write_manifest
from quintuple_builder.scan_work import ScanResult, ScanTask
from quintuple_builder.splits import FRACTIONS, assign_splits, check_leakage
from quintuple_builder.statistics import counts_per_split, write_statistics

__all__ = ["FAILURE_COLUMNS", "LABEL_SOURCES", "BuildResult", "build_dataset"]

#: Where a build's label maps came from (``box_source`` of its quintuples).
LABEL_SOURCES: tuple[str, ...] = ("manual", "nnunet", "phantom")
#: Columns of the failures table.
FAILURE_COLUMNS: tuple[str, ...] = ("scan_id", "stage", "error")

_FAILURE_SCHEMA = {"scan_id": pl.String, "stage": pl.String, "error": pl.String}


@dataclass(frozen=True)
class BuildResult:
    """Outcome of :func:`build_dataset`.

    ``written`` is False when a failure stopped the build (``keep_going=False``);
    then ``out_dir`` does not exist and ``manifest`` is empty. ``failures`` has
    :data:`FAILURE_COLUMNS`; ``skipped`` lists scans left out because no MOAKS
    reading exists for them (not a failure).
    """

    out_dir: Path
    written: bool
    failures: pl.DataFrame
    skipped: pl.DataFrame
    counts: pl.DataFrame
    manifest: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when the dataset was written and no scan failed."""
        return self.written and self.failures.height == 0

    @property
    def content_hash(self) -> str | None:
        return self.manifest.get("content_hash")


def _require(scans: pl.DataFrame) -> pl.DataFrame:
    need = ("scan_id", "patient_id", "visit", "side", "image_path", "label_path")
    missing = [c for c in need if c not in scans.columns]
    if missing:
        raise QuintupleBuilderError(f"scans: column(s) {missing} missing: expected {list(need)}")
    out = scans
    for col in ("study_folder", "series_folder", "status", "error", "source_path"):
        if col not in out.columns:
            out = out.with_columns(pl.lit(None, pl.String).alias(col))
    if out["scan_id"].is_duplicated().any():
        dup = out.filter(pl.col("scan_id").is_duplicated())["scan_id"].unique().to_list()[:5]
        raise QuintupleBuilderError(f"scans: duplicate scan_id {dup}: expected one row per scan")
    return out.with_columns(pl.col("side").cast(pl.Int64), pl.col("patient_id").cast(pl.String))


def _results_frames(
    results: Sequence[ScanResult], label_source: str
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    ok = [r for r in results if r.ok]
    failures = pl.DataFrame(
        [(r.scan_id, r.stage, r.error) for r in results if not r.ok],
        schema=_FAILURE_SCHEMA,
        orient="row",
    )
    geometry = pl.DataFrame(
        [
            (
                r.scan_id,
                r.study_folder,
                r.series_folder,
                r.image_rel,
                r.label_rel,
                list(r.shape or ()),
                list(r.spacing or ()),
            )
            for r in ok
        ],
        orient="row",
        schema={
            "scan_id": pl.String,
            "study_folder": pl.String,
            "series_folder": pl.String,
            "image_path": pl.String,
            "label_path": pl.String,
            "shape": pl.List(pl.Int64),
            "spacing": pl.List(pl.Float64),
        },
    )
    boxes = pl.DataFrame(
        [
            (r.scan_id, qid, None if b is None else list(b), None if b is None else label_source)
            for r in ok
            for qid, b in r.boxes
        ],
        orient="row",
        schema={
            "scan_id": pl.String,
            "question_id": pl.Int64,
            "box_public": pl.List(pl.Int64),
            "box_source": pl.String,
        },
    )
    absent = pl.DataFrame(
        [(r.scan_id, code) for r in ok for code in r.absent_regions],
        orient="row",
        schema={"scan_id": pl.String, "region": pl.String},
    )
    return failures, geometry, boxes, absent


def _prepare_out(out_dir: Path, overwrite: bool) -> Path:
    if out_dir.exists() and not overwrite:
        raise QuintupleBuilderError(
            f"{out_dir}: output folder exists: expected a new path (or overwrite=True)"
        )
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_dir.parent / f".{out_dir.name}.tmp-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    return tmp


def _replace_dir(tmp: Path, out_dir: Path) -> None:
    if out_dir.exists():
        trash = out_dir.parent / f".{out_dir.name}.old-{uuid.uuid4().hex[:8]}"
        os.replace(out_dir, trash)
        os.replace(tmp, out_dir)
        shutil.rmtree(trash, ignore_errors=True)
    else:
        os.replace(tmp, out_dir)


def build_dataset(
    scans: pl.DataFrame,
    readings: pl.DataFrame,
    out_dir: str | Path,
    *,
    label_source: str,
    seed: int = 0,
    executor: str = "local",
    workers: int = 1,
    question_ids: Sequence[int] | None = None,
    keep_going: bool = False,
    overwrite: bool = False,
    progress: bool = True,
    reports: dict[str, pl.DataFrame] | None = None,
    extra_manifest: dict[str, Any] | None = None,
    low_quality_regions: Sequence[str] = (),
) -> BuildResult:
    """Build the dataset folder ``out_dir``.

    ``scans``: the knee-volumes scan manifest shape (``scan_id, patient_id, visit,
    side, image_path, label_path`` required; ``study_folder, series_folder,
    status, error, source_path`` used when present). ``readings``: the long MOAKS
    table (``moaks_schema.READING_COLUMNS``). ``label_source``: ``manual``,
    ``nnunet`` or ``phantom`` (provenance of the boxes). ``reports``: extra
    tables written to ``reports/<name>.parquet`` (e.g. the MOAKS conflicts).
    ``low_quality_regions``: region codes whose label maps failed the quality
    gate (:mod:`quintuple_builder.label_quality`); the boxes of their questions
    are kept with ``box_source = "<label_source>:low_quality"``.
    """
    if label_source not in LABEL_SOURCES:
        raise QuintupleBuilderError(
            f"label_source {label_source!r}: expected one of {', '.join(LABEL_SOURCES)}"
        )
    out_dir = Path(out_dir)
    scans = _require(scans).sort("scan_id")
    qids = tuple(question_ids) if question_ids is not None else tuple(q.id for q in QUESTIONS)
    manifest_failed = scans.filter(pl.col("status").fill_null("ok") != "ok")
    scans_ok = scans.filter(pl.col("status").fill_null("ok") == "ok")
    knees = readings.select(
        pl.col("patient_id").cast(pl.String),
        pl.col("visit").cast(pl.String),
        pl.col("side").cast(pl.Int64),
    ).unique()
    with_reading = scans_ok.join(knees, on=["patient_id", "visit", "side"], how="semi")
    skipped = scans_ok.join(knees, on=["patient_id", "visit", "side"], how="anti").select(
        "scan_id", pl.lit("no MOAKS reading for this knee and visit").alias("reason")
    )
    tmp = _prepare_out(out_dir, overwrite)
    try:
        tasks = [
            ScanTask(
                scan_id=r["scan_id"],
                patient_id=r["patient_id"],
                visit=r["visit"],
                side=int(r["side"]),
                image_path=str(r["image_path"]),
                label_path=r["label_path"],
                out_root=str(tmp),
                study_folder=r["study_folder"],
                series_folder=r["series_folder"],
                question_ids=qids,
            )
            for r in with_reading.iter_rows(named=True)
        ]
        results = run_scans(tasks, executor=executor, workers=workers, progress=progress)
        failures, geometry, boxes, absent = _results_frames(results, label_source)
        boxes = flag_boxes(boxes, low_quality_regions)
        failures = pl.concat(
            [
                manifest_failed.select(
                    "scan_id",
                    pl.lit("manifest").alias("stage"),
                    pl.col("error").fill_null("failed in the scan manifest"),
                ),
                failures,
            ]
        ).sort("scan_id")
        if failures.height and not keep_going:
            shutil.rmtree(tmp, ignore_errors=True)
            return BuildResult(
                out_dir=out_dir,
                written=False,
                failures=failures,
                skipped=skipped,
                counts=pl.DataFrame(),
            )
        built = with_reading.drop("study_folder", "series_folder", "image_path", "label_path").join(
            geometry, on="scan_id", how="inner"
        )
        if built.height == 0:
            raise QuintupleBuilderError(
                "no scan could be built: every scan failed or has no MOAKS reading"
            )
        splits = assign_splits(built["patient_id"].to_list())
        built = built.with_columns(
            pl.col("patient_id").replace_strict(splits, return_dtype=pl.String).alias("split"),
            pl.lit(label_source).alias("label_source"),
            pl.col("source_path").fill_null(pl.col("image_path")),
        )
        scan_table = built.select(*SCAN_COLUMNS, "source_path").sort("scan_id")
        quintuples = assemble_quintuples(scan_table, boxes, readings, seed=seed, question_ids=qids)
        per_split = check_leakage(scan_table, where="scans")
        check_leakage(quintuples, where="quintuples")
        write_core(tmp, scan_table, quintuples)
        write_public(tmp, scan_table, quintuples)
        write_sft(tmp, scan_table, quintuples)
        write_hf(tmp, scan_table, quintuples)
        write_statistics(tmp, scan_table, quintuples)
        rep = tmp / "reports"
        rep.mkdir()
        failures.write_csv(rep / "failures.csv")
        skipped.write_csv(rep / "skipped.csv")
        absent.write_csv(rep / "absent_regions.csv")
        for name, table in (reports or {}).items():
            table.write_parquet(rep / f"{name}.parquet", statistics=False)
        counts = counts_per_split(scan_table, quintuples)
        manifest = write_manifest(
            tmp,
            {
                "seed": seed,
                "label_source": label_source,
                "question_ids": list(qids),
                "split_rule": f"sha256 of the patient id, fractions {list(FRACTIONS)} (train/val/test)",
                "patients_per_split": per_split,
                "counts": {
                    r["split"]: {k: v for k, v in r.items() if k != "split"}
                    for r in counts.iter_rows(named=True)
                },
                "failures": failures.height,
                "skipped": skipped.height,
                **(extra_manifest or {}),
            },
        )
        _replace_dir(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return BuildResult(
        out_dir=out_dir,
        written=True,
        failures=failures,
        skipped=skipped,
        counts=counts,
        manifest=manifest,
    )
