"""Voxel grid ↔ template millimetres, and crops evaluated by broadcasting.

The anatomy is described in *template* millimetres with the knee at the
origin: ``X`` medial (+) / lateral (−), ``Y`` inferior (+) / superior (−),
``Z`` posterior (+) / anterior (−); the joint line is ``Y = 0`` and the
intercondylar notch ``X = 0``. A subject is the template scaled, flexed about
the medial–lateral axis and shifted inside the field of view (112 × 140 × 140
mm, the OAI DESS field of view, whatever the array shape). For a right knee
the canonical slice axis (right → left) runs lateral → medial, so ``X``
grows with the slice index; a left knee is the mirror image (the slice axis
is flipped at the end).

Because the only rotation is about the slice axis, ``X`` depends on the slice
index alone and ``(Y, Z)`` on ``(row, col)`` alone: every shape is evaluated on
a crop as ``X[:, None, None]`` against ``Y[None]``, ``Z[None]``, which keeps a
full-size phantom fast.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["FOV_MM", "Grid", "Subject"]

#: Field of view in mm (slice, row, col): 160 × 0.7, 384 × 0.365, 384 × 0.365.
FOV_MM: tuple[float, float, float] = (112.0, 140.16, 140.16)


@dataclass(frozen=True)
class Subject:
    """Subject variation drawn from the anatomy seed."""

    scale: float  # template -> subject size
    flexion_deg: float  # rotation about the medial-lateral axis
    center_mm: tuple[float, float, float]  # knee origin in field-of-view mm (slice, row, col)
    femoral_cartilage_mm: float
    tibial_cartilage_mm: float
    patellar_cartilage_mm: float
    meniscus_height_mm: float
    notch_half_width_mm: float
    patella_height_shift_mm: float
    gain: float  # intensity scale
    noise_sigma: float
    bias: tuple[float, ...]  # smooth multiplicative field coefficients

    @classmethod
    def draw(cls, rng: np.random.Generator) -> Subject:
        u = rng.uniform
        return cls(
            scale=float(u(0.93, 1.06)),
            flexion_deg=float(u(-4.0, 6.0)),
            center_mm=(float(56.0 + u(-3, 3)), float(78.0 + u(-3, 3)), float(70.0 + u(-3, 3))),
            femoral_cartilage_mm=float(u(2.3, 2.8)),
            tibial_cartilage_mm=float(u(2.2, 2.7)),
            patellar_cartilage_mm=float(u(2.9, 3.5)),
            meniscus_height_mm=float(u(5.5, 7.0)),
            notch_half_width_mm=float(u(9.0, 10.5)),
            patella_height_shift_mm=float(u(-3.0, 3.0)),
            gain=float(u(0.9, 1.1)),
            noise_sigma=float(u(6.0, 11.0)),
            bias=tuple(float(x) for x in u(-0.12, 0.12, size=6)),
        )


class Grid:
    """Template coordinates of a voxel grid (see the module docstring)."""

    def __init__(self, shape: tuple[int, int, int], subject: Subject) -> None:
        self.shape = tuple(int(n) for n in shape)
        self.spacing = tuple(f / n for f, n in zip(FOV_MM, self.shape, strict=True))
        self.subject = subject
        k = subject.scale
        a = math.radians(subject.flexion_deg)
        self._ca, self._sa, self._k = math.cos(a), math.sin(a), k
        cu, cv, cw = subject.center_mm
        ds, dr, dc = self.spacing
        u = (np.arange(self.shape[0]) + 0.5) * ds - cu
        v = (np.arange(self.shape[1]) + 0.5) * dr - cv
        w = (np.arange(self.shape[2]) + 0.5) * dc - cw
        self.X = (u / k).astype(np.float32)
        self.Y = ((self._ca * v[:, None] + self._sa * w[None, :]) / k).astype(np.float32)
        self.Z = ((-self._sa * v[:, None] + self._ca * w[None, :]) / k).astype(np.float32)
        #: voxel size in template mm (slice, row, col)
        self.voxel = tuple(s / k for s in self.spacing)

    def box(
        self, xr: tuple[float, float], yr: tuple[float, float], zr: tuple[float, float]
    ) -> tuple[slice, slice, slice] | None:
        """Index crop covering a template box (None when it misses the grid)."""
        k, ca, sa = self._k, self._ca, self._sa
        cu, cv, cw = self.subject.center_mm
        ds, dr, dc = self.spacing
        vs, ws = [], []
        for y in yr:
            for z in zr:
                vs.append(k * (ca * y - sa * z) + cv)
                ws.append(k * (sa * y + ca * z) + cw)
        out = []
        for lo_mm, hi_mm, d, n in (
            (k * xr[0] + cu, k * xr[1] + cu, ds, self.shape[0]),
            (min(vs), max(vs), dr, self.shape[1]),
            (min(ws), max(ws), dc, self.shape[2]),
        ):
            lo = max(0, math.floor(lo_mm / d - 0.5))
            hi = min(n, math.ceil(hi_mm / d + 0.5))
            if hi <= lo:
                return None
            out.append(slice(lo, hi))
        return tuple(out)  # type: ignore[return-value]

    def coords(self, sl: tuple[slice, slice, slice]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``X (n,1,1), Y (1,r,c), Z (1,r,c)`` template coordinates of a crop."""
        return self.X[sl[0]][:, None, None], self.Y[sl[1], sl[2]][None], self.Z[sl[1], sl[2]][None]

    def full(self) -> tuple[slice, slice, slice]:
        """The crop that is the whole grid."""
        return (slice(0, self.shape[0]), slice(0, self.shape[1]), slice(0, self.shape[2]))
