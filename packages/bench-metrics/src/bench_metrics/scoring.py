"""Scoring a run: predictions + truth -> :class:`~bench_metrics.scores.Scores`.

Every truth (scan, attribute) pair with a grade is scored once: 1 if the
parsed grade equals the true grade, else 0 (a failure is 0 and counted). A
truth (scan, question) with no prediction fails as ``no_prediction``;
predictions for pairs not in the truth are counted as unmatched and ignored;
duplicated predictions keep the last. Localisation is scored for questions
with a box region and a true box: IoU in source voxels (the predicted box is
mapped back through the record's ``view``), 0 when the box is missing or
malformed.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import moaks_schema as ms
import numpy as np
import polars as pl
from bbox3d import ViewGeometry, boxes_from_public, iou_many

from bench_metrics.agreement import (
    balanced_accuracy_many,
    macro_f1_many,
    mean_where,
    pearson,
    spearman,
    weighted_kappa_many,
)
from bench_metrics.bootstrap import interval, patient_sums, patient_weights, ratio_replicates
from bench_metrics.errors import BenchMetricsError
from bench_metrics.failures import FailureKind
from bench_metrics.inputs import PREDICTION_SCHEMA, predictions_frame
from bench_metrics.parsing import ParsedAnswer, parse_answer
from bench_metrics.scores import OVERALL_MACRO, OVERALL_MICRO, Scores
from bench_metrics.truth import majority_grades, validate_truth

__all__ = ["CATEGORIES", "COLUMNS", "STRUCTURES", "Progress", "score_predictions"]

#: A progress callback: ``(done, total)``.
Progress = Callable[[int, int], None]

CATEGORIES: tuple[ms.Category, ...] = tuple(ms.Category)
COLUMNS: tuple[ms.Column, ...] = tuple(ms.Column)
#: Table 3 order, then the patellar tendon.
STRUCTURES: tuple[ms.Structure, ...] = tuple(ms.Structure)

_ATTRS = ms.ATTRIBUTES
_ATTR_INDEX = {a.key: i for i, a in enumerate(_ATTRS)}
_ATTR_QID = np.array([a.question_id for a in _ATTRS], dtype=np.int64)
_ATTR_CAT = np.array(
    [CATEGORIES.index(ms.question(a.question_id).category) for a in _ATTRS], dtype=np.int64
)
_ATTR_COL = np.array(
    [COLUMNS.index(ms.question(a.question_id).column) for a in _ATTRS], dtype=np.int64
)
_ATTR_K = np.array([len(a.grades.meanings) for a in _ATTRS], dtype=np.int64)
_Q_STRUCT = np.array(
    [-1]
    + [
        STRUCTURES.index(q.structure) if q.box_regions and q.structure else -1 for q in ms.QUESTIONS
    ],
    dtype=np.int64,
)
_FAILS = tuple(FailureKind)
_FAIL_CODE = {k: i + 1 for i, k in enumerate(_FAILS)}  # 0 = read


def _agreement_spaces() -> dict[tuple[int, bool], np.ndarray]:
    """(number of grades, ordinal) -> the attributes with that grade space (agreement is computed per space)."""
    spaces: dict[tuple[int, bool], list[int]] = {}
    for i, a in enumerate(_ATTRS):
        spaces.setdefault((len(a.grades.meanings), bool(a.grades.ordinal)), []).append(i)
    return {key: np.array(v, dtype=np.int64) for key, v in spaces.items()}


_AGREEMENT_SPACES = _agreement_spaces()


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
    if reference is None:
        grades, source = majority_grades(truth), "scored split"
    elif isinstance(reference, pl.DataFrame):
        grades, source = majority_grades(reference), "reference split"
    else:
        grades, source = dict(reference), "given"
    arr = np.full(len(_ATTRS), -1, dtype=np.int64)
    for k, g in grades.items():
        if k in _ATTR_INDEX and g is not None:
            arr[_ATTR_INDEX[k]] = int(g)
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


def _parse_all(
    texts: list[str | None], errors: list[str | None], qids: list[int], progress: Progress | None
) -> list[ParsedAnswer | None]:
    memo: dict[tuple[str, int], ParsedAnswer] = {}
    out: list[ParsedAnswer | None] = []
    total = len(texts)
    step = max(1, total // 200)
    for i, (text, err, qid) in enumerate(zip(texts, errors, qids, strict=True)):
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


def _view(cache: dict[str, ViewGeometry | None], text: str | None) -> ViewGeometry | None:
    if text is None:
        return None
    if text not in cache:
        d = json.loads(text)
        cache[text] = None if d is None else ViewGeometry.from_dict(d)
    return cache[text]


#: the interval columns of kappa, balanced accuracy and macro-F1, in that order
AGREEMENT_CI_COLUMNS = (
    "kappa_low",
    "kappa_high",
    "balanced_accuracy_low",
    "balanced_accuracy_high",
    "macro_f1_low",
    "macro_f1_high",
)


def _agreement_bounds(low: np.ndarray, high: np.ndarray) -> dict[str, float | None]:
    """``{kappa_low: .., kappa_high: .., ...}`` from (3,) lower and upper bounds."""
    return {
        name: _nan(float(v))
        for name, v in zip(AGREEMENT_CI_COLUMNS, np.column_stack([low, high]).ravel(), strict=True)
    }


def _nan(x: float) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else float(x)


def _agreement_replicates(
    weights: np.ndarray, pat: np.ndarray, a_idx: np.ndarray, t_grade: np.ndarray, pred: np.ndarray
) -> np.ndarray:
    """``(B, n_attributes, 3)``: kappa, balanced accuracy and macro-F1 per attribute for each row of
    patient ``weights`` (NaN where an attribute has no item). A row of ones gives the point estimates.

    Per-patient confusion matrices, one grade space at a time, weighted by each row: B replicates are
    one matrix product per grade space.
    """
    n_b, n_pat = weights.shape
    out = np.full((n_b, len(_ATTRS), 3), np.nan)
    for (k, ordinal), attrs in _AGREEMENT_SPACES.items():
        local = np.full(len(_ATTRS), -1, dtype=np.int64)
        local[attrs] = np.arange(attrs.size)
        sel = local[a_idx] >= 0
        if not sel.any():
            continue
        p = pred[sel]
        p = np.where((p < 0) | (p >= k), k, p)  # a failure is its own class, the last column
        cells = ((pat[sel] * attrs.size + local[a_idx[sel]]) * k + t_grade[sel]) * (k + 1) + p
        per_patient = np.bincount(cells, minlength=n_pat * attrs.size * k * (k + 1)).reshape(
            n_pat, -1
        )
        reps = (weights @ per_patient.astype(np.float64)).reshape(n_b, attrs.size, k, k + 1)
        out[:, attrs, 0] = weighted_kappa_many(reps, ordinal=ordinal)
        out[:, attrs, 1] = balanced_accuracy_many(reps)
        out[:, attrs, 2] = macro_f1_many(reps)
    return out


def _mean_over_attributes(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``(B, n_attributes, 3) -> (B, 3)``: the mean over the masked attributes, NaNs left out."""
    sub = np.moveaxis(values[:, mask, :], 1, -1)  # (B, 3, attributes)
    return mean_where(sub, ~np.isnan(sub))


