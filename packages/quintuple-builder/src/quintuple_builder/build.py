"""Build a dataset folder from a scan table and MOAKS readings (docs/formats.md, "Dataset folder").

:func:`build_dataset` runs the per-scan work (canonical volume and label map
into the folder, boxes per question) with the chosen executor, assembles the
quintuples, assigns patient-level splits and checks them for leakage, writes
every format, the statistics and the reports into a temporary sibling folder,
and renames it into place only when everything succeeded: a failed or
interrupted build leaves nothing half-written.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl
from knee_volumes.atomic import atomic_file, atomic_folder
from moaks_schema import QUESTIONS

from quintuple_builder.assemble import assemble_quintuples
from quintuple_builder.errors import QuintupleBuilderError
from quintuple_builder.executors import run_scans
from quintuple_builder.exports import SCAN_COLUMNS, write_core, write_hf, write_public, write_sft
from quintuple_builder.label_quality import flag_boxes
from quintuple_builder.manifest import write_manifest
from quintuple_builder.reader_pairs import dataset_reader_pairs
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

    ``written`` is False when a failure stopped the build (``keep_going=False``,
    or every scan failed); then ``out_dir`` does not exist and ``manifest`` is
    empty. ``failures`` has :data:`FAILURE_COLUMNS`; ``failures_csv`` is where
    that table was written (``OUT/reports/failures.csv``, or
    ``OUT.failures.csv`` beside the intended output when nothing was written;
    None when no scan failed). ``skipped`` lists scans left out because no
    MOAKS reading exists for them (not a failure).
    """

    out_dir: Path
    written: bool
    failures: pl.DataFrame
    skipped: pl.DataFrame
    counts: pl.DataFrame
    manifest: dict[str, Any] = field(default_factory=dict)

    @property
    def failures_csv(self) -> Path | None:
        """Where the failures table was written; None when no scan failed."""
        if self.failures.height == 0:
            return None
        return (
            self.out_dir / "reports" / "failures.csv"
            if self.written
            else failures_beside(self.out_dir)
        )

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


class _Stopped(Exception):
    """A failure stopped the build (``keep_going=False``): nothing is written."""

    def __init__(self, failures: pl.DataFrame) -> None:
        super().__init__(f"{failures.height} scans failed")
        self.failures = failures


def failures_beside(out_dir: Path) -> Path:
    """Where a build that wrote nothing puts its failures table: ``OUT.failures.csv``."""
    return out_dir.with_name(f"{out_dir.name}.failures.csv")


def _not_written(out_dir: Path, failures: pl.DataFrame, skipped: pl.DataFrame) -> BuildResult:
    """The result of a build stopped by failed scans: no folder, the failures table beside it."""
    path = failures_beside(out_dir)
    with atomic_file(path, suffix=".csv") as part:
        failures.write_csv(part)
    return BuildResult(
        out_dir=out_dir,
        written=False,
        failures=failures,
        skipped=skipped,
        counts=pl.DataFrame(),
    )


def _scan_tasks(rows: pl.DataFrame, out_root: Path, qids: tuple[int, ...]) -> list[ScanTask]:
    return [
        ScanTask(
            scan_id=r["scan_id"],
            patient_id=r["patient_id"],
            visit=r["visit"],
            side=int(r["side"]),
            image_path=str(r["image_path"]),
            label_path=r["label_path"],
            out_root=str(out_root),
            study_folder=r["study_folder"],
            series_folder=r["series_folder"],
            question_ids=qids,
        )
        for r in rows.iter_rows(named=True)
    ]


def _write_reports(
    folder: Path,
    *,
    failures: pl.DataFrame,
    skipped: pl.DataFrame,
    absent: pl.DataFrame,
    reports: dict[str, pl.DataFrame] | None,
) -> None:
    rep = folder / "reports"
    rep.mkdir()
    failures.write_csv(rep / "failures.csv")
    skipped.write_csv(rep / "skipped.csv")
    absent.write_csv(rep / "absent_regions.csv")
    for name, table in (reports or {}).items():
        table.write_parquet(rep / f"{name}.parquet", statistics=False)


