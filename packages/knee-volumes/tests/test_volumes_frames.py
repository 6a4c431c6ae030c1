"""Model frames: windowing, slice sampling, crop, resize, and box geometry round trips with bbox3d."""

from __future__ import annotations

import numpy as np
import pytest
from bbox3d import Box, ViewGeometry
from hypothesis import given, settings
from hypothesis import strategies as st
from knee_volumes import (
    Frames,
    Volume,
    VolumeError,
    plan_slices,
    prepare_frames,
    resolve_window,
    window,
)

SHAPE = (20, 48, 40)


def _cube_volume(box: Box, *, shape=SHAPE, inside: int = 400, outside: int = 40) -> Volume:
    arr = np.full(shape, outside, np.uint16)
    arr[box.slices] = inside
    return Volume(arr, spacing=(0.7, 0.365, 0.365))


def test_window_fixed_matches_public_scripts() -> None:
    arr = np.array([[[-10, 0, 100, 200, 400, 1000]]], dtype=np.int16)
    expected = (np.clip(arr.astype(float), 0, 400) / 400 * 255).astype(np.uint8)
    np.testing.assert_array_equal(window(arr), expected)
    np.testing.assert_array_equal(window(arr.astype(np.float64)), expected)
    np.testing.assert_array_equal(window(np.clip(arr, 0, None).astype(np.uint16)), expected)


def test_window_percentile() -> None:
    arr = np.arange(1001, dtype=np.float32).reshape(1, 7, 143)
    assert resolve_window(arr, (10, 90), mode="percentile") == pytest.approx((100, 900))
    out = window(arr, "percentile")
    assert out.min() == 0 and out.max() == 255
    with pytest.raises(VolumeError, match="lo < hi"):
        window(arr, (5, 5))
    with pytest.raises(VolumeError, match="percentiles"):
        window(arr, (10, 200), mode="percentile")


def test_all_slices_full_size() -> None:
    box = Box(5, 9, 10, 20, 8, 30)
    f = prepare_frames(_cube_volume(box))
    assert isinstance(f, Frames)
    assert f.array.shape == (20, 48, 40, 3) and f.array.dtype == np.uint8
    assert f.slice_indices == tuple(range(20))
    assert not f.array.flags.writeable
    bright = np.argwhere(f.array[..., 0] == 255)
    assert tuple(bright.min(0)) == (5, 10, 8) and tuple(bright.max(0) + 1) == (9, 20, 30)
    assert f.box_to_frames(box) == box and f.box_to_volume(box) == box


def test_public_o1_sampling_plan() -> None:
    assert plan_slices(160, (32, 128, 32)) == (33.0, 3.0, 32)
    f = prepare_frames(np.zeros((160, 4, 4), np.uint16), slices=(32, 128, 32))
    assert f.slice_indices == tuple(range(33, 128, 3))
    with pytest.raises(VolumeError, match="not inside"):
        plan_slices(160, (100, 200))
    with pytest.raises(VolumeError, match="asked for 50"):
        plan_slices(20, (0, 20, 50))
    assert plan_slices(20, 50) == (0.0, 1.0, 20)  # at most N: a thin crop gives all its slices
    with pytest.raises(VolumeError, match="N >= 1"):
        plan_slices(20, 0)


def test_resize_crop_and_sampling_map_boxes_back() -> None:
    box = Box(6, 14, 12, 30, 10, 26)
    vol = _cube_volume(box)
    crop = Box(2, 18, 4, 44, 2, 38)
    f = prepare_frames(vol, crop=crop, slices=8, size=(20, 18))
    assert f.array.shape == (8, 20, 18, 3)
    assert f.slice_indices == (3, 5, 7, 9, 11, 13, 15, 17)
    assert isinstance(f.view, ViewGeometry)
    assert f.view.source_shape == SHAPE and f.view.view_shape == (8, 20, 18)
    # where the frames are bright is where the volume box maps to (within a pixel of blur)
    in_frames = f.box_to_frames(box)
    bright = np.argwhere(f.array[..., 0] > 200)
    lo, hi = bright.min(0), bright.max(0) + 1
    np.testing.assert_allclose(lo, in_frames.start, atol=1)
    np.testing.assert_allclose(hi, in_frames.stop, atol=1)
    # and back: the frame box covers the volume box
    back = f.box_to_volume(in_frames)
    assert back.contains(box)
    assert ViewGeometry.from_dict(f.view.to_dict()) == f.view


def test_max_pixels_and_multiple_of() -> None:
    vol = np.zeros((4, 384, 384), np.uint16)
    f = prepare_frames(vol, max_pixels=200 * 200, multiple_of=28)
    h, w = f.size
    assert h * w <= 200 * 200 and h % 28 == 0 and w % 28 == 0 and h == w == 196
    assert prepare_frames(vol, multiple_of=28).size == (392, 392)
    assert prepare_frames(vol, window="percentile").window == (0.0, 1.0)


def test_write_pngs_and_images(tmp_path) -> None:
    f = prepare_frames(np.arange(3 * 5 * 6, dtype=np.uint16).reshape(3, 5, 6) * 5)
    paths = f.write_pngs(tmp_path / "frames")
    assert [p.name for p in paths] == ["000.png", "001.png", "002.png"]
    from PIL import Image

    np.testing.assert_array_equal(np.asarray(Image.open(paths[1])), f.array[1])


@settings(max_examples=60, deadline=None)
@given(
    data=st.data(),
    n=st.integers(1, 20),
    size=st.tuples(st.integers(6, 60), st.integers(6, 60)),
)
def test_box_round_trip_property(data, n, size) -> None:
    s0 = data.draw(st.integers(0, SHAPE[0] - 1))
    r0 = data.draw(st.integers(0, SHAPE[1] - 1))
    c0 = data.draw(st.integers(0, SHAPE[2] - 1))
    box = Box(
        s0, data.draw(st.integers(s0 + 1, SHAPE[0])),
        r0, data.draw(st.integers(r0 + 1, SHAPE[1])),
        c0, data.draw(st.integers(c0 + 1, SHAPE[2])),
    )  # fmt: skip
    f = prepare_frames(np.zeros(SHAPE, np.uint8), slices=n, size=size)
    in_frames = f.box_to_frames(box)
    assert all(
        0 <= a < b <= m
        for a, b, m in zip(in_frames.start, in_frames.stop, f.view.view_shape, strict=True)
    )
    assert f.box_to_volume(in_frames).contains(box)
    # each sampled slice lies in the slab its frame stands for
    for t, k in enumerate(f.slice_indices):
        slab = f.box_to_volume(Box(t, t + 1, 0, 1, 0, 1))
        assert slab.s0 <= k < slab.s1
