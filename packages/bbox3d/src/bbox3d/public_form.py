"""The public text form in bulk: many ``[start_slice, end_slice, x_min, x_max, y_min, y_max]`` rows at once.

The public form has inclusive ends, x = column, y = row; :func:`boxes_from_public`
turns ``(N, 6)`` such rows into half-open ``(s0, s1, r0, r1, c0, c1)`` int64 rows,
the input of :func:`bbox3d.iou_many`. It is :meth:`bbox3d.Box.from_public`
applied row-wise, without building a :class:`~bbox3d.Box` per row.

>>> boxes_from_public([[10, 19, 30, 59, 100, 149]]).tolist()
[[10, 20, 100, 150, 30, 60]]
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .errors import Bbox3dError

__all__ = ["boxes_from_public"]

#: Output column i is input column _FROM[i] (+1 on the half-open ends).
_FROM = np.array([0, 1, 4, 5, 2, 3])
_END = np.array([0, 1, 0, 1, 0, 1], dtype=np.int64)
_AXIS = ("slice", "x", "y")


def boxes_from_public(public: ArrayLike, *, name: str = "public boxes") -> NDArray[np.int64]:
    """``(N, 6)`` public boxes -> ``(N, 6)`` half-open ``(s0, s1, r0, r1, c0, c1)`` int64 rows.

    One row of six also works; integral floats (``12.0``) are accepted, as in
    :meth:`Box.from_public`. Raises :class:`Bbox3dError` naming ``name`` and the first
    bad row when a coordinate is negative, not an integer, or an end precedes its start.

    >>> boxes_from_public([0, 0, 5, 6, 7, 9]).tolist()
    [[0, 1, 7, 10, 5, 7]]
    """
    arr = np.asarray(public)
    if arr.size == 0:
        return np.zeros((0, 6), dtype=np.int64)
    if arr.ndim == 1 and arr.shape[0] == 6:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[1] != 6:
        raise Bbox3dError(
            f"{name}: expected shape (N, 6) as [start_slice, end_slice, x_min, x_max, y_min, y_max], "
            f"got {arr.shape}"
        )
    if arr.dtype.kind == "f":
        whole = np.isfinite(arr) & (arr == np.round(arr))
        if not whole.all():
            i = int(np.flatnonzero(~whole.all(axis=1))[0])
            raise Bbox3dError(
                f"{name}: row {i} {arr[i].tolist()} has a coordinate that is not an integer"
            )
    elif arr.dtype.kind not in "iu":
        raise Bbox3dError(f"{name}: expected integer coordinates, got dtype {arr.dtype}")
    p = arr.astype(np.int64)
    bad = (p[:, 1::2] < p[:, 0::2]) | (p[:, 0::2] < 0)
    if bad.any():
        i = int(np.flatnonzero(bad.any(axis=1))[0])
        axis = _AXIS[int(np.flatnonzero(bad[i])[0])]
        raise Bbox3dError(
            f"{name}: row {i} {p[i].tolist()}: the {axis} range must satisfy 0 <= start <= end (inclusive)"
        )
    return p[:, _FROM] + _END