def _with_and_without_reading(
    scans: pl.DataFrame, readings: pl.DataFrame
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(scans whose knee and visit have a MOAKS reading, the skipped table of the others)."""
    knees = readings.select(
        pl.col("patient_id").cast(pl.String),
        pl.col("visit").cast(pl.String),
        pl.col("side").cast(pl.Int64),
    ).unique()
    with_reading = scans.join(knees, on=["patient_id", "visit", "side"], how="semi")
    skipped = scans.join(knees, on=["patient_id", "visit", "side"], how="anti").select(
        "scan_id", pl.lit("no MOAKS reading for this knee and visit").alias("reason")
    )
    return with_reading, skipped


def _with_manifest_failures(manifest_failed: pl.DataFrame, failures: pl.DataFrame) -> pl.DataFrame:
    """The failures table: scans the manifest marked failed, then the build's own failures."""
    return pl.concat(
        [
            manifest_failed.select(
                "scan_id",
                pl.lit("manifest").alias("stage"),
                pl.col("error").fill_null("failed in the scan manifest"),
            ),
            failures,
        ]
    ).sort("scan_id")


def _split_fields(per_split: dict[str, Any], counts: pl.DataFrame) -> dict[str, Any]:
    """The manifest's split rule, patients per split and counts per split."""
    return {
        "split_rule": f"sha256 of the patient id, fractions {list(FRACTIONS)} (train/val/test)",
        "patients_per_split": per_split,
        "counts": {
            r["split"]: {k: v for k, v in r.items() if k != "split"}
            for r in counts.iter_rows(named=True)
        },
    }


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
    public_root: str | Path | None = None,
    reader_pairs: pl.DataFrame | None = None,
    low_quality_regions: Sequence[str] = (),
) -> BuildResult:
    """Build the dataset folder ``out_dir``.

    ``scans``: the knee-volumes scan manifest shape (``scan_id, patient_id, visit,
    side, image_path, label_path`` required; ``study_folder, series_folder,
    status, error, source_path`` used when present). ``readings``: the long MOAKS
    table (``moaks_schema.READING_COLUMNS``). ``label_source``: ``manual``,
    ``nnunet`` or ``phantom`` (provenance of the boxes). ``reports``: extra
    tables written to ``reports/<name>.parquet`` (e.g. the MOAKS conflicts).
    ``public_root``: the absolute folder the ``public/`` files' paths start with (default:
    ``out_dir``'s absolute path; give where the dataset will be mounted if it moves). It is
    recorded in the manifest and left out of the content hash. ``reader_pairs``: knee-visits
    graded by two readers (:func:`quintuple_builder.reader_pairs.reader_pairs`), written as
    ``reader_pairs.parquet`` for the built scans (not written when ``None``).
    ``low_quality_regions``: region codes whose label maps failed the quality
    gate (:mod:`quintuple_builder.label_quality`); the boxes of their questions
    are kept with ``box_source = "<label_source>:low_quality"``.
    """
    if label_source not in LABEL_SOURCES:
        raise QuintupleBuilderError(
            f"label_source {label_source!r}: expected one of {', '.join(LABEL_SOURCES)}"
        )
    out_dir = Path(out_dir)
    public = Path(public_root if public_root is not None else out_dir).resolve()
    scans = _require(scans).sort("scan_id")
    qids = tuple(question_ids) if question_ids is not None else tuple(q.id for q in QUESTIONS)
    manifest_failed = scans.filter(pl.col("status").fill_null("ok") != "ok")
    scans_ok = scans.filter(pl.col("status").fill_null("ok") == "ok")
    with_reading, skipped = _with_and_without_reading(scans_ok, readings)
    if out_dir.exists() and not overwrite:
        raise QuintupleBuilderError(
            f"{out_dir}: output folder exists: expected a new path (or overwrite=True)"
        )
    try:
        with atomic_folder(out_dir, overwrite=True) as tmp:
            tasks = _scan_tasks(with_reading, tmp, qids)
            results = run_scans(tasks, executor=executor, workers=workers, progress=progress)
            failures, geometry, boxes, absent = _results_frames(results, label_source)
            boxes = flag_boxes(boxes, low_quality_regions)
            failures = _with_manifest_failures(manifest_failed, failures)
            built = with_reading.drop(
                "study_folder", "series_folder", "image_path", "label_path"
            ).join(geometry, on="scan_id", how="inner")
            if failures.height and (not keep_going or built.height == 0):
                raise _Stopped(failures)
            if built.height == 0:
                raise QuintupleBuilderError(
                    "no scan could be built: no scan has a MOAKS reading (expected readings for "
                    "the scans' patient, visit and side)"
                )
            splits = assign_splits(built["patient_id"].to_list())
            built = built.with_columns(
                pl.col("patient_id").replace_strict(splits, return_dtype=pl.String).alias("split"),
                pl.lit(label_source).alias("label_source"),
                pl.col("source_path").fill_null(pl.col("image_path")),
            )
            scan_table = built.select(*SCAN_COLUMNS, "source_path").sort("scan_id")
            quintuples = assemble_quintuples(
                scan_table, boxes, readings, seed=seed, question_ids=qids
            )
            per_split = check_leakage(scan_table, where="scans")
            check_leakage(quintuples, where="quintuples")
            if reader_pairs is not None:
                dataset_reader_pairs(reader_pairs, scan_table).write_parquet(
                    tmp / "reader_pairs.parquet", statistics=False
                )
            write_public(tmp, scan_table, quintuples, public_root=public)
            for write in (write_core, write_sft, write_hf, write_statistics):
                write(tmp, scan_table, quintuples)
            _write_reports(tmp, failures=failures, skipped=skipped, absent=absent, reports=reports)
            counts = counts_per_split(scan_table, quintuples)
            manifest = write_manifest(
                tmp,
                {
                    "seed": seed,
                    "label_source": label_source,
                    "question_ids": list(qids),
                    **_split_fields(per_split, counts),
                    "failures": failures.height,
                    "skipped": skipped.height,
                    "public_root": public.as_posix(),
                    **(extra_manifest or {}),
                },
            )
    except _Stopped as stop:
        return _not_written(out_dir, stop.failures, skipped)
    failures_beside(out_dir).unlink(missing_ok=True)  # from an earlier, stopped build
    return BuildResult(
        out_dir=out_dir,
        written=True,
        failures=failures,
        skipped=skipped,
        counts=counts,
        manifest=manifest,
    )
