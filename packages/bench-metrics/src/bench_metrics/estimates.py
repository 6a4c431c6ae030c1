"""Scoring stages 3 and 4: point estimates and their patient-bootstrap intervals.

Every accuracy, IoU mean and hit rate is a ratio of per-patient sums, so its
replicates are two matrix products with the patient draw counts
(:mod:`bench_metrics.bootstrap`); kappa, balanced accuracy and macro-F1 come
from per-patient confusion matrices weighted the same way. A weight matrix
with no rows (``n_boot = 0``) gives NaN intervals.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bench_metrics.agreement import (
    balanced_accuracy_many,
    macro_f1_many,
    mean_where,
    weighted_kappa_many,
)
from bench_metrics.bootstrap import interval, patient_sums, ratio_replicates
from bench_metrics.boxes import BoxScores
from bench_metrics.items import Items
from bench_metrics.layout import (
    ATTR_CATEGORY,
    ATTR_COLUMN,
    ATTRIBUTES,
    SLOTS,
    STRUCTURES,
)

__all__ = [
    "AccuracyEstimates",
    "AgreementEstimates",
    "Estimate",
    "IouEstimates",
    "accuracy_estimates",
    "agreement_estimates",
    "iou_estimates",
]

#: Length of per-structure arrays: the structures, then "All".
N_STRUCTURE_SLOTS = len(STRUCTURES) + 1


@dataclass(frozen=True)
class Estimate:
    """Point values of G statistics, their interval bounds and the ``(B, G)`` replicates."""

    value: np.ndarray
    low: np.ndarray
    high: np.ndarray
    replicates: np.ndarray


def _ratio(top: np.ndarray, bottom: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(bottom > 0, top / np.where(bottom > 0, bottom, 1), np.nan)


def ratio_estimate(
    num: np.ndarray, den: np.ndarray, weights: np.ndarray, confidence: float
) -> Estimate:
    """Ratio of summed per-patient ``num`` over ``den`` per column, with its bootstrap interval."""
    reps = ratio_replicates(weights, num, den)
    low, high = interval(reps, confidence=confidence)
    return Estimate(_ratio(num.sum(axis=0), den.sum(axis=0)), low, high, reps)


@dataclass(frozen=True)
class AccuracyEstimates:
    """Accuracy per group slot (:data:`~bench_metrics.layout.SLOTS`) and the macro Overall."""

    n: np.ndarray
    accuracy: Estimate
    majority: np.ndarray
    failure_rate: np.ndarray
    macro: Estimate
    macro_majority: float


def item_slots(items: Items) -> np.ndarray:
    """``(4 n,)``: each item's category, column, Overall and attribute slot, in that order."""
    a = items.attribute
    return np.concatenate(
        [
            ATTR_CATEGORY[a] + SLOTS.category,
            ATTR_COLUMN[a] + SLOTS.column,
            np.full(items.n, SLOTS.overall),
            a + SLOTS.attribute,
        ]
    )


def _macro(acc: Estimate, n: np.ndarray, confidence: float) -> Estimate:
    """Mean of the category accuracies (categories with items), per replicate too."""
    present = SLOTS.categories(n) > 0
    value = np.array([np.mean(SLOTS.categories(acc.value)[present]) if present.any() else np.nan])
    cat_reps = SLOTS.categories(acc.replicates)[:, present]
    with np.errstate(invalid="ignore"):
        reps = (
            np.nanmean(cat_reps, axis=1)
            if cat_reps.shape[1]
            else np.full(acc.replicates.shape[0], np.nan)
        )
    low, high = interval(reps, confidence=confidence)
    return Estimate(value, low, high, reps[:, None])


def accuracy_estimates(
    items: Items,
    patient: np.ndarray,
    *,
    n_patients: int,
    majority_grade: np.ndarray,
    weights: np.ndarray,
    confidence: float,
) -> AccuracyEstimates:
    """Accuracy with intervals, the majority reference and the failure rate of every group slot.

    ``patient``: each item's patient code; ``majority_grade``: per attribute (-1 = none).
    """
    slots = item_slots(items)
    pat4 = np.tile(patient, 4)
    sums = {"n_patients": n_patients, "n_groups": SLOTS.total}
    num = patient_sums(pat4, slots, np.tile(items.correct, 4), **sums)
    den = patient_sums(pat4, slots, np.ones(slots.size), **sums)
    acc = ratio_estimate(num, den, weights, confidence)
    n = den.sum(axis=0)
    ref = majority_grade[items.attribute]
    has_ref = np.tile(ref >= 0, 4).astype(np.float64)
    ref_hit = np.tile((ref == items.truth) & (ref >= 0), 4).astype(np.float64)
    count = np.bincount(slots, minlength=SLOTS.total).astype(np.float64)
    majority = _ratio(
        np.bincount(slots, weights=ref_hit, minlength=SLOTS.total),
        np.bincount(slots, weights=has_ref, minlength=SLOTS.total),
    )
    failed = np.tile((items.failure > 0).astype(np.float64), 4)
    failure_rate = _ratio(np.bincount(slots, weights=failed, minlength=SLOTS.total), count)
    cat_maj = SLOTS.categories(majority)[SLOTS.categories(n) > 0]
    return AccuracyEstimates(
        n=n,
        accuracy=acc,
        majority=majority,
        failure_rate=failure_rate,
        macro=_macro(acc, n, confidence),
        macro_majority=float(np.nanmean(cat_maj))
        if cat_maj.size and not np.isnan(cat_maj).all()
        else np.nan,
    )


