"""The :class:`Scores` of one run: every table the report and the app show."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import polars as pl

__all__ = ["OVERALL_MACRO", "OVERALL_MICRO", "Scores"]

#: Group names of the two Overall rows (level ``"overall"`` of :attr:`Scores.groups`).
OVERALL_MICRO = "Overall (micro)"
OVERALL_MACRO = "Overall (macro)"


@dataclass(frozen=True)
class Scores:
    """Scores of one run on one split.

    - ``groups``: accuracy with its interval, the majority reference, kappa,
      balanced accuracy, macro-F1 and parse-failure rate per category (level
      ``category``), per Table-2 column (``column``) and Overall micro / macro
      (``overall``).
    - ``attributes``: the same per attribute; ``questions``: accuracy and IoU per
      question; ``structures``: mean IoU, Acc@0.25, Acc@0.5 per Table-3 structure
      (plus the patellar tendon and ``All``); ``correlation``: IoU vs accuracy;
      ``failures``: counts of each failure kind.
    - ``items`` (one row per scan x attribute) and ``records`` (one row per scan x
      question, with IoU, box failure, reasoning and thinking; ``matched``: a
      prediction record exists, ``predicted``: it holds text to read, ``scored``:
      the record has a true grade or a box to score) hold the readings.
    """

    label: str
    meta: dict[str, Any]
    groups: pl.DataFrame
    attributes: pl.DataFrame
    questions: pl.DataFrame
    structures: pl.DataFrame
    correlation: pl.DataFrame
    failures: pl.DataFrame
    items: pl.DataFrame = field(repr=False)
    records: pl.DataFrame = field(repr=False)

    def accuracy(self, group: str) -> float:
        """Accuracy of a category, column or Overall row by its name (NaN if absent)."""
        return _cell(self.groups, "group", group, "accuracy")

    def accuracy_interval(self, group: str) -> tuple[float, float]:
        """The bootstrap interval of :meth:`accuracy` (NaN if absent or not computed)."""
        return (
            _cell(self.groups, "group", group, "ci_low"),
            _cell(self.groups, "group", group, "ci_high"),
        )

    @property
    def overall_micro(self) -> float:
        """Micro-averaged accuracy over every scored (scan, attribute) pair."""
        return self.accuracy(OVERALL_MICRO)

    @property
    def overall_macro(self) -> float:
        """Mean of the seven category accuracies (categories with items)."""
        return self.accuracy(OVERALL_MACRO)

    def mean_iou(self, structure: str = "All") -> float:
        """Mean IoU of a structure (``"All"``: every scored box)."""
        return _cell(self.structures, "structure", structure, "mean_iou")

    def iou_interval(self, structure: str = "All") -> tuple[float, float]:
        """The bootstrap interval of :meth:`mean_iou` (NaN if absent or not computed)."""
        return (
            _cell(self.structures, "structure", structure, "ci_low"),
            _cell(self.structures, "structure", structure, "ci_high"),
        )


def _cell(frame: pl.DataFrame, key: str, name: str, column: str) -> float:
    """``frame[column]`` where ``frame[key] == name``, as a float (NaN if absent or null)."""
    row = frame.filter(pl.col(key) == name)
    return float(row[column][0]) if row.height and row[column][0] is not None else math.nan
