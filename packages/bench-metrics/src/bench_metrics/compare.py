"""Paired bootstrap comparison of two runs on the same items, resampled by patient."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from bench_metrics.bootstrap import interval, patient_sums, patient_weights
from bench_metrics.errors import BenchMetricsError, CoverageError
from bench_metrics.scores import OVERALL_MACRO, OVERALL_MICRO, Scores
from bench_metrics.scoring import CATEGORIES, COLUMNS, MIN_COVERAGE, STRUCTURES
from bench_metrics.values import finite_or_none

__all__ = ["check_same_pairs", "compare_runs"]


def _p_value(reps: np.ndarray) -> np.ndarray:
    """Two-sided bootstrap p-value of a zero difference, per column."""
    with np.errstate(invalid="ignore"):
        valid = (~np.isnan(reps)).sum(axis=0)
        le = np.nansum(reps <= 0, axis=0) / np.maximum(valid, 1)
        ge = np.nansum(reps >= 0, axis=0) / np.maximum(valid, 1)
    return np.where(valid > 0, np.minimum(1.0, 2 * np.minimum(le, ge)), np.nan)


def check_same_pairs(a: Scores, b: Scores, *, min_coverage: float = MIN_COVERAGE) -> None:
    """Refuse to compare runs scored on different (scan, question) pairs, or that both answer
    fewer than ``min_coverage`` of them (:class:`~bench_metrics.errors.CoverageError`)."""
    key = ["scan_id", "question_id"]
    ra = a.records.select(*key, "scored", pl.col("matched").alias("ma"))
    rb = b.records.select(*key, pl.col("matched").alias("mb"))
    both = ra.join(rb, on=key, how="inner")
    if both.height != ra.height or both.height != rb.height:
        raise CoverageError(
            f"compare: runs {a.label!r} and {b.label!r} were scored different (scan, question) "
            f"pairs ({ra.height} and {rb.height}, {both.height} in common); expected the same "
            "split and questions"
        )
    scored = both.filter("scored")
    answered = scored.filter(pl.col("ma") & pl.col("mb")).height
    if answered < min_coverage * scored.height:
        raise CoverageError(
            f"compare: runs {a.label!r} and {b.label!r} cover different (scan, question) pairs: "
            f"both answer {answered} of {scored.height} scored pairs "
            f"({answered / max(scored.height, 1):.0%}); expected at "
            f"least {min_coverage:.0%} (lower min_coverage, score --allow-partial, to compare anyway)"
        )


@dataclass(frozen=True)
class _Paired:
    """The items and the boxes both runs scored, with patient codes."""

    items: pl.DataFrame  # ... patient, category, column, ca, cb
    boxes: pl.DataFrame  # ... patient, structure, ia, ib
    item_patient: np.ndarray
    box_patient: np.ndarray
    n_patients: int


def _paired(a: Scores, b: Scores) -> _Paired:
    key = ["scan_id", "question_id", "attribute"]
    items = a.items.select(
        *key, "patient_id", "category", "column", pl.col("correct").alias("ca")
    ).join(b.items.select(*key, pl.col("correct").alias("cb")), on=key, how="inner")
    if items.height == 0:
        raise BenchMetricsError(f"compare: runs {a.label!r} and {b.label!r} share no scored items")
    boxes = (
        a.records.filter(pl.col("box_scored"))
        .select("scan_id", "question_id", "patient_id", "structure", pl.col("iou").alias("ia"))
        .join(
            b.records.filter(pl.col("box_scored")).select(
                "scan_id", "question_id", pl.col("iou").alias("ib")
            ),
            on=["scan_id", "question_id"],
            how="inner",
        )
    )
    patients = (
        pl.concat([items.select("patient_id"), boxes.select("patient_id")])
        .unique()
        .sort("patient_id")
    )
    code = dict(zip(patients["patient_id"].to_list(), range(patients.height), strict=True))
    return _Paired(
        items,
        boxes,
        np.array([code[p] for p in items["patient_id"].to_list()], dtype=np.int64),
        np.array([code[p] for p in boxes["patient_id"].to_list()], dtype=np.int64),
        patients.height,
    )


def _point(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    tot = den.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(tot > 0, num.sum(axis=0) / np.where(tot > 0, tot, 1), np.nan)


def _ratio_reps(w: np.ndarray, num: np.ndarray, den: np.ndarray) -> np.ndarray:
    bot = w @ den
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(bot > 0, (w @ num) / np.where(bot > 0, bot, 1), np.nan)


@dataclass(frozen=True)
class _Diff:
    """One block of comparison rows: point values of both runs, replicate differences, sizes."""

    metric: str
    level: str
    names: list[str]
    a: np.ndarray
    b: np.ndarray
    reps: np.ndarray  # (B, len(names)) differences a - b
    n: np.ndarray

    def rows(self, confidence: float) -> list[dict[str, Any]]:
        k = len(self.names)
        empty = self.reps.shape[0] == 0
        lo, hi = (np.full(k, np.nan),) * 2 if empty else interval(self.reps, confidence=confidence)
        pv = np.full(k, np.nan) if empty else _p_value(self.reps)
        return [
            {
                "metric": self.metric,
                "level": self.level,
                "group": name,
                "n": int(self.n[i]),
                "a": finite_or_none(self.a[i]),
                "b": finite_or_none(self.b[i]),
                "diff": finite_or_none(self.a[i] - self.b[i]),
                "ci_low": finite_or_none(lo[i]),
                "ci_high": finite_or_none(hi[i]),
                "p_value": finite_or_none(pv[i]),
            }
            for i, name in enumerate(self.names)
        ]


def _accuracy_diffs(p: _Paired, w: np.ndarray) -> list[_Diff]:
    """Accuracy per category, column, Overall micro and macro."""
    cat_i = {c.value: i for i, c in enumerate(CATEGORIES)}
    col_i = {c.value: i for i, c in enumerate(COLUMNS)}
    n_cat, n_col = len(CATEGORIES), len(COLUMNS)
    n_g = n_cat + n_col + 1
    cat = np.array([cat_i[c] for c in p.items["category"].to_list()], dtype=np.int64)
    col = np.array([col_i[c] for c in p.items["column"].to_list()], dtype=np.int64) + n_cat
    groups = np.concatenate([cat, col, np.full(p.items.height, n_cat + n_col)])
    p3 = np.tile(p.item_patient, 3)

    def sums(values: np.ndarray) -> np.ndarray:
        return patient_sums(p3, groups, np.tile(values, 3), n_patients=p.n_patients, n_groups=n_g)

    num_a = sums(p.items["ca"].to_numpy().astype(np.float64))
    num_b = sums(p.items["cb"].to_numpy().astype(np.float64))
    den = sums(np.ones(p.items.height))
    acc_a, acc_b, n = _point(num_a, den), _point(num_b, den), den.sum(axis=0)
    r = _ratio_reps(w, num_a, den) - _ratio_reps(w, num_b, den)
    cats, cols = slice(0, n_cat), slice(n_cat, n_cat + n_col)
    present = n[cats] > 0  # macro: mean of the category accuracies present in the full sample
    with np.errstate(invalid="ignore"):
        r_macro = (
            np.nanmean(_ratio_reps(w, num_a[:, cats], den[:, cats])[:, present], axis=1)
            - np.nanmean(_ratio_reps(w, num_b[:, cats], den[:, cats])[:, present], axis=1)
        )[:, None]
    macro_a, macro_b = np.mean(acc_a[cats][present]), np.mean(acc_b[cats][present])
    return [
        _Diff(
            "accuracy",
            "category",
            [c.value for c in CATEGORIES],
            acc_a[cats],
            acc_b[cats],
            r[:, cats],
            n[cats],
        ),
        _Diff(
            "accuracy",
            "column",
            [c.value for c in COLUMNS],
            acc_a[cols],
            acc_b[cols],
            r[:, cols],
            n[cols],
        ),
        _Diff("accuracy", "overall", [OVERALL_MICRO], acc_a[-1:], acc_b[-1:], r[:, -1:], n[-1:]),
        _Diff(
            "accuracy",
            "overall",
            [OVERALL_MACRO],
            np.array([macro_a]),
            np.array([macro_b]),
            r_macro,
            n[-1:],
        ),
    ]


def _iou_diff(p: _Paired, w: np.ndarray) -> _Diff:
    """Mean IoU per structure and All."""
    s_i = {s.value: i for i, s in enumerate(STRUCTURES)}
    n_s = len(STRUCTURES) + 1
    sidx = np.array(
        [s_i.get(s, -1) if s is not None else -1 for s in p.boxes["structure"].to_list()],
        dtype=np.int64,
    )
    groups = np.concatenate([sidx, np.full(p.boxes.height, n_s - 1)])
    p2 = np.tile(p.box_patient, 2)

    def sums(values: np.ndarray) -> np.ndarray:
        return patient_sums(p2, groups, np.tile(values, 2), n_patients=p.n_patients, n_groups=n_s)

    num_a = sums(p.boxes["ia"].fill_null(0.0).to_numpy())
    num_b = sums(p.boxes["ib"].fill_null(0.0).to_numpy())
    den = sums(np.ones(p.boxes.height))
    r = _ratio_reps(w, num_a, den) - _ratio_reps(w, num_b, den)
    names = [s.value for s in STRUCTURES] + ["All"]
    return _Diff(
        "mean_iou", "structure", names, _point(num_a, den), _point(num_b, den), r, den.sum(axis=0)
    )


def compare_runs(
    a: Scores,
    b: Scores,
    *,
    n_boot: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
    min_coverage: float = MIN_COVERAGE,
) -> pl.DataFrame:
    """``a`` minus ``b`` on the items both scored: accuracy per category, column and
    Overall (micro, macro), and mean IoU per structure, each with a paired
    patient-level bootstrap interval and a two-sided bootstrap p-value.

    Both runs must be scored on the same (scan, question) pairs and both answer at
    least ``min_coverage`` of them (:func:`check_same_pairs`).
    """
    check_same_pairs(a, b, min_coverage=min_coverage)
    p = _paired(a, b)
    w = patient_weights(p.n_patients, n_boot=n_boot, seed=seed)
    rows = [row for d in (*_accuracy_diffs(p, w), _iou_diff(p, w)) for row in d.rows(confidence)]
    return pl.DataFrame(
        rows,
        schema_overrides={
            c: pl.Float64 for c in ("a", "b", "diff", "ci_low", "ci_high", "p_value")
        },
    ).with_columns(pl.lit(a.label).alias("run_a"), pl.lit(b.label).alias("run_b"))
