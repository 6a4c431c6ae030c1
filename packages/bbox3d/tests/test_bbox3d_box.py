"""Box value type: validation, set operations, and round trips of every conversion."""

from __future__ import annotations

import math

import numpy as np
import pytest
from bbox3d import Bbox3dError, Box
from hypothesis import given, settings
from hypothesis import strategies as st

settings.register_profile("bbox3d", deadline=None, max_examples=150)
settings.load_profile("bbox3d")


@st.composite
def shape_and_box(draw: st.DrawFn, max_size: int = 1000) -> tuple[tuple[int, int, int], Box]:
    shape = tuple(draw(st.integers(1, max_size)) for _ in range(3))
    edges: list[int] = []
    for n in shape:
        a = draw(st.integers(0, n - 1))
        edges += [a, draw(st.integers(a + 1, n))]
    return shape, Box(*edges)  # type: ignore[return-value]


@st.composite
def boxes(draw: st.DrawFn, limit: int = 40) -> Box:
    edges: list[int] = []
    for _ in range(3):
        a = draw(st.integers(0, limit - 1))
        edges += [a, draw(st.integers(a + 1, limit))]
    return Box(*edges)


# --------------------------------------------------------------------------- validation
@pytest.mark.parametrize(
    "args",
    [
        (0, 0, 0, 1, 0, 1),
        (3, 2, 0, 1, 0, 1),
        (0, 1, 5, 5, 0, 1),
        (0, 1, 0, 1, 2, 1),
        (-1, 1, 0, 1, 0, 1),
    ],
)
def test_empty_inverted_or_negative_boxes_are_rejected(args: tuple[int, ...]) -> None:
    with pytest.raises(Bbox3dError):
        Box(*args)


def test_non_integer_fields_are_rejected_and_numpy_ints_accepted() -> None:
    with pytest.raises(Bbox3dError, match="s1"):
        Box(0, 1.5, 0, 1, 0, 1)  # type: ignore[arg-type]
    with pytest.raises(Bbox3dError):
        Box(0, True, 0, 1, 0, 1)  # type: ignore[arg-type]
    b = Box(np.int64(1), np.uint16(3), 0, 1, 0, 1)
    assert type(b.s0) is int and b.shape == (2, 1, 1)
    assert Box(0, 2.0, 0, 1, 0, 1).s1 == 2  # type: ignore[arg-type]


def test_basic_properties_and_crop() -> None:
    vol = np.arange(5 * 6 * 7).reshape(5, 6, 7)
    b = Box(1, 3, 2, 5, 0, 7)
    assert b.shape == (2, 3, 7) and b.volume == 42 and b.center == (2.0, 3.5, 3.5)
    np.testing.assert_array_equal(b.crop(vol), vol[1:3, 2:5, 0:7])
    assert np.shares_memory(b.crop(vol), vol)
    assert Box.from_slices(b.slices) == b
    assert Box.from_slices((slice(None, 2), slice(1, 2), slice(0, 1))) == Box(0, 2, 1, 2, 0, 1)
    with pytest.raises(Bbox3dError):
        Box(0, 6, 0, 1, 0, 1).crop(vol)
    with pytest.raises(Bbox3dError):
        Box.from_slices((slice(0, 4, 2), slice(0, 1), slice(0, 1)))


def test_from_mask_is_the_extent_of_all_voxels() -> None:
    m = np.zeros((6, 7, 8), bool)
    m[1, 2, 3] = m[4, 5, 6] = True
    assert Box.from_mask(m) == Box(1, 5, 2, 6, 3, 7)
    with pytest.raises(Bbox3dError, match="empty"):
        Box.from_mask(np.zeros((2, 2, 2)))
    with pytest.raises(Bbox3dError, match="3D"):
        Box.from_mask(np.ones((2, 2)))


# --------------------------------------------------------------------------- public form
def test_public_form_axis_order_is_slice_x_col_y_row() -> None:
    b = Box(10, 20, 100, 150, 30, 60)  # rows 100..149, cols 30..59
    assert b.to_public() == [10, 19, 30, 59, 100, 149]
    assert Box.from_public([0, 0, 0, 0, 0, 0]) == Box(0, 1, 0, 1, 0, 1)
    with pytest.raises(Bbox3dError, match="x end"):
        Box.from_public([0, 1, 5, 4, 0, 1])
    with pytest.raises(Bbox3dError, match="6 numbers"):
        Box.from_public([0, 1, 2])
    with pytest.raises(Bbox3dError):
        Box.from_public([0, 1.5, 0, 1, 0, 1])


