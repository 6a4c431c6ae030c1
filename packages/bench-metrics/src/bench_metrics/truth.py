"""Ground truth: the quintuples of one split, read from a dataset folder or built from rows.

The truth table has one row per (scan, question) with the columns of
``quintuples.parquet`` that scoring needs (docs/formats.md):
``scan_id, patient_id, question_id, split, grades (list[struct{attribute, grade}]),
box_public (list[i64] of 6, or null), box_source``, and ``volume_shape`` (the
scan's ``shape`` from ``scans.parquet``: predicted boxes are cut to it). A grade
of null is a missing reading: it is not scored. ``split``, ``box_source`` and
``volume_shape`` may be absent (null).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import moaks_schema as ms
import polars as pl

from bench_metrics.errors import BenchMetricsError

__all__ = [
    "OPTIONAL_TRUTH_COLUMNS",
    "TRUTH_SCHEMA",
    "check_patient_splits",
    "load_truth",
    "load_truth_scans",
    "majority_grades",
    "truth_from_rows",
    "validate_truth",
]

TRUTH_SCHEMA: dict[str, pl.DataType] = {
    "scan_id": pl.String(),
    "patient_id": pl.String(),
    "question_id": pl.Int64(),
    "split": pl.String(),
    "grades": pl.List(pl.Struct({"attribute": pl.String(), "grade": pl.Int64()})),
    "box_public": pl.List(pl.Int64()),
    "box_source": pl.String(),
    "volume_shape": pl.List(pl.Int64()),
}
#: Columns of :data:`TRUTH_SCHEMA` a truth table may leave out (they are then null).
OPTIONAL_TRUTH_COLUMNS: tuple[str, ...] = ("split", "box_source", "volume_shape")


def _unreadable(path: Path, exc: Exception) -> BenchMetricsError:
    text = str(exc).strip()
    first = text.splitlines()[0] if text else type(exc).__name__
    return BenchMetricsError(f"{path}: not a readable Parquet file ({first})")


def _read_parquet(path: Path, columns: list[str] | None = None) -> pl.DataFrame:
    """``path`` read, or a one-line :class:`BenchMetricsError` naming it."""
    try:
        return pl.read_parquet(path, columns=columns)
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise _unreadable(path, exc) from None


def _parquet_columns(path: Path) -> list[str]:
    try:
        return list(pl.read_parquet_schema(path))
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise _unreadable(path, exc) from None


def validate_truth(truth: pl.DataFrame, *, source: str = "truth") -> pl.DataFrame:
    """``truth`` reduced to :data:`TRUTH_SCHEMA` (cast), or a :class:`BenchMetricsError` naming what is wrong."""
    missing = [
        c for c in TRUTH_SCHEMA if c not in truth.columns and c not in OPTIONAL_TRUTH_COLUMNS
    ]
    if missing:
        raise BenchMetricsError(
            f"{source}: missing column(s) {missing}; expected {list(TRUTH_SCHEMA)}"
        )
    truth = truth.with_columns(
        pl.lit(None, dtype=TRUTH_SCHEMA[c]).alias(c)
        for c in OPTIONAL_TRUTH_COLUMNS
        if c not in truth.columns
    )
    try:
        out = truth.select([pl.col(c).cast(t) for c, t in TRUTH_SCHEMA.items()])
    except pl.exceptions.PolarsError as exc:
        raise BenchMetricsError(f"{source}: columns do not match {TRUTH_SCHEMA}: {exc}") from None
    bad_q = out.filter(~pl.col("question_id").is_between(1, len(ms.QUESTIONS)))
    if bad_q.height:
        raise BenchMetricsError(
            f"{source}: question_id {bad_q['question_id'][0]!r} out of range; expected 1..{len(ms.QUESTIONS)}"
        )
    bad_shape = out.filter(
        pl.col("volume_shape").is_not_null()
        & ((pl.col("volume_shape").list.len() != 3) | (pl.col("volume_shape").list.min() < 1))
    )
    if bad_shape.height:
        raise BenchMetricsError(
            f"{source}: field 'volume_shape' of {bad_shape['scan_id'][0]}: "
            f"{bad_shape['volume_shape'][0].to_list()}; expected three positive sizes"
        )
    if out.select(pl.struct("scan_id", "question_id").is_duplicated().any()).item():
        raise BenchMetricsError(
            f"{source}: duplicate (scan_id, question_id) rows; expected one row per pair"
        )
    return out


def truth_from_rows(rows: Iterable[Mapping[str, Any]]) -> pl.DataFrame:
    """A truth table from plain rows (tests, small examples).

    ``grades`` may be a mapping ``{attribute key: grade}`` or a list of
    ``{"attribute", "grade"}`` dicts; ``box_public``, ``box_source``, ``volume_shape``
    and ``split`` may be left out.

    >>> t = truth_from_rows([{"scan_id": "9000001_00M_1", "patient_id": "9000001", "question_id": 30,
    ...                       "grades": {"osteophyte.PS.grade": 2}, "box_public": [0, 9, 0, 9, 0, 9]}])
    >>> t.shape
    (1, 8)
    """
    out: list[dict[str, Any]] = []
    for r in rows:
        grades = r["grades"]
        if isinstance(grades, Mapping):
            grades = [{"attribute": k, "grade": v} for k, v in grades.items()]
        out.append(
            {
                "scan_id": r["scan_id"],
                "patient_id": r["patient_id"],
                "question_id": int(r["question_id"]),
                "split": r.get("split"),
                "grades": list(grades),
                "box_public": r.get("box_public"),
                "box_source": r.get("box_source"),
                "volume_shape": r.get("volume_shape"),
            }
        )
    return validate_truth(pl.DataFrame(out, schema=TRUTH_SCHEMA), source="rows")


def load_truth(dataset_dir: str | Path, split: str | None = "test") -> pl.DataFrame:
    """The truth of ``split`` (``None`` = every split) from ``<dataset_dir>/quintuples.parquet``,
    with each scan's ``volume_shape`` from ``scans.parquet`` (when there)."""
    path = Path(dataset_dir) / "quintuples.parquet"
    if not path.is_file():
        raise BenchMetricsError(
            f"{path}: not found; expected a ReasonKnee dataset folder (docs/formats.md)"
        )
    cols = _parquet_columns(path)
    need = [c for c in TRUTH_SCHEMA if c in cols and c != "volume_shape"]
    quints = _read_parquet(path, need)
    scans = Path(dataset_dir) / "scans.parquet"
    if scans.is_file() and "shape" in _parquet_columns(scans):
        shapes = _read_parquet(scans, ["scan_id", "shape"])
        quints = quints.join(
            shapes.rename({"shape": "volume_shape"}),
            on="scan_id",
            how="left",
            maintain_order="left",
        )
    truth = validate_truth(quints, source=str(path))
    if split is not None:
        splits = set(truth["split"].drop_nulls().unique().to_list())
        if split not in splits:
            raise BenchMetricsError(
                f"{path}: field 'split' has no rows for {split!r}; expected one of {sorted(splits)}"
            )
        truth = truth.filter(pl.col("split") == split)
    return truth


