"""The ``second reader`` row: one radiologist's MOAKS read scored against another's.

A dataset built from OAI MOAKS tables keeps, in ``reader_pairs.parquet``, the
knee-visits that two reading projects graded (docs/formats.md): ``grade_a`` is
the read the dataset keeps as truth, ``grade_b`` the other read. Scoring
``grade_b`` as a prediction of ``grade_a`` with the very metrics a model gets
(:func:`bench_metrics.score_predictions`: accuracy per category, weighted
kappa, patient-bootstrap intervals) gives the human ceiling a model's row is
read against (docs/benchmark-protocol.md). The second reader gives no box, so
its localisation rows stay empty; only the attributes both readers graded are
scored, and ``Scores.meta`` says how many knees (knee-visits) and patients
the row rests on.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import moaks_schema as ms
import polars as pl

from bench_metrics.errors import BenchMetricsError

if TYPE_CHECKING:
    from bench_metrics import Scores

__all__ = [
    "READER_PAIRS_FILE",
    "SECOND_READER",
    "load_reader_pairs",
    "score_reader_pairs",
    "second_reader_scores",
]

#: The dataset file that holds the pairs, and the label of the row scored from it.
READER_PAIRS_FILE = "reader_pairs.parquet"
SECOND_READER = "second reader"

_NEED: dict[str, pl.DataType] = {
    "scan_id": pl.String(),
    "patient_id": pl.String(),
    "question_id": pl.Int64(),
    "attribute": pl.String(),
    "grade_a": pl.Int64(),
    "grade_b": pl.Int64(),
}


def _checked(pairs: pl.DataFrame, source: str) -> pl.DataFrame:
    missing = [c for c in _NEED if c not in pairs.columns]
    if missing:
        raise BenchMetricsError(f"{source}: missing column(s) {missing}; expected {list(_NEED)}")
    try:
        out = pairs.with_columns([pl.col(c).cast(t) for c, t in _NEED.items()])
    except Exception as exc:
        raise BenchMetricsError(f"{source}: columns do not match {_NEED}: {exc}") from None
    if out.select(pl.struct("scan_id", "attribute").is_duplicated().any()).item():
        raise BenchMetricsError(
            f"{source}: duplicate (scan_id, attribute) rows; expected one pair per scan and attribute"
        )
    return out.filter(pl.col("grade_a").is_not_null() & pl.col("grade_b").is_not_null())


def load_reader_pairs(dataset_dir: str | Path, split: str | None = "test") -> pl.DataFrame:
    """The reader pairs of ``split`` (``None`` = all); empty when the dataset has none."""
    path = Path(dataset_dir) / READER_PAIRS_FILE
    if not path.is_file():
        return pl.DataFrame(schema=_NEED)
    pairs = _checked(pl.read_parquet(path), str(path))
    if split is not None:
        if "split" not in pairs.columns:
            raise BenchMetricsError(f"{path}: field 'split' missing; expected train/val/test")
        pairs = pairs.filter(pl.col("split") == split)
    return pairs


def _answer_text(question_id: int, grades: dict[str, int]) -> str:
    """The second read as an answer object; attributes it did not grade are never scored."""
    q = ms.question(question_id)
    filled = {a.key: grades.get(a.key, a.grades.values[0]) for a in q.attributes}
    return json.dumps(q.answer_object(filled))


def score_reader_pairs(
    pairs: pl.DataFrame,
    *,
    reference: pl.DataFrame | dict[str, int] | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    label: str = SECOND_READER,
) -> Scores:
    """Score the second read (``grade_b``) against the kept read (``grade_a``).

    ``reference``, ``n_boot`` and ``seed`` as in :func:`score_predictions`.
    ``meta`` gains ``n_knees`` (knee-visits) and ``n_patients``.
    """
    # the package's public API only (imported here: it imports this module)
    from bench_metrics import score_predictions, truth_from_rows

    pairs = _checked(pairs, "reader pairs")
    if pairs.height == 0:
        raise BenchMetricsError("reader pairs: no attribute graded by two readers to score")
    truth_rows, records = [], []
    keys = ["scan_id", "patient_id", "question_id"]
    for key, group in pairs.group_by(keys, maintain_order=True):
        scan_id, patient_id, qid = key
        a = dict(zip(group["attribute"].to_list(), group["grade_a"].to_list(), strict=True))
        b = dict(zip(group["attribute"].to_list(), group["grade_b"].to_list(), strict=True))
        truth_rows.append(
            {"scan_id": scan_id, "patient_id": patient_id, "question_id": qid, "grades": a}
        )
        records.append(
            {"scan_id": scan_id, "question_id": qid, "raw_text": _answer_text(int(qid), b)}
        )
    scores = score_predictions(
        records,
        truth_from_rows(truth_rows),
        reference=reference,
        n_boot=n_boot,
        seed=seed,
        label=label,
    )
    meta = {
        **scores.meta,
        "n_knees": int(pairs["scan_id"].n_unique()),
        "n_patients": int(pairs["patient_id"].n_unique()),
    }
    return replace(scores, meta=meta)


def second_reader_scores(
    dataset_dir: str | Path,
    split: str = "test",
    *,
    reference: pl.DataFrame | dict[str, int] | None = None,
    questions: Iterable[int] | None = None,
    n_boot: int = 1000,
    seed: int = 0,
) -> Scores | None:
    """The ``second reader`` row of ``split`` of a dataset (only ``questions`` when given),
    or ``None`` when no knee was read twice."""
    pairs = load_reader_pairs(dataset_dir, split)
    if questions is not None:
        pairs = pairs.filter(pl.col("question_id").is_in(sorted({int(q) for q in questions})))
    if pairs.height == 0:
        return None
    return score_reader_pairs(pairs, reference=reference, n_boot=n_boot, seed=seed)
