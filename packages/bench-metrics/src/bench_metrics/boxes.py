"""Boxes in bulk: the public inclusive form to half-open voxel arrays, for scoring many at once.

The public text form is ``[start_slice, end_slice, x_min, x_max, y_min, y_max]``
with inclusive ends, x = column, y = row; :func:`bbox3d.iou_many` takes
half-open rows ``(s0, s1, r0, r1, c0, c1)``. This is
:meth:`bbox3d.Box.from_public` applied row-wise (a test checks they agree).

>>> public_to_halfopen([[10, 19, 30, 59, 100, 149]]).tolist()
[[10, 20, 100, 150, 30, 60]]
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["public_to_halfopen"]


def public_to_halfopen(public: ArrayLike) -> NDArray[np.int64]:
    """``(N, 6)`` public boxes -> ``(N, 6)`` half-open ``(s0, s1, r0, r1, c0, c1)`` int64 rows."""
    p = np.asarray(public, dtype=np.int64).reshape(-1, 6)
    out = np.empty_like(p)
    out[:, 0] = p[:, 0]
    out[:, 1] = p[:, 1] + 1
    out[:, 2] = p[:, 4]
    out[:, 3] = p[:, 5] + 1
    out[:, 4] = p[:, 2]
    out[:, 5] = p[:, 3] + 1
    return out
