"""The specialist's view of a scan: side-canonical voxels, normalised boxes, fixed-size crops.

Input arrays are what the adapter protocol gives a volume model
(``ScanInput.volume``: float32 ``(T, H, W)`` in [0, 1], windowed 0-400 like the
frames of the VLMs). Left knees are mirrored on the slice axis so every knee
the networks see is a right knee; boxes are normalised half-open fractions
``(s0, s1, r0, r1, c0, c1)`` of that canonical array, mirrored back on output.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = [
    "box_from_norm",
    "canonical",
    "crop_norm",
    "norm_from_public",
    "resample",
]


def canonical(volume: np.ndarray, side: int) -> np.ndarray:
    """``volume`` as a right knee: a left knee (side 2) mirrored on the slice axis (contiguous)."""
    arr = np.asarray(volume, dtype=np.float32)
    return np.ascontiguousarray(arr[::-1] if side == 2 else arr)


def _mirror(norm: Sequence[float]) -> np.ndarray:
    out = np.asarray(norm, dtype=np.float64).copy()
    out[0], out[1] = 1.0 - norm[1], 1.0 - norm[0]
    return out


def norm_from_public(box_public: Sequence[int], shape: Sequence[int], side: int) -> np.ndarray:
    """A public inclusive box of a scan as canonical normalised fractions.

    >>> norm_from_public([0, 23, 0, 95, 0, 47], (48, 96, 96), 2).tolist()
    [0.5, 1.0, 0.0, 0.5, 0.0, 1.0]
    """
    from bbox3d import Box

    norm = np.asarray(Box.from_public(list(box_public)).to_normalized(shape), dtype=np.float64)
    return _mirror(norm) if side == 2 else norm


def box_from_norm(norm: Sequence[float], shape: Sequence[int], side: int) -> list[int]:
    """Canonical fractions -> a public inclusive box in the scan's own voxels (never empty).

    Edges are sorted and clipped to [0, 1] first (a regression may cross them).

    >>> box_from_norm([0.5, 1.0, 0.0, 0.5, 0.0, 1.0], (48, 96, 96), 2)
    [0, 23, 0, 95, 0, 47]
    """
    from bbox3d import Box

    v = np.clip(np.asarray(norm, dtype=np.float64), 0.0, 1.0)
    pairs = [sorted((float(v[2 * i]), float(v[2 * i + 1]))) for i in range(3)]
    flat = [x for p in pairs for x in p]
    if side == 2:
        flat = list(_mirror(flat))
    return Box.from_normalized(flat, shape).to_public()


def crop_norm(volume: Any, norm: Sequence[float]) -> Any:
    """The part of a ``(T, H, W)`` tensor inside canonical fractions (every voxel touched, >= 1)."""
    sl = []
    for axis in range(3):
        n = int(volume.shape[axis])
        lo, hi = sorted((float(norm[2 * axis]), float(norm[2 * axis + 1])))
        a = min(max(int(np.floor(lo * n)), 0), n - 1)
        b = min(max(int(np.ceil(hi * n)), a + 1), n)
        sl.append(slice(a, b))
    return volume[tuple(sl)]


def resample(volume: Any, size: Sequence[int]) -> Any:
    """A ``(T, H, W)`` tensor resized to ``size`` (trilinear), as ``(1, *size)``."""
    import torch.nn.functional as F

    return F.interpolate(
        volume[None, None].float(), size=tuple(int(s) for s in size), mode="trilinear"
    )[0]
