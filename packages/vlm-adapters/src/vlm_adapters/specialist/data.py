"""The specialist's training data: train and val scans only, never test.

:func:`load_split_scans` refuses any split but ``train`` and ``val`` and checks
that every scan and quintuple it returns carries that split in the dataset's
own tables, so test truth (grades, boxes) can never reach training or model
selection.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vlm_adapters.errors import AdapterError
from vlm_adapters.specialist.layout import HeadLayout, side_of

__all__ = ["FIT_SPLITS", "IGNORE", "LabelledScan", "load_split_scans"]

#: The only splits the specialist reads truth from (train: fitting; val: model selection).
FIT_SPLITS: tuple[str, ...] = ("train", "val")
#: Grade target of a missing reading (ignored by the loss).
IGNORE = -100


@dataclass(frozen=True, slots=True, eq=False)
class LabelledScan:
    """One train/val scan as the specialist sees it, with its truth.

    ``volume``: canonical float32 ``(T, H, W)`` in [0, 1]; ``boxes``: canonical
    fractions per boxed group ``(n_groups - 1, 6)``, NaN where the region is
    absent; ``grades``: one per attribute, :data:`IGNORE` where missing.
    """

    scan_id: str
    split: str
    side: int
    volume: np.ndarray
    boxes: np.ndarray
    grades: np.ndarray


def _check_split_column(df, split: str, where: Path) -> None:
    bad = sorted(set(df["split"].to_list()) - {split})
    if bad:
        raise AdapterError(
            f"{where}: rows of split(s) {', '.join(bad)} reached the {split!r} loader; "
            "the specialist reads only train and val truth"
        )


def load_split_scans(
    dataset: str | os.PathLike[str],
    split: str,
    layout: HeadLayout,
    *,
    on_scan: Callable[[int, int], None] | None = None,
) -> list[LabelledScan]:
    """Every scan of ``split`` (``train`` or ``val``) with its volume, boxes and grades."""
    import polars as pl
    from knee_volumes import read_volume

    from vlm_adapters.dataset import load_quintuples, load_scans, load_split
    from vlm_adapters.inputs import prepare_scan_input
    from vlm_adapters.protocol import InputSpec
    from vlm_adapters.specialist.preprocess import canonical, norm_from_public

    if split not in FIT_SPLITS:
        raise AdapterError(
            f"split {split!r}: the specialist trains on 'train' and selects on 'val' only; "
            "test truth is never read"
        )
    root = Path(dataset)
    _check_split_column(load_scans(root, split=split), split, root / "scans.parquet")
    qs = load_quintuples(root, split=split)
    _check_split_column(qs, split, root / "quintuples.parquet")
    allowed = set(qs["scan_id"].to_list()) | set(
        load_scans(root).filter(pl.col("split") == split)["scan_id"].to_list()
    )
    scans = load_split(root, split)
    attr_index = {k: i for i, k in enumerate(layout.attributes)}
    out: list[LabelledScan] = []
    for i, scan in enumerate(scans):
        if scan.scan_id not in allowed:
            raise AdapterError(f"{root / 'scans.parquet'}: scan {scan.scan_id} is not in {split!r}")
        side = side_of(scan.scan_id)
        try:
            volume = read_volume(scan.image_path)
        except (OSError, ValueError) as exc:
            raise AdapterError(f"{scan.image_path}: scan {scan.scan_id}: {exc}") from exc
        seen = prepare_scan_input(scan, volume, spec=InputSpec(kind="volume")).volume
        boxes = np.full((len(layout.groups) - 1, 6), np.nan)
        grades = np.full(len(layout.attributes), IGNORE, dtype=np.int64)
        for it in scan.items:
            g = layout.group_of(it.question_id)
            if g and it.box_public is not None and np.isnan(boxes[g - 1, 0]):
                boxes[g - 1] = norm_from_public(it.box_public, scan.shape, side)
            for key, grade in it.grades.items():
                if grade is not None:
                    grades[attr_index[key]] = int(grade)
        out.append(LabelledScan(scan.scan_id, split, side, canonical(seen, side), boxes, grades))
        if on_scan is not None:
            on_scan(i + 1, len(scans))
    return out