def check_patient_splits(table: pl.DataFrame, *, source: str = "dataset") -> None:
    """Refuse ``table`` (columns ``patient_id`` and ``split``) if a patient is in two splits.

    A patient's knees and visits must all sit in one split, or test scores are measured on
    patients the model was trained on. The message names the first such patient.

    >>> check_patient_splits(pl.DataFrame({"patient_id": ["1", "2"], "split": ["train", "test"]}))
    """
    missing = [c for c in ("patient_id", "split") if c not in table.columns]
    if missing:
        raise BenchMetricsError(
            f"{source}: missing column(s) {missing}; expected patient_id, split"
        )
    from moaks_schema import MoaksSchemaError, check_split_leakage

    rows = table.filter(pl.col("split").is_not_null())
    scan_ids = rows["scan_id"].to_list() if "scan_id" in rows.columns else None
    try:  # the one leakage rule of the project (moaks_schema)
        check_split_leakage(
            rows["patient_id"].to_list(), rows["split"].to_list(), scan_ids=scan_ids, where=source
        )
    except MoaksSchemaError as exc:
        raise BenchMetricsError(str(exc)) from None


def load_truth_scans(dataset_dir: str | Path) -> pl.DataFrame:
    """``<dataset_dir>/scans.parquet`` (one row per scan), checked for the id columns and for
    patients in two splits (:func:`check_patient_splits`)."""
    path = Path(dataset_dir) / "scans.parquet"
    if not path.is_file():
        raise BenchMetricsError(
            f"{path}: not found; expected a ReasonKnee dataset folder (docs/formats.md)"
        )
    scans = _read_parquet(path)
    need = ["scan_id", "patient_id", "visit", "side", "study_folder", "series_folder"]
    missing = [c for c in need if c not in scans.columns]
    if missing:
        raise BenchMetricsError(f"{path}: missing column(s) {missing}; expected {need}")
    if "split" in scans.columns:
        check_patient_splits(scans, source=str(path))
    return scans


def majority_grades(truth: pl.DataFrame) -> dict[str, int]:
    """The most frequent grade of each attribute in ``truth`` (ties: the lowest grade).

    This is the majority-class reference; give it the TRAIN split's truth.

    >>> t = truth_from_rows([{"scan_id": f"s{i}", "patient_id": "p", "question_id": 62,
    ...                       "grades": {"patellar_tendon.signal": g}} for i, g in enumerate([0, 1, 1])])
    >>> majority_grades(t)
    {'patellar_tendon.signal': 1}
    """
    long = (
        validate_truth(truth)
        .select(pl.col("grades").explode().struct.unnest())
        .drop_nulls()
        .group_by("attribute", "grade")
        .len()
        .sort(["attribute", "len", "grade"], descending=[False, True, False])
        .unique(subset="attribute", keep="first", maintain_order=True)
    )
    return dict(zip(long["attribute"].to_list(), long["grade"].to_list(), strict=True))
