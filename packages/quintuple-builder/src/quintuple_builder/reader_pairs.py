"""Reader pairs: two independent MOAKS grades of the same attribute of the same knee-visit.

OAI knee-visits read by more than one MOAKS project give two grades of each
attribute. The dataset keeps one read per knee (the priority rule of
:func:`quintuple_builder.moaks_readings.load_moaks_readings`); the pairs keep
that read (``grade_a``, ``source_a``) beside the next-ranked other read
(``grade_b``, ``source_b``), for every attribute both reads graded. Scoring
one against the other gives the human ceiling of the benchmark (docs/formats.md,
docs/benchmark-protocol.md).
"""

from __future__ import annotations

import polars as pl

from quintuple_builder.errors import QuintupleBuilderError

__all__ = ["READER_PAIR_COLUMNS", "READER_PAIR_SCHEMA", "dataset_reader_pairs", "reader_pairs"]

#: Columns of ``reader_pairs.parquet`` (one row per scan and attribute read twice).
READER_PAIR_SCHEMA: dict[str, pl.DataType] = {
    "scan_id": pl.String(),
    "patient_id": pl.String(),
    "visit": pl.String(),
    "side": pl.Int64(),
    "split": pl.String(),
    "question_id": pl.Int64(),
    "attribute": pl.String(),
    "grade_a": pl.Int64(),
    "source_a": pl.String(),
    "grade_b": pl.Int64(),
    "source_b": pl.String(),
}
READER_PAIR_COLUMNS: tuple[str, ...] = tuple(READER_PAIR_SCHEMA)

_KNEE = ["patient_id", "visit", "side"]


def reader_pairs(reads: pl.DataFrame) -> pl.DataFrame:
    """Pairs from the loader's ``reads`` table (``MoaksReadings.reads``).

    One row per knee-visit and attribute graded by the kept read (rank 0) and
    by the next read (rank 1): ``patient_id, visit, side, question_id,
    attribute, grade_a, source_a, grade_b, source_b``. Null grades are left out.
    """
    from moaks_schema import ATTRIBUTES

    need = [*_KNEE, "rank", "source", "attribute", "grade"]
    missing = [c for c in need if c not in reads.columns]
    if missing:
        raise QuintupleBuilderError(f"reads table: missing column(s) {missing}; expected {need}")
    graded = reads.filter(pl.col("grade").is_not_null())
    first = graded.filter(pl.col("rank") == 0).select(
        *_KNEE, "attribute", pl.col("grade").alias("grade_a"), pl.col("source").alias("source_a")
    )
    second = graded.filter(pl.col("rank") == 1).select(
        *_KNEE, "attribute", pl.col("grade").alias("grade_b"), pl.col("source").alias("source_b")
    )
    qids = pl.DataFrame(
        {
            "attribute": [a.key for a in ATTRIBUTES],
            "question_id": [a.question_id for a in ATTRIBUTES],
        },
        schema={"attribute": pl.String, "question_id": pl.Int64},
    )
    return (
        first.join(second, on=[*_KNEE, "attribute"], how="inner")
        .join(qids, on="attribute", how="inner")
        .select(*_KNEE, "question_id", "attribute", "grade_a", "source_a", "grade_b", "source_b")
        .with_columns(pl.col("side").cast(pl.Int64), pl.col("grade_a", "grade_b").cast(pl.Int64))
        .sort([*_KNEE, "question_id", "attribute"])
    )


def dataset_reader_pairs(pairs: pl.DataFrame, scans: pl.DataFrame) -> pl.DataFrame:
    """Pairs of the scans in the dataset, with their ``scan_id`` and ``split`` (:data:`READER_PAIR_SCHEMA`)."""
    ids = scans.select(
        "scan_id",
        pl.col("patient_id").cast(pl.String),
        pl.col("visit").cast(pl.String),
        pl.col("side").cast(pl.Int64),
        "split",
    )
    return (
        pairs.join(ids, on=_KNEE, how="inner")
        .select([pl.col(c).cast(t) for c, t in READER_PAIR_SCHEMA.items()])
        .sort("scan_id", "question_id", "attribute")
    )
