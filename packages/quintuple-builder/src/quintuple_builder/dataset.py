"""Read a built dataset folder (for baselines, training and scoring).

>>> # ds = Dataset.open("runs/dataset"); ds.quintuples(split="test"); ds.image_path("9000099_00M_1")
"""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from quintuple_builder.build import LABEL_SOURCES
from quintuple_builder.errors import QuintupleBuilderError
from quintuple_builder.splits import SPLITS, check_leakage

__all__ = ["Dataset"]


@dataclass(frozen=True)
class Dataset:
    """A dataset folder written by :func:`quintuple_builder.build_dataset`."""

    root: Path
    manifest: dict[str, Any]

    @classmethod
    def open(cls, root: str | Path) -> Dataset:
        """Open a dataset folder: its manifest and tables exist, and no scan or patient lies in
        two splits of ``scans.parquet`` (:func:`quintuple_builder.check_leakage`)."""
        root = Path(root)
        path = root / "manifest.json"
        if not path.is_file():
            raise QuintupleBuilderError(
                f"{path}: not found: expected a dataset folder built by `reasonknee build`"
            )
        try:
            manifest = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise QuintupleBuilderError(f"{path}: invalid JSON: {exc}") from exc
        for name in ("scans.parquet", "quintuples.parquet"):
            if not (root / name).is_file():
                raise QuintupleBuilderError(
                    f"{root / name}: not found: expected it in the dataset folder"
                )
        scans = pl.read_parquet(root / "scans.parquet")
        if "split" in scans.columns:
            check_leakage(scans, where=str(root / "scans.parquet"))
        return cls(root=root, manifest=manifest)

    def scans(
        self, *, split: str | None = None, label_sources: Collection[str] | None = None
    ) -> pl.DataFrame:
        """scans.parquet, optionally one split and only label maps from ``label_sources``.

        ``label_sources`` (e.g. ``("manual", "phantom")``, the maps a segmenter may be
        trained on) are values of :data:`~quintuple_builder.LABEL_SOURCES`.
        """
        scans = self._filtered(pl.read_parquet(self.root / "scans.parquet"), split)
        if label_sources is None:
            return scans
        unknown = sorted(set(label_sources) - set(LABEL_SOURCES))
        if unknown:
            raise QuintupleBuilderError(
                f"label sources {unknown}: expected some of {', '.join(LABEL_SOURCES)}"
            )
        if "label_source" not in scans.columns:
            raise QuintupleBuilderError(
                f"{self.root / 'scans.parquet'}: no column 'label_source': expected a dataset "
                "built by `reasonknee build`"
            )
        return scans.filter(pl.col("label_source").is_in(list(label_sources)))

    def quintuples(
        self,
        *,
        split: str | None = None,
        complete_only: bool = False,
        question_ids: list[int] | None = None,
    ) -> pl.DataFrame:
        """quintuples.parquet, optionally one split, complete rows only, or some questions."""
        lf = pl.scan_parquet(self.root / "quintuples.parquet")
        if split is not None:
            self._check_split(split)
            lf = lf.filter(pl.col("split") == split)
        if complete_only:
            lf = lf.filter(pl.col("complete"))
        if question_ids is not None:
            lf = lf.filter(pl.col("question_id").is_in(list(question_ids)))
        return lf.collect()

    def image_path(self, scan_id: str) -> Path:
        """Absolute path of a scan's canonical volume."""
        return self._path(scan_id, "image_path")

    def label_path(self, scan_id: str) -> Path:
        """Absolute path of a scan's label map."""
        return self._path(scan_id, "label_path")

    def _path(self, scan_id: str, col: str) -> Path:
        rows = (
            pl.scan_parquet(self.root / "scans.parquet")
            .filter(pl.col("scan_id") == scan_id)
            .select(col)
            .collect()
        )
        if rows.height == 0:
            raise QuintupleBuilderError(f"{self.root / 'scans.parquet'}: no scan {scan_id!r}")
        return self.root / rows.item()

    @staticmethod
    def _check_split(split: str) -> None:
        if split not in SPLITS:
            raise QuintupleBuilderError(f"split {split!r}: expected one of {', '.join(SPLITS)}")

    def _filtered(self, df: pl.DataFrame, split: str | None) -> pl.DataFrame:
        if split is None:
            return df
        self._check_split(split)
        return df.filter(pl.col("split") == split)