def score_predictions(
    predictions: pl.DataFrame | Iterable[Mapping[str, Any]],
    truth: pl.DataFrame,
    *,
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
    """
    truth = validate_truth(truth)
    if questions is not None:
        qs = sorted({int(q) for q in questions})
        truth = truth.filter(pl.col("question_id").is_in(qs))
    if truth.height == 0:
        raise BenchMetricsError("truth: no (scan, question) rows to score")
    preds = _predictions(predictions)
    n_in = preds.height
    preds = preds.unique(subset=["scan_id", "question_id"], keep="last", maintain_order=True)
    n_dup = n_in - preds.height
    keys = truth.select("scan_id", "question_id")
    n_unmatched = preds.join(keys, on=["scan_id", "question_id"], how="anti").height
    joined = truth.join(
        preds.select("scan_id", "question_id", "raw_text", "view", "error"),
        on=["scan_id", "question_id"],
        how="left",
        maintain_order="left",
    )
    majority, ref_source = _reference(reference, truth)
    n_rec = joined.height
    qids = joined["question_id"].to_list()
    parsed = _parse_all(joined["raw_text"].to_list(), joined["error"].to_list(), qids, progress)

    # ---------------------------------------------------------------- items (scan x attribute)
    long = (
        joined.select(pl.int_range(pl.len(), dtype=pl.Int64).alias("rec"), "question_id", "grades")
        .explode("grades")
        .filter(pl.col("grades").is_not_null())
        .unnest("grades")
    )
    unknown = long.filter(~pl.col("attribute").is_in(list(_ATTR_INDEX)))
    if unknown.height:
        raise BenchMetricsError(
            f"truth: field 'grades': unknown attribute {unknown['attribute'][0]!r}; expected moaks_schema attribute keys"
        )
    n_null = long.filter(pl.col("grade").is_null()).height
    long = long.filter(pl.col("grade").is_not_null())
    rec = long["rec"].to_numpy()
    attr_keys = long["attribute"].to_list()
    a_idx = np.fromiter((_ATTR_INDEX[k] for k in attr_keys), dtype=np.int64, count=len(attr_keys))
    if (_ATTR_QID[a_idx] != long["question_id"].to_numpy()).any():
        bad = int(np.flatnonzero(_ATTR_QID[a_idx] != long["question_id"].to_numpy())[0])
        raise BenchMetricsError(
            f"truth: attribute {attr_keys[bad]!r} belongs to question {_ATTR_QID[a_idx[bad]]}, "
            f"found under question {long['question_id'][bad]}"
        )
    t_grade = long["grade"].to_numpy().astype(np.int64)
    if ((t_grade < 0) | (t_grade >= _ATTR_K[a_idx])).any():
        bad = int(np.flatnonzero((t_grade < 0) | (t_grade >= _ATTR_K[a_idx]))[0])
        raise BenchMetricsError(
            f"truth: grade {t_grade[bad]} of {attr_keys[bad]!r} is outside its grade space"
        )
    n_items = rec.size
    pred = np.full(n_items, -1, dtype=np.int64)
    fail = np.zeros(n_items, dtype=np.int64)
    no_pred = _FAIL_CODE[FailureKind.NO_PREDICTION]
    for i in range(n_items):
        p = parsed[rec[i]]
        if p is None:
            fail[i] = no_pred
            continue
        k = attr_keys[i]
        g = p.grades.get(k)
        if g is None:
            fail[i] = _FAIL_CODE[p.failures[k]]
        else:
            pred[i] = g
    correct = (pred == t_grade).astype(np.float64)

    patient_codes = (
        joined.select((pl.col("patient_id").rank("dense") - 1).cast(pl.Int64))
        .to_series()
        .to_numpy()
    )
    n_pat = int(patient_codes.max()) + 1
    pat = patient_codes[rec]
    cat = _ATTR_CAT[a_idx]
    col = _ATTR_COL[a_idx]

    # ---------------------------------------------------------------- boxes (scan x question)
    q_arr = np.asarray(qids, dtype=np.int64)
    struct = _Q_STRUCT[q_arr]
    truth_boxes = joined["box_public"].to_list()
    views = joined["view"].to_list()
    scored = np.zeros(n_rec, dtype=bool)
    box_fail = np.zeros(n_rec, dtype=np.int64)
    pub_p = np.zeros((n_rec, 6), dtype=np.int64)
    pub_t = np.zeros((n_rec, 6), dtype=np.int64)
    mapped: dict[
        int, tuple[int, ...]
    ] = {}  # records whose box went through a view: half-open source rows
    view_cache: dict[str, ViewGeometry | None] = {}
    for i in range(n_rec):
        if struct[i] < 0:
            continue
        tbox = truth_boxes[i]
        if tbox is None:
            continue
        if (
            len(tbox) != 6
            or tbox[1] < tbox[0]
            or tbox[3] < tbox[2]
            or tbox[5] < tbox[4]
            or min(tbox) < 0
        ):
            raise BenchMetricsError(
                f"truth: field 'box_public' of {joined['scan_id'][i]} question {qids[i]}: {tbox!r} is not "
                "[start_slice, end_slice, x_min, x_max, y_min, y_max] with 0 <= start <= end"
            )
        pub_t[i] = tbox
        scored[i] = True
        p = parsed[i]
        if p is None:
            box_fail[i] = no_pred
            continue
        if p.box_public is None:
            box_fail[i] = _FAIL_CODE[p.box_failure or FailureKind.BOX_MISSING]
            continue
        if views[i] is None:
            pub_p[i] = p.box_public
            continue
        try:
            view = _view(view_cache, views[i])
        except Exception as exc:
            raise BenchMetricsError(
                f"predictions: field 'view' of {joined['scan_id'][i]} question {qids[i]}: {exc}"
            ) from None
        try:
            mapped[i] = p.box.as_tuple() if view is None else view.box_to_source(p.box).as_tuple()  # type: ignore[union-attr]
        except Exception:  # the box lies wholly outside what the model saw
            box_fail[i] = _FAIL_CODE[FailureKind.BOX_MALFORMED]
    pb = boxes_from_public(pub_p, name="predicted boxes")
    for i, row in mapped.items():
        pb[i] = row
    tb = boxes_from_public(pub_t, name="truth boxes")
    iou = np.zeros(n_rec, dtype=np.float64)
    ok = scored & (box_fail == 0)
    if ok.any():
        iou[ok] = iou_many(pb[ok], tb[ok])

    # ---------------------------------------------------------------- point estimates
    n_cat, n_col = len(CATEGORIES), len(COLUMNS)
    n_att = len(_ATTRS)
    g_cat, g_col, g_all, g_att = 0, n_cat, n_cat + n_col, n_cat + n_col + 1
    n_g = g_att + n_att
    memberships = [cat + g_cat, col + g_col, np.full(n_items, g_all), a_idx + g_att]
    groups_all = np.concatenate(memberships)
    pat4 = np.tile(pat, 4)
    num = patient_sums(pat4, groups_all, np.tile(correct, 4), n_patients=n_pat, n_groups=n_g)
    den = patient_sums(pat4, groups_all, np.ones(4 * n_items), n_patients=n_pat, n_groups=n_g)
    n_per = den.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        acc = np.where(n_per > 0, num.sum(axis=0) / np.where(n_per > 0, n_per, 1), np.nan)
    maj_ok = majority[a_idx] >= 0
    maj_hit = (majority[a_idx] == t_grade) & maj_ok
    maj_n = np.bincount(groups_all, weights=np.tile(maj_ok, 4).astype(np.float64), minlength=n_g)
    maj_c = np.bincount(groups_all, weights=np.tile(maj_hit, 4).astype(np.float64), minlength=n_g)
    failed = (fail > 0).astype(np.float64)
    fail_c = np.bincount(groups_all, weights=np.tile(failed, 4), minlength=n_g)
    with np.errstate(invalid="ignore", divide="ignore"):
        maj_acc = np.where(maj_n > 0, maj_c / np.where(maj_n > 0, maj_n, 1), np.nan)
        fail_rate = np.where(n_per > 0, fail_c / np.where(n_per > 0, n_per, 1), np.nan)

    point = _agreement_replicates(np.ones((1, n_pat)), pat, a_idx, t_grade, pred)  # (1, n_att, 3)
    agree = point[0]
    scored_attr = n_per[g_att:] > 0

    def mean_over(mask: np.ndarray) -> np.ndarray:
        return _mean_over_attributes(point, mask & scored_attr)[0]

    cat_of_attr = _ATTR_CAT
    col_of_attr = _ATTR_COL

    # ---------------------------------------------------------------- IoU sums
    n_s = len(STRUCTURES) + 1
    s_idx = np.where(scored, struct, -1)
    rec_pat = patient_codes
    s_groups = np.concatenate([s_idx, np.where(scored, len(STRUCTURES), -1)])
    pat2 = np.tile(rec_pat, 2)
    iou_num = patient_sums(pat2, s_groups, np.tile(iou, 2), n_patients=n_pat, n_groups=n_s)
    h25 = patient_sums(
        pat2, s_groups, np.tile((iou >= 0.25).astype(float), 2), n_patients=n_pat, n_groups=n_s
    )
    h50 = patient_sums(
        pat2, s_groups, np.tile((iou >= 0.5).astype(float), 2), n_patients=n_pat, n_groups=n_s
    )
    s_den = patient_sums(pat2, s_groups, np.ones(2 * n_rec), n_patients=n_pat, n_groups=n_s)
    bfail = patient_sums(
        pat2, s_groups, np.tile((box_fail > 0).astype(float), 2), n_patients=n_pat, n_groups=n_s
    )
    s_n = s_den.sum(axis=0)

    def ratio(x: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(s_n > 0, x.sum(axis=0) / np.where(s_n > 0, s_n, 1), np.nan)

    # ---------------------------------------------------------------- bootstrap
    weights = patient_weights(n_pat, n_boot=n_boot, seed=seed)
    if weights.shape[0]:
        reps = ratio_replicates(weights, num, den)
        with np.errstate(invalid="ignore"):
            cat_reps = reps[:, g_cat : g_cat + n_cat][:, n_per[g_cat : g_cat + n_cat] > 0]
            macro_reps = (
                np.nanmean(cat_reps, axis=1)
                if cat_reps.shape[1]
                else np.full(weights.shape[0], np.nan)
            )
        lo, hi = interval(reps, confidence=confidence)
        mlo, mhi = interval(macro_reps, confidence=confidence)
        iou_lo, iou_hi = interval(ratio_replicates(weights, iou_num, s_den), confidence=confidence)
        h25_lo, h25_hi = interval(ratio_replicates(weights, h25, s_den), confidence=confidence)
        h50_lo, h50_hi = interval(ratio_replicates(weights, h50, s_den), confidence=confidence)
        agree_boot = _agreement_replicates(weights, pat, a_idx, t_grade, pred)  # (B, n_att, 3)
    else:
        lo = hi = np.full(n_g, np.nan)
        mlo = mhi = np.full(1, np.nan)
        iou_lo = iou_hi = h25_lo = h25_hi = h50_lo = h50_hi = np.full(n_s, np.nan)
        agree_boot = np.full((0, n_att, 3), np.nan)
    # per attribute: (n_att, 3) bounds; per group of attributes: the replicates' means over them
    bounds = [interval(agree_boot[:, :, j], confidence=confidence) for j in range(3)]
    agree_lo = np.stack([b[0] for b in bounds], axis=1)
    agree_hi = np.stack([b[1] for b in bounds], axis=1)

    def agreement_ci(mask: np.ndarray) -> dict[str, float | None]:
        low, high = interval(
            _mean_over_attributes(agree_boot, mask & scored_attr), confidence=confidence
        )
        return _agreement_bounds(low, high)

    # ---------------------------------------------------------------- tables
    group_rows: list[dict[str, Any]] = []

    def add_group(level: str, name: str, gi: int, attr_mask: np.ndarray) -> None:
        k, b, f = mean_over(attr_mask)
        group_rows.append(
            {
                "level": level,
                "group": name,
                "n_items": int(n_per[gi]),
                "accuracy": _nan(acc[gi]),
                "ci_low": _nan(lo[gi]),
                "ci_high": _nan(hi[gi]),
                "majority": _nan(maj_acc[gi]),
                "kappa": _nan(k),
                "balanced_accuracy": _nan(b),
                "macro_f1": _nan(f),
                "failure_rate": _nan(fail_rate[gi]),
                **agreement_ci(attr_mask),
            }
        )

    for ci, c in enumerate(CATEGORIES):
        add_group("category", c.value, g_cat + ci, cat_of_attr == ci)
    for ci, c in enumerate(COLUMNS):
        add_group("column", c.value, g_col + ci, col_of_attr == ci)
    add_group("overall", OVERALL_MICRO, g_all, np.ones(n_att, dtype=bool))
    present = n_per[g_cat : g_cat + n_cat] > 0
    cat_acc = acc[g_cat : g_cat + n_cat][present]
    cat_maj = maj_acc[g_cat : g_cat + n_cat][present]
    k, b, f = mean_over(np.ones(n_att, dtype=bool))
    group_rows.append(
        {
            "level": "overall",
            "group": OVERALL_MACRO,
            "n_items": int(n_per[g_all]),
            "accuracy": _nan(float(np.mean(cat_acc))) if cat_acc.size else None,
            "ci_low": _nan(float(mlo[0])),
            "ci_high": _nan(float(mhi[0])),
            "majority": _nan(float(np.nanmean(cat_maj)))
            if cat_maj.size and not np.isnan(cat_maj).all()
            else None,
            "kappa": _nan(k),
            "balanced_accuracy": _nan(b),
            "macro_f1": _nan(f),
            "failure_rate": _nan(fail_rate[g_all]),
            **agreement_ci(np.ones(n_att, dtype=bool)),
        }
    )
    float_cols = {
        c: pl.Float64
        for c in (
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
    }
    groups = pl.DataFrame(group_rows, schema_overrides=float_cols)

    attr_rows = []
    for ai, a in enumerate(_ATTRS):
        gi = g_att + ai
        if n_per[gi] == 0:
            continue
        q = ms.question(a.question_id)
        attr_rows.append(
            {
                "attribute": a.key,
                "question_id": a.question_id,
                "name": a.name,
                "category": q.category.value,
                "column": q.column.value,
                "n_items": int(n_per[gi]),
                "accuracy": _nan(acc[gi]),
                "ci_low": _nan(lo[gi]),
                "ci_high": _nan(hi[gi]),
                "majority_grade": int(majority[ai]) if majority[ai] >= 0 else None,
                "majority": _nan(maj_acc[gi]),
                "kappa": _nan(agree[ai, 0]),
                "balanced_accuracy": _nan(agree[ai, 1]),
                "macro_f1": _nan(agree[ai, 2]),
                "failure_rate": _nan(fail_rate[gi]),
                **_agreement_bounds(agree_lo[ai], agree_hi[ai]),
            }
        )
    attributes = pl.DataFrame(
        attr_rows, schema_overrides={**float_cols, "majority_grade": pl.Int64}
    )

    struct_rows = []
    acc25, acc50, miou, bfr = ratio(h25), ratio(h50), ratio(iou_num), ratio(bfail)
    for si in range(n_s):
        name = STRUCTURES[si].value if si < len(STRUCTURES) else "All"
        struct_rows.append(
            {
                "structure": name,
                "n_boxes": int(s_n[si]),
                "mean_iou": _nan(miou[si]),
                "ci_low": _nan(iou_lo[si]),
                "ci_high": _nan(iou_hi[si]),
                "acc_025": _nan(acc25[si]),
                "acc_025_low": _nan(h25_lo[si]),
                "acc_025_high": _nan(h25_hi[si]),
                "acc_050": _nan(acc50[si]),
                "acc_050_low": _nan(h50_lo[si]),
                "acc_050_high": _nan(h50_hi[si]),
                "box_failure_rate": _nan(bfr[si]),
            }
        )
    structures = pl.DataFrame(
        struct_rows,
        schema_overrides={
            c: pl.Float64
            for c in (
                "mean_iou",
                "ci_low",
                "ci_high",
                "acc_025",
                "acc_025_low",
                "acc_025_high",
                "acc_050",
                "acc_050_low",
                "acc_050_high",
                "box_failure_rate",
            )
        },
    )

    # per question: accuracy and IoU
    q_items = np.bincount(q_arr[rec], minlength=70).astype(np.float64)
    q_corr = np.bincount(q_arr[rec], weights=correct, minlength=70)
    q_recs = np.bincount(q_arr, minlength=70)
    q_box = np.bincount(q_arr[scored], minlength=70).astype(np.float64)
    q_iou = np.bincount(q_arr[scored], weights=iou[scored], minlength=70)
    q_h25 = np.bincount(q_arr[scored], weights=(iou[scored] >= 0.25).astype(float), minlength=70)
    q_h50 = np.bincount(q_arr[scored], weights=(iou[scored] >= 0.5).astype(float), minlength=70)
    q_rows = []
    for qi in range(1, 70):
        if q_recs[qi] == 0:
            continue
        q = ms.question(qi)
        q_rows.append(
            {
                "question_id": qi,
                "answer_key": q.answer_key,
                "category": q.category.value,
                "structure": q.structure.value if q.structure and q.box_regions else None,
                "n_records": int(q_recs[qi]),
                "n_items": int(q_items[qi]),
                "accuracy": float(q_corr[qi] / q_items[qi]) if q_items[qi] else None,
                "n_boxes": int(q_box[qi]),
                "mean_iou": float(q_iou[qi] / q_box[qi]) if q_box[qi] else None,
                "acc_025": float(q_h25[qi] / q_box[qi]) if q_box[qi] else None,
                "acc_050": float(q_h50[qi] / q_box[qi]) if q_box[qi] else None,
            }
        )
    questions_frame = pl.DataFrame(
        q_rows,
        schema_overrides={
            "accuracy": pl.Float64,
            "mean_iou": pl.Float64,
            "acc_025": pl.Float64,
            "acc_050": pl.Float64,
            "structure": pl.String,
        },
    )

    # IoU vs accuracy
    both = questions_frame.filter(
        pl.col("mean_iou").is_not_null() & pl.col("accuracy").is_not_null()
    )
    rec_items = np.bincount(rec, minlength=n_rec).astype(np.float64)
    rec_corr = np.bincount(rec, weights=correct, minlength=n_rec)
    rsel = scored & (rec_items > 0)
    rec_acc = np.divide(rec_corr, rec_items, out=np.zeros(n_rec), where=rec_items > 0)
    correlation = pl.DataFrame(
        [
            {
                "level": "question",
                "n": both.height,
                "pearson": _nan(pearson(both["mean_iou"], both["accuracy"])),
                "spearman": _nan(spearman(both["mean_iou"], both["accuracy"])),
            },
            {
                "level": "record",
                "n": int(rsel.sum()),
                "pearson": _nan(pearson(iou[rsel], rec_acc[rsel])),
                "spearman": _nan(spearman(iou[rsel], rec_acc[rsel])),
            },
        ],
        schema_overrides={"pearson": pl.Float64, "spearman": pl.Float64},
    )

    # failure counts
    f_rows = []
    g_counts = np.bincount(fail, minlength=len(_FAILS) + 1)
    b_counts = np.bincount(box_fail[scored], minlength=len(_FAILS) + 1)
    n_scored = int(scored.sum())
    for kind in _FAILS:
        code = _FAIL_CODE[kind]
        if kind in (FailureKind.BOX_MISSING, FailureKind.BOX_MALFORMED):
            f_rows.append(
                {
                    "scope": "box",
                    "kind": kind.value,
                    "count": int(b_counts[code]),
                    "share": b_counts[code] / n_scored if n_scored else None,
                }
            )
        else:
            f_rows.append(
                {
                    "scope": "grade",
                    "kind": kind.value,
                    "count": int(g_counts[code]),
                    "share": g_counts[code] / n_items if n_items else None,
                }
            )
            if kind is FailureKind.NO_PREDICTION:
                f_rows.append(
                    {
                        "scope": "box",
                        "kind": kind.value,
                        "count": int(b_counts[code]),
                        "share": b_counts[code] / n_scored if n_scored else None,
                    }
                )
    failures = pl.DataFrame(f_rows, schema_overrides={"share": pl.Float64})

    # readings
    fail_names = np.array([None] + [k.value for k in _FAILS], dtype=object)
    cat_names = np.array([c.value for c in CATEGORIES], dtype=object)
    col_names = np.array([c.value for c in COLUMNS], dtype=object)
    struct_names = np.array([s.value for s in STRUCTURES] + [None], dtype=object)
    items = pl.DataFrame(
        {
            "scan_id": joined["scan_id"].gather(pl.Series(rec)),
            "patient_id": joined["patient_id"].gather(pl.Series(rec)),
            "question_id": q_arr[rec],
            "attribute": attr_keys,
            "category": cat_names[cat].tolist(),
            "column": col_names[col].tolist(),
            "truth": t_grade,
            "pred": pl.Series(pred).set(pl.Series(pred < 0), None)
            if (pred < 0).any()
            else pl.Series(pred),
            "failure": fail_names[fail].tolist(),
            "correct": correct.astype(bool),
        },
        schema_overrides={"failure": pl.String, "pred": pl.Int64},
    )
    records = pl.DataFrame(
        {
            "scan_id": joined["scan_id"],
            "patient_id": joined["patient_id"],
            "question_id": q_arr,
            "structure": struct_names[struct].tolist(),
            "box_scored": scored,
            "iou": pl.Series(np.where(scored, iou, np.nan)).fill_nan(None),
            "box_failure": fail_names[np.where(scored, box_fail, 0)].tolist(),
            "predicted": [p is not None for p in parsed],
            "repaired": [bool(p.repaired) if p is not None else False for p in parsed],
            "reasoning": [p.reasoning if p is not None else None for p in parsed],
            "think": [p.think if p is not None else None for p in parsed],
        },
        schema_overrides={"structure": pl.String, "box_failure": pl.String, "iou": pl.Float64},
    )

    meta = {
        "n_truth_records": n_rec,
        "n_items": int(n_items),
        "n_items_missing_truth": int(n_null),
        "n_patients": n_pat,
        "n_predictions": n_in,
        "n_duplicate_predictions": n_dup,
        "n_unmatched_predictions": n_unmatched,
        "n_missing_predictions": int(sum(p is None for p in parsed)),
        "n_repaired": int(sum(bool(p and p.repaired) for p in parsed)),
        "n_boxes_scored": n_scored,
        "splits": sorted(str(s) for s in truth["split"].drop_nulls().unique().to_list()),
        "questions": sorted(set(qids)),
        "majority_reference": ref_source,
        "n_boot": int(weights.shape[0]),
        "seed": seed,
        "confidence": confidence,
        "overall_macro": "mean of the seven category accuracies (categories with scored items)",
    }
    return Scores(
        label=label or _label(preds),
        meta=meta,
        groups=groups,
        attributes=attributes,
        questions=questions_frame,
        structures=structures,
        correlation=correlation,
        failures=failures,
        items=items,
        records=records,
    )
