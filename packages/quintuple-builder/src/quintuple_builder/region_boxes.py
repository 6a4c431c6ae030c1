"""Boxes per question from a label map (docs/dataset.md, "Boxes").

Each of the 25 regions is boxed by its largest 26-connected component
(:func:`bbox3d.boxes_from_labels`); a question's box encloses the boxes of all
its ``box_regions`` (the bounding box of the union of their largest
components). A question whose regions are not all present has no box (None),
as does a question with no region (effusion, periarticular).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from bbox3d import Box, LabelBoxes, boxes_from_labels, enclosing_box
from moaks_schema import QUESTIONS, REGIONS, Question, region

__all__ = ["boxes_for_scan", "question_boxes", "region_boxes"]


def region_boxes(label_map: np.ndarray) -> LabelBoxes:
    """Largest-component boxes of the 25 regions (``.absent`` lists the missing labels)."""
    return boxes_from_labels(label_map, labels=[r.label for r in REGIONS], connectivity=26)


def question_boxes(
    label_boxes: LabelBoxes, *, questions: Sequence[Question] = QUESTIONS
) -> dict[int, Box | None]:
    """``{question_id: box or None}`` from the region boxes of one scan."""
    out: dict[int, Box | None] = {}
    for q in questions:
        if not q.box_regions:
            out[q.id] = None
            continue
        labels = [region(code).label for code in q.box_regions]
        out[q.id] = enclosing_box(label_boxes, labels, require_all=True)
    return out


def boxes_for_scan(
    label_map: np.ndarray, *, questions: Sequence[Question] = QUESTIONS
) -> dict[int, Box | None]:
    """``{question_id: box or None}`` straight from a label map.

    >>> m = np.zeros((6, 8, 8), np.uint8); m[1:3, 2:5, 1:4] = 4   # FMC only
    >>> b = boxes_for_scan(m)
    >>> b[4].to_public(), b[1], b[43]
    ([1, 2, 1, 3, 2, 4], None, None)
    """
    return question_boxes(region_boxes(label_map), questions=questions)
