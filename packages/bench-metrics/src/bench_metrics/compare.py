"""Paired bootstrap comparison of two runs on the same items, resampled by patient."""

from __future__ import annotations

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
    key = ["scan_id", "question_id", "attribute"]
    items = a.items.select(
        *key, "patient_id", "category", "column", pl.col("correct").alias("ca")
    ).join(b.items.select(*key, pl.col("correct").alias("cb")), on=key, how="inner")
    if items.height == 0:
        raise BenchMetricsError(f"compare: runs {a.label!r} and {b.label!r} share no scored items")
    recs = (
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
        pl.concat([items.select("patient_id"), recs.select("patient_id")])
        .unique()
        .sort("patient_id")
    )
    code = dict(zip(patients["patient_id"].to_list(), range(patients.height), strict=True))
    n_pat = patients.height
    pat = np.array([code[p] for p in items["patient_id"].to_list()], dtype=np.int64)
    rpat = np.array([code[p] for p in recs["patient_id"].to_list()], dtype=np.int64)

    cat_i = {c.value: i for i, c in enumerate(CATEGORIES)}
    col_i = {c.value: i for i, c in enumerate(COLUMNS)}
    n_cat, n_col = len(CATEGORIES), len(COLUMNS)
    n_g = n_cat + n_col + 1
    cat = np.array([cat_i[c] for c in items["category"].to_list()], dtype=np.int64)
    col = np.array([col_i[c] for c in items["column"].to_list()], dtype=np.int64) + n_cat
    groups = np.concatenate([cat, col, np.full(items.height, n_cat + n_col)])
    p3 = np.tile(pat, 3)
    ca = items["ca"].to_numpy().astype(np.float64)
    cb = items["cb"].to_numpy().astype(np.float64)
    num_a = patient_sums(p3, groups, np.tile(ca, 3), n_patients=n_pat, n_groups=n_g)
    num_b = patient_sums(p3, groups, np.tile(cb, 3), n_patients=n_pat, n_groups=n_g)
    den = patient_sums(p3, groups, np.ones(3 * items.height), n_patients=n_pat, n_groups=n_g)

    s_i = {s.value: i for i, s in enumerate(STRUCTURES)}
    n_s = len(STRUCTURES) + 1
    sidx = np.array(
        [s_i.get(s, -1) if s is not None else -1 for s in recs["structure"].to_list()],
        dtype=np.int64,
    )
    sg = np.concatenate([sidx, np.full(recs.height, n_s - 1)])
    p2 = np.tile(rpat, 2)
    ia = recs["ia"].fill_null(0.0).to_numpy()
    ib = recs["ib"].fill_null(0.0).to_numpy()
    inum_a = patient_sums(p2, sg, np.tile(ia, 2), n_patients=n_pat, n_groups=n_s)
    inum_b = patient_sums(p2, sg, np.tile(ib, 2), n_patients=n_pat, n_groups=n_s)
    iden = patient_sums(p2, sg, np.ones(2 * recs.height), n_patients=n_pat, n_groups=n_s)

    def point(num: np.ndarray, d: np.ndarray) -> np.ndarray:
        tot = d.sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(tot > 0, num.sum(axis=0) / np.where(tot > 0, tot, 1), np.nan)

    def reps(w: np.ndarray, na: np.ndarray, nb: np.ndarray, d: np.ndarray) -> np.ndarray:
        bot = w @ d
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(bot > 0, (w @ na - w @ nb) / np.where(bot > 0, bot, 1), np.nan)

    w = patient_weights(n_pat, n_boot=n_boot, seed=seed)
    acc_a, acc_b = point(num_a, den), point(num_b, den)
    iou_a, iou_b = point(inum_a, iden), point(inum_b, iden)
    present = den.sum(axis=0)[:n_cat] > 0
    rows: list[dict[str, Any]] = []

    def emit(
        metric: str,
        level: str,
        names: list[str],
        pa: np.ndarray,
        pb: np.ndarray,
        r: np.ndarray,
        n: np.ndarray,
    ) -> None:
        lo, hi = (
            interval(r, confidence=confidence) if r.shape[0] else (np.full(len(names), np.nan),) * 2
        )
        pv = _p_value(r) if r.shape[0] else np.full(len(names), np.nan)
        for i, name in enumerate(names):
            rows.append(
                {
                    "metric": metric,
                    "level": level,
                    "group": name,
                    "n": int(n[i]),
                    "a": finite_or_none(pa[i]),
                    "b": finite_or_none(pb[i]),
                    "diff": finite_or_none(pa[i] - pb[i]),
                    "ci_low": finite_or_none(lo[i]),
                    "ci_high": finite_or_none(hi[i]),
                    "p_value": finite_or_none(pv[i]),
                }
            )

    r_acc = reps(w, num_a, num_b, den) if w.shape[0] else np.zeros((0, n_g))
    n_items = den.sum(axis=0)
    emit(
        "accuracy",
        "category",
        [c.value for c in CATEGORIES],
        acc_a[:n_cat],
        acc_b[:n_cat],
        r_acc[:, :n_cat],
        n_items[:n_cat],
    )
    emit(
        "accuracy",
        "column",
        [c.value for c in COLUMNS],
        acc_a[n_cat : n_cat + n_col],
        acc_b[n_cat : n_cat + n_col],
        r_acc[:, n_cat : n_cat + n_col],
        n_items[n_cat : n_cat + n_col],
    )
    emit(
        "accuracy", "overall", [OVERALL_MICRO], acc_a[-1:], acc_b[-1:], r_acc[:, -1:], n_items[-1:]
    )
    # macro: mean of the category accuracies present in the full sample
    if w.shape[0]:
        bot = w @ den[:, :n_cat]
        with np.errstate(invalid="ignore", divide="ignore"):
            ra = np.where(bot > 0, (w @ num_a[:, :n_cat]) / np.where(bot > 0, bot, 1), np.nan)[
                :, present
            ]
            rb = np.where(bot > 0, (w @ num_b[:, :n_cat]) / np.where(bot > 0, bot, 1), np.nan)[
                :, present
            ]
            r_macro = (np.nanmean(ra, axis=1) - np.nanmean(rb, axis=1))[:, None]
    else:
        r_macro = np.zeros((0, 1))
    emit(
        "accuracy",
        "overall",
        [OVERALL_MACRO],
        np.array([np.mean(acc_a[:n_cat][present])]),
        np.array([np.mean(acc_b[:n_cat][present])]),
        r_macro,
        n_items[-1:],
    )
    r_iou = reps(w, inum_a, inum_b, iden) if w.shape[0] else np.zeros((0, n_s))
    emit(
        "mean_iou",
        "structure",
        [s.value for s in STRUCTURES] + ["All"],
        iou_a,
        iou_b,
        r_iou,
        iden.sum(axis=0),
    )
    return pl.DataFrame(
        rows,
        schema_overrides={
            c: pl.Float64 for c in ("a", "b", "diff", "ci_low", "ci_high", "p_value")
        },
    ).with_columns(pl.lit(a.label).alias("run_a"), pl.lit(b.label).alias("run_b"))
