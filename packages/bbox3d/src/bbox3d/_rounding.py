"""Rounding of continuous voxel-edge coordinates to integer edges (shared by boxes and views)."""

from __future__ import annotations

import math

__all__ = ["EPS", "fit_interval", "round_interval", "round_nearest"]

#: Tolerance (in voxels) under which a coordinate counts as already integral, so that
#: floating-point noise such as ``11.999999999`` does not push an edge outward.
EPS = 1e-6


def round_nearest(x: float) -> int:
    """Round half up (``2.5 -> 3``, ``-2.5 -> -2``), unlike Python's banker's rounding."""
    return math.floor(x + 0.5)


def round_interval(lo: float, hi: float, rounding: str) -> tuple[int, int]:
    """Integer edges ``[a, b)`` for the continuous interval ``[lo, hi]``.

    ``"outward"`` takes every voxel the interval touches (floor / ceil, with ``EPS`` slack);
    ``"nearest"`` rounds each edge to the nearest integer. Either way the result keeps at
    least one voxel: an interval narrower than a voxel becomes the voxel holding its centre.
    """
    if rounding == "outward":
        a = math.floor(lo + EPS)
        b = math.ceil(hi - EPS)
    elif rounding == "nearest":
        a = round_nearest(lo)
        b = round_nearest(hi)
    else:
        from .errors import Bbox3dError

        raise Bbox3dError(f"rounding: expected 'outward' or 'nearest', got {rounding!r}")
    if b <= a:
        a = math.floor((lo + hi) / 2.0)
        b = a + 1
    return a, b


def fit_interval(lo: float, hi: float, size: int | None, rounding: str) -> tuple[int, int] | None:
    """:func:`round_interval` clipped to ``[0, size)`` (no upper limit when size is None).

    A sub-voxel interval lying on the volume's face keeps the nearest voxel inside;
    None when the interval lies wholly outside.
    """
    a, b = round_interval(lo, hi, rounding)
    upper = size if size is not None else max(b, 1)
    ca, cb = max(a, 0), min(b, upper)
    if cb > ca:
        return ca, cb
    if hi < 0 or lo > upper or (hi - lo >= 1.0 and (hi <= 0 or lo >= upper)):
        return None
    v = min(max(math.floor((lo + hi) / 2.0), 0), upper - 1)
    return v, v + 1
