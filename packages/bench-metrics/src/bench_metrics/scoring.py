"""Scoring a run: predictions + truth -> :class:`~bench_metrics.scores.Scores`.

Every truth (scan, attribute) pair with a grade is scored once: 1 if the
parsed grade equals the true grade, else 0 (a failure is 0 and counted). A
truth (scan, question) with no prediction fails as ``no_prediction``;
predictions for pairs not in the truth are counted as unmatched and ignored;
duplicated predictions keep the last. Localisation is scored for questions
with a box region and a true box (:mod:`bench_metrics.boxes`).

The stages, each in its module: items (:mod:`~bench_metrics.items`), boxes
(:mod:`~bench_metrics.boxes`), point estimates and bootstrap
(:mod:`~bench_metrics.estimates`), tables (:mod:`~bench_metrics.score_tables`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from bench_metrics.bootstrap import patient_weights
from bench_metrics.boxes import BoxScores, score_boxes
from bench_metrics.errors import BenchMetricsError, CoverageError
from bench_metrics.estimates import accuracy_estimates, agreement_estimates, iou_estimates
from bench_metrics.inputs import PREDICTION_SCHEMA, PredictionsFile, predictions_frame
from bench_metrics.items import Items, read_items
from bench_metrics.layout import ATTR_INDEX, ATTRIBUTES, CATEGORIES, COLUMNS, STRUCTURES
from bench_metrics.parsing import ParsedAnswer, parse_answer
from bench_metrics.score_tables import (
    attribute_table,
    correlation_table,
    failure_table,
    group_table,
    item_frame,
    question_table,
    record_frame,
    structure_table,
)
from bench_metrics.scores import Scores
from bench_metrics.truth import majority_grades, validate_truth

__all__ = [
    "CATEGORIES",
    "COLUMNS",
    "MIN_COVERAGE",
    "STRUCTURES",
    "Coverage",
    "Predictions",
    "Progress",
    "score_predictions",
]

#: A progress callback: ``(done, total)``.
Progress = Callable[[int, int], None]
#: What :func:`score_predictions` scores: a predictions table, a file as read, or records.
Predictions = pl.DataFrame | PredictionsFile | Iterable[Mapping[str, Any]]
#: The share of the truth (scan, question) pairs a run must answer to be scored (docs/benchmark-protocol.md).
MIN_COVERAGE = 0.9


def _predictions(predictions: pl.DataFrame | Iterable[Mapping[str, Any]]) -> pl.DataFrame:
    if isinstance(predictions, pl.DataFrame):
        frame = predictions
        for c, t in PREDICTION_SCHEMA.items():
            if c not in frame.columns:
                if c in ("scan_id", "question_id"):
                    raise BenchMetricsError(
                        f"predictions: missing column {c!r}; expected {list(PREDICTION_SCHEMA)}"
                    )
                frame = frame.with_columns(pl.lit(None, dtype=t).alias(c))
        return frame.select([pl.col(c).cast(t) for c, t in PREDICTION_SCHEMA.items()])
    return predictions_frame(predictions)


def _reference(
    reference: pl.DataFrame | Mapping[str, int] | None, truth: pl.DataFrame
) -> tuple[np.ndarray, str]:
    """The majority grade per attribute (-1: none) and where it came from."""
    if reference is None:
        grades, source = majority_grades(truth), "scored split"
    elif isinstance(reference, pl.DataFrame):
        grades, source = majority_grades(reference), "reference split"
    else:
        grades, source = dict(reference), "given"
    arr = np.full(len(ATTRIBUTES), -1, dtype=np.int64)
    for k, g in grades.items():
        if k in ATTR_INDEX and g is not None:
            arr[ATTR_INDEX[k]] = int(g)
    return arr, source


def _label(preds: pl.DataFrame) -> str:
    parts = []
    for c in ("model", "setting"):
        vals = preds[c].drop_nulls().unique().to_list()
        if len(vals) == 1:
            parts.append(str(vals[0]))
        elif len(vals) > 1:
            parts.append(f"mixed {c}s")
    return " / ".join(parts) or "run"


def parse_records(
    texts: list[str | None],
    errors: list[str | None],
    question_ids: list[int],
    progress: Progress | None = None,
) -> list[ParsedAnswer | None]:
    """The parsed reply of each record (``None``: no text, or an error record without text)."""
    memo: dict[tuple[str, int], ParsedAnswer] = {}
    out: list[ParsedAnswer | None] = []
    total = len(texts)
    step = max(1, total // 200)
    for i, (text, err, qid) in enumerate(zip(texts, errors, question_ids, strict=True)):
        if text is None or (err is not None and not text.strip()):
            out.append(None)
        else:
            key = (text, qid)
            p = memo.get(key)
            if p is None:
                p = parse_answer(text, qid)
                if len(memo) < 100_000:
                    memo[key] = p
            out.append(p)
        if progress is not None and (i % step == 0 or i == total - 1):
            progress(i + 1, total)
    return out


@dataclass(frozen=True)
class _Matched:
    """The truth records joined with their prediction (one per pair) and the matching counts."""

    joined: pl.DataFrame
    label: str
    n_predictions: int
    n_duplicates: int
    n_unmatched: int


def _match(
    predictions: pl.DataFrame | Iterable[Mapping[str, Any]], truth: pl.DataFrame
) -> _Matched:
    preds = _predictions(predictions)
    n_in = preds.height
    preds = preds.unique(subset=["scan_id", "question_id"], keep="last", maintain_order=True)
    keys = truth.select("scan_id", "question_id")
    joined = truth.join(
        preds.select(
            "scan_id", "question_id", "raw_text", "view", "error", pl.lit(True).alias("_matched")
        ),
        on=["scan_id", "question_id"],
        how="left",
        maintain_order="left",
    )
    return _Matched(
        joined=joined.with_columns(pl.col("_matched").is_not_null()).rename(
            {"_matched": "matched"}
        ),
        label=_label(preds),
        n_predictions=n_in,
        n_duplicates=n_in - preds.height,
        n_unmatched=preds.join(keys, on=["scan_id", "question_id"], how="anti").height,
    )


@dataclass(frozen=True)
class Coverage:
    """How many of the scored truth pairs (those with a true grade or a box to score) a run answers."""

    matched: int
    scored: int

    @property
    def share(self) -> float:
        """``matched / scored`` (0 when nothing is scored)."""
        return self.matched / self.scored if self.scored else 0.0

    @staticmethod
    def of(matched: np.ndarray, scored: np.ndarray) -> Coverage:
        """From per-record flags: a prediction record exists, the record is scored."""
        return Coverage(int((matched & scored).sum()), int(scored.sum()))


def _check_coverage(
    cov: Coverage, m: _Matched, truth: pl.DataFrame, min_coverage: float, source: str
) -> None:
    """Refuse a run that answers fewer than ``min_coverage`` of the scored truth pairs."""
    if cov.scored and cov.share >= min_coverage:
        return
    splits = sorted(str(s) for s in truth["split"].drop_nulls().unique().to_list()) or ["?"]
    raise CoverageError(
        f"{source}: the predictions match {cov.matched} of {cov.scored} scored (scan, question) "
        f"pairs of split {', '.join(splits)} ({cov.share:.0%}; {m.n_unmatched} predictions match "
        f"no pair); expected at least {min_coverage:.0%} (wrong split, dataset or question set?). "
        "To score a partial run anyway, lower min_coverage (score --allow-partial)"
    )


def _patient_codes(joined: pl.DataFrame) -> np.ndarray:
    """Each truth record's patient as 0..P-1."""
    return (
        joined.select((pl.col("patient_id").rank("dense") - 1).cast(pl.Int64))
        .to_series()
        .to_numpy()
    )