def _agreement_spaces() -> dict[tuple[int, bool], np.ndarray]:
    """(number of grades, ordinal) -> the attributes with that grade space."""
    spaces: dict[tuple[int, bool], list[int]] = {}
    for i, a in enumerate(ATTRIBUTES):
        spaces.setdefault((len(a.grades.meanings), bool(a.grades.ordinal)), []).append(i)
    return {key: np.array(v, dtype=np.int64) for key, v in spaces.items()}


_AGREEMENT_SPACES = _agreement_spaces()


def agreement_replicates(weights: np.ndarray, items: Items, patient: np.ndarray) -> np.ndarray:
    """``(B, n_attributes, 3)``: kappa, balanced accuracy and macro-F1 per attribute for each row
    of patient ``weights`` (NaN where an attribute has no item); a row of ones gives the point values.

    Per-patient confusion matrices, one grade space at a time (a failure is the last column),
    weighted by each row: B replicates are one matrix product per grade space.
    """
    n_b, n_pat = weights.shape
    out = np.full((n_b, len(ATTRIBUTES), 3), np.nan)
    a_idx = items.attribute
    for (k, ordinal), attrs in _AGREEMENT_SPACES.items():
        local = np.full(len(ATTRIBUTES), -1, dtype=np.int64)
        local[attrs] = np.arange(attrs.size)
        sel = local[a_idx] >= 0
        if not sel.any():
            continue
        p = items.pred[sel]
        p = np.where((p < 0) | (p >= k), k, p)
        cells = ((patient[sel] * attrs.size + local[a_idx[sel]]) * k + items.truth[sel]) * (
            k + 1
        ) + p
        per_patient = np.bincount(cells, minlength=n_pat * attrs.size * k * (k + 1))
        reps = (weights @ per_patient.reshape(n_pat, -1).astype(np.float64)).reshape(
            n_b, attrs.size, k, k + 1
        )
        out[:, attrs, 0] = weighted_kappa_many(reps, ordinal=ordinal)
        out[:, attrs, 1] = balanced_accuracy_many(reps)
        out[:, attrs, 2] = macro_f1_many(reps)
    return out


@dataclass(frozen=True)
class AgreementEstimates:
    """Kappa, balanced accuracy and macro-F1 (last axis) per attribute, with intervals."""

    point: np.ndarray  # (n_attributes, 3)
    replicates: np.ndarray  # (B, n_attributes, 3)
    scored: np.ndarray  # (n_attributes,) attributes with items
    confidence: float

    def attribute(self, i: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(value, low, high)``, each ``(3,)``, of attribute ``i``."""
        low, high = interval(self.replicates[:, i, :], confidence=self.confidence)
        return self.point[i], low, high

    def group(self, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(value, low, high)``, each ``(3,)``: the mean over the scored attributes of ``mask``."""
        sel = mask & self.scored
        value = _mean_over_attributes(self.point[None], sel)[0]
        low, high = interval(
            _mean_over_attributes(self.replicates, sel), confidence=self.confidence
        )
        return value, low, high


def _mean_over_attributes(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``(B, n_attributes, 3) -> (B, 3)``: the mean over the masked attributes, NaNs left out."""
    sub = np.moveaxis(values[:, mask, :], 1, -1)
    return mean_where(sub, ~np.isnan(sub))


def agreement_estimates(
    items: Items, patient: np.ndarray, *, n_patients: int, weights: np.ndarray, confidence: float
) -> AgreementEstimates:
    """Agreement statistics of every attribute, point values and patient-bootstrap replicates."""
    point = agreement_replicates(np.ones((1, n_patients)), items, patient)[0]
    scored = np.bincount(items.attribute, minlength=len(ATTRIBUTES)) > 0
    reps = agreement_replicates(weights, items, patient)
    return AgreementEstimates(point, reps, scored, confidence)


@dataclass(frozen=True)
class IouEstimates:
    """Per structure slot (the structures, then "All"): boxes, mean IoU and hit rates."""

    n: np.ndarray
    mean_iou: Estimate
    acc_025: Estimate
    acc_050: Estimate
    box_failure_rate: np.ndarray


def iou_estimates(
    boxes: BoxScores,
    record_patient: np.ndarray,
    *,
    n_patients: int,
    weights: np.ndarray,
    confidence: float,
) -> IouEstimates:
    """Mean IoU, Acc@0.25 and Acc@0.5 with intervals, and the box failure rate, per structure."""
    n_s = N_STRUCTURE_SLOTS
    groups = np.concatenate(
        [
            np.where(boxes.scored, boxes.structure, -1),
            np.where(boxes.scored, n_s - 1, -1),
        ]
    )
    pat2 = np.tile(record_patient, 2)

    def sums(values: np.ndarray) -> np.ndarray:
        return patient_sums(pat2, groups, np.tile(values, 2), n_patients=n_patients, n_groups=n_s)

    den = sums(np.ones(boxes.iou.size))
    iou = boxes.iou
    return IouEstimates(
        n=den.sum(axis=0),
        mean_iou=ratio_estimate(sums(iou), den, weights, confidence),
        acc_025=ratio_estimate(sums((iou >= 0.25).astype(float)), den, weights, confidence),
        acc_050=ratio_estimate(sums((iou >= 0.5).astype(float)), den, weights, confidence),
        box_failure_rate=_ratio(
            sums((boxes.failure > 0).astype(float)).sum(axis=0), den.sum(axis=0)
        ),
    )
