"""Pictures for people: a 3-plane preview with boxes and a slice montage (PNG)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np

from knee_volumes.atomic import atomic_file
from knee_volumes.errors import VolumeError
from knee_volumes.frames import SliceSpec, plan_slices
from knee_volumes.volume import Volume
from knee_volumes.windowing import WindowSpec, _to_uint8, resolve_window

if TYPE_CHECKING:
    from bbox3d import Box
    from PIL import Image, ImageDraw

__all__ = ["BOX_COLOURS", "montage_png", "preview_png"]

#: Box colours in order (colour-blind-friendly Okabe–Ito palette, then extras).
BOX_COLOURS: tuple[tuple[int, int, int], ...] = (
    (230, 159, 0), (86, 180, 233), (0, 158, 115), (240, 228, 66),
    (0, 114, 178), (213, 94, 0), (204, 121, 167), (255, 255, 255),
    (255, 0, 0), (0, 255, 0), (255, 0, 255), (0, 255, 255),
)  # fmt: skip

BoxesArg = Mapping[str, "Box"] | Sequence["Box"]


def _named_boxes(boxes: BoxesArg) -> list[tuple[str, Box]]:
    if isinstance(boxes, Mapping):
        return [(str(k), v) for k, v in boxes.items()]
    return [(f"box {i + 1}", b) for i, b in enumerate(boxes)]


def _colour(i: int) -> tuple[int, int, int]:
    return BOX_COLOURS[i % len(BOX_COLOURS)]


def _font(size: int):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1
        return ImageFont.load_default()


def _text(
    draw: ImageDraw.ImageDraw,
    xy: tuple[float, float],
    text: str,
    *,
    fill=(255, 255, 255),
    size: int = 12,
    anchor: str = "la",
) -> None:
    font = _font(size)
    x, y = xy
    for dx, dy in ((-1, 0), (1, 0), (0, -1), (0, 1)):
        draw.text((x + dx, y + dy), text, fill=(0, 0, 0), font=font, anchor=anchor)
    draw.text((x, y), text, fill=fill, font=font, anchor=anchor)


def _grey(
    volume: Volume, window: WindowSpec, window_mode: str
) -> tuple[np.ndarray, tuple[float, float]]:
    bounds = resolve_window(volume.array, window, mode=window_mode)  # type: ignore[arg-type]
    return volume.array, bounds


def _panel(
    plane: np.ndarray, bounds: tuple[float, float], *, v_mm: float, h_mm: float, px_mm: float
) -> tuple[Image.Image, float, float]:
    """A 2D plane as an RGB image at ``px_mm`` per pixel; returns the image and the pixel size of one
    plane voxel (vertical, horizontal)."""
    from PIL import Image

    grey = _to_uint8(np.ascontiguousarray(plane), *bounds)
    h, w = grey.shape
    H, W = max(1, round(h * v_mm / px_mm)), max(1, round(w * h_mm / px_mm))
    img = Image.fromarray(grey).resize((W, H), Image.Resampling.BILINEAR).convert("RGB")
    return img, H / h, W / w


def _rect(
    draw,
    box_v: tuple[float, float],
    box_h: tuple[float, float],
    sy: float,
    sx: float,
    colour,
    width: int,
) -> None:
    y0, y1 = box_v[0] * sy, box_v[1] * sy - 1
    x0, x1 = box_h[0] * sx, box_h[1] * sx - 1
    draw.rectangle((x0, y0, max(x0, x1), max(y0, y1)), outline=colour, width=width)


def _dashed_rect(draw, box_v, box_h, sy: float, sx: float, colour, dash: int = 4) -> None:
    y0, y1 = box_v[0] * sy, box_v[1] * sy - 1
    x0, x1 = box_h[0] * sx, box_h[1] * sx - 1
    for a, b, fixed, horizontal in (
        (x0, x1, y0, True),
        (x0, x1, y1, True),
        (y0, y1, x0, False),
        (y0, y1, x1, False),
    ):
        t = a
        while t < b:
            e = min(t + dash, b)
            draw.line(
                (t, fixed, e, fixed) if horizontal else (fixed, t, fixed, e), fill=colour, width=1
            )
            t += 2 * dash


def _legend(
    names: list[str], width: int, *, size: int = 13, note: str | None = None
) -> Image.Image:
    from PIL import Image, ImageDraw

    row_h = size + 8
    cols = max(1, width // 190)
    rows = math.ceil(len(names) / cols) if names else 0
    extra = row_h if note and names else 0
    img = Image.new("RGB", (width, rows * row_h + (8 if rows else 0) + extra), (20, 20, 20))
    draw = ImageDraw.Draw(img)
    if extra:
        _text(draw, (8, rows * row_h + 4), note, fill=(170, 170, 170), size=size - 1)  # type: ignore[arg-type]
    for i, name in enumerate(names):
        r, c = divmod(i, cols)
        x, y = 8 + c * (width // cols), 4 + r * row_h
        draw.rectangle((x, y + 2, x + size, y + size + 2), fill=_colour(i), outline=(255, 255, 255))
        _text(draw, (x + size + 6, y + 1), name, size=size)
    return img


def _write_png(image: Image.Image, path: Path) -> Path:
    if path.suffix.lower() != ".png":
        raise VolumeError("picture output must end in .png", path=path)
    with atomic_file(path, suffix=".png") as tmp:
        image.save(tmp, format="PNG")
    return path


def preview_png(
    volume: Volume,
    path: str | PathLike[str],
    *,
    boxes: BoxesArg = (),
    point: Sequence[float] | None = None,
    window: WindowSpec = "percentile",
    window_mode: Literal["fixed", "percentile"] = "fixed",
    title: str | None = None,
    panel_mm: float | None = None,
) -> Path:
    """Write a 3-plane preview PNG: sagittal, coronal and axial planes through one point.

    The point is ``point`` (slice, row, col voxel indices), else the first
    box's centre, else the volume centre. Each plane is drawn at its physical
    aspect ratio (from ``volume.spacing``) in radiological convention:
    sagittal with anterior left and superior up; coronal and axial with the
    patient's right on the left; superior (coronal) / anterior (axial) up.
    Boxes get distinct colours and a legend; a box the plane passes through
    is drawn solid, one it misses is drawn dashed (its projection). A thin
    crosshair marks the point. ``panel_mm`` sets millimetres per output pixel
    (default: the finest voxel size).
    """
    from PIL import Image, ImageDraw

    named = _named_boxes(boxes)
    shape = volume.shape
    if point is None:
        point = named[0][1].center if named else tuple(n / 2 for n in shape)
        point = tuple(min(int(p), n - 1) for p, n in zip(point, shape, strict=True))
    p = tuple(round(float(v)) for v in point)
    if len(p) != 3:
        raise VolumeError(f"preview_png: point must be (slice, row, col), got {tuple(point)}")
    if any(not 0 <= v < n for v, n in zip(p, shape, strict=True)):
        raise VolumeError(
            f"preview_png: point {tuple(point)} lies outside the volume of shape {shape}"
        )
    s, r, c = p
    arr, bounds = _grey(volume, window, window_mode)
    ds, dr, dc = volume.spacing
    px = panel_mm or min(volume.spacing)
    # (plane, vertical axis, horizontal axis, vertical mm, horizontal mm, title, fixed axis, labels)
    views = [
        (arr[s], 1, 2, dr, dc, f"sagittal  slice {s}", 0, ("S", "I", "A", "P")),
        (arr[:, :, c].T, 1, 0, dr, ds, f"coronal  col {c}", 2, ("S", "I", "R", "L")),
        (arr[:, r, :].T, 2, 0, dc, ds, f"axial  row {r}", 1, ("A", "P", "R", "L")),
    ]
    panels = []
    for plane, v_ax, h_ax, v_mm, h_mm, name, fixed, (top, bottom, left, right) in views:
        img, sy, sx = _panel(plane, bounds, v_mm=v_mm, h_mm=h_mm, px_mm=px)
        draw = ImageDraw.Draw(img)
        cross = (p[v_ax] + 0.5) * sy, (p[h_ax] + 0.5) * sx
        draw.line((0, cross[0], img.width, cross[0]), fill=(255, 60, 60), width=1)
        draw.line((cross[1], 0, cross[1], img.height), fill=(255, 60, 60), width=1)
        for i, (_, box) in enumerate(named):
            bv = (box.start[v_ax], box.stop[v_ax])
            bh = (box.start[h_ax], box.stop[h_ax])
            if box.start[fixed] <= p[fixed] < box.stop[fixed]:
                _rect(draw, bv, bh, sy, sx, _colour(i), 2)
            else:
                _dashed_rect(draw, bv, bh, sy, sx, _colour(i))
        _text(draw, (4, 4), name, size=13)
        _text(draw, (img.width / 2, 2), top, size=12, anchor="ma")
        _text(draw, (img.width / 2, img.height - 2), bottom, size=12, anchor="md")
        _text(draw, (3, img.height / 2), left, size=12, anchor="lm")
        _text(draw, (img.width - 3, img.height / 2), right, size=12, anchor="rm")
        panels.append(img)
    gap = 6
    width = sum(im.width for im in panels) + gap * (len(panels) + 1)
    height = max(im.height for im in panels)
    header = 22
    legend = _legend(
        [n for n, _ in named],
        width,
        note="solid: the plane cuts the box; dashed: the box lies off this plane (projection)",
    )
    canvas = Image.new("RGB", (width, header + height + gap + legend.height), (20, 20, 20))
    draw = ImageDraw.Draw(canvas)
    heading = title or (volume.scan_id or (Path(volume.source).name if volume.source else "volume"))
    heading += (
        f"   {shape[0]}x{shape[1]}x{shape[2]} @ {ds:.3g}x{dr:.3g}x{dc:.3g} mm   "
        f"point (s,r,c)={p}   window {bounds[0]:.4g}..{bounds[1]:.4g}"
    )
    _text(draw, (gap, 4), heading, size=13)
    x = gap
    for im in panels:
        canvas.paste(im, (x, header))
        x += im.width + gap
    canvas.paste(legend, (0, header + height + gap))
    return _write_png(canvas, Path(path))


def montage_png(
    volume: Volume,
    path: str | PathLike[str],
    *,
    slices: SliceSpec = 16,
    boxes: BoxesArg = (),
    columns: int | None = None,
    window: WindowSpec = "percentile",
    window_mode: Literal["fixed", "percentile"] = "fixed",
    tile_px: int = 192,
    title: str | None = None,
) -> Path:
    """Write a grid of sagittal slices (``slices`` as in :func:`knee_volumes.prepare_frames`).

    Each tile is labelled with its slice index, drawn ``tile_px`` pixels high
    at the in-plane aspect ratio; boxes that contain the slice are outlined in
    their colour, with a legend below.
    """
    from PIL import Image, ImageDraw

    named = _named_boxes(boxes)
    shape = volume.shape
    start, step, n = plan_slices(shape[0], slices)
    indices = [math.floor(start + step * t + 0.5) for t in range(n)]
    _, bounds = _grey(volume, window, window_mode)
    _, dr, dc = volume.spacing
    cols = columns or max(1, math.ceil(math.sqrt(n)))
    rows = math.ceil(n / cols)
    tiles = []
    for k in indices:
        img, sy, sx = _panel(
            volume.array[k], bounds, v_mm=dr, h_mm=dc, px_mm=dr * shape[1] / tile_px
        )
        draw = ImageDraw.Draw(img)
        for i, (_, box) in enumerate(named):
            if box.s0 <= k < box.s1:
                _rect(draw, (box.r0, box.r1), (box.c0, box.c1), sy, sx, _colour(i), 2)
        _text(draw, (3, 3), f"{k}", size=12)
        tiles.append(img)
    tw, th = tiles[0].width, tiles[0].height
    gap, header = 3, 22
    width = cols * tw + (cols + 1) * gap
    legend = _legend([nm for nm, _ in named], width)
    canvas = Image.new("RGB", (width, header + rows * (th + gap) + legend.height), (20, 20, 20))
    draw = ImageDraw.Draw(canvas)
    heading = title or (volume.scan_id or (Path(volume.source).name if volume.source else "volume"))
    _text(
        draw,
        (gap, 4),
        f"{heading}   sagittal slices {indices[0]}..{indices[-1]} of {shape[0]}",
        size=13,
    )
    for t, img in enumerate(tiles):
        rr, cc = divmod(t, cols)
        canvas.paste(img, (gap + cc * (tw + gap), header + rr * (th + gap)))
    canvas.paste(legend, (0, header + rows * (th + gap)))
    return _write_png(canvas, Path(path))