def _select_truth(truth: pl.DataFrame, questions: Iterable[int] | None) -> pl.DataFrame:
    """``truth`` checked and narrowed to ``questions``; refused when nothing is left."""
    truth = validate_truth(truth)
    if questions is not None:
        truth = truth.filter(pl.col("question_id").is_in(sorted({int(q) for q in questions})))
    if truth.height == 0:
        raise BenchMetricsError("truth: no (scan, question) rows to score")
    return truth


@dataclass(frozen=True)
class _Readings:
    """Stages 1 and 2: the parsed replies, the items and the boxes of the truth records."""

    question_ids: np.ndarray
    parsed: list[ParsedAnswer | None]
    items: Items
    boxes: BoxScores
    #: per record: it has a true grade or a box to score
    scored: np.ndarray


def _read(joined: pl.DataFrame, include_low_quality: bool, progress: Progress | None) -> _Readings:
    qids = joined["question_id"].to_numpy()
    parsed = parse_records(
        joined["raw_text"].to_list(), joined["error"].to_list(), qids.tolist(), progress
    )
    items = read_items(joined, parsed)
    boxes = score_boxes(joined, parsed, include_low_quality=include_low_quality)
    scored = (np.bincount(items.record, minlength=joined.height) > 0) | boxes.scored
    return _Readings(qids, parsed, items, boxes, scored)


