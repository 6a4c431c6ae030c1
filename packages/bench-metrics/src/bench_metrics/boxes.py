"""Scoring stage 2: the boxes. One IoU per truth record of a boxed question with a true box.

The predicted box is read in the coordinates of what the model saw and
brought to the volume's voxels through the record's ``view``
(docs/benchmark-protocol.md, "Localisation").
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl
from bbox3d import Bbox3dError, ViewGeometry, boxes_from_public, iou_many

from bench_metrics.errors import BenchMetricsError
from bench_metrics.failures import FailureKind
from bench_metrics.layout import FAILURE_CODE, QUESTION_STRUCTURE
from bench_metrics.parsing import ParsedAnswer

__all__ = ["BoxScores", "score_boxes"]


@dataclass(frozen=True)
class BoxScores:
    """Parallel arrays, one entry per truth record.

    ``structure``: index into ``STRUCTURES`` (-1: the question has no box
    region); ``scored``: the record is scored for localisation; ``failure``:
    box failure code (0 = a box was read); ``iou``: IoU with the true box (0
    where not scored or failed).
    """

    structure: np.ndarray
    scored: np.ndarray
    failure: np.ndarray
    iou: np.ndarray

    @property
    def n_scored(self) -> int:
        """Number of boxes scored."""
        return int(self.scored.sum())


def _truth_boxes(joined: pl.DataFrame, structure: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(scored, public)``: which records have a true box to score, and the boxes (public form)."""
    n = joined.height
    scored = np.zeros(n, dtype=bool)
    public = np.zeros((n, 6), dtype=np.int64)
    boxes = joined["box_public"].to_list()
    for i in np.flatnonzero(structure >= 0).tolist():
        t = boxes[i]
        if t is None:
            continue
        if len(t) != 6 or t[1] < t[0] or t[3] < t[2] or t[5] < t[4] or min(t) < 0:
            raise BenchMetricsError(
                f"truth: field 'box_public' of {joined['scan_id'][i]} question "
                f"{joined['question_id'][i]}: {t!r} is not "
                "[start_slice, end_slice, x_min, x_max, y_min, y_max] with 0 <= start <= end"
            )
        public[i] = t
        scored[i] = True
    return scored, public


class _Views:
    """Parses each distinct ``view`` text once; names the record when one is unreadable."""

    def __init__(self, joined: pl.DataFrame) -> None:
        self._joined = joined
        self._texts = joined["view"].to_list()
        self._cache: dict[str, ViewGeometry | None] = {}

    def text(self, i: int) -> str | None:
        return self._texts[i]

    def get(self, i: int) -> ViewGeometry | None:
        text = self._texts[i]
        if text is None:
            return None
        if text not in self._cache:
            try:
                d = json.loads(text)
                self._cache[text] = None if d is None else ViewGeometry.from_dict(d)
            except (ValueError, TypeError, Bbox3dError) as exc:
                raise BenchMetricsError(
                    f"predictions: field 'view' of {self._joined['scan_id'][i]} question "
                    f"{self._joined['question_id'][i]}: {exc}"
                ) from None
        return self._cache[text]


def _read_boxes(
    scored: np.ndarray, parsed: Sequence[ParsedAnswer | None], views: _Views
) -> tuple[np.ndarray, np.ndarray, dict[int, tuple[int, ...]]]:
    """``(failure, public, mapped)``: per scored record the box failure code, the predicted box as
    written (public form) and, for records whose box went through a view, the half-open source box."""
    n = scored.size
    failure = np.zeros(n, dtype=np.int64)
    public = np.zeros((n, 6), dtype=np.int64)
    mapped: dict[int, tuple[int, ...]] = {}
    for i in np.flatnonzero(scored).tolist():
        p = parsed[i]
        if p is None:
            failure[i] = FAILURE_CODE[FailureKind.NO_PREDICTION]
        elif p.box_public is None:
            failure[i] = FAILURE_CODE[p.box_failure or FailureKind.BOX_MISSING]
        elif views.text(i) is None:
            public[i] = p.box_public
        else:
            view = views.get(i)
            try:
                mapped[i] = (p.box if view is None else view.box_to_source(p.box)).as_tuple()
            except Bbox3dError:  # the box lies wholly outside what the model saw
                failure[i] = FAILURE_CODE[FailureKind.BOX_MALFORMED]
    return failure, public, mapped


def score_boxes(joined: pl.DataFrame, parsed: Sequence[ParsedAnswer | None]) -> BoxScores:
    """Box scores of the truth records ``joined`` from their parsed replies ``parsed``."""
    structure = QUESTION_STRUCTURE[joined["question_id"].to_numpy()]
    scored, truth_public = _truth_boxes(joined, structure)
    failure, pred_public, mapped = _read_boxes(scored, parsed, _Views(joined))
    pred = boxes_from_public(pred_public, name="predicted boxes")
    for i, row in mapped.items():
        pred[i] = row
    truth = boxes_from_public(truth_public, name="truth boxes")
    iou = np.zeros(joined.height, dtype=np.float64)
    ok = scored & (failure == 0)
    if ok.any():
        iou[ok] = iou_many(pred[ok], truth[ok])
    return BoxScores(structure=structure, scored=scored, failure=failure, iou=iou)
