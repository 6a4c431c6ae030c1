"""Scoring stage 1: the (scan, attribute) items of the truth and what each reply says about them.

An item is one true grade of one attribute of one truth record. Its reading is
the grade the parsed reply gives, or the failure that stops it (a truth record
with no reply fails as ``no_prediction``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

from bench_metrics.errors import BenchMetricsError
from bench_metrics.failures import FailureKind
from bench_metrics.layout import ATTR_INDEX, ATTR_N_GRADES, ATTR_QUESTION, FAILURE_CODE
from bench_metrics.parsing import ParsedAnswer

__all__ = ["Items", "read_items"]


@dataclass(frozen=True)
class Items:
    """Parallel arrays, one entry per scored item, in truth order.

    ``record``: row of the truth record; ``attribute``: index into
    ``moaks_schema.ATTRIBUTES`` (``keys`` holds the keys); ``truth`` / ``pred``:
    true and read grade (``pred`` is -1 on a failure); ``failure``: failure
    code (0 = read); ``correct``: 1.0 where ``pred == truth``.
    """

    record: np.ndarray
    keys: list[str]
    attribute: np.ndarray
    truth: np.ndarray
    pred: np.ndarray
    failure: np.ndarray
    correct: np.ndarray
    #: true grades that are null (missing readings): not scored
    n_missing_truth: int

    @property
    def n(self) -> int:
        """Number of scored items."""
        return int(self.record.size)


def _long_grades(joined: pl.DataFrame) -> pl.DataFrame:
    """One row per (record, attribute) of the truth: ``rec, question_id, attribute, grade``."""
    long = (
        joined.select(pl.int_range(pl.len(), dtype=pl.Int64).alias("rec"), "question_id", "grades")
        .explode("grades")
        .filter(pl.col("grades").is_not_null())
        .unnest("grades")
    )
    unknown = long.filter(~pl.col("attribute").is_in(list(ATTR_INDEX)))
    if unknown.height:
        raise BenchMetricsError(
            f"truth: field 'grades': unknown attribute {unknown['attribute'][0]!r}; "
            "expected moaks_schema attribute keys"
        )
    return long


def _check_truth(keys: list[str], attr: np.ndarray, qids: np.ndarray, grade: np.ndarray) -> None:
    """Each attribute under its own question, each grade inside its grade space."""
    wrong_q = np.flatnonzero(ATTR_QUESTION[attr] != qids)
    if wrong_q.size:
        i = int(wrong_q[0])
        raise BenchMetricsError(
            f"truth: attribute {keys[i]!r} belongs to question {ATTR_QUESTION[attr[i]]}, "
            f"found under question {qids[i]}"
        )
    outside = np.flatnonzero((grade < 0) | (grade >= ATTR_N_GRADES[attr]))
    if outside.size:
        i = int(outside[0])
        raise BenchMetricsError(
            f"truth: grade {grade[i]} of {keys[i]!r} is outside its grade space"
        )


def _readings(
    record: np.ndarray, keys: list[str], parsed: Sequence[ParsedAnswer | None]
) -> tuple[np.ndarray, np.ndarray]:
    """``(pred, failure)``: the grade each item's reply gives (-1 if none) and the failure code."""
    pred = np.full(record.size, -1, dtype=np.int64)
    fail = np.zeros(record.size, dtype=np.int64)
    no_pred = FAILURE_CODE[FailureKind.NO_PREDICTION]
    for i, (r, key) in enumerate(zip(record.tolist(), keys, strict=True)):
        p = parsed[r]
        if p is None:
            fail[i] = no_pred
            continue
        g = p.grades.get(key)
        if g is None:
            fail[i] = FAILURE_CODE[p.failures[key]]
        else:
            pred[i] = g
    return pred, fail


def read_items(joined: pl.DataFrame, parsed: Sequence[ParsedAnswer | None]) -> Items:
    """The items of the truth records ``joined`` and their readings from ``parsed`` (one per record)."""
    long = _long_grades(joined)
    n_null = long.filter(pl.col("grade").is_null()).height
    long = long.filter(pl.col("grade").is_not_null())
    keys = long["attribute"].to_list()
    attr = np.fromiter((ATTR_INDEX[k] for k in keys), dtype=np.int64, count=len(keys))
    grade = long["grade"].to_numpy().astype(np.int64)
    _check_truth(keys, attr, long["question_id"].to_numpy(), grade)
    record = long["rec"].to_numpy()
    pred, fail = _readings(record, keys, parsed)
    return Items(
        record=record,
        keys=keys,
        attribute=attr,
        truth=grade,
        pred=pred,
        failure=fail,
        correct=(pred == grade).astype(np.float64),
        n_missing_truth=n_null,
    )
