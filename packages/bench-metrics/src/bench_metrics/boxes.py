"""Scoring stage 2: the boxes. One IoU per truth record of a boxed question with a true box.

One rule on every route (docs/benchmark-protocol.md, "Localisation"): the
predicted box is read in the coordinates of what the model saw, brought to the
volume's voxels through the record's ``view`` (none: it is in volume voxels),
and **cut to the volume it refers to** before IoU — the view's source volume,
or the scan's ``volume_shape`` of the truth. A box with nothing left inside the
volume is ``box_malformed``. Only a hand-built truth without ``volume_shape``
leaves a box without a view as written (its volume is unknown).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl
from bbox3d import Bbox3dError, Box, ViewGeometry, boxes_from_public, iou_many

from bench_metrics.errors import BenchMetricsError
from bench_metrics.failures import FailureKind
from bench_metrics.layout import FAILURE_CODE, QUESTION_STRUCTURE
from bench_metrics.parsing import ParsedAnswer

__all__ = ["LOW_QUALITY", "BoxScores", "is_low_quality", "score_boxes"]

#: Suffix of ``box_source`` that flags a true box as low quality (``"nnunet:low_quality"``): the
#: region's pseudo-label measured a Dice under the build's threshold.
LOW_QUALITY = ":low_quality"


def is_low_quality(joined: pl.DataFrame) -> np.ndarray:
    """Per truth record: whether its true box is flagged low quality."""
    return joined["box_source"].str.ends_with(LOW_QUALITY).fill_null(False).to_numpy()


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
    #: the true box is flagged low quality (``box_source`` ending in :data:`LOW_QUALITY`)
    low_quality: np.ndarray
    #: low-quality true boxes are left out of ``scored``
    excluded: np.ndarray

    @property
    def n_scored(self) -> int:
        """Number of boxes scored."""
        return int(self.scored.sum())

    @property
    def n_excluded(self) -> int:
        """Number of true boxes left out as low quality."""
        return int(self.excluded.sum())


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


#: stands for an unknown volume size (nothing is cut)
_UNKNOWN = np.iinfo(np.int64).max


def _volume_shapes(joined: pl.DataFrame) -> np.ndarray:
    """``(n, 3)``: each record's volume shape (``_UNKNOWN`` where the truth has none)."""
    return joined.select(
        pl.col("volume_shape").list.get(k, null_on_oob=True).fill_null(_UNKNOWN).alias(str(k))
        for k in range(3)
    ).to_numpy()


def _cut(rows: np.ndarray, shapes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Half-open ``(s0, s1, r0, r1, c0, c1)`` rows cut to volumes of ``shapes``, and which of
    them keep a voxel inside."""
    cut = rows.copy()
    cut[:, 1::2] = np.minimum(rows[:, 1::2], shapes)
    return cut, (cut[:, 1::2] > cut[:, 0::2]).all(axis=1)


def _view_box(
    i: int, box: Box, view: ViewGeometry | None, shape: np.ndarray, joined: pl.DataFrame
) -> tuple[int, ...] | None:
    """The half-open source box of a record whose ``view`` text is set, cut to its volume
    (``None``: nothing left inside)."""
    if view is None:  # the view text is JSON null: volume voxels
        cut, inside = _cut(np.array([box.as_tuple()], dtype=np.int64), shape[None])
        return tuple(cut[0].tolist()) if inside[0] else None
    if (shape != _UNKNOWN).all() and tuple(shape.tolist()) != view.source_shape:
        raise BenchMetricsError(
            f"predictions: field 'view' of {joined['scan_id'][i]} question "
            f"{joined['question_id'][i]}: source_shape {list(view.source_shape)}; expected the "
            f"scan's volume {shape.tolist()} (a view of another volume)"
        )
    try:
        return view.box_to_source(box).as_tuple()
    except Bbox3dError:  # the box lies wholly outside what the model saw
        return None


def _read_boxes(
    scored: np.ndarray, parsed: Sequence[ParsedAnswer | None], views: _Views, joined: pl.DataFrame
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(failure, boxes, read)`` per record: the box failure code, the half-open source box
    cut to its volume, and whether a box was read."""
    n = scored.size
    failure = np.zeros(n, dtype=np.int64)
    boxes = np.zeros((n, 6), dtype=np.int64)
    shapes = _volume_shapes(joined)
    written: list[int] = []
    for i in np.flatnonzero(scored).tolist():
        p = parsed[i]
        if p is None:
            failure[i] = FAILURE_CODE[FailureKind.NO_PREDICTION]
        elif p.box_public is None:
            failure[i] = FAILURE_CODE[p.box_failure or FailureKind.BOX_MISSING]
        elif views.text(i) is None:
            written.append(i)
        else:
            row = _view_box(i, Box.from_public(p.box_public), views.get(i), shapes[i], joined)
            if row is None:
                failure[i] = FAILURE_CODE[FailureKind.BOX_MALFORMED]
            else:
                boxes[i] = row
    idx = np.array(written, dtype=np.int64)
    public = [parsed[i].box_public for i in written]  # type: ignore[union-attr]
    cut, inside = _cut(boxes_from_public(public, name="predicted boxes"), shapes[idx])
    boxes[idx] = cut
    failure[idx[~inside]] = FAILURE_CODE[FailureKind.BOX_MALFORMED]
    return failure, boxes, scored & (failure == 0)


def score_boxes(
    joined: pl.DataFrame,
    parsed: Sequence[ParsedAnswer | None],
    *,
    include_low_quality: bool = False,
) -> BoxScores:
    """Box scores of the truth records ``joined`` from their parsed replies ``parsed``.

    True boxes flagged low quality are not scored unless ``include_low_quality``.
    """
    structure = QUESTION_STRUCTURE[joined["question_id"].to_numpy()]
    has_box, truth_public = _truth_boxes(joined, structure)
    low_quality = has_box & is_low_quality(joined)
    excluded = low_quality if not include_low_quality else np.zeros_like(low_quality)
    scored = has_box & ~excluded
    failure, pred, ok = _read_boxes(scored, parsed, _Views(joined), joined)
    iou = np.zeros(joined.height, dtype=np.float64)
    if ok.any():
        iou[ok] = iou_many(pred[ok], boxes_from_public(truth_public[ok], name="truth boxes"))
    return BoxScores(
        structure=structure,
        scored=scored,
        failure=failure,
        iou=iou,
        low_quality=low_quality,
        excluded=excluded,
    )
