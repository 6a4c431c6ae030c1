"""The smallest label map with all 25 regions: one block per label, for tests and examples."""

from __future__ import annotations

import numpy as np

from knee_phantom.errors import PhantomError

__all__ = ["region_blocks"]


def region_blocks(
    shape: tuple[int, int, int] = (16, 24, 24),
    *,
    pitch: tuple[int, int, int] = (5, 8, 8),
    shift: int = 0,
    side: int = 2,
) -> np.ndarray:
    """A uint8 ``(slice, row, col)`` label map holding each region 1..25 as its own 3 x 5 x 5 block.

    Label ``k`` fills slices ``s..s+2``, rows ``r..r+4`` and columns ``c..c+4`` with
    ``s = (k-1) // 9 * pitch[0]``, ``r = (k-1) % 9 // 3 * pitch[1] + shift`` and
    ``c = (k-1) % 3 * pitch[2]``: no anatomy, only known boxes (where tests need the
    label values and boxes, not a knee; :func:`knee_phantom.make_phantom` draws one).
    ``side`` (OAI: 1 right, 2 left) puts the medial regions on the medial side of the
    lateral ones, as a real knee of that side has them (canonical slices run right to
    left, so a right knee's medial side has the higher slice indices): side 1 is the
    side 2 map mirrored on the slice axis.

    >>> m = region_blocks()
    >>> sorted(np.unique(m).tolist()) == list(range(26)), m.dtype.name
    (True, 'uint8')
    """
    ps, pr, pc = pitch
    if side not in (1, 2):
        raise PhantomError(f"region_blocks: side {side!r}: expected 1 (right) or 2 (left)")
    if ps < 3 or pr < 5 or pc < 5 or shift < 0:
        raise PhantomError(
            f"region_blocks: pitch {pitch}: expected at least (3, 5, 5) (blocks must not overlap), "
            f"shift {shift} >= 0"
        )
    need = (2 * ps + 3, 2 * pr + 5 + shift, 2 * pc + 5)
    if any(n > s for n, s in zip(need, shape, strict=True)):
        raise PhantomError(
            f"region_blocks: shape {tuple(shape)} too small for pitch {pitch} and shift {shift}: "
            f"expected at least {need}"
        )
    m = np.zeros(shape, np.uint8)
    for lab in range(1, 26):
        s = (lab - 1) // 9 * ps
        r = (lab - 1) % 9 // 3 * pr + shift
        c = (lab - 1) % 3 * pc
        m[s : s + 3, r : r + 5, c : c + 5] = lab
    return np.ascontiguousarray(m[::-1]) if side == 1 else m
