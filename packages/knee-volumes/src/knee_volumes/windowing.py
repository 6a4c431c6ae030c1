"""Intensity windows and 8-bit conversion."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import numpy as np

from knee_volumes.errors import VolumeError

__all__ = ["DEFAULT_PERCENTILES", "PUBLIC_WINDOW", "WindowSpec", "resolve_window", "window"]

#: The fixed window of the public scripts: clip to 0–400, scale to 8 bits.
PUBLIC_WINDOW: tuple[float, float] = (0.0, 400.0)
#: Percentiles used for ``window="percentile"``.
DEFAULT_PERCENTILES: tuple[float, float] = (0.5, 99.5)

WindowSpec = tuple[float, float] | Sequence[float] | Literal["percentile"]

_SAMPLE = 2_000_000  # voxels used to estimate percentiles


def resolve_window(
    array: np.ndarray,
    spec: WindowSpec = PUBLIC_WINDOW,
    *,
    mode: Literal["fixed", "percentile"] = "fixed",
) -> tuple[float, float]:
    """Intensity bounds ``(lo, hi)`` for a window spec.

    ``spec`` is ``(lo, hi)`` in intensity units (``mode="fixed"``), or
    ``(lo_pct, hi_pct)`` percentiles of ``array`` (``mode="percentile"``), or
    the string ``"percentile"`` for :data:`DEFAULT_PERCENTILES`. Percentiles
    are estimated on a regular subsample of at most two million voxels.

    >>> resolve_window(np.arange(101.0), (10, 90), mode="percentile")
    (10.0, 90.0)
    """
    if isinstance(spec, str):
        if spec != "percentile":
            raise VolumeError(f"window: expected (lo, hi) or 'percentile', got {spec!r}")
        spec, mode = DEFAULT_PERCENTILES, "percentile"
    try:
        lo, hi = (float(v) for v in spec)
    except (TypeError, ValueError) as exc:
        raise VolumeError(f"window: expected two numbers (lo, hi), got {spec!r}") from exc
    if mode == "percentile":
        if not 0 <= lo < hi <= 100:
            raise VolumeError(
                f"window: percentiles must satisfy 0 <= lo < hi <= 100, got ({lo}, {hi})"
            )
        sample = array
        if array.size > _SAMPLE:  # a strided view: no copy of the whole volume
            step = math.ceil((array.size / _SAMPLE) ** (1 / array.ndim))
            sample = array[(slice(None, None, step),) * array.ndim]
        lo, hi = (float(v) for v in np.percentile(sample, (lo, hi)))
        if hi <= lo:
            hi = lo + 1.0
        return lo, hi
    if mode != "fixed":
        raise VolumeError(f"window: mode must be 'fixed' or 'percentile', got {mode!r}")
    if not hi > lo:
        raise VolumeError(f"window: expected lo < hi, got ({lo}, {hi})")
    return lo, hi


def window(
    array: np.ndarray,
    bounds: WindowSpec = PUBLIC_WINDOW,
    *,
    mode: Literal["fixed", "percentile"] = "fixed",
) -> np.ndarray:
    """Clip to a window and scale to ``uint8``: ``lo`` → 0, ``hi`` → 255 (truncating, like the public scripts).

    >>> window(np.array([-5, 0, 200, 400, 900]))
    array([  0,   0, 127, 255, 255], dtype=uint8)
    """
    lo, hi = resolve_window(array, bounds, mode=mode)
    return _to_uint8(array, lo, hi)


def _to_uint8(array: np.ndarray, lo: float, hi: float) -> np.ndarray:
    width = hi - lo
    if array.dtype in (np.uint8, np.uint16, np.int16, np.int8):
        # a lookup table over every possible value: one gather instead of float maths
        info = np.iinfo(array.dtype)
        values = np.arange(info.min, info.max + 1, dtype=np.float64)
        lut = (np.clip(values, lo, hi) - lo) * 255.0 / width
        lut = lut.astype(np.uint8)
        return lut[array.astype(np.int32) - info.min] if info.min else lut[array]
    out = np.clip(array.astype(np.float32, copy=False), lo, hi)
    out -= lo
    out *= 255.0
    out /= width
    return out.astype(np.uint8)
