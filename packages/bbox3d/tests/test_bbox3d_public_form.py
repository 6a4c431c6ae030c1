"""``boxes_from_public`` is ``Box.from_public`` row-wise, and refuses what it refuses."""

from __future__ import annotations

import numpy as np
import pytest
from bbox3d import Bbox3dError, Box, boxes_from_public, iou_many
from hypothesis import given, settings
from hypothesis import strategies as st

COORD = st.integers(min_value=0, max_value=10_000)
ROW = st.tuples(*[COORD] * 6).map(
    lambda r: [
        min(r[0], r[1]),
        max(r[0], r[1]),
        min(r[2], r[3]),
        max(r[2], r[3]),
        min(r[4], r[5]),
        max(r[4], r[5]),
    ]
)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(ROW, min_size=1, max_size=20),
    st.sampled_from([np.int64, np.int32, np.uint16, np.float64]),
)
def test_matches_box_from_public_row_wise(rows: list[list[int]], dtype: type) -> None:
    want = np.array([Box.from_public(r).as_tuple() for r in rows], dtype=np.int64)
    got = boxes_from_public(np.array(rows).astype(dtype))
    assert got.dtype == np.int64 and np.array_equal(got, want)
    assert [Box(*g).to_public() for g in got.tolist()] == rows
    assert np.array_equal(iou_many(got, got), np.ones(len(rows)))


@settings(max_examples=100, deadline=None)
@given(ROW, st.integers(min_value=0, max_value=5), st.integers(min_value=1, max_value=50))
def test_bad_rows_are_named(row: list[int], col: int, by: int) -> None:
    bad = list(row)
    if col % 2 == 0:  # a start past its end
        bad[col] = bad[col + 1] + by
    else:  # a negative start
        bad[col - 1] = -by
    with pytest.raises(Bbox3dError, match=r"pred: row 1 "):
        boxes_from_public([row, bad], name="pred")


def test_shapes_and_dtypes() -> None:
    assert boxes_from_public([]).shape == (0, 6)
    assert boxes_from_public(np.zeros((3, 6), dtype=np.int64)).tolist() == [[0, 1, 0, 1, 0, 1]] * 3
    with pytest.raises(Bbox3dError, match=r"shape \(N, 6\)"):
        boxes_from_public([[1, 2, 3]])
    with pytest.raises(Bbox3dError, match="not an integer"):
        boxes_from_public([[0, 1.5, 0, 1, 0, 1]])
    with pytest.raises(Bbox3dError, match="not an integer"):
        boxes_from_public([[0, np.nan, 0, 1, 0, 1]])
    with pytest.raises(Bbox3dError, match="dtype"):
        boxes_from_public([["0", "1", "0", "1", "0", "1"]])
    with pytest.raises(Bbox3dError, match="dtype"):
        boxes_from_public(np.ones((1, 6), dtype=bool))
