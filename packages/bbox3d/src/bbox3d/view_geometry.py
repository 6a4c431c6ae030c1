"""Where a derived copy of a volume (what a model saw) sits in the source volume.

A :class:`ViewGeometry` maps continuous voxel-edge coordinates per axis:
``source = offset + scale * view``. Crops, resizes and slice sampling compose into one
such map, so a box a model gives in its view converts back to source voxels in one step.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from ._rounding import fit_interval
from .box import Box, Rounding, _as_int, _as_real, _shape3, _triple
from .errors import Bbox3dError

__all__ = ["ViewGeometry"]

_AXES = ("slice", "row", "col")


@dataclass(frozen=True, slots=True)
class ViewGeometry:
    """Affine per-axis map from a view's voxel edges to the source volume's: ``source = offset + scale * view``.

    Axis order ``(slice, row, col)``. Build it by composition from
    :meth:`identity`; each ``then_*`` returns the geometry of the derived view.

    >>> g = ViewGeometry.identity((160, 384, 384)).then_crop(Box(0, 160, 64, 320, 64, 320)).then_resize((160, 128, 128))
    >>> g.scale, g.offset
    ((1.0, 2.0, 2.0), (0.0, 64.0, 64.0))
    >>> g.box_to_source(Box(10, 20, 10, 20, 30, 40))
    Box(s0=10, s1=20, r0=84, r1=104, c0=124, c1=144)
    """

    source_shape: tuple[int, int, int]
    view_shape: tuple[int, int, int]
    offset: tuple[float, float, float] = (0.0, 0.0, 0.0)
    scale: tuple[float, float, float] = (1.0, 1.0, 1.0)

    def __post_init__(self) -> None:
        object.__setattr__(self, "source_shape", _shape3(self.source_shape, "source_shape"))
        object.__setattr__(self, "view_shape", _shape3(self.view_shape, "view_shape"))
        object.__setattr__(self, "offset", _triple(self.offset, "offset", kind=float))
        object.__setattr__(self, "scale", _triple(self.scale, "scale", kind=float, positive=True))

    # ----------------------------------------------------------------- construction
    @classmethod
    def identity(cls, shape: Sequence[int]) -> ViewGeometry:
        """The volume itself (offset 0, scale 1)."""
        sh = _shape3(shape)
        return cls(sh, sh)

    def then_crop(self, box: Box) -> ViewGeometry:
        """Geometry of ``view[box.slices]``; ``box`` is in this view's voxels and must fit in it."""
        if not isinstance(box, Box):
            raise Bbox3dError(f"then_crop: expected a Box, got {type(box).__name__}")
        if any(hi > n for hi, n in zip(box.stop, self.view_shape, strict=True)):
            raise Bbox3dError(
                f"then_crop: box {box} does not fit in the view of shape {self.view_shape}"
            )
        offset = cast(
            "tuple[float, float, float]",
            tuple(o + k * s for o, k, s in zip(self.offset, self.scale, box.start, strict=True)),
        )
        return ViewGeometry(self.source_shape, box.shape, offset, self.scale)

    def then_resize(self, new_shape: Sequence[int]) -> ViewGeometry:
        """Geometry after resampling the view to ``new_shape`` (edge-aligned, i.e. ``align_corners=False``)."""
        ns = _shape3(new_shape, "new_shape")
        scale = cast(
            "tuple[float, float, float]",
            tuple(
                k * old / new for k, old, new in zip(self.scale, self.view_shape, ns, strict=True)
            ),
        )
        return ViewGeometry(self.source_shape, ns, self.offset, scale)

    def then_sample_slices(
        self, start: float, step: float, n: int, *, axis: int = 0
    ) -> ViewGeometry:
        """Geometry of ``n`` slices taken at ``start, start + step, ...`` along ``axis``.

        Each kept slice stands for the slab of ``step`` slices centred on it (so every
        source slice belongs to its nearest kept slice). Non-integer ``start`` / ``step``
        (e.g. ``np.linspace`` positions before rounding) are allowed.
        """
        start_f = _as_real(start, "start")
        step_f = _as_real(step, "step")
        n_i = _as_int(n, "n")
        if axis not in (0, 1, 2):
            raise Bbox3dError(f"axis: expected 0, 1 or 2, got {axis!r}")
        if step_f <= 0 or n_i < 1:
            raise Bbox3dError(
                f"then_sample_slices: expected step > 0 and n >= 1, got step={step}, n={n}"
            )
        last = start_f + step_f * (n_i - 1)
        size = self.view_shape[axis]
        if start_f < 0 or math.floor(last + 0.5) >= size:
            raise Bbox3dError(
                f"then_sample_slices: positions {start_f:g}..{last:g} fall outside the {_AXES[axis]} axis of size {size}"
            )
        offset = list(self.offset)
        scale = list(self.scale)
        view_shape = list(self.view_shape)
        offset[axis] = self.offset[axis] + self.scale[axis] * (start_f + 0.5 - step_f / 2.0)
        scale[axis] = self.scale[axis] * step_f
        view_shape[axis] = n_i
        return ViewGeometry(self.source_shape, tuple(view_shape), tuple(offset), tuple(scale))  # type: ignore[arg-type]

    # ----------------------------------------------------------------- mapping
    def box_to_view(self, box: Box, *, rounding: Rounding = "outward") -> Box:
        """A source box in view voxels (rounded outward by default, clipped to the view)."""
        return self._map(box, to_view=True, rounding=rounding)

    def box_to_source(self, box: Box, *, rounding: Rounding = "outward") -> Box:
        """A view box (e.g. a model's answer) in source voxels (rounded outward by default, clipped)."""
        return self._map(box, to_view=False, rounding=rounding)

    def _map(self, box: Box, *, to_view: bool, rounding: str) -> Box:
        if not isinstance(box, Box):
            raise Bbox3dError(f"expected a Box, got {type(box).__name__}")
        limit = self.view_shape if to_view else self.source_shape
        edges: list[int] = []
        for axis in range(3):
            o, k = self.offset[axis], self.scale[axis]
            lo, hi = box.start[axis], box.stop[axis]
            if to_view:
                a, b = (lo - o) / k, (hi - o) / k
            else:
                a, b = o + k * lo, o + k * hi
            fitted = fit_interval(a, b, limit[axis], rounding)
            if fitted is None:
                where = "view" if to_view else "source volume"
                raise Bbox3dError(
                    f"box {box} falls outside the {where} of shape {limit} on the {_AXES[axis]} axis"
                )
            edges += list(fitted)
        return Box(*edges)

    # ----------------------------------------------------------------- serialisation
    def to_dict(self) -> dict[str, list[int] | list[float]]:
        """JSON-safe dict (``source_shape``, ``view_shape``, ``offset``, ``scale``)."""
        return {
            "source_shape": list(self.source_shape),
            "view_shape": list(self.view_shape),
            "offset": [float(v) for v in self.offset],
            "scale": [float(v) for v in self.scale],
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ViewGeometry:
        """Inverse of :meth:`to_dict`."""
        if not isinstance(d, Mapping):
            raise Bbox3dError(f"view: expected a mapping, got {type(d).__name__}")
        missing = [k for k in ("source_shape", "view_shape", "offset", "scale") if k not in d]
        if missing:
            raise Bbox3dError(
                f"view: missing field(s) {missing}; expected source_shape, view_shape, offset, scale"
            )
        return cls(d["source_shape"], d["view_shape"], d["offset"], d["scale"])
