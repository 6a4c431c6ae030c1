"""Agreement statistics on confusion matrices: weighted kappa, balanced accuracy, macro-F1.

A confusion matrix here is ``K x (K + 1)``: rows are the true grades
``0..K-1``, columns the predicted grades plus one last column for parse
failures. A failure is a prediction of its own class, wrong for every true
grade and at maximal distance from it (weight 1).

>>> import numpy as np
>>> c = np.array([[3, 1, 0], [0, 2, 1]])   # 2 grades + failure column
>>> round(weighted_kappa(c, ordinal=True), 4), balanced_accuracy(c), round(macro_f1(c), 4)
(0.5, 0.7083333333333333, 0.7619)
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "balanced_accuracy",
    "balanced_accuracy_many",
    "confusion",
    "macro_f1",
    "macro_f1_many",
    "mean_where",
    "pearson",
    "rankdata",
    "spearman",
    "weighted_kappa",
    "weighted_kappa_many",
]


def confusion(truth: ArrayLike, pred: ArrayLike, n_grades: int) -> NDArray[np.int64]:
    """``n_grades x (n_grades + 1)`` counts; ``pred < 0`` (a failure) lands in the last column.

    >>> confusion([0, 1, 1], [0, -1, 1], 2).tolist()
    [[1, 0, 0], [0, 1, 1]]
    """
    t = np.asarray(truth, dtype=np.int64)
    p = np.asarray(pred, dtype=np.int64)
    p = np.where(p < 0, n_grades, p)
    return np.bincount(t * (n_grades + 1) + p, minlength=n_grades * (n_grades + 1)).reshape(
        n_grades, n_grades + 1
    )


def weighted_kappa_many(conf: ArrayLike, *, ordinal: bool = True) -> NDArray[np.float64]:
    """:func:`weighted_kappa` of every ``K x (K + 1)`` matrix in a ``(..., K, K + 1)`` stack."""
    c = np.asarray(conf, dtype=np.float64)
    k = c.shape[-2]
    n = c.sum(axis=(-2, -1))
    i = np.arange(k)[:, None]
    j = np.arange(k + 1)[None, :]
    w = (i - j) ** 2 / float((k - 1) ** 2) if ordinal and k > 1 else (i != j).astype(np.float64)
    w[:, k] = 1.0
    safe_n = np.where(n > 0, n, 1.0)[..., None, None]
    expected = c.sum(axis=-1)[..., :, None] * c.sum(axis=-2)[..., None, :] / safe_n
    den = (w * expected).sum(axis=(-2, -1))
    ok = (n > 0) & (den != 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(ok, 1.0 - (w * c).sum(axis=(-2, -1)) / np.where(ok, den, 1.0), np.nan)


def balanced_accuracy_many(conf: ArrayLike) -> NDArray[np.float64]:
    """:func:`balanced_accuracy` of every matrix in a ``(..., K, K + 1)`` stack."""
    c = np.asarray(conf, dtype=np.float64)
    k = c.shape[-2]
    rows = c.sum(axis=-1)
    present = rows > 0
    recall = np.diagonal(c[..., :, :k], axis1=-2, axis2=-1) / np.where(present, rows, 1.0)
    return mean_where(recall, present)


def macro_f1_many(conf: ArrayLike) -> NDArray[np.float64]:
    """:func:`macro_f1` of every matrix in a ``(..., K, K + 1)`` stack."""
    c = np.asarray(conf, dtype=np.float64)
    k = c.shape[-2]
    support = c.sum(axis=-1) + c[..., :, :k].sum(axis=-2)
    used = support > 0
    f1 = 2.0 * np.diagonal(c[..., :, :k], axis1=-2, axis2=-1) / np.where(used, support, 1.0)
    return mean_where(f1, used)


def mean_where(x: NDArray[np.float64], mask: NDArray[np.bool_]) -> NDArray[np.float64]:
    """Mean of ``x`` over the last axis where ``mask``; NaN where nothing is masked in."""
    count = mask.sum(axis=-1)
    total = np.where(mask, x, 0.0).sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.where(count > 0, count, 1), np.nan)


def weighted_kappa(conf: ArrayLike, *, ordinal: bool = True) -> float:
    """Cohen's kappa, quadratic-weighted when ``ordinal`` (else unweighted). NaN when undefined."""
    return float(weighted_kappa_many(np.asarray(conf)[None], ordinal=ordinal)[0])


def balanced_accuracy(conf: ArrayLike) -> float:
    """Mean recall over the true grades that occur. NaN when nothing was scored."""
    return float(balanced_accuracy_many(np.asarray(conf)[None])[0])


def macro_f1(conf: ArrayLike) -> float:
    """Mean F1 over the grades that occur in the truth or among the readable predictions."""
    return float(macro_f1_many(np.asarray(conf)[None])[0])


def rankdata(x: ArrayLike) -> NDArray[np.float64]:
    """Ranks 1..n with ties given their average rank.

    >>> rankdata([10, 20, 10, 30]).tolist()
    [1.5, 3.0, 1.5, 4.0]
    """
    a = np.asarray(x, dtype=np.float64)
    order = np.argsort(a, kind="mergesort")
    s = a[order]
    first = np.r_[True, s[1:] != s[:-1]]
    starts = np.flatnonzero(first)
    ends = np.r_[starts[1:], s.size]
    avg = (starts + ends + 1) / 2.0
    ranks = np.empty(a.size, dtype=np.float64)
    ranks[order] = np.repeat(avg, ends - starts)
    return ranks


def pearson(x: ArrayLike, y: ArrayLike) -> float:
    """Pearson's r; NaN with fewer than 3 points or no spread.

    >>> pearson([1, 2, 3], [2, 4, 7])
    0.9933992677987828
    """
    a = np.asarray(x, dtype=np.float64)
    b = np.asarray(y, dtype=np.float64)
    if a.size < 3:
        return float("nan")
    a = a - a.mean()
    b = b - b.mean()
    den = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / den) if den > 0 else float("nan")


def spearman(x: ArrayLike, y: ArrayLike) -> float:
    """Spearman's rho (Pearson's r of average ranks).

    >>> spearman([1, 2, 3, 4], [1, 3, 2, 4])
    0.8
    """
    return pearson(rankdata(x), rankdata(y))
