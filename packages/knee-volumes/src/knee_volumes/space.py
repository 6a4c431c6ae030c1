"""Is a label map in its image's space, and on the right side of the knee?

Two checks that every reader of (image, label map) pairs uses, so that a label
map drawn for another grid, or mirrored, is refused instead of giving boxes in
the wrong place:

- :func:`check_same_space`: after both are brought to the canonical layout
  (:mod:`knee_volumes.orientation`), the label map must have the image's shape
  and every corner of its voxel grid must lie within ``atol_mm`` (default
  :data:`SPACE_ATOL_MM`) of the image's. A label map stored in another *valid*
  orientation (its header describes the same grid) passes; one whose header
  flips an axis against its content, or has another voxel size, does not.
- :func:`check_side`: in the canonical layout slices run from the patient's
  right to left, so for a right knee (side 1) the medial compartment has the
  higher slice indices and for a left knee (side 2) the lower ones. The medial
  regions (FMA/FMC/FMP, TMA/TMC/TMP, MMA/MMB/MMP) must lie on the medial side
  of the lateral ones (FLA/FLC/FLP, TLA/TLC/TLP, LMA/LMB/LMP); a mirrored label
  map fails. Only a clear answer counts: the mean slices of the two groups
  must be at least :data:`SIDE_MARGIN` of the slice count (and one slice)
  apart for the map to be called mirrored (a map whose groups overlap is not
  judged here: that is a question of its quality, not of its side).

>>> import numpy as np
>>> from knee_volumes.volume import Volume
>>> image = Volume(np.zeros((4, 5, 6), np.uint8), spacing=(0.7, 0.4, 0.4))
>>> check_same_space(image, image.with_array(np.zeros((4, 5, 6), np.uint8)))
>>> labels = np.zeros((4, 5, 6), np.uint8)
>>> labels[0, :, :3] = 10; labels[3, :, :3] = 13     # TMC (medial) at slice 0, TLC at 3
>>> check_side(labels, 2)                            # a left knee: medial toward the right
>>> check_side(labels, 1)                            # a right knee: mirrored
Traceback (most recent call last):
...
knee_volumes.errors.VolumeError: label map looks mirrored for a right knee (side 1): the medial regions lie at mean slice 0.0, the lateral ones at 3.0; expected medial at the higher slice indices (canonical slices run right to left)
"""

from __future__ import annotations

import itertools
from os import PathLike
from typing import NamedTuple, Protocol

import numpy as np
from moaks_schema import region

from knee_volumes.errors import VolumeError
from knee_volumes.orientation import canonical_geometry

__all__ = [
    "LATERAL_LABELS",
    "MEDIAL_LABELS",
    "SIDE_MARGIN",
    "SPACE_ATOL_MM",
    "Grid",
    "Gridded",
    "check_same_space",
    "check_side",
]

#: Largest distance in mm allowed between a voxel-grid corner of a label map and its image's.
SPACE_ATOL_MM = 0.01
#: How far (fraction of the slice count, at least one slice) the medial regions' mean slice
#: must lie on the lateral side of the lateral regions' for a label map to count as mirrored.
SIDE_MARGIN = 0.05

_MEDIAL_CODES = ("FMA", "FMC", "FMP", "TMA", "TMC", "TMP", "MMA", "MMB", "MMP")
_LATERAL_CODES = ("FLA", "FLC", "FLP", "TLA", "TLC", "TLP", "LMA", "LMB", "LMP")
#: Label values (``moaks_schema.REGIONS``) of the medial femur, tibia and meniscus regions.
MEDIAL_LABELS: tuple[int, ...] = tuple(region(c).label for c in _MEDIAL_CODES)
#: Label values of the lateral femur, tibia and meniscus regions.
LATERAL_LABELS: tuple[int, ...] = tuple(region(c).label for c in _LATERAL_CODES)

_SIDE_NAMES = {1: "right", 2: "left"}


class Gridded(Protocol):
    """Anything with a 3D ``shape`` and a 4x4 ``affine`` (a Volume, a nibabel image)."""

    @property
    def shape(self) -> tuple[int, ...]: ...

    @property
    def affine(self) -> np.ndarray: ...


class Grid(NamedTuple):
    """A voxel grid without data: ``shape`` and the ``affine`` to RAS+ mm (as stored on disk)."""

    shape: tuple[int, ...]
    affine: np.ndarray


