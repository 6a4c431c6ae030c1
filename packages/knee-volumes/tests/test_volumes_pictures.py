"""Previews and montages: files, physical aspect, boxes in distinct colours with a legend."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from bbox3d import Box
from knee_volumes import BOX_COLOURS, Volume, VolumeError, montage_png, preview_png
from PIL import Image


def _knee_like(shape=(40, 64, 64), spacing=(0.7, 0.365, 0.365)) -> Volume:
    s, r, c = np.meshgrid(*(np.linspace(-1, 1, n) for n in shape), indexing="ij")
    arr = np.where(s**2 + (r / 0.8) ** 2 + (c / 0.6) ** 2 < 0.6, 300, 60).astype(np.uint16)
    arr[:, shape[1] // 2 :, :] += 50
    return Volume(arr, spacing=spacing, patient_id="9000099", visit="00M", side=1)


def _has_colour(img: np.ndarray, colour) -> bool:
    return bool(np.all(img[..., :3] == np.array(colour), axis=-1).any())


def test_preview_draws_three_planes_with_coloured_boxes(tmp_path: Path) -> None:
    v = _knee_like()
    boxes = {"FMC": Box(10, 20, 20, 40, 20, 44), "TMC": Box(25, 35, 40, 60, 10, 30)}
    out = preview_png(v, tmp_path / "p.png", boxes=boxes)
    img = np.asarray(Image.open(out).convert("RGB"))
    assert _has_colour(img, BOX_COLOURS[0]) and _has_colour(img, BOX_COLOURS[1])
    # physical aspect: sagittal 64x64 voxels of 0.365 mm; coronal/axial are 40 slices of 0.7 mm
    # wide = 40*0.7/0.365 ~ 77 px next to 64 px high
    width = img.shape[1]
    assert width == pytest.approx(64 + 77 + 77 + 4 * 6, abs=3)
    assert list((tmp_path).iterdir()) == [out]


def test_preview_point_and_errors(tmp_path: Path) -> None:
    v = _knee_like()
    preview_png(v, tmp_path / "a.png", point=(0, 0, 0), window=(0, 400))
    with pytest.raises(VolumeError, match="outside"):
        preview_png(v, tmp_path / "b.png", point=(40, 0, 0))
    with pytest.raises(VolumeError, match=r"\.png"):
        preview_png(v, tmp_path / "c.jpg")


def test_montage_outlines_boxes_on_their_slices(tmp_path: Path) -> None:
    v = _knee_like()
    out = montage_png(
        v, tmp_path / "m.png", slices=(8, 24, 8), boxes=[Box(10, 14, 10, 50, 10, 50)], tile_px=64
    )
    img = np.asarray(Image.open(out).convert("RGB"))
    assert _has_colour(img, BOX_COLOURS[0])
    assert img.shape[1] == 3 * 64 + 4 * 3  # ceil(sqrt(8)) = 3 columns of 64-px tiles
    out2 = montage_png(
        v, tmp_path / "n.png", slices=(0, 8, 4), boxes=[Box(30, 34, 10, 50, 10, 50)], tile_px=64
    )
    assert not _has_colour(
        np.asarray(Image.open(out2).convert("RGB"))[:-30], BOX_COLOURS[0]
    )  # above the legend
