"""The stages of score_predictions one at a time: records, items, boxes, estimates, tables."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest
from bench_metrics import FailureKind, parse_answer, truth_from_rows
from bench_metrics.boxes import score_boxes
from bench_metrics.estimates import accuracy_estimates, iou_estimates
from bench_metrics.items import read_items
from bench_metrics.layout import ATTR_INDEX, FAILURE_CODE, SLOTS, STRUCTURES
from bench_metrics.score_tables import failure_table, structure_table
from bench_metrics.scoring import parse_records

TRUTH = truth_from_rows(
    [
        {
            "scan_id": "a",
            "patient_id": "1",
            "question_id": 42,
            "grades": {"hoffa.grade": 2},
            "box_public": [0, 9, 0, 9, 0, 9],
            "volume_shape": [20, 20, 20],
        },
        {
            "scan_id": "b",
            "patient_id": "2",
            "question_id": 42,
            "grades": {"hoffa.grade": 1},
            "box_public": [0, 9, 0, 9, 0, 9],
            "box_source": "nnunet:low_quality",
        },
        {
            "scan_id": "c",
            "patient_id": "2",
            "question_id": 61,
            "grades": {"pcl.complete_tear": 0, "pcl.bml_cyst": None},
        },
    ]
)
JOINED = TRUTH.with_columns(
    raw_text=pl.Series(
        [
            json.dumps({"hoffa synovitis": {"grade": 2}, "bbox": [0, 29, 0, 9, 0, 9]}),
            '{"hoffa synovitis": {"grade": "1 or 2"}}',
            None,
        ]
    ),
    view=pl.Series([None, None, None], dtype=pl.String),
    error=pl.Series([None, None, "timeout"]),
)


def _parsed() -> list:
    return parse_records(
        JOINED["raw_text"].to_list(), JOINED["error"].to_list(), JOINED["question_id"].to_list()
    )


def test_parse_records_reads_text_and_leaves_error_records_unread() -> None:
    ticks: list[tuple[int, int]] = []
    parsed = parse_records(
        ["{}", None, " "], [None, None, "x"], [42, 42, 42], lambda d, t: ticks.append((d, t))
    )
    assert parsed[0] == parse_answer("{}", 42) and parsed[1:] == [None, None]
    assert ticks[-1] == (3, 3)


def test_read_items_gives_one_reading_per_true_grade() -> None:
    items = read_items(
        JOINED,
        _parsed(),
    )
    assert items.n == 3 and items.n_missing_truth == 1  # the null pcl.bml_cyst is not scored
    assert items.keys == ["hoffa.grade", "hoffa.grade", "pcl.complete_tear"]
    assert items.pred.tolist() == [2, -1, -1] and items.correct.tolist() == [1.0, 0.0, 0.0]
    assert items.failure.tolist() == [
        0,
        FAILURE_CODE[FailureKind.AMBIGUOUS],
        FAILURE_CODE[FailureKind.NO_PREDICTION],
    ]
    assert items.attribute[2] == ATTR_INDEX["pcl.complete_tear"]


def test_score_boxes_cuts_to_the_volume_and_leaves_out_low_quality() -> None:
    parsed = _parsed()
    boxes = score_boxes(JOINED, parsed)
    assert boxes.scored.tolist() == [True, False, False]  # b: low quality; c: no box region
    assert boxes.excluded.tolist() == [False, True, False] and boxes.n_excluded == 1
    assert boxes.iou[0] == pytest.approx(0.5)  # slices 0..29 cut to the volume's 20: 10 / 20
    both = score_boxes(JOINED, parsed, include_low_quality=True)
    assert both.scored.tolist() == [True, True, False]
    assert both.failure[1] == FAILURE_CODE[FailureKind.BOX_MISSING]
    ious = iou_estimates(
        both, np.array([0, 1, 1]), n_patients=2, weights=np.ones((4, 2)), confidence=0.9
    )
    synovitis = STRUCTURES.index(next(s for s in STRUCTURES if s.value == "Synovitis"))
    assert ious.n[synovitis] == 2 and ious.mean_iou.value[synovitis] == pytest.approx(0.25)
    assert ious.box_failure_rate[-1] == pytest.approx(0.5)
    table = structure_table(ious, boxes)
    assert table.filter(pl.col("structure") == "All")["n_low_quality_excluded"][0] == 1


def test_accuracy_estimates_per_slot() -> None:
    parsed = _parsed()
    items = read_items(JOINED, parsed)
    majority = np.full(len(ATTR_INDEX), -1)
    majority[ATTR_INDEX["hoffa.grade"]] = 1
    acc = accuracy_estimates(
        items,
        np.array([0, 1, 1]),
        n_patients=2,
        majority_grade=majority,
        weights=np.zeros((0, 2)),
        confidence=0.95,
    )
    assert acc.n[SLOTS.overall] == 3 and acc.accuracy.value[SLOTS.overall] == pytest.approx(1 / 3)
    assert acc.majority[SLOTS.attribute + ATTR_INDEX["hoffa.grade"]] == pytest.approx(0.5)
    assert acc.failure_rate[SLOTS.overall] == pytest.approx(2 / 3)
    assert np.isnan(acc.accuracy.low).all()  # no replicates, no interval
    table = failure_table(items, score_boxes(JOINED, parsed))
    assert dict(zip(table["kind"], table["count"], strict=False))["ambiguous"] == 1
