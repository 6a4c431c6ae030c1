"""From tissue map to a DESS-like image: intensities, ill-defined overlays, partial volume, bias, noise."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from knee_phantom.grid import Grid
from knee_phantom.tissues import intensity_table

__all__ = ["Overlay", "render_image"]


_PV_KERNEL = np.array([0.2, 0.6, 0.2], np.float32)


@dataclass(frozen=True)
class Overlay:
    """An additive intensity change over a crop, blurred by ``sigma`` voxels (ill-defined edges)."""

    sl: tuple[slice, slice, slice]
    mask: np.ndarray
    amount: float
    sigma: float = 1.0


@dataclass
class _Noise:
    rng: np.random.Generator
    sigma: float
    extra: dict = field(default_factory=dict)


def _bias(grid: Grid) -> np.ndarray:
    """A smooth multiplicative field (product of 1D quadratics), broadcastable to the grid."""
    b = grid.subject.bias
    out = []
    for axis, n in enumerate(grid.shape):
        t = (np.arange(n, dtype=np.float32) + 0.5) / n * 2.0 - 1.0
        f = np.exp(b[2 * axis] * t + b[2 * axis + 1] * (t * t - 1.0 / 3.0)).astype(np.float32)
        shape = [1, 1, 1]
        shape[axis] = n
        out.append(f.reshape(shape))
    return out[0] * out[1] * out[2]


def _noise(rng: np.random.Generator, shape: tuple[int, ...], sigma: np.float32) -> np.ndarray:
    """White Gaussian noise, drawn as random windows of one pool of normal samples (fast, seeded).

    Each slice takes a contiguous window at a random offset of a pool of 2**21
    samples, so no two slices repeat and every value is Gaussian.
    """
    n_slice = int(np.prod(shape[1:]))
    pool = rng.standard_normal(max(1 << 21, 2 * n_slice), dtype=np.float32)
    pool *= sigma
    offsets = rng.integers(0, pool.size - n_slice, size=shape[0])
    out = np.empty(shape, np.float32)
    flat = out.reshape(shape[0], n_slice)
    for i, off in enumerate(offsets):
        flat[i] = pool[off : off + n_slice]
    return out


def render_image(
    grid: Grid, tissues: np.ndarray, overlays: list[Overlay], rng: np.random.Generator
) -> np.ndarray:
    """The phantom image (int16): tissue intensities, overlays, partial-volume blur, bias field, Rician noise."""
    img = intensity_table()[tissues]
    for ov in overlays:
        if ov.sigma > 0:
            soft = ndimage.gaussian_filter(
                ov.mask.astype(np.float32), ov.sigma, mode="constant", truncate=2.5
            )
            img[ov.sl] += ov.amount * np.minimum(soft * 1.25, 1.0)
        else:
            img[ov.sl] += ov.amount * ov.mask
    # partial volume: a blur of about half a voxel at the boundaries
    for axis in (1, 2):  # in-plane (the slice axis is already the coarse one)
        img = ndimage.correlate1d(img, _PV_KERNEL, axis=axis, mode="nearest")
    img *= np.float32(grid.subject.gain)
    img *= _bias(grid)
    sigma = np.float32(grid.subject.noise_sigma)
    img += _noise(rng, img.shape, sigma)
    n2 = _noise(rng, img.shape, sigma)
    np.square(img, out=img)
    np.square(n2, out=n2)
    img += n2
    np.sqrt(img, out=img)
    np.rint(img, out=img)
    return img.astype(np.int16)
