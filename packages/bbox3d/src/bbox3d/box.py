"""The :class:`Box` value type: an axis-aligned box in the voxel index space of a volume.

Axis order is ``(slice, row, col)`` everywhere; ranges are half-open, so
``volume[s0:s1, r0:r1, c0:c1]`` is the crop. Continuous coordinates (normalised, grid,
millimetres, views) measure voxel *edges*: voxel ``i`` spans ``[i, i + 1)``.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from dataclasses import dataclass
from numbers import Real
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from ._rounding import EPS, fit_interval, round_nearest
from .errors import Bbox3dError

if TYPE_CHECKING:
    from numpy.typing import ArrayLike, NDArray

__all__ = ["Box", "Rounding"]

Rounding = Literal["nearest", "outward"]

_FIELDS = ("s0", "s1", "r0", "r1", "c0", "c1")
_AXES = ("slice", "row", "col")


def _as_int(value: Any, field: str) -> int:
    if isinstance(value, (bool, np.bool_)):
        raise Bbox3dError(f"{field}: expected an integer, got a bool ({value!r})")
    try:
        return operator.index(value)
    except TypeError:
        pass
    if isinstance(value, Real) and math.isfinite(float(value)) and float(value).is_integer():
        return int(float(value))
    raise Bbox3dError(f"{field}: expected an integer, got {value!r}")


def _as_real(value: Any, field: str) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (Real, np.number)):
        raise Bbox3dError(f"{field}: expected a number, got {value!r}")
    x = float(value)
    if not math.isfinite(x):
        raise Bbox3dError(f"{field}: expected a finite number, got {value!r}")
    return x


def _triple(value: Any, field: str, *, kind: type = int, positive: bool = False) -> tuple[Any, ...]:
    """Three ints or floats from a scalar or a length-3 sequence."""
    conv = _as_int if kind is int else _as_real
    if isinstance(value, (Real, np.number)) and not isinstance(value, (bool, np.bool_)):
        items: Sequence[Any] = (value, value, value)
    else:
        seq: Any = value
        try:
            items = tuple(seq)
        except TypeError:
            raise Bbox3dError(
                f"{field}: expected a number or 3 numbers (slice, row, col), got {value!r}"
            ) from None
    if len(items) != 3:
        raise Bbox3dError(
            f"{field}: expected 3 values (slice, row, col), got {len(items)}: {value!r}"
        )
    out = tuple(conv(v, f"{field}[{i}]") for i, v in enumerate(items))
    if positive and any(v <= 0 for v in out):
        raise Bbox3dError(f"{field}: expected positive values, got {value!r}")
    return out


def _shape3(shape: Any, field: str = "shape") -> tuple[int, int, int]:
    if isinstance(shape, (Real, np.number)):
        raise Bbox3dError(f"{field}: expected 3 sizes (slice, row, col), got {shape!r}")
    return _triple(shape, field, positive=True)  # type: ignore[return-value]


def _six(values: Any, field: str, conv: Any) -> tuple[Any, ...]:
    if isinstance(values, (str, bytes)):
        raise Bbox3dError(f"{field}: expected 6 numbers, got a string {values!r}")
    try:
        items = (
            list(np.asarray(values, dtype=object).reshape(-1))
            if isinstance(values, np.ndarray)
            else list(values)
        )
    except TypeError:
        raise Bbox3dError(f"{field}: expected 6 numbers, got {values!r}") from None
    if len(items) != 6:
        raise Bbox3dError(f"{field}: expected 6 numbers, got {len(items)}: {values!r}")
    return tuple(conv(v, f"{field}[{i}]") for i, v in enumerate(items))


def _check_affine(affine: Any) -> NDArray[np.float64]:
    a = np.asarray(affine, dtype=np.float64)
    if a.shape != (4, 4) or not np.all(np.isfinite(a)):
        raise Bbox3dError(f"affine: expected a finite 4x4 matrix, got shape {a.shape}")
    if abs(np.linalg.det(a[:3, :3])) < 1e-12:
        raise Bbox3dError("affine: the 3x3 part is singular")
    return a


@dataclass(frozen=True, slots=True)
class Box:
    """Axis-aligned box ``[s0, s1) x [r0, r1) x [c0, c1)`` in voxel indices (slice, row, col).

    Half-open integer ranges, all ``>= 0``; an empty or inverted range raises
    :class:`Bbox3dError`. The public text form is inclusive and ordered
    ``[start_slice, end_slice, x_min, x_max, y_min, y_max]`` with x = column, y = row:

    >>> b = Box(10, 20, 100, 150, 30, 60)
    >>> b.shape, b.volume
    ((10, 50, 30), 15000)
    >>> b.to_public()
    [10, 19, 30, 59, 100, 149]
    >>> Box.from_public([10, 19, 30, 59, 100, 149]) == b
    True
    """

    s0: int
    s1: int
    r0: int
    r1: int
    c0: int
    c1: int

    def __post_init__(self) -> None:
        vals = [_as_int(getattr(self, f), f) for f in _FIELDS]
        for axis, (lo, hi) in enumerate(zip(vals[0::2], vals[1::2], strict=True)):
            f_lo, f_hi = _FIELDS[2 * axis], _FIELDS[2 * axis + 1]
            if lo < 0:
                raise Bbox3dError(
                    f"{f_lo}: expected a voxel index >= 0 on the {_AXES[axis]} axis, got {lo}"
                )
            if hi <= lo:
                raise Bbox3dError(
                    f"{f_lo}/{f_hi}: expected {f_lo} < {f_hi} (half-open, non-empty) on the "
                    f"{_AXES[axis]} axis, got [{lo}, {hi})"
                )
        for f, v in zip(_FIELDS, vals, strict=True):
            object.__setattr__(self, f, v)

    # ----------------------------------------------------------------- basic views
    @property
    def start(self) -> tuple[int, int, int]:
        """First voxel index per axis (inclusive)."""
        return (self.s0, self.r0, self.c0)

    @property
    def stop(self) -> tuple[int, int, int]:
        """One past the last voxel index per axis (exclusive)."""
        return (self.s1, self.r1, self.c1)

    @property
    def shape(self) -> tuple[int, int, int]:
        """Extent in voxels per axis."""
        return (self.s1 - self.s0, self.r1 - self.r0, self.c1 - self.c0)

    @property
    def volume(self) -> int:
        """Number of voxels inside the box."""
        a, b, c = self.shape
        return a * b * c

    @property
    def center(self) -> tuple[float, float, float]:
        """Geometric centre in continuous edge coordinates (voxel ``i`` spans ``[i, i+1)``)."""
        return ((self.s0 + self.s1) / 2.0, (self.r0 + self.r1) / 2.0, (self.c0 + self.c1) / 2.0)

    @property
    def slices(self) -> tuple[slice, slice, slice]:
        """``(slice(s0, s1), slice(r0, r1), slice(c0, c1))`` for indexing an array."""
        return (slice(self.s0, self.s1), slice(self.r0, self.r1), slice(self.c0, self.c1))

    def as_tuple(self) -> tuple[int, int, int, int, int, int]:
        """``(s0, s1, r0, r1, c0, c1)``, the row layout :func:`bbox3d.iou_many` takes."""
        return (self.s0, self.s1, self.r0, self.r1, self.c0, self.c1)

    def as_array(self) -> NDArray[np.int64]:
        """``(s0, s1, r0, r1, c0, c1)`` as an int64 array of shape (6,)."""
        return np.array(self.as_tuple(), dtype=np.int64)

    # ----------------------------------------------------------------- constructors
    @classmethod
    def from_slices(cls, slices: Sequence[slice]) -> Box:
        """Box from three slices (step 1 or None; a missing start means 0)."""
        sl = tuple(slices)
        if len(sl) != 3 or not all(isinstance(s, slice) for s in sl):
            raise Bbox3dError(f"slices: expected 3 slice objects (slice, row, col), got {slices!r}")
        vals: list[int] = []
        for axis, s in enumerate(sl):
            if s.step not in (None, 1):
                raise Bbox3dError(f"slices[{axis}]: expected step 1, got {s.step!r}")
            if s.stop is None:
                raise Bbox3dError(f"slices[{axis}]: expected an explicit stop, got {s!r}")
            vals += [0 if s.start is None else s.start, s.stop]
        return cls(*vals)

    @classmethod
    def from_mask(cls, mask: ArrayLike) -> Box:
        """Bounding box of every non-zero voxel of a 3D mask (all of it, not the largest component).

        >>> m = np.zeros((4, 5, 6), bool); m[1, 2:4, 3] = True
        >>> Box.from_mask(m)
        Box(s0=1, s1=2, r0=2, r1=4, c0=3, c1=4)
        """
        m = np.asarray(mask)
        if m.ndim != 3:
            raise Bbox3dError(
                f"mask: expected a 3D array (slice, row, col), got {m.ndim}D of shape {m.shape}"
            )
        vals: list[int] = []
        for axis in range(3):
            other = tuple(a for a in range(3) if a != axis)
            idx = np.flatnonzero(np.any(m, axis=other))
            if idx.size == 0:
                raise Bbox3dError("mask: expected at least one non-zero voxel, the mask is empty")
            vals += [int(idx[0]), int(idx[-1]) + 1]
        return cls(*vals)

    @classmethod
    def from_public(cls, values: Sequence[Any]) -> Box:
        """Box from the public form ``[start_slice, end_slice, x_min, x_max, y_min, y_max]``.

        Inclusive ends, x = column, y = row. Integral floats (``12.0``) are accepted.
        """
        s_a, s_b, x_a, x_b, y_a, y_b = _six(values, "public box", _as_int)
        for name, lo, hi in (("slice", s_a, s_b), ("x", x_a, x_b), ("y", y_a, y_b)):
            if hi < lo:
                raise Bbox3dError(
                    f"public box {list(values)!r}: {name} end {hi} is before its start {lo}"
                )
        return cls(s_a, s_b + 1, y_a, y_b + 1, x_a, x_b + 1)

    def to_public(self) -> list[int]:
        """``[start_slice, end_slice, x_min, x_max, y_min, y_max]``, inclusive, x = column, y = row."""
        return [self.s0, self.s1 - 1, self.c0, self.c1 - 1, self.r0, self.r1 - 1]

    # ----------------------------------------------------------------- set operations
    def intersection(self, other: Box) -> Box | None:
        """The common part, or None when the boxes do not overlap."""
        s0, s1 = max(self.s0, other.s0), min(self.s1, other.s1)
        r0, r1 = max(self.r0, other.r0), min(self.r1, other.r1)
        c0, c1 = max(self.c0, other.c0), min(self.c1, other.c1)
        if s1 <= s0 or r1 <= r0 or c1 <= c0:
            return None
        return Box(s0, s1, r0, r1, c0, c1)

    def union(self, other: Box) -> Box:
        """The smallest box enclosing both (not the voxel union)."""
        return Box(
            min(self.s0, other.s0), max(self.s1, other.s1),
            min(self.r0, other.r0), max(self.r1, other.r1),
            min(self.c0, other.c0), max(self.c1, other.c1),
        )  # fmt: skip

    def contains(self, other: Box | Sequence[float]) -> bool:
        """True if ``other`` (a Box, or a point ``(slice, row, col)``) lies inside this box.

        A point is inside when ``s0 <= s < s1`` (and likewise per axis), so integer points
        are voxel indices.
        """
        if isinstance(other, Box):
            return (
                self.s0 <= other.s0 and other.s1 <= self.s1
                and self.r0 <= other.r0 and other.r1 <= self.r1
                and self.c0 <= other.c0 and other.c1 <= self.c1
            )  # fmt: skip
        p = _triple(other, "point", kind=float)
        return all(lo <= x < hi for x, lo, hi in zip(p, self.start, self.stop, strict=True))

    def clip(self, shape: Sequence[int]) -> Box:
        """The part inside a volume of ``shape``; Bbox3dError if nothing is left."""
        sh = _shape3(shape)
        s1, r1, c1 = (min(hi, n) for hi, n in zip(self.stop, sh, strict=True))
        if s1 <= self.s0 or r1 <= self.r0 or c1 <= self.c0:
            raise Bbox3dError(f"clip: box {self} lies outside a volume of shape {sh}")
        return Box(self.s0, s1, self.r0, r1, self.c0, c1)

    def pad(
        self,
        voxels: int | Sequence[int] = 0,
        *,
        mm: float | Sequence[float] | None = None,
        spacing: Sequence[float] | None = None,
        shape: Sequence[int] | None = None,
    ) -> Box:
        """Grow every face by ``voxels`` (per axis), or by ``mm`` millimetres given ``spacing``.

        A millimetre margin becomes ``ceil(mm / spacing)`` voxels on each axis. Negative
        values shrink. The result is clamped at 0 and, when ``shape`` is given, at the
        volume's far faces.

        >>> Box(5, 6, 5, 6, 5, 6).pad(1, shape=(6, 100, 100))
        Box(s0=4, s1=6, r0=4, r1=7, c0=4, c1=7)
        >>> Box(5, 6, 5, 6, 5, 6).pad(mm=1.0, spacing=(0.7, 0.365, 0.365)).shape
        (5, 7, 7)
        """
        if mm is not None:
            if voxels not in (0, (0, 0, 0)):
                raise Bbox3dError("pad: give either voxels or mm, not both")
            if spacing is None:
                raise Bbox3dError("pad: mm needs spacing=(slice_mm, row_mm, col_mm)")
            m = _triple(mm, "mm", kind=float)
            sp = _triple(spacing, "spacing", kind=float, positive=True)
            # round the voxel margin half-way-up so e.g. 0.7 mm at 0.7 mm/voxel is exactly 1
            pv = tuple(
                int(math.copysign(math.ceil(abs(a) / b - EPS), a))
                for a, b in zip(m, sp, strict=True)
            )
        else:
            pv = _triple(voxels, "voxels")
        lo = [max(0, v - p) for v, p in zip(self.start, pv, strict=True)]
        hi = [v + p for v, p in zip(self.stop, pv, strict=True)]
        if shape is not None:
            sh = _shape3(shape)
            hi = [min(h, n) for h, n in zip(hi, sh, strict=True)]
        if any(h <= lo_ for h, lo_ in zip(hi, lo, strict=True)):
            raise Bbox3dError(
                f"pad: nothing left of {self} padded by {pv} voxels"
                + (f" inside shape {shape}" if shape is not None else "")
            )
        return Box(lo[0], hi[0], lo[1], hi[1], lo[2], hi[2])

    def crop(self, array: NDArray[Any]) -> NDArray[Any]:
        """``array[s0:s1, r0:r1, c0:c1]`` (a view); the box must lie inside the array's first 3 axes."""
        if not hasattr(array, "ndim") or array.ndim < 3:
            raise Bbox3dError(
                f"crop: expected an array with at least 3 axes, got {getattr(array, 'shape', type(array))}"
            )
        if any(hi > n for hi, n in zip(self.stop, array.shape[:3], strict=True)):
            raise Bbox3dError(f"crop: box {self} does not fit in an array of shape {array.shape}")
        return array[self.slices]

    # ----------------------------------------------------------------- normalised / grid
    def to_normalized(
        self, shape: Sequence[int]
    ) -> tuple[float, float, float, float, float, float]:
        """Edges divided by the volume size, ``(s0, s1, r0, r1, c0, c1)`` in [0, 1] (inside the volume).

        >>> Box(0, 80, 96, 192, 0, 384).to_normalized((160, 384, 384))
        (0.0, 0.5, 0.25, 0.5, 0.0, 1.0)
        """
        sh = _shape3(shape)
        return tuple(v / sh[i // 2] for i, v in enumerate(self.as_tuple()))  # type: ignore[return-value]

    @classmethod
    def from_normalized(
        cls, values: Sequence[float], shape: Sequence[int], *, rounding: Rounding = "nearest"
    ) -> Box:
        """Inverse of :meth:`to_normalized`: edges scaled by ``shape``, rounded, clipped to the volume.

        ``rounding="nearest"`` (default) rounds each edge half-up; ``"outward"`` keeps every
        voxel the box touches. A box thinner than a voxel keeps the voxel holding its centre.
        """
        return cls._from_scaled(
            _six(values, "normalized box", _as_real),
            _shape3(shape),
            1.0,
            rounding,
            "normalized box",
        )

    def to_grid1000(self, shape: Sequence[int]) -> tuple[int, int, int, int, int, int]:
        """Edges on the 0-1000 integer grid some VLMs use: ``round_half_up(1000 * edge / size)``.

        Order ``(s0, s1, r0, r1, c0, c1)``. :meth:`from_grid1000` inverts it exactly for
        every axis of at most 1000 voxels (a grid step is then at most one voxel).

        >>> Box(0, 80, 96, 192, 0, 384).to_grid1000((160, 384, 384))
        (0, 500, 250, 500, 0, 1000)
        """
        sh = _shape3(shape)
        return tuple(round_nearest(1000.0 * v / sh[i // 2]) for i, v in enumerate(self.as_tuple()))  # type: ignore[return-value]

    @classmethod
    def from_grid1000(
        cls, values: Sequence[float], shape: Sequence[int], *, rounding: Rounding = "nearest"
    ) -> Box:
        """Inverse of :meth:`to_grid1000`: ``edge = value * size / 1000``, rounded, clipped to the volume."""
        return cls._from_scaled(
            _six(values, "grid1000 box", _as_real), _shape3(shape), 1000.0, rounding, "grid1000 box"
        )

    @classmethod
    def _from_scaled(
        cls,
        vals: tuple[float, ...],
        sh: tuple[int, int, int],
        unit: float,
        rounding: str,
        field: str,
    ) -> Box:
        edges: list[int] = []
        for axis in range(3):
            lo, hi = vals[2 * axis], vals[2 * axis + 1]
            if hi < lo:
                raise Bbox3dError(f"{field}: {_AXES[axis]} end {hi} is before its start {lo}")
            n = sh[axis]
            fitted = fit_interval(lo * n / unit, hi * n / unit, n, rounding)
            if fitted is None:
                raise Bbox3dError(
                    f"{field} {list(vals)!r}: nothing left inside a volume of shape {sh} on the {_AXES[axis]} axis"
                )
            edges += list(fitted)
        return cls(*edges)

    # ----------------------------------------------------------------- millimetres
    def to_mm(
        self, *, spacing: Sequence[float] | None = None, affine: ArrayLike | None = None
    ) -> tuple[float, float, float, float, float, float]:
        """The box in millimetres.

        With ``spacing=(slice_mm, row_mm, col_mm)``: edges times spacing, measured from the
        volume's corner (the outer face of voxel 0), order ``(s0, s1, r0, r1, c0, c1)``.
        With a 4x4 voxel-to-world ``affine`` (NIfTI: voxel *centres* at integer indices):
        the axis-aligned world box ``(x0, x1, y0, y1, z0, z1)`` enclosing the box's outer faces.

        >>> Box(0, 10, 0, 2, 0, 4).to_mm(spacing=(0.7, 0.5, 0.25))
        (0.0, 7.0, 0.0, 1.0, 0.0, 1.0)
        """
        if (spacing is None) == (affine is None):
            raise Bbox3dError("to_mm: give exactly one of spacing= or affine=")
        if spacing is not None:
            sp = _triple(spacing, "spacing", kind=float, positive=True)
            return tuple(v * sp[i // 2] for i, v in enumerate(self.as_tuple()))  # type: ignore[return-value]
        a = _check_affine(affine)
        corners = np.array(
            [
                [s, r, c, 1.0]
                for s in (self.s0, self.s1)
                for r in (self.r0, self.r1)
                for c in (self.c0, self.c1)
            ]
        )
        corners[:, :3] -= 0.5  # edge coordinates -> centre-based index coordinates
        world = corners @ a.T
        lo, hi = world[:, :3].min(axis=0), world[:, :3].max(axis=0)
        return (float(lo[0]), float(hi[0]), float(lo[1]), float(hi[1]), float(lo[2]), float(hi[2]))

    @classmethod
    def from_mm(
        cls,
        values: Sequence[float],
        *,
        spacing: Sequence[float] | None = None,
        affine: ArrayLike | None = None,
        shape: Sequence[int] | None = None,
        rounding: Rounding = "nearest",
    ) -> Box:
        """Inverse of :meth:`to_mm` (same conventions); clipped to ``shape`` when given.

        With an affine whose axes are not aligned with the world axes, the result encloses
        the world box's corners, so a round trip grows the box.
        """
        if (spacing is None) == (affine is None):
            raise Bbox3dError("from_mm: give exactly one of spacing= or affine=")
        vals = _six(values, "mm box", _as_real)
        for axis in range(3):
            if vals[2 * axis + 1] < vals[2 * axis]:
                raise Bbox3dError(f"mm box {list(vals)!r}: axis {axis} end is before its start")
        if spacing is not None:
            sp = _triple(spacing, "spacing", kind=float, positive=True)
            cont = [v / sp[i // 2] for i, v in enumerate(vals)]
        else:
            a = _check_affine(affine)
            inv = np.linalg.inv(a)
            x0, x1, y0, y1, z0, z1 = vals
            corners = np.array(
                [[x, y, z, 1.0] for x in (x0, x1) for y in (y0, y1) for z in (z0, z1)]
            )
            idx = (corners @ inv.T)[:, :3] + 0.5
            lo, hi = idx.min(axis=0), idx.max(axis=0)
            cont = [
                float(lo[0]),
                float(hi[0]),
                float(lo[1]),
                float(hi[1]),
                float(lo[2]),
                float(hi[2]),
            ]
        edges: list[int] = []
        sh = _shape3(shape) if shape is not None else None
        for axis in range(3):
            fitted = fit_interval(
                cont[2 * axis], cont[2 * axis + 1], None if sh is None else sh[axis], rounding
            )
            if fitted is None:
                raise Bbox3dError(
                    f"mm box {list(vals)!r}: nothing left inside the volume on the {_AXES[axis]} axis"
                )
            edges += list(fitted)
        return cls(*edges)