def _canonical(obj: Gridded) -> tuple[tuple[int, int, int], np.ndarray]:
    shape = tuple(int(n) for n in obj.shape)
    if len(shape) == 4 and shape[3] == 1:
        shape = shape[:3]
    if len(shape) != 3:
        raise VolumeError(f"expected a 3D grid, got shape {shape}")
    return canonical_geometry(shape, np.asarray(obj.affine, dtype=float))  # type: ignore[arg-type]


def _describe(shape: tuple[int, ...], affine: np.ndarray) -> str:
    spacing = np.linalg.norm(affine[:3, :3], axis=0)
    origin = affine[:3, 3]
    return (
        f"shape {tuple(shape)}, voxel size {tuple(round(float(s), 4) for s in spacing)} mm, "
        f"origin {tuple(round(float(o), 3) for o in origin)} mm"
    )


def check_same_space(
    image: Gridded,
    labels: Gridded,
    *,
    atol_mm: float = SPACE_ATOL_MM,
    label_path: str | PathLike[str] | None = None,
) -> None:
    """Raise :class:`VolumeError` unless ``labels`` covers the same voxel grid as ``image``.

    Both are compared in the canonical layout, so any valid orientation on disk
    passes. The grids match when the shapes agree and each of the eight grid
    corners lies within ``atol_mm`` millimetres of the image's. The error names
    ``label_path`` (or the label map's ``source``) and both geometries.
    """
    path = label_path if label_path is not None else getattr(labels, "source", None)
    img_shape, img_aff = _canonical(image)
    try:
        lab_shape, lab_aff = _canonical(labels)
    except ValueError as exc:
        raise VolumeError(f"label map: {exc}", path=path) from None
    if lab_shape == img_shape:
        corners = np.array(
            [[*(c * (n - 1) for c, n in zip(bits, img_shape, strict=True)), 1.0]
             for bits in itertools.product((0, 1), repeat=3)]
        ).T  # fmt: skip
        gap = float(np.linalg.norm(((lab_aff - img_aff) @ corners)[:3], axis=0).max())
        if gap <= atol_mm:
            return
        what = f"its voxel grid is {gap:.3g} mm away from the image's (tolerance {atol_mm:g} mm)"
    else:
        what = "its shape differs from the image's"
    source = getattr(image, "source", None)
    of = f" ({source})" if source else ""
    raise VolumeError(
        f"label map is not in its image's space: {what}; label map (canonical): "
        f"{_describe(lab_shape, lab_aff)}; image{of}: {_describe(img_shape, img_aff)}; "
        "expected the same grid (a header that flips an axis or changes the voxel size "
        "against the image is refused)",
        path=path,
    )


def _mean_slice(labels: np.ndarray, values: tuple[int, ...]) -> float | None:
    mask = np.isin(labels, values)
    counts = mask.sum(axis=(1, 2))
    total = int(counts.sum())
    if total == 0:
        return None
    return float((counts * np.arange(labels.shape[0])).sum() / total)


def check_side(
    labels: np.ndarray, side: int, *, label_path: str | PathLike[str] | None = None
) -> None:
    """Raise :class:`VolumeError` when a canonical label map is mirrored for a knee of ``side``.

    ``side`` 1 (right): the medial regions must not have a lower mean slice
    index than the lateral ones by more than :data:`SIDE_MARGIN` of the slice
    count (at least one slice); 2 (left): not a higher one. A map without
    medial or without lateral regions cannot be checked and passes.
    """
    if side not in _SIDE_NAMES:
        raise VolumeError(f"knee side {side!r}: expected 1 (right) or 2 (left)", path=label_path)
    arr = np.asarray(labels)
    if arr.ndim != 3:
        raise VolumeError(f"label map must be 3D, got shape {arr.shape}", path=label_path)
    medial, lateral = _mean_slice(arr, MEDIAL_LABELS), _mean_slice(arr, LATERAL_LABELS)
    if medial is None or lateral is None:
        return
    toward_medial = (medial - lateral) if side == 1 else (lateral - medial)
    if toward_medial > -max(1.0, SIDE_MARGIN * arr.shape[0]):
        return
    expected = "higher" if side == 1 else "lower"
    raise VolumeError(
        f"label map looks mirrored for a {_SIDE_NAMES[side]} knee (side {side}): the medial "
        f"regions lie at mean slice {medial:.1f}, the lateral ones at {lateral:.1f}; expected "
        f"medial at the {expected} slice indices (canonical slices run right to left)",
        path=label_path,
    )
