"""A scan as a 3D model sees it: min-max scaled to [0, 1], foreground-cropped, resized (trilinear).

This is the preprocessing the published Med3DVLM was trained with (mirthAI/Med3DVLM,
``src/utils/m3d_cap_data_prepare_128.py``: subtract the minimum, divide by the
maximum, crop to the foreground, resize to ``(128, 256, 256)`` with linear
interpolation), applied to our canonical ``(slice, row, col)`` volume, which
is already slices first. The ``bbox3d.ViewGeometry`` records every step
(crop to a ``gt-region`` box, foreground crop, resize), so a box the model
writes in the tensor's voxels maps back to the volume's.

Resizing is separable linear interpolation, edge-aligned (``align_corners=False``,
as ``torch.nn.functional.interpolate(mode="trilinear")``), in numpy.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from vlm_adapters.errors import AdapterError

__all__ = ["foreground_box", "prepare_volume", "resize_linear"]


def resize_linear(array: np.ndarray, shape: Sequence[int]) -> np.ndarray:
    """Edge-aligned linear resize of a 3D array to ``shape`` (float32), axis by axis.

    >>> resize_linear(np.arange(4, dtype=np.float32).reshape(4, 1, 1), (2, 1, 1)).ravel().tolist()
    [0.5, 2.5]
    """
    out = np.asarray(array, dtype=np.float32)
    for axis, n_out in enumerate(int(v) for v in shape):
        n_in = out.shape[axis]
        if n_in == n_out:
            continue
        src = (np.arange(n_out, dtype=np.float64) + 0.5) * (n_in / n_out) - 0.5
        src = np.maximum(src, 0.0)
        i0 = np.floor(src).astype(np.int64)
        i0 = np.minimum(i0, n_in - 1)
        i1 = np.minimum(i0 + 1, n_in - 1)
        w1 = (src - i0).astype(np.float32)
        bshape = [1, 1, 1]
        bshape[axis] = n_out
        w1 = w1.reshape(bshape)
        a, b = np.take(out, i0, axis=axis), np.take(out, i1, axis=axis)
        out = a + (b - a) * w1
    return out.astype(np.float32, copy=False)


def foreground_box(scaled: np.ndarray) -> Any:
    """The ``bbox3d.Box`` of voxels above 0 (MONAI ``CropForeground``'s default); all of it if none."""
    from bbox3d import Box

    mask = scaled > 0
    if not mask.any():
        return Box(0, scaled.shape[0], 0, scaled.shape[1], 0, scaled.shape[2])
    edges = []
    for axis in range(3):
        hit = np.flatnonzero(mask.any(axis=tuple(a for a in range(3) if a != axis)))
        edges += [int(hit[0]), int(hit[-1]) + 1]
    return Box(*edges)


def prepare_volume(
    volume: Any,
    *,
    shape: Sequence[int],
    crop: Any = None,
    expected_shape: Sequence[int] | None = None,
) -> tuple[np.ndarray, Any]:
    """``(tensor (D, H, W) float32 in [0, 1], view geometry)`` of ``volume`` for a 3D model.

    Steps: refuse a volume whose shape is not ``expected_shape`` (the
    ``(slice, row, col)`` shape the dataset records: a volume read in another
    axis order gives the same token counts to Med3DVLM and would fail
    silently); crop to ``crop`` (a ``bbox3d.Box``, ``gt-region``); min-max scale
    over what is left; crop to the foreground; resize to ``shape``.
    """
    from bbox3d import ViewGeometry

    array = np.asarray(getattr(volume, "array", volume))
    if array.ndim != 3:
        raise AdapterError(
            f"volume: expected a 3D (slice, row, col) array, got shape {array.shape}"
        )
    if expected_shape is not None and tuple(array.shape) != tuple(int(v) for v in expected_shape):
        raise AdapterError(
            f"volume: shape {tuple(array.shape)}; expected {tuple(expected_shape)} in (slice, row, col) "
            "order (scans.parquet); refusing a volume in another axis order"
        )
    view = ViewGeometry.identity(array.shape)
    if crop is not None:
        crop = crop.clip(array.shape)
        view = view.then_crop(crop)
        array = crop.crop(array)
    data = array.astype(np.float32)
    data = data - data.min()
    data = data / max(float(data.max()), 1e-8)
    fg = foreground_box(data)
    view = view.then_crop(fg)
    data = fg.crop(data)
    target = tuple(int(v) for v in shape)
    view = view.then_resize(target)
    return resize_linear(data, target), view
