"""Measurements that read a grade's definition back from a rendered phantom (used by the tests).

They work on what a reader sees, the label map, tissue map and image, and
know nothing of how the lesion was drawn.
"""

from __future__ import annotations

import numpy as np
from moaks_schema import region
from scipy import ndimage

from knee_phantom.tissues import BONE_TISSUES, Tissue, lut_of

__all__ = [
    "bone_mask",
    "cartilage_columns",
    "components",
    "extrusion_mm",
    "fluid_volume_ml",
    "protrusion_mm",
]

_BONE = lut_of(BONE_TISSUES)
_STRUCT26 = np.ones((3, 3, 3), bool)


def components(mask: np.ndarray) -> int:
    """Number of 26-connected components of a mask."""
    return int(ndimage.label(mask, structure=_STRUCT26)[1])


def bone_mask(tissues: np.ndarray) -> np.ndarray:
    """All bone voxels (marrow, cortex, physis, BML, cysts, tunnels)."""
    return _BONE[tissues]


def fluid_volume_ml(tissues: np.ndarray, spacing: tuple[float, float, float]) -> float:
    """Joint-fluid volume in millilitres."""
    return float(np.count_nonzero(tissues == Tissue.JOINT_FLUID) * np.prod(spacing) / 1000.0)


def protrusion_mm(
    before: np.ndarray, after: np.ndarray, spacing: tuple[float, float, float]
) -> float:
    """Largest distance (mm) of bone present in ``after`` but not ``before`` from the ``before`` bone."""
    new = after & ~before
    if not new.any():
        return 0.0
    sl = tuple(slice(max(0, int(i.min()) - 12), int(i.max()) + 13) for i in np.nonzero(new))
    dist = ndimage.distance_transform_edt(~before[sl], sampling=spacing)
    return float(dist[new[sl]].max())


def extrusion_mm(
    labels: np.ndarray, spacing: tuple[float, float, float], which: str, *, side: int = 1
) -> float:
    """How far a meniscal segment reaches beyond the tibial plateau margin (mm; negative: inside).

    ``which`` is ``"MMM"`` (medial body, medially), ``"LML"`` (lateral body,
    laterally), ``"MMA"`` / ``"LMA"`` (anterior horn, anteriorly). The margin is
    the extreme of that side's tibial subregions in the same sagittal slice
    (anterior) or coronal column (medial / lateral); the largest overhang counts.
    """
    seg_code = {"MMM": "MMB", "LML": "LMB", "MMA": "MMA", "LMA": "LMA"}[which]
    medial = which.startswith("M")
    tib = [region(c).label for c in (("TMA", "TMC", "TMP") if medial else ("TLA", "TLC", "TLP"))]
    seg = labels == region(seg_code).label
    if not seg.any():
        return float("nan")
    tibia = np.isin(labels, tib)
    best = -np.inf
    if which in (
        "MMA",
        "LMA",
    ):  # anterior = smaller column index; compare within each sagittal slice
        for s in np.unique(np.nonzero(seg)[0]):
            tc = np.nonzero(tibia[s].any(axis=0))[0]
            sc = np.nonzero(seg[s].any(axis=0))[0]
            if tc.size:
                best = max(best, float((tc.min() - sc.min()) * spacing[2]))
        return best
    toward_high = (side == 1) == medial  # medial grows with the slice index on a right knee
    for c in np.unique(np.nonzero(seg)[2]):  # compare within each coronal column
        ts = np.nonzero(tibia[:, :, c].any(axis=1))[0]
        ss = np.nonzero(seg[:, :, c].any(axis=1))[0]
        if ts.size:
            d = (ss.max() - ts.max()) if toward_high else (ts.min() - ss.min())
            best = max(best, float(d * spacing[0]))
    return best


def cartilage_columns(
    before: np.ndarray, after: np.ndarray, labels: np.ndarray, code: str, *, axis: int = 1
) -> tuple[float, float]:
    """Surface fraction with any loss, and full-thickness share of the loss, counted by columns.

    ``before``/``after`` are tissue maps without and with the defect. A
    cartilage voxel belongs to subregion ``code`` when its nearest bone voxel
    carries that label; a column is a line of voxels along ``axis`` (rows for
    the tibia and the central femur, columns for the patella). A column has
    loss when it holds fewer of the subregion's cartilage voxels after than
    before, full-thickness loss when none are left.
    """
    lab = region(code).label
    obj = ndimage.find_objects((labels == lab).astype(np.uint8))[0]
    sl = tuple(slice(max(0, s.start - 8), s.stop + 8) for s in obj)
    bone = _BONE[before[sl]] & (labels[sl] > 0)
    _, idx = ndimage.distance_transform_edt(~bone, return_indices=True)
    nearest = labels[sl][tuple(idx)]
    mine = (before[sl] == Tissue.CARTILAGE) & (nearest == lab)
    still = mine & (after[sl] == Tissue.CARTILAGE)
    n0 = mine.sum(axis=axis)
    n1 = still.sum(axis=axis)
    cols = n0 > 0
    lost = n1[cols] < n0[cols]
    size = float(lost.mean()) if lost.size else 0.0
    full = float((n1[cols][lost] == 0).mean()) if lost.any() else 0.0
    return size, full
