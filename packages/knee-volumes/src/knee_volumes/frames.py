"""Model input: a scan's slices as uint8 RGB frames, prepared once and reused for every question."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np

from knee_volumes.atomic import atomic_folder
from knee_volumes.errors import VolumeError
from knee_volumes.volume import Volume
from knee_volumes.windowing import PUBLIC_WINDOW, WindowSpec, _to_uint8, resolve_window

if TYPE_CHECKING:
    from bbox3d import Box, ViewGeometry
    from PIL import Image

__all__ = ["Frames", "SliceRange", "SliceSpec", "plan_slices", "prepare_frames"]


@dataclass(frozen=True, slots=True)
class SliceRange:
    """``n`` slices evenly spaced between fractions ``start`` and ``stop`` of a scan's slice count.

    A range that fits every scan: ``SliceRange(0.2, 0.8, 32)`` is slices
    32..128 of a 160-slice scan (the public o1 script's choice) and 10..38 of
    a 48-slice one (with 28 slices there, as no more exist in that range).

    >>> SliceRange(0.2, 0.8, 32).resolve(160), SliceRange(0.2, 0.8, 32).resolve(48)
    ((32, 128, 32), (10, 38, 28))
    """

    start: float
    stop: float
    n: int

    def resolve(self, n_slices: int) -> tuple[int, int, int]:
        """``(start, stop, n)`` slice indices for a scan of ``n_slices`` slices."""
        if not (0.0 <= self.start < self.stop <= 1.0) or self.n < 1:
            raise VolumeError(
                f"slices: {self!r}: expected 0 <= start < stop <= 1 (fractions) and n >= 1"
            )
        lo = min(round(self.start * n_slices), n_slices - 1)
        hi = max(round(self.stop * n_slices), lo + 1)
        return lo, hi, min(self.n, hi - lo)


SliceSpec = Literal["all"] | int | tuple[int, int] | tuple[int, int, int] | SliceRange

_HOW = "choose 'all', N (evenly spaced over the scan) or (start, stop[, N]) with"


@dataclass(frozen=True, eq=False)
class Frames:
    """What a model sees of one scan: ``array`` uint8 ``(T, H, W, 3)`` (grey in RGB).

    Frame ``t`` is sagittal slice ``slice_indices[t]`` of the volume (after the
    crop and resize recorded in ``view``). ``view`` maps frame coordinates
    ``(t, row, col)`` to volume voxels and back (:meth:`box_to_volume`,
    :meth:`box_to_frames`); ``view.to_dict()`` is what predictions record.
    ``window`` holds the intensity bounds actually used.
    """

    array: np.ndarray
    view: ViewGeometry
    slice_indices: tuple[int, ...]
    window: tuple[float, float]

    def __len__(self) -> int:
        return int(self.array.shape[0])

    @property
    def size(self) -> tuple[int, int]:
        """``(H, W)`` of each frame."""
        return int(self.array.shape[1]), int(self.array.shape[2])

    def box_to_frames(self, box: Box) -> Box:
        """A volume box in frame coordinates (t, row, col), rounded outward."""
        return self.view.box_to_view(box)

    def box_to_volume(self, box: Box) -> Box:
        """A box given in frame coordinates (e.g. a model's answer) in volume voxels, rounded outward."""
        return self.view.box_to_source(box)

    def images(self) -> list[Image.Image]:
        """The frames as PIL RGB images (views of ``array``'s memory are not kept)."""
        from PIL import Image

        return [Image.fromarray(frame, mode="RGB") for frame in self.array]

    def write_pngs(
        self, folder: str | PathLike[str], *, overwrite: bool = False, compress_level: int = 1
    ) -> list[Path]:
        """Write ``000.png``, ``001.png``, … into ``folder`` atomically; returns the paths.

        ``compress_level`` is zlib's 0–9 (Pillow's default is 6; 1 is several times faster).
        """
        folder = Path(folder)
        names = [f"{t:03d}.png" for t in range(len(self))]
        with atomic_folder(folder, overwrite=overwrite) as tmp:
            for name, image in zip(names, self.images(), strict=True):
                image.save(tmp / name, format="PNG", compress_level=compress_level)
        return [folder / name for name in names]


def plan_slices(n_slices: int, slices: SliceSpec) -> tuple[float, float, int]:
    """``(start, step, n)`` slab positions for a slice spec over ``n_slices`` slices.

    ``"all"``: every slice. ``N``: N slabs of ``n_slices / N`` slices, each
    represented by the slice at its centre (every slice when there are no more
    than N). ``(start, stop)``: slices
    ``start..stop-1``. ``(start, stop, N)``: N slabs evenly dividing
    ``[start, stop)``. Positions are slice indices (slice i is centred on
    i), as :meth:`bbox3d.ViewGeometry.then_sample_slices` takes them.

    >>> plan_slices(160, "all"), plan_slices(160, 32), plan_slices(160, (32, 128, 32))
    ((0.0, 1.0, 160), (2.0, 5.0, 32), (33.0, 3.0, 32))
    >>> plan_slices(10, 32)
    (0.0, 1.0, 10)
    """
    if isinstance(slices, SliceRange):
        slices = slices.resolve(n_slices)
    if isinstance(slices, str):
        if slices != "all":
            raise VolumeError(f"slices: expected 'all', N or (start, stop[, N]), got {slices!r}")
        lo, hi, n = 0, n_slices, n_slices
    elif isinstance(slices, int | np.integer):
        if int(slices) < 1:
            raise VolumeError(f"slices: expected N >= 1, got {slices}")
        lo, hi, n = 0, n_slices, min(int(slices), n_slices)  # at most N: a thin crop has fewer
    elif isinstance(slices, Sequence) and len(slices) in (2, 3):
        lo, hi = int(slices[0]), int(slices[1])
        n = int(slices[2]) if len(slices) == 3 else hi - lo
    else:
        raise VolumeError(f"slices: expected 'all', N or (start, stop[, N]), got {slices!r}")
    if not 0 <= lo < hi <= n_slices:
        raise VolumeError(
            f"slices: range [{lo}, {hi}) is not inside the {n_slices} slices available: "
            f"{_HOW} 0 <= start < stop <= {n_slices}"
        )
    if not 1 <= n <= hi - lo:
        raise VolumeError(
            f"slices: asked for {n} slices from a range of {hi - lo}; expected 1..{hi - lo}"
        )
    step = (hi - lo) / n
    return lo + step / 2 - 0.5, step, n


def _target_size(
    h: int, w: int, size: tuple[int, int] | None, max_pixels: int | None, multiple_of: int
) -> tuple[int, int]:
    if size is not None:
        th, tw = (int(v) for v in size)
        if th < 1 or tw < 1:
            raise VolumeError(f"size: expected positive (H, W), got {size!r}")
        return th, tw
    th, tw = h, w
    m = max(1, int(multiple_of))
    if m > 1:
        th, tw = max(m, round(th / m) * m), max(m, round(tw / m) * m)
    if max_pixels is not None and th * tw > max_pixels:
        f = math.sqrt(max_pixels / (h * w))
        th, tw = max(m, math.floor(h * f / m) * m), max(m, math.floor(w * f / m) * m)
        if th * tw > max_pixels:
            raise VolumeError(f"max_pixels={max_pixels} is smaller than one {m}x{m} block")
    return th, tw


def prepare_frames(
    volume: Volume | np.ndarray,
    *,
    window: WindowSpec = PUBLIC_WINDOW,
    window_mode: Literal["fixed", "percentile"] = "fixed",
    slices: SliceSpec = "all",
    size: tuple[int, int] | None = None,
    max_pixels: int | None = None,
    multiple_of: int = 1,
    crop: Box | None = None,
) -> Frames:
    """Turn a scan into uint8 RGB frames ``(T, H, W, 3)`` plus the geometry back to its voxels.

    Steps, in order: crop to ``crop`` (a :class:`bbox3d.Box` in volume voxels,
    clipped to the volume); pick slices (``slices``, counted inside the crop,
    see :func:`plan_slices`); window to 8 bits (default the public scripts'
    fixed 0–400; ``window="percentile"`` or ``window=(lo_pct, hi_pct),
    window_mode="percentile"`` for percentiles of the cropped volume); resize
    each frame (bilinear, edge-aligned) to ``size=(H, W)``, or to fit
    ``max_pixels`` keeping the aspect ratio, optionally rounding to
    ``multiple_of``; repeat grey into RGB.

    Do this once per scan and reuse the result for all its questions.
    """
    from bbox3d import ViewGeometry
    from PIL import Image

    array = volume.array if isinstance(volume, Volume) else np.asanyarray(volume)
    if array.ndim != 3:
        raise VolumeError(
            f"prepare_frames: expected a 3D (slice, row, col) array, got shape {array.shape}"
        )
    view = ViewGeometry.identity(array.shape)
    if crop is not None:
        try:
            crop = crop.clip(array.shape)
        except ValueError as exc:
            raise VolumeError(f"crop: {exc}") from exc
        view = view.then_crop(crop)
        array = crop.crop(array)
    start, step, n = plan_slices(array.shape[0], slices)
    local = [math.floor(start + step * t + 0.5) for t in range(n)]
    view = view.then_sample_slices(start, step, n)
    bounds = resolve_window(array, window, mode=window_mode)
    grey = _to_uint8(array[local], *bounds)
    h, w = grey.shape[1:]
    th, tw = _target_size(h, w, size, max_pixels, multiple_of)
    if (th, tw) != (h, w):
        grey = np.stack(
            [
                np.asarray(Image.fromarray(g).resize((tw, th), Image.Resampling.BILINEAR))
                for g in grey
            ]
        )
        view = view.then_resize((n, th, tw))
    rgb = np.repeat(grey[..., None], 3, axis=-1)
    rgb.setflags(write=False)
    offset = crop.s0 if crop is not None else 0
    return Frames(
        array=rgb, view=view, slice_indices=tuple(offset + i for i in local), window=bounds
    )
