"""Batched agreement statistics equal textbook per-matrix loops on any confusion matrices."""

from __future__ import annotations

import math

import numpy as np
from bench_metrics import balanced_accuracy_many, macro_f1_many, weighted_kappa_many
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays


def kappa_loop(c: np.ndarray, ordinal: bool) -> float:
    k = c.shape[0]
    n = c.sum()
    if n == 0:
        return math.nan
    rows = [sum(c[i, j] for j in range(k + 1)) for i in range(k)]
    cols = [sum(c[i, j] for i in range(k)) for j in range(k + 1)]

    def weight(i: int, j: int) -> float:
        if j == k:  # a parse failure: maximal distance
            return 1.0
        return (i - j) ** 2 / (k - 1) ** 2 if ordinal and k > 1 else float(i != j)

    observed = sum(weight(i, j) * c[i, j] for i in range(k) for j in range(k + 1))
    expected = sum(weight(i, j) * rows[i] * cols[j] / n for i in range(k) for j in range(k + 1))
    return math.nan if expected == 0 else 1.0 - observed / expected


def balanced_loop(c: np.ndarray) -> float:
    k = c.shape[0]
    recalls = [c[i, i] / c[i].sum() for i in range(k) if c[i].sum() > 0]
    return sum(recalls) / len(recalls) if recalls else math.nan


def f1_loop(c: np.ndarray) -> float:
    k = c.shape[0]
    f1 = []
    for i in range(k):
        support = c[i].sum() + c[:, i].sum()
        if support > 0:
            f1.append(2 * c[i, i] / support)
    return sum(f1) / len(f1) if f1 else math.nan


@st.composite
def stacks(draw) -> np.ndarray:
    k = draw(st.integers(1, 5))
    n = draw(st.integers(1, 4))
    sparse = st.one_of(st.just(0), st.integers(0, 30))
    return draw(arrays(np.int64, (n, k, k + 1), elements=sparse))


@settings(max_examples=300, deadline=None)
@given(stacks(), st.booleans())
def test_batched_statistics_equal_the_loops(conf: np.ndarray, ordinal: bool) -> None:
    got = np.column_stack(
        [
            weighted_kappa_many(conf, ordinal=ordinal),
            balanced_accuracy_many(conf),
            macro_f1_many(conf),
        ]
    )
    want = np.array(
        [[kappa_loop(c, ordinal), balanced_loop(c), f1_loop(c)] for c in conf], dtype=float
    )
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12, equal_nan=True)
    # weighted stacks (what a bootstrap replicate is) are just matrices with larger counts
    np.testing.assert_allclose(
        weighted_kappa_many(conf * 3.0, ordinal=ordinal), got[:, 0], atol=1e-12, equal_nan=True
    )
