"""Dice per region against reference label maps: a polars table and a bar chart (the paper's Fig. 4b)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from knee_volumes.atomic import atomic_file

from knee_segmenter.errors import SegmenterError
from knee_segmenter.export import case_id_from_path

if TYPE_CHECKING:
    import polars as pl

__all__ = ["DICE_COLUMNS", "dice_barplot", "dice_per_region", "dice_summary", "dice_table"]

#: Columns of :func:`dice_table`, one row per (scan, region).
DICE_COLUMNS = (
    "scan_id",
    "label",
    "region",
    "name",
    "structure",
    "dice",
    "pred_voxels",
    "ref_voxels",
)


def dice_per_region(pred: np.ndarray, ref: np.ndarray, *, num_labels: int = 25) -> np.ndarray:
    """Dice of labels 1..``num_labels`` (NaN where a label is in neither map).

    >>> a = np.array([0, 1, 1, 2]); b = np.array([0, 1, 2, 2])
    >>> dice_per_region(a, b, num_labels=3).round(2).tolist()
    [0.67, 0.67, nan]
    """
    if pred.shape != ref.shape:
        raise SegmenterError(f"prediction shape {pred.shape} != reference shape {ref.shape}")
    k = num_labels + 1
    p = np.clip(pred.astype(np.int64, copy=False).ravel(), 0, num_labels)
    r = np.clip(ref.astype(np.int64, copy=False).ravel(), 0, num_labels)
    conf = np.bincount(p * k + r, minlength=k * k).reshape(k, k)
    tp = np.diag(conf)[1:].astype(float)
    pred_n, ref_n = conf.sum(1)[1:].astype(float), conf.sum(0)[1:].astype(float)
    denom = pred_n + ref_n
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denom > 0, 2 * tp / denom, np.nan)


def _read_labels(path: Path, what: str) -> np.ndarray:
    import nibabel as nib

    if not path.is_file():
        raise SegmenterError(f"{what} {path} does not exist")
    img: Any = nib.load(str(path))
    return np.asanyarray(img.dataobj)


def dice_table(
    pred_paths: Sequence[str | os.PathLike[str]],
    ref_paths: Sequence[str | os.PathLike[str]],
    *,
    scan_ids: Sequence[str] | None = None,
) -> pl.DataFrame:
    """Dice per (scan, region) of predicted vs reference label maps, paired by position.

    Columns :data:`DICE_COLUMNS`; ``dice`` is null where the region is in neither
    map. ``scan_ids`` default to the prediction file names.
    """
    import polars as pl
    from moaks_schema import REGIONS

    if len(pred_paths) != len(ref_paths):
        raise SegmenterError(
            f"{len(pred_paths)} predictions but {len(ref_paths)} reference maps: expected pairs"
        )
    ids = list(scan_ids) if scan_ids is not None else [case_id_from_path(p) for p in pred_paths]
    if len(ids) != len(pred_paths):
        raise SegmenterError(f"{len(ids)} scan ids for {len(pred_paths)} predictions")
    rows: dict[str, list] = {c: [] for c in DICE_COLUMNS}
    for sid, pp, rp in zip(ids, pred_paths, ref_paths, strict=True):
        pred, ref = _read_labels(Path(pp), "prediction"), _read_labels(Path(rp), "reference map")
        if pred.shape != ref.shape:
            raise SegmenterError(
                f"scan {sid!r}: prediction {pp} has shape {pred.shape}, reference {rp} has {ref.shape}"
            )
        dice = dice_per_region(pred, ref, num_labels=len(REGIONS))
        pred_n = np.bincount(
            np.clip(pred.ravel().astype(np.int64), 0, len(REGIONS)), minlength=len(REGIONS) + 1
        )
        ref_n = np.bincount(
            np.clip(ref.ravel().astype(np.int64), 0, len(REGIONS)), minlength=len(REGIONS) + 1
        )
        for r, d in zip(REGIONS, dice, strict=True):
            rows["scan_id"].append(sid)
            rows["label"].append(r.label)
            rows["region"].append(r.code)
            rows["name"].append(r.name)
            rows["structure"].append(r.structure.value)
            rows["dice"].append(None if np.isnan(d) else float(d))
            rows["pred_voxels"].append(int(pred_n[r.label]))
            rows["ref_voxels"].append(int(ref_n[r.label]))
    return pl.DataFrame(
        rows,
        schema={
            "scan_id": pl.String,
            "label": pl.Int64,
            "region": pl.String,
            "name": pl.String,
            "structure": pl.String,
            "dice": pl.Float64,
            "pred_voxels": pl.Int64,
            "ref_voxels": pl.Int64,
        },
    )


def dice_summary(table: pl.DataFrame) -> pl.DataFrame:
    """Per region: ``label, region, name, structure, mean_dice, std_dice, n`` (scans with a Dice)."""
    import polars as pl

    return (
        table.group_by("label", "region", "name", "structure")
        .agg(
            pl.col("dice").mean().alias("mean_dice"),
            pl.col("dice").std().alias("std_dice"),
            pl.col("dice").count().alias("n"),
        )
        .sort("label")
    )


def dice_barplot(
    table: pl.DataFrame, path: str | os.PathLike[str], *, title: str = "Dice per region"
) -> Path:
    """Bar chart of mean Dice per region (error bars: standard deviation) as a PNG; returns ``path``.

    ``table``: a :func:`dice_table` or :func:`dice_summary` result.
    """
    import matplotlib.style
    from matplotlib import rc_context
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    summary = table if "mean_dice" in table.columns else dice_summary(table)
    if summary.height == 0:
        raise SegmenterError("dice_barplot: the Dice table is empty")
    codes = summary["region"].to_list()
    raw_means = summary["mean_dice"].to_numpy().astype(float)
    means = np.nan_to_num(raw_means, nan=0.0)
    stds = np.nan_to_num(summary["std_dice"].to_numpy().astype(float), nan=0.0)
    structures = summary["structure"].to_list()
    palette = {
        s: c
        for s, c in zip(
            dict.fromkeys(structures),
            (
                "#4C72B0",
                "#DD8452",
                "#55A868",
                "#C44E52",
                "#8172B3",
                "#937860",
                "#DA8BC3",
                "#8C8C8C",
            ),
            strict=False,
        )
    }

    # a default style: other code (nnU-Net's progress plots use seaborn) changes global rcParams
    with matplotlib.style.context("default"), rc_context({"font.size": 8}):
        fig = Figure(figsize=(max(6.0, 0.32 * len(codes) + 1.5), 3.4), dpi=150)
        FigureCanvasAgg(fig)
        ax = fig.add_subplot(1, 1, 1)
        x = np.arange(len(codes))
        ax.bar(
            x,
            means,
            yerr=stds,
            capsize=2,
            color=[palette[s] for s in structures],
            edgecolor="black",
            linewidth=0.4,
            error_kw={"linewidth": 0.6},
        )
        ax.set_xticks(x)
        ax.set_xticklabels(codes, rotation=60, ha="right", fontsize=7)
        ax.set_xlim(-0.7, len(codes) - 0.3)
        ax.set_ylim(0, 1.18)
        ax.set_yticks(np.linspace(0, 1, 6))
        ax.set_ylabel("Dice")
        overall = float(np.nanmean(raw_means)) if np.isfinite(raw_means).any() else float("nan")
        ax.set_title(f"{title} (mean of regions {overall:.3f})", fontsize=9)
        ax.grid(axis="y", linewidth=0.3)
        ax.set_axisbelow(True)
        handles = [
            Patch(facecolor=c, edgecolor="black", linewidth=0.4, label=s)
            for s, c in palette.items()
        ]
        ax.legend(
            handles=handles,
            fontsize=6,
            ncols=min(8, len(handles)),
            loc="upper center",
            frameon=False,
            handlelength=1.0,
            columnspacing=0.8,
        )
        fig.tight_layout()
        out = Path(path)
        with atomic_file(out, suffix=".png") as tmp:
            fig.savefig(tmp, format="png")
    return out
