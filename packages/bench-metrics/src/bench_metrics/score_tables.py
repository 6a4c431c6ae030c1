"""Scoring stage 5: the tables of :class:`~bench_metrics.scores.Scores` from the estimates."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import moaks_schema as ms
import numpy as np
import polars as pl

from bench_metrics.agreement import pearson, spearman
from bench_metrics.boxes import BoxScores
from bench_metrics.estimates import AccuracyEstimates, AgreementEstimates, IouEstimates
from bench_metrics.failures import BOX_FAILURES, FailureKind
from bench_metrics.items import Items
from bench_metrics.layout import (
    ATTR_CATEGORY,
    ATTR_COLUMN,
    ATTRIBUTES,
    CATEGORIES,
    COLUMNS,
    FAILURE_CODE,
    FAILURE_NAMES,
    FAILURES,
    QUESTION_SLOTS,
    SLOTS,
    STRUCTURES,
)
from bench_metrics.parsing import ParsedAnswer
from bench_metrics.scores import OVERALL_MACRO, OVERALL_MICRO
from bench_metrics.values import finite_or_none

__all__ = [
    "AGREEMENT_CI_COLUMNS",
    "attribute_table",
    "correlation_table",
    "failure_table",
    "group_table",
    "item_frame",
    "question_table",
    "record_frame",
    "structure_table",
]

#: the interval columns of kappa, balanced accuracy and macro-F1, in that order
AGREEMENT_CI_COLUMNS = (
    "kappa_low",
    "kappa_high",
    "balanced_accuracy_low",
    "balanced_accuracy_high",
    "macro_f1_low",
    "macro_f1_high",
)
_FLOAT_COLUMNS = (
    "accuracy",
    "ci_low",
    "ci_high",
    "majority",
    "kappa",
    "balanced_accuracy",
    "macro_f1",
    "failure_rate",
    *AGREEMENT_CI_COLUMNS,
)


def _floats(*names: str) -> dict[str, Any]:
    return dict.fromkeys(names, pl.Float64)


def _agreement_cells(value: np.ndarray, low: np.ndarray, high: np.ndarray) -> dict[str, Any]:
    """``kappa, balanced_accuracy, macro_f1`` and their ``_low`` / ``_high`` columns."""
    bounds = np.column_stack([low, high]).ravel()
    return {
        "kappa": finite_or_none(value[0]),
        "balanced_accuracy": finite_or_none(value[1]),
        "macro_f1": finite_or_none(value[2]),
        **{c: finite_or_none(v) for c, v in zip(AGREEMENT_CI_COLUMNS, bounds, strict=True)},
    }


def _group_row(
    level: str, name: str, slot: int, acc: AccuracyEstimates, agree: AgreementEstimates, mask: Any
) -> dict[str, Any]:
    a = acc.accuracy
    return {
        "level": level,
        "group": name,
        "n_items": int(acc.n[slot]),
        "accuracy": finite_or_none(a.value[slot]),
        "ci_low": finite_or_none(a.low[slot]),
        "ci_high": finite_or_none(a.high[slot]),
        "majority": finite_or_none(acc.majority[slot]),
        "failure_rate": finite_or_none(acc.failure_rate[slot]),
        **_agreement_cells(*agree.group(mask)),
    }


def group_table(acc: AccuracyEstimates, agree: AgreementEstimates) -> pl.DataFrame:
    """Categories, Table-2 columns, Overall micro and macro (the ``groups`` table)."""
    rows = [
        _group_row("category", c.value, SLOTS.category + i, acc, agree, i == ATTR_CATEGORY)
        for i, c in enumerate(CATEGORIES)
    ]
    rows += [
        _group_row("column", c.value, SLOTS.column + i, acc, agree, i == ATTR_COLUMN)
        for i, c in enumerate(COLUMNS)
    ]
    everything = np.ones(len(ATTRIBUTES), dtype=bool)
    rows.append(_group_row("overall", OVERALL_MICRO, SLOTS.overall, acc, agree, everything))
    macro = _group_row("overall", OVERALL_MACRO, SLOTS.overall, acc, agree, everything)
    macro.update(
        accuracy=finite_or_none(acc.macro.value[0]),
        ci_low=finite_or_none(acc.macro.low[0]),
        ci_high=finite_or_none(acc.macro.high[0]),
        majority=finite_or_none(acc.macro_majority),
    )
    rows.append(macro)
    columns = ["level", "group", "n_items", "accuracy", "ci_low", "ci_high", "majority"]
    columns += ["kappa", "balanced_accuracy", "macro_f1", "failure_rate", *AGREEMENT_CI_COLUMNS]
    return pl.DataFrame(rows, schema_overrides=_floats(*_FLOAT_COLUMNS)).select(columns)


def attribute_table(
    acc: AccuracyEstimates, agree: AgreementEstimates, majority_grade: np.ndarray
) -> pl.DataFrame:
    """One row per attribute with items (the ``attributes`` table)."""
    rows = []
    for i, a in enumerate(ATTRIBUTES):
        slot = SLOTS.attribute + i
        if acc.n[slot] == 0:
            continue
        q = ms.question(a.question_id)
        value, low, high = agree.attribute(i)
        rows.append(
            {
                "attribute": a.key,
                "question_id": a.question_id,
                "name": a.name,
                "category": q.category.value,
                "column": q.column.value,
                "n_items": int(acc.n[slot]),
                "accuracy": finite_or_none(acc.accuracy.value[slot]),
                "ci_low": finite_or_none(acc.accuracy.low[slot]),
                "ci_high": finite_or_none(acc.accuracy.high[slot]),
                "majority_grade": int(majority_grade[i]) if majority_grade[i] >= 0 else None,
                "majority": finite_or_none(acc.majority[slot]),
                "failure_rate": finite_or_none(acc.failure_rate[slot]),
                **_agreement_cells(value, low, high),
            }
        )
    columns = ["attribute", "question_id", "name", "category", "column", "n_items", "accuracy"]
    columns += ["ci_low", "ci_high", "majority_grade", "majority", "kappa", "balanced_accuracy"]
    columns += ["macro_f1", "failure_rate", *AGREEMENT_CI_COLUMNS]
    frame = pl.DataFrame(
        rows, schema_overrides={**_floats(*_FLOAT_COLUMNS), "majority_grade": pl.Int64}
    )
    return frame.select(columns) if rows else frame


def structure_table(ious: IouEstimates, boxes: BoxScores) -> pl.DataFrame:
    """Mean IoU and hit rates per Table-3 structure, the patellar tendon and ``All``, with the
    number of true boxes left out as low quality (``n_low_quality_excluded``)."""
    n_s = ious.n.size
    excluded = np.bincount(boxes.structure[boxes.excluded], minlength=n_s)
    excluded[n_s - 1] = boxes.n_excluded
    rows = []
    for si in range(ious.n.size):
        row: dict[str, Any] = {
            "structure": STRUCTURES[si].value if si < len(STRUCTURES) else "All",
            "n_boxes": int(ious.n[si]),
        }
        for name, est in (
            ("mean_iou", ious.mean_iou),
            ("acc_025", ious.acc_025),
            ("acc_050", ious.acc_050),
        ):
            lo, hi = (
                ("ci_low", "ci_high") if name == "mean_iou" else (f"{name}_low", f"{name}_high")
            )
            row[name] = finite_or_none(est.value[si])
            row[lo] = finite_or_none(est.low[si])
            row[hi] = finite_or_none(est.high[si])
        row["box_failure_rate"] = finite_or_none(ious.box_failure_rate[si])
        row["n_low_quality_excluded"] = int(excluded[si])
        rows.append(row)
    floats = [c for c in rows[0] if c not in ("structure", "n_boxes", "n_low_quality_excluded")]
    return pl.DataFrame(rows, schema_overrides=_floats(*floats))


def question_table(items: Items, boxes: BoxScores, question_ids: np.ndarray) -> pl.DataFrame:
    """Accuracy and IoU per question with truth records (the ``questions`` table)."""

    def per_question(ids: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
        return np.bincount(ids, weights=weights, minlength=QUESTION_SLOTS).astype(np.float64)

    item_q = question_ids[items.record]
    box_q, box_iou = question_ids[boxes.scored], boxes.iou[boxes.scored]
    n_items, n_correct = per_question(item_q), per_question(item_q, items.correct)
    n_records, n_boxes = per_question(question_ids), per_question(box_q)
    iou_sum = per_question(box_q, box_iou)
    h25 = per_question(box_q, (box_iou >= 0.25).astype(float))
    h50 = per_question(box_q, (box_iou >= 0.5).astype(float))
    rows = []
    for qi in np.flatnonzero(n_records).tolist():
        q = ms.question(qi)
        nb = n_boxes[qi]
        rows.append(
            {
                "question_id": qi,
                "answer_key": q.answer_key,
                "category": q.category.value,
                "structure": q.structure.value if q.structure and q.box_regions else None,
                "n_records": int(n_records[qi]),
                "n_items": int(n_items[qi]),
                "accuracy": float(n_correct[qi] / n_items[qi]) if n_items[qi] else None,
                "n_boxes": int(nb),
                "mean_iou": float(iou_sum[qi] / nb) if nb else None,
                "acc_025": float(h25[qi] / nb) if nb else None,
                "acc_050": float(h50[qi] / nb) if nb else None,
            }
        )
    return pl.DataFrame(
        rows,
        schema_overrides={
            **_floats("accuracy", "mean_iou", "acc_025", "acc_050"),
            "structure": pl.String,
        },
    )


def correlation_table(questions: pl.DataFrame, items: Items, boxes: BoxScores) -> pl.DataFrame:
    """Pearson and Spearman between IoU and accuracy, per question and per record."""
    both = questions.filter(pl.col("mean_iou").is_not_null() & pl.col("accuracy").is_not_null())
    n_rec = boxes.iou.size
    rec_items = np.bincount(items.record, minlength=n_rec).astype(np.float64)
    rec_correct = np.bincount(items.record, weights=items.correct, minlength=n_rec)
    sel = boxes.scored & (rec_items > 0)
    rec_acc = np.divide(rec_correct, rec_items, out=np.zeros(n_rec), where=rec_items > 0)
    pairs = {
        "question": (both.height, both["mean_iou"], both["accuracy"]),
        "record": (int(sel.sum()), boxes.iou[sel], rec_acc[sel]),
    }
    return pl.DataFrame(
        [
            {
                "level": level,
                "n": n,
                "pearson": finite_or_none(pearson(x, y)),
                "spearman": finite_or_none(spearman(x, y)),
            }
            for level, (n, x, y) in pairs.items()
        ],
        schema_overrides=_floats("pearson", "spearman"),
    )


def failure_table(items: Items, boxes: BoxScores) -> pl.DataFrame:
    """Counts and shares of each failure kind, per scope (``grade`` items, ``box`` records)."""
    grade_counts = np.bincount(items.failure, minlength=len(FAILURES) + 1)
    box_counts = np.bincount(boxes.failure[boxes.scored], minlength=len(FAILURES) + 1)
    scopes = {"grade": (grade_counts, items.n), "box": (box_counts, boxes.n_scored)}
    rows = []
    for kind in FAILURES:
        kinds = ["box"] if kind in BOX_FAILURES else ["grade"]
        if kind is FailureKind.NO_PREDICTION:
            kinds = ["grade", "box"]
        for scope in kinds:
            counts, total = scopes[scope]
            c = int(counts[FAILURE_CODE[kind]])
            rows.append(
                {
                    "scope": scope,
                    "kind": kind.value,
                    "count": c,
                    "share": c / total if total else None,
                }
            )
    return pl.DataFrame(rows, schema_overrides=_floats("share"))


def item_frame(joined: pl.DataFrame, items: Items, question_ids: np.ndarray) -> pl.DataFrame:
    """The readings: one row per (scan, attribute) item."""
    rec = pl.Series(items.record)
    pred = pl.Series(items.pred)
    cat_names = np.array([c.value for c in CATEGORIES], dtype=object)
    col_names = np.array([c.value for c in COLUMNS], dtype=object)
    return pl.DataFrame(
        {
            "scan_id": joined["scan_id"].gather(rec),
            "patient_id": joined["patient_id"].gather(rec),
            "question_id": question_ids[items.record],
            "attribute": items.keys,
            "category": cat_names[ATTR_CATEGORY[items.attribute]].tolist(),
            "column": col_names[ATTR_COLUMN[items.attribute]].tolist(),
            "truth": items.truth,
            "pred": pred.set(pl.Series(items.pred < 0), None) if (items.pred < 0).any() else pred,
            "failure": FAILURE_NAMES[items.failure].tolist(),
            "correct": items.correct.astype(bool),
        },
        schema_overrides={"failure": pl.String, "pred": pl.Int64},
    )


def record_frame(
    joined: pl.DataFrame,
    boxes: BoxScores,
    parsed: Sequence[ParsedAnswer | None],
    question_ids: np.ndarray,
) -> pl.DataFrame:
    """The readings: one row per truth (scan, question) record, with IoU, box failure and reasoning."""
    struct_names = np.array([s.value for s in STRUCTURES] + [None], dtype=object)
    scored = boxes.scored
    return pl.DataFrame(
        {
            "scan_id": joined["scan_id"],
            "patient_id": joined["patient_id"],
            "question_id": question_ids,
            "structure": struct_names[boxes.structure].tolist(),
            "box_scored": scored,
            "box_low_quality": boxes.low_quality,
            "iou": pl.Series(np.where(scored, boxes.iou, np.nan)).fill_nan(None),
            "box_failure": FAILURE_NAMES[np.where(scored, boxes.failure, 0)].tolist(),
            "matched": joined["matched"],
            "predicted": [p is not None for p in parsed],
            "repaired": [bool(p.repaired) if p is not None else False for p in parsed],
            "reasoning": [p.reasoning if p is not None else None for p in parsed],
            "think": [p.think if p is not None else None for p in parsed],
        },
        schema_overrides={"structure": pl.String, "box_failure": pl.String, "iou": pl.Float64},
    )
