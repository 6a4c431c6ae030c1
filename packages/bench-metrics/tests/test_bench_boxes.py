"""The bulk public-form conversion agrees with bbox3d.Box.from_public."""

from __future__ import annotations

import numpy as np
from bbox3d import Box
from bench_metrics.boxes import public_to_halfopen
from hypothesis import given, settings
from hypothesis import strategies as st

COORD = st.integers(min_value=0, max_value=10_000)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(COORD, COORD, COORD, COORD, COORD, COORD), min_size=1, max_size=20))
def test_public_to_halfopen_matches_box_from_public(rows: list[tuple[int, ...]]) -> None:
    public = [[min(a, b), max(a, b), min(c, d), max(c, d), min(e, f), max(e, f)] for a, b, c, d, e, f in rows]
    want = np.array([Box.from_public(p).as_tuple() for p in public])
    assert np.array_equal(public_to_halfopen(public), want)