def _reading_counts(m: _Matched, r: _Readings, truth: pl.DataFrame) -> dict[str, Any]:
    """The counts of ``Scores.meta`` that describe what was read and matched."""
    return {
        "n_truth_records": m.joined.height,
        "n_items": r.items.n,
        "n_items_missing_truth": r.items.n_missing_truth,
        "n_predictions": m.n_predictions,
        "n_duplicate_predictions": m.n_duplicates,
        "n_unmatched_predictions": m.n_unmatched,
        "n_missing_predictions": int(sum(p is None for p in r.parsed)),
        "n_repaired": int(sum(bool(p and p.repaired) for p in r.parsed)),
        "n_boxes_scored": r.boxes.n_scored,
        "n_boxes_low_quality": int(r.boxes.low_quality.sum()),
        "n_boxes_low_quality_excluded": r.boxes.n_excluded,
        "splits": sorted(str(s) for s in truth["split"].drop_nulls().unique().to_list()),
        "questions": sorted(set(r.question_ids.tolist())),
    }


def score_predictions(
    predictions: Predictions,
    truth: pl.DataFrame,
    *,
    min_coverage: float = MIN_COVERAGE,
    include_low_quality_boxes: bool = False,
    reference: pl.DataFrame | Mapping[str, int] | None = None,
    questions: Iterable[int] | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
    label: str | None = None,
    progress: Progress | None = None,
) -> Scores:
    """Score ``predictions`` against ``truth`` (one split's quintuples).

    ``reference`` gives the majority-class reference: the TRAIN split's truth
    (a table like ``truth``) or a ready ``{attribute key: grade}`` mapping;
    ``None`` uses the scored split itself (and says so in ``meta``).
    ``questions`` restricts scoring to those public ids. Intervals: ``n_boot``
    patient-level bootstrap replicates (0 = none) from ``seed``.

    A run that answers fewer than ``min_coverage`` of the truth (scan, question)
    pairs (after ``questions``) raises :class:`~bench_metrics.errors.CoverageError`:
    its misses would read as a result. ``0`` scores any run.

    True boxes flagged low quality (``box_source`` ``"<source>:low_quality"``) are
    left out of localisation and counted (``meta["n_boxes_low_quality_excluded"]``)
    unless ``include_low_quality_boxes``; their grades are scored as usual.
    """
    truth = _select_truth(truth, questions)
    source, n_torn = "predictions", 0
    if isinstance(predictions, PredictionsFile):
        source, n_torn = str(predictions.path), predictions.n_torn_lines
        predictions = predictions.frame
    m = _match(predictions, truth)
    r = _read(m.joined, include_low_quality_boxes, progress)
    coverage = Coverage.of(m.joined["matched"].to_numpy(), r.scored)
    _check_coverage(coverage, m, truth, min_coverage, source)
    majority, ref_source = _reference(reference, truth)
    record_patient = _patient_codes(m.joined)
    n_pat = int(record_patient.max()) + 1
    weights = patient_weights(n_pat, n_boot=n_boot, seed=seed)
    item_patient = record_patient[r.items.record]
    common = {"n_patients": n_pat, "weights": weights, "confidence": confidence}
    acc = accuracy_estimates(r.items, item_patient, majority_grade=majority, **common)
    agree = agreement_estimates(r.items, item_patient, **common)
    ious = iou_estimates(r.boxes, record_patient, **common)
    questions_frame = question_table(r.items, r.boxes, r.question_ids)
    meta = {
        **_reading_counts(m, r, truth),
        "n_patients": n_pat,
        "predictions_source": source,
        "n_torn_lines": n_torn,
        "coverage": coverage.share,
        "min_coverage": min_coverage,
        "include_low_quality_boxes": include_low_quality_boxes,
        "majority_reference": ref_source,
        "n_boot": int(weights.shape[0]),
        "seed": seed,
        "confidence": confidence,
        "overall_macro": "mean of the seven category accuracies (categories with scored items)",
    }
    return Scores(
        label=label or m.label,
        meta=meta,
        groups=group_table(acc, agree),
        attributes=attribute_table(acc, agree, majority),
        questions=questions_frame,
        structures=structure_table(ious, r.boxes),
        correlation=correlation_table(questions_frame, r.items, r.boxes),
        failures=failure_table(r.items, r.boxes),
        items=item_frame(m.joined, r.items, r.question_ids),
        records=record_frame(m.joined, r.boxes, r.parsed, r.question_ids).with_columns(
            scored=pl.Series(r.scored)
        ),
    )
