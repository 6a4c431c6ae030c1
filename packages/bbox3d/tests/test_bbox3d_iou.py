"""IoU: scalar vs voxel sets, vectorised vs scalar, properties, hit rates."""

from __future__ import annotations

import numpy as np
import pytest
from bbox3d import Bbox3dError, Box, hit_rates, iou, iou_many
from hypothesis import given, settings
from hypothesis import strategies as st

settings.register_profile("bbox3d", deadline=None, max_examples=150)
settings.load_profile("bbox3d")


@st.composite
def boxes(draw: st.DrawFn, limit: int = 30) -> Box:
    edges: list[int] = []
    for _ in range(3):
        a = draw(st.integers(0, limit - 1))
        edges += [a, draw(st.integers(a + 1, limit))]
    return Box(*edges)


@given(boxes(), boxes())
def test_iou_matches_voxel_sets_and_is_symmetric(a: Box, b: Box) -> None:
    ma = np.zeros((30, 30, 30), bool)
    mb = np.zeros_like(ma)
    ma[a.slices] = True
    mb[b.slices] = True
    expected = (ma & mb).sum() / (ma | mb).sum()
    assert iou(a, b) == pytest.approx(expected, abs=1e-15)
    assert iou(a, b) == iou(b, a)
    assert 0.0 <= iou(a, b) <= 1.0
    assert iou(a, a) == 1.0
    assert (iou(a, b) == 1.0) == (a == b)
    assert (iou(a, b) == 0.0) == (a.intersection(b) is None)


@given(boxes(), boxes())
def test_iou_not_the_enclosing_box_variant(a: Box, b: Box) -> None:
    # containment: IoU is the volume ratio
    if a.contains(b):
        assert iou(a, b) == pytest.approx(b.volume / a.volume)


@given(st.lists(st.tuples(boxes(100), boxes(100)), min_size=0, max_size=40))
def test_iou_many_equals_scalar(pairs: list[tuple[Box, Box]]) -> None:
    a = [p[0] for p in pairs]
    b = [p[1] for p in pairs]
    expected = np.array([iou(x, y) for x, y in pairs], dtype=np.float64)
    got_boxes = iou_many(a, b)
    got_arrays = iou_many(
        np.array([x.as_tuple() for x in a], dtype=np.int32).reshape(-1, 6),
        [y.as_tuple() for y in b],
    )
    np.testing.assert_array_equal(got_boxes, expected)
    np.testing.assert_array_equal(got_arrays, expected)
    assert got_boxes.dtype == np.float64 and got_boxes.shape == (len(pairs),)


def test_iou_many_broadcasts_one_row_and_handles_large_volumes() -> None:
    a = np.array([[0, 2, 0, 2, 0, 2], [1, 3, 0, 2, 0, 2]])
    np.testing.assert_allclose(iou_many(a, Box(0, 2, 0, 2, 0, 2)), [1.0, 1 / 3])
    # 8e18 voxels still fits int64
    big = np.array([[0, 2_000_000, 0, 2_000_000, 0, 2_000_000]], dtype=np.uint32)
    assert iou_many(big, big)[0] == 1.0


@pytest.mark.parametrize(
    ("a", "match"),
    [
        (np.zeros((3, 5), int), "shape"),
        (np.array([[0, 1, 0, 1, 0, 1.0]]), "integer"),
        (np.array([[0, 0, 0, 1, 0, 1]]), "row 0"),
        (np.array([[0, 1, 0, 1, 0, 1], [-1, 1, 0, 1, 0, 1]]), "row 1"),
    ],
)
def test_iou_many_rejects_bad_input(a: np.ndarray, match: str) -> None:
    with pytest.raises(Bbox3dError, match=match):
        iou_many(a, np.array([[0, 1, 0, 1, 0, 1]] * len(a)))


def test_iou_many_length_mismatch() -> None:
    with pytest.raises(Bbox3dError, match="rows"):
        iou_many(np.array([[0, 1, 0, 1, 0, 1]] * 2), np.array([[0, 1, 0, 1, 0, 1]] * 3))


def test_hit_rates() -> None:
    assert hit_rates([0.1, 0.25, 0.5, 0.9]) == {0.25: 0.75, 0.5: 0.5}
    assert hit_rates(np.array([0.3, np.nan]), thresholds=(0.25,)) == {0.25: 0.5}
    with pytest.raises(Bbox3dError):
        hit_rates([])
    with pytest.raises(Bbox3dError):
        hit_rates([1.5])


def test_iou_many_across_blocks_matches_scalar_and_names_bad_rows() -> None:
    rng = np.random.default_rng(5)
    n = 40_000  # more than one internal block
    lo = rng.integers(0, 50, size=(2, n, 3))
    hi = lo + rng.integers(1, 30, size=(2, n, 3))
    a = np.stack([lo[0, :, 0], hi[0, :, 0], lo[0, :, 1], hi[0, :, 1], lo[0, :, 2], hi[0, :, 2]], 1)
    b = np.stack([lo[1, :, 0], hi[1, :, 0], lo[1, :, 1], hi[1, :, 1], lo[1, :, 2], hi[1, :, 2]], 1)
    got = iou_many(a, b)
    for i in rng.choice(n, 200, replace=False):
        assert got[i] == iou(Box(*a[i]), Box(*b[i]))
    one = iou_many(a, b[:1])
    assert one[n - 1] == iou(Box(*a[n - 1]), Box(*b[0]))
    a[35_000, 1] = a[35_000, 0]
    with pytest.raises(Bbox3dError, match="a: row 35000"):
        iou_many(a, b)