@given(boxes(500))
def test_public_round_trip(b: Box) -> None:
    pub = b.to_public()
    assert all(type(v) is int for v in pub)
    assert Box.from_public(pub) == b
    assert Box.from_public(pub).to_public() == pub
    assert (pub[1] - pub[0] + 1) * (pub[3] - pub[2] + 1) * (pub[5] - pub[4] + 1) == b.volume


# --------------------------------------------------------------------------- set operations
@given(boxes(), boxes())
def test_intersection_union_contains_agree_with_voxel_sets(a: Box, b: Box) -> None:
    grid = np.zeros((2, 40, 40, 40), bool)
    grid[(0, *a.slices)] = True
    grid[(1, *b.slices)] = True
    inter = a.intersection(b)
    n_inter = int((grid[0] & grid[1]).sum())
    assert (inter.volume if inter else 0) == n_inter
    u = a.union(b)
    assert u.contains(a) and u.contains(b)
    assert Box.from_mask(grid[0] | grid[1]) == u
    assert a.contains(b) == (n_inter == b.volume)
    assert a.contains(a.start) and not a.contains(a.stop)


@given(boxes(), st.tuples(*[st.integers(1, 45)] * 3))
def test_clip(b: Box, shape: tuple[int, int, int]) -> None:
    inside = all(lo < n for lo, n in zip(b.start, shape, strict=True))
    if not inside:
        with pytest.raises(Bbox3dError):
            b.clip(shape)
        return
    c = b.clip(shape)
    assert b.contains(c) and all(hi <= n for hi, n in zip(c.stop, shape, strict=True))
    assert c == b.intersection(Box(0, shape[0], 0, shape[1], 0, shape[2]))


@given(boxes(), st.integers(0, 5), st.tuples(*[st.integers(40, 60)] * 3))
def test_pad_voxels_clamps_to_zero_and_shape(b: Box, p: int, shape: tuple[int, int, int]) -> None:
    padded = b.pad(p, shape=shape)
    for axis in range(3):
        assert padded.start[axis] == max(0, b.start[axis] - p)
        assert padded.stop[axis] == min(shape[axis], b.stop[axis] + p)
    assert b.pad((p, 0, 1)).shape[1] == b.shape[1]


def test_pad_mm_and_errors() -> None:
    b = Box(10, 11, 10, 11, 10, 11)
    assert b.pad(mm=0.7, spacing=(0.7, 0.365, 0.365)).shape == (3, 5, 5)  # 1 slice, ceil(1.92)=2 px
    assert b.pad(mm=(1.4, 0, 0), spacing=(0.7, 1, 1)) == Box(8, 13, 10, 11, 10, 11)
    assert b.pad(-0) == b
    with pytest.raises(Bbox3dError, match="spacing"):
        b.pad(mm=1.0)
    with pytest.raises(Bbox3dError, match="both"):
        b.pad(1, mm=1.0, spacing=(1, 1, 1))
    with pytest.raises(Bbox3dError):
        b.pad(-1)


# --------------------------------------------------------------------------- normalised and grid
@given(shape_and_box(), st.sampled_from(["nearest", "outward"]))
def test_normalized_round_trip(sb: tuple[tuple[int, int, int], Box], rounding: str) -> None:
    shape, b = sb
    v = b.to_normalized(shape)
    assert all(0.0 <= x <= 1.0 for x in v)
    assert Box.from_normalized(v, shape, rounding=rounding) == b  # type: ignore[arg-type]


@given(shape_and_box(1000))
def test_grid1000_round_trip_exact_up_to_1000_voxels(sb: tuple[tuple[int, int, int], Box]) -> None:
    shape, b = sb
    g = b.to_grid1000(shape)
    assert all(type(x) is int and 0 <= x <= 1000 for x in g)
    assert Box.from_grid1000(g, shape) == b


@given(
    st.tuples(*[st.integers(1, 600)] * 3),
    st.lists(st.integers(0, 1000), min_size=6, max_size=6),
)
def test_grid1000_to_box_lands_within_half_a_voxel(
    shape: tuple[int, int, int], g: list[int]
) -> None:
    for axis in range(3):
        g[2 * axis : 2 * axis + 2] = sorted(g[2 * axis : 2 * axis + 2])
    b = Box.from_grid1000(g, shape)
    for axis in range(3):
        n = shape[axis]
        lo, hi = g[2 * axis] * n / 1000, g[2 * axis + 1] * n / 1000
        if hi - lo >= 1:  # wide enough that no minimum-one-voxel widening applies
            assert abs(b.start[axis] - lo) <= 0.5 + 1e-9 and abs(b.stop[axis] - hi) <= 0.5 + 1e-9
        assert (
            b.start[axis] <= (lo + hi) / 2 + 0.5 + 1e-9
            and b.stop[axis] >= (lo + hi) / 2 - 0.5 - 1e-9
        )


