"""Bootstrap intervals resampled by patient (the questions of one knee are not independent).

Everything is reduced to per-patient sums first: a ``(P, G)`` matrix of
numerators and one of denominators for G statistics. A replicate draws P
patients with replacement; its statistic is ``(w @ num) / (w @ den)`` with
``w`` the draw counts, so B replicates are two matrix products.

>>> import numpy as np
>>> w = patient_weights(4, n_boot=3, seed=0)
>>> w.shape, w.sum(axis=1).tolist()
((3, 4), [4.0, 4.0, 4.0])
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["interval", "patient_sums", "patient_weights", "ratio_replicates"]


def patient_weights(n_patients: int, *, n_boot: int, seed: int) -> NDArray[np.float64]:
    """``(n_boot, n_patients)`` draw counts: each row resamples the patients with replacement."""
    if n_boot <= 0 or n_patients <= 0:
        return np.zeros((0, max(n_patients, 0)), dtype=np.float64)
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n_patients, size=(n_boot, n_patients), dtype=np.int64)
    draws += (np.arange(n_boot, dtype=np.int64) * n_patients)[:, None]
    counts = np.bincount(draws.ravel(), minlength=n_boot * n_patients)
    return counts.reshape(n_boot, n_patients).astype(np.float64)


def patient_sums(
    patient: ArrayLike, group: ArrayLike, values: ArrayLike, *, n_patients: int, n_groups: int
) -> NDArray[np.float64]:
    """``(n_patients, n_groups)`` sums of ``values`` per (patient, group); ``group < 0`` rows are skipped.

    >>> patient_sums([0, 0, 1], [0, 1, 1], [1.0, 2.0, 3.0], n_patients=2, n_groups=2).tolist()
    [[1.0, 2.0], [0.0, 3.0]]
    """
    p = np.asarray(patient, dtype=np.int64)
    g = np.asarray(group, dtype=np.int64)
    v = np.asarray(values, dtype=np.float64)
    keep = g >= 0
    flat = np.bincount(
        p[keep] * n_groups + g[keep], weights=v[keep], minlength=n_patients * n_groups
    )
    return flat.reshape(n_patients, n_groups).astype(np.float64, copy=False)


def ratio_replicates(
    weights: NDArray[np.float64], num: NDArray[np.float64], den: NDArray[np.float64]
) -> NDArray[np.float64]:
    """``(B, G)`` replicate ratios ``(w @ num) / (w @ den)``; NaN where a replicate has no denominator."""
    top = weights @ num
    bottom = weights @ den
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(bottom > 0, top / np.where(bottom > 0, bottom, 1.0), np.nan)


def interval(
    replicates: ArrayLike, *, confidence: float = 0.95
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Percentile interval per column of ``(B, G)`` replicates (NaN replicates ignored).

    >>> lo, hi = interval(np.arange(101.0)[:, None])
    >>> round(float(lo[0]), 6), round(float(hi[0]), 6)
    (2.5, 97.5)
    """
    r = np.asarray(replicates, dtype=np.float64)
    if r.ndim == 1:
        r = r[:, None]
    alpha = (1.0 - confidence) / 2.0
    if r.shape[0] == 0:
        nan = np.full(r.shape[1], np.nan)
        return nan, nan.copy()
    ok = ~np.isnan(r).all(axis=0)
    lo = np.full(r.shape[1], np.nan)
    hi = np.full(r.shape[1], np.nan)
    if ok.any():
        q = np.nanpercentile(r[:, ok], [100 * alpha, 100 * (1 - alpha)], axis=0)
        lo[ok], hi[ok] = q[0], q[1]
    return lo, hi
