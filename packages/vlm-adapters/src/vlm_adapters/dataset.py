"""Reading the dataset folder (docs/formats.md) into per-scan question lists.

The tables are read with the builder's reader
(:class:`quintuple_builder.dataset.Dataset`); images are opened lazily by
:mod:`vlm_adapters.inputs`, one scan at a time.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from vlm_adapters.errors import AdapterError

__all__ = [
    "PROMPT_COLUMN",
    "DatasetItem",
    "ScanItems",
    "load_quintuples",
    "load_scans",
    "load_split",
]

#: The quintuples column holding each setting's prompt.
PROMPT_COLUMN: dict[str, str] = {
    "zero-shot": "prompt_zero_shot",
    "instruction": "prompt_instruction",
    "gt-region": "prompt_gt_region",
}

_SCAN_COLUMNS = ("scan_id", "patient_id", "split", "image_path", "shape")
_Q_COLUMNS = (
    "quintuple_id",
    "scan_id",
    "patient_id",
    "split",
    "question_id",
    "box_public",
    "grades",
)


@dataclass(frozen=True, slots=True)
class DatasetItem:
    """One (scan, question) of the dataset: the prompts of the three settings and the truth."""

    record_id: str
    scan_id: str
    patient_id: str
    question_id: int
    prompts: dict[str, str]
    box_public: tuple[int, int, int, int, int, int] | None
    grades: dict[str, int | None]


@dataclass(frozen=True, slots=True)
class ScanItems:
    """A scan of the split (image path absolute) and its questions, in question order."""

    scan_id: str
    patient_id: str
    image_path: Path
    shape: tuple[int, int, int]
    items: tuple[DatasetItem, ...]


def _open(dataset: str | os.PathLike[str]):
    from quintuple_builder.dataset import Dataset

    try:
        return Dataset.open(dataset)
    except ValueError as exc:
        raise AdapterError(str(exc)) from exc


def _check(df, path: Path, needed: Iterable[str]) -> None:
    missing = [c for c in needed if c not in df.columns]
    if missing:
        raise AdapterError(f"{path}: missing column(s) {', '.join(missing)}")


def _load_table(
    dataset: str | os.PathLike[str], table: str, split: str | None, needed: Iterable[str]
):
    ds = _open(dataset)
    try:
        df = ds.quintuples(split=split) if table == "quintuples" else ds.scans(split=split)
    except ValueError as exc:
        raise AdapterError(str(exc)) from exc
    _check(df, ds.root / f"{table}.parquet", needed)
    return df


def load_quintuples(dataset: str | os.PathLike[str], *, split: str | None = None):
    """The quintuples table (polars), optionally one split only (read with the builder's reader)."""
    return _load_table(dataset, "quintuples", split, _Q_COLUMNS)


def load_scans(dataset: str | os.PathLike[str], *, split: str | None = None):
    """The scans table (polars), optionally one split only."""
    return _load_table(dataset, "scans", split, _SCAN_COLUMNS)


def load_split(
    dataset: str | os.PathLike[str],
    split: str,
    *,
    questions: Sequence[int] | None = None,
    limit: int | None = None,
    shard: tuple[int, int] | None = None,
) -> list[ScanItems]:
    """The scans of ``split`` (sorted by scan id) with their questions.

    ``questions`` keeps only those question ids; ``limit`` keeps the first N
    scans; ``shard=(i, n)`` then keeps scans i, i+n, i+2n, ... (for running
    shards on several workers or machines).
    """
    import polars as pl

    root = Path(dataset)
    scans = load_scans(root, split=split)
    if scans.height == 0:
        raise AdapterError(f"{root / 'scans.parquet'}: no scan in split {split!r}")
    scans = scans.sort("scan_id")
    if limit is not None:
        scans = scans.head(limit)
    if shard is not None:
        i, n = shard
        if not 0 <= i < n:
            raise AdapterError(f"shard {i}/{n}: expected 0 <= i < n")
        scans = scans.gather_every(n, offset=i)
    qs = load_quintuples(root, split=split)
    prompt_cols = [c for c in PROMPT_COLUMN.values() if c in qs.columns]
    if questions is not None:
        qs = qs.filter(pl.col("question_id").is_in(list(questions)))
    qs = qs.filter(pl.col("scan_id").is_in(scans["scan_id"].to_list())).sort(
        ["scan_id", "question_id"]
    )
    by_scan: dict[str, list[DatasetItem]] = {}
    for row in qs.iter_rows(named=True):
        box = row["box_public"]
        item = DatasetItem(
            record_id=str(row["quintuple_id"]),
            scan_id=str(row["scan_id"]),
            patient_id=str(row["patient_id"]),
            question_id=int(row["question_id"]),
            prompts={
                s: row[c]
                for s, c in PROMPT_COLUMN.items()
                if c in prompt_cols and row[c] is not None
            },
            box_public=tuple(int(v) for v in box) if box is not None else None,  # type: ignore[arg-type]
            grades={g["attribute"]: g["grade"] for g in (row["grades"] or [])},
        )
        by_scan.setdefault(item.scan_id, []).append(item)
    out: list[ScanItems] = []
    for row in scans.iter_rows(named=True):
        shape = row["shape"]
        if shape is None or len(shape) != 3:
            raise AdapterError(
                f"{root / 'scans.parquet'}: scan {row['scan_id']}: field 'shape' must hold 3 ints"
            )
        out.append(
            ScanItems(
                scan_id=str(row["scan_id"]),
                patient_id=str(row["patient_id"]),
                image_path=root / str(row["image_path"]),
                shape=(int(shape[0]), int(shape[1]), int(shape[2])),
                items=tuple(by_scan.get(str(row["scan_id"]), ())),
            )
        )
    return out