def test_grid1000_and_normalized_examples() -> None:
    shape = (160, 384, 384)
    b = Box(0, 80, 96, 192, 0, 384)
    assert b.to_grid1000(shape) == (0, 500, 250, 500, 0, 1000)
    # a model box thinner than a voxel keeps the voxel holding its centre
    assert Box.from_grid1000([500, 501, 0, 1000, 0, 1000], shape).shape == (1, 384, 384)
    assert Box.from_normalized([0.1, 0.2, 0, 1, 0, 1], shape, rounding="outward") == Box(
        16, 32, 0, 384, 0, 384
    )
    # slightly out-of-range model output is clipped; a box wholly outside is an error
    assert Box.from_normalized([-0.1, 1.2, 0, 1, 0, 1], shape).shape == (160, 384, 384)
    with pytest.raises(Bbox3dError, match="nothing left"):
        Box.from_normalized([1.1, 1.2, 0, 1, 0, 1], shape)
    with pytest.raises(Bbox3dError, match="before its start"):
        Box.from_grid1000([600, 500, 0, 1, 0, 1], shape)
    with pytest.raises(Bbox3dError):
        Box.from_normalized([0, float("nan"), 0, 1, 0, 1], shape)


# --------------------------------------------------------------------------- millimetres
@given(shape_and_box(400), st.tuples(*[st.floats(0.05, 5.0)] * 3))
def test_mm_spacing_round_trip(
    sb: tuple[tuple[int, int, int], Box], spacing: tuple[float, float, float]
) -> None:
    _, b = sb
    mm = b.to_mm(spacing=spacing)
    assert math.isclose(mm[1] - mm[0], b.shape[0] * spacing[0], rel_tol=1e-9)
    assert Box.from_mm(mm, spacing=spacing) == b


@st.composite
def aligned_affines(draw: st.DrawFn) -> np.ndarray:
    perm = draw(st.permutations([0, 1, 2]))
    a = np.zeros((4, 4))
    for i, j in enumerate(perm):
        a[j, i] = draw(st.sampled_from([-1.0, 1.0])) * draw(st.floats(0.1, 3.0))
    a[:3, 3] = [draw(st.floats(-300, 300)) for _ in range(3)]
    a[3, 3] = 1.0
    return a


@given(shape_and_box(400), aligned_affines())
def test_mm_affine_round_trip_for_axis_aligned_affines(
    sb: tuple[tuple[int, int, int], Box], affine: np.ndarray
) -> None:
    _, b = sb
    w = b.to_mm(affine=affine)
    assert w[0] < w[1] and w[2] < w[3] and w[4] < w[5]
    assert Box.from_mm(w, affine=affine) == b


@given(shape_and_box(100), st.floats(0.05, 0.7))
def test_mm_affine_oblique_encloses(sb: tuple[tuple[int, int, int], Box], angle: float) -> None:
    _, b = sb
    c, s = math.cos(angle), math.sin(angle)
    affine = np.array(
        [[0.7 * c, -0.4 * s, 0, 5], [0.7 * s, 0.4 * c, 0, -3], [0, 0, 0.4, 2], [0, 0, 0, 1]]
    )
    assert Box.from_mm(b.to_mm(affine=affine), affine=affine, rounding="outward").contains(b)


def test_mm_examples_and_errors() -> None:
    b = Box(0, 10, 0, 2, 0, 4)
    assert b.to_mm(spacing=(0.7, 0.5, 0.25)) == (0.0, 7.0, 0.0, 1.0, 0.0, 1.0)
    # NIfTI: voxel centres at integer indices, so voxel 0 spans [-0.5, 0.5) * spacing
    aff = np.diag([0.7, 0.5, 0.25, 1.0])
    assert b.to_mm(affine=aff) == pytest.approx((-0.35, 6.65, -0.25, 0.75, -0.125, 0.875))
    assert Box.from_mm((0, 700, 0, 1, 0, 1), spacing=(0.7, 1, 1), shape=(160, 10, 10)).s1 == 160
    with pytest.raises(Bbox3dError, match="exactly one"):
        b.to_mm()
    with pytest.raises(Bbox3dError, match="exactly one"):
        b.to_mm(spacing=(1, 1, 1), affine=np.eye(4))
    with pytest.raises(Bbox3dError, match="4x4"):
        b.to_mm(affine=np.eye(3))
    with pytest.raises(Bbox3dError, match="singular"):
        b.to_mm(affine=np.diag([1.0, 0.0, 1.0, 1.0]))
    with pytest.raises(Bbox3dError, match="positive"):
        b.to_mm(spacing=(0.7, 0, 1))
