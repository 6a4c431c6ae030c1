"""ViewGeometry: composition of crops, resizes and slice sampling, and box mapping both ways."""

from __future__ import annotations

import json

import pytest
from bbox3d import Bbox3dError, Box, ViewGeometry
from hypothesis import given, settings
from hypothesis import strategies as st

settings.register_profile("bbox3d", deadline=None, max_examples=150)
settings.load_profile("bbox3d")


@st.composite
def boxes_in(draw: st.DrawFn, shape: tuple[int, ...]) -> Box:
    edges: list[int] = []
    for n in shape:
        a = draw(st.integers(0, n - 1))
        edges += [a, draw(st.integers(a + 1, n))]
    return Box(*edges)


@st.composite
def cropped_then_resized(draw: st.DrawFn) -> ViewGeometry:
    """A crop of a random volume, downsampled (view voxels at least as large as source voxels)."""
    src = tuple(draw(st.integers(1, 400)) for _ in range(3))
    g = ViewGeometry.identity(src)
    if draw(st.booleans()):
        g = g.then_crop(draw(boxes_in(src)))
    if draw(st.booleans()):
        g = g.then_resize(tuple(draw(st.integers(1, n)) for n in g.view_shape))
    return g


@st.composite
def any_view(draw: st.DrawFn) -> ViewGeometry:
    """Random chain of crop / resize (up or down) / slice sampling."""
    src = tuple(draw(st.integers(2, 300)) for _ in range(3))
    g = ViewGeometry.identity(src)
    for _ in range(draw(st.integers(0, 3))):
        op = draw(st.sampled_from(["crop", "resize", "sample"]))
        if op == "crop":
            g = g.then_crop(draw(boxes_in(g.view_shape)))
        elif op == "resize":
            g = g.then_resize(tuple(draw(st.integers(1, 2 * n)) for n in g.view_shape))
        else:
            n0 = g.view_shape[0]
            step = draw(st.integers(1, max(1, n0 // 2)))
            start = draw(st.integers(0, n0 - 1))
            n = draw(st.integers(1, (n0 - 1 - start) // step + 1))
            g = g.then_sample_slices(start, step, n)
    return g


@given(st.data(), st.tuples(*[st.integers(1, 300)] * 3))
def test_crop_only_is_exact_both_ways(data: st.DataObject, src: tuple[int, int, int]) -> None:
    crop = data.draw(boxes_in(src))
    g = ViewGeometry.identity(src).then_crop(crop)
    vb = data.draw(boxes_in(g.view_shape))
    sb = g.box_to_source(vb)
    assert sb.shape == vb.shape and crop.contains(sb)
    assert g.box_to_view(sb) == vb


@given(st.data(), any_view())
def test_source_to_view_to_source_encloses_the_part_the_view_covers(
    data: st.DataObject, g: ViewGeometry
) -> None:
    b = data.draw(boxes_in(g.source_shape))
    seen = g.box_to_source(Box(0, g.view_shape[0], 0, g.view_shape[1], 0, g.view_shape[2]))
    covered = b.intersection(seen)
    try:
        back = g.box_to_source(g.box_to_view(b))
    except Bbox3dError:
        # only a box not wholly inside the view can fall outside it
        assert covered is None or covered != b
        return
    if covered is not None:
        assert back.contains(covered)


@given(st.data(), cropped_then_resized())
def test_view_to_source_to_view_round_trip_when_downsampled(
    data: st.DataObject, g: ViewGeometry
) -> None:
    vb = data.draw(boxes_in(g.view_shape))
    assert g.box_to_view(g.box_to_source(vb, rounding="nearest"), rounding="nearest") == vb
    assert g.box_to_view(g.box_to_source(vb)).contains(vb)


@given(any_view())
def test_to_dict_round_trips_through_json(g: ViewGeometry) -> None:
    d = json.loads(json.dumps(g.to_dict()))
    assert ViewGeometry.from_dict(d) == g


def test_resize_and_crop_examples() -> None:
    g = ViewGeometry.identity((160, 384, 384)).then_resize((80, 192, 192))
    assert g.scale == (2.0, 2.0, 2.0)
    assert g.box_to_source(Box(10, 20, 0, 1, 5, 6)) == Box(20, 40, 0, 2, 10, 12)
    assert g.box_to_view(Box(21, 40, 0, 2, 10, 13)) == Box(10, 20, 0, 1, 5, 7)  # outward
    assert g.box_to_view(Box(21, 40, 0, 2, 10, 13), rounding="nearest") == Box(11, 20, 0, 1, 5, 7)
    c = (
        ViewGeometry.identity((160, 384, 384))
        .then_crop(Box(0, 160, 64, 320, 64, 320))
        .then_resize((160, 128, 128))
    )
    assert c.box_to_source(Box(10, 20, 10, 20, 30, 40)) == Box(10, 20, 84, 104, 124, 144)
    # a model box partly outside what it saw is clipped to the source
    assert c.box_to_source(Box(0, 160, 0, 128, 100, 128)).stop == (160, 320, 320)


def test_sample_slices_like_the_public_o1_script() -> None:
    g = ViewGeometry.identity((160, 384, 384)).then_sample_slices(32, 3, 32)
    assert g.view_shape == (32, 384, 384)
    for j in (0, 7, 31):
        src_slice = 32 + 3 * j
        assert g.box_to_view(Box(src_slice, src_slice + 1, 0, 1, 0, 1)).s0 == j
        back = g.box_to_source(Box(j, j + 1, 0, 1, 0, 1), rounding="nearest")
        assert back.s0 <= src_slice < back.s1 and back.shape[0] == 3
    with pytest.raises(Bbox3dError, match="outside"):
        ViewGeometry.identity((160, 8, 8)).then_sample_slices(32, 4, 40)


def test_invalid_geometries() -> None:
    with pytest.raises(Bbox3dError, match="scale"):
        ViewGeometry((4, 4, 4), (4, 4, 4), (0, 0, 0), (1, 0, 1))
    with pytest.raises(Bbox3dError, match="view_shape"):
        ViewGeometry((4, 4, 4), (4, 4))  # type: ignore[arg-type]
    with pytest.raises(Bbox3dError, match="fit"):
        ViewGeometry.identity((4, 4, 4)).then_crop(Box(0, 5, 0, 1, 0, 1))
    with pytest.raises(Bbox3dError, match="missing"):
        ViewGeometry.from_dict({"source_shape": [1, 1, 1]})
    with pytest.raises(Bbox3dError, match="outside"):
        ViewGeometry.identity((10, 10, 10)).then_crop(Box(0, 5, 0, 5, 0, 5)).box_to_view(
            Box(6, 8, 0, 1, 0, 1)
        )
