"""One box, one IoU: a predicted box is cut to the volume it refers to before IoU, whether the
record carries a view or not (docs/benchmark-protocol.md, "Localisation")."""

from __future__ import annotations

import json
from pathlib import Path

import moaks_schema as ms
import polars as pl
import pytest
from bbox3d import ViewGeometry
from bench_metrics import BenchMetricsError, load_truth, score_predictions, truth_from_rows

SHAPE = [20, 20, 20]
TRUE_BOX = [10, 19, 10, 19, 10, 19]  # the far corner of the volume, 1000 voxels
PAST_EDGE = [10, 29, 10, 29, 10, 29]  # the same box written past the volume's edge
PATIENTS = [f"900000{i}" for i in range(4)]


def _truth(shape: list[int] | None = SHAPE) -> pl.DataFrame:
    return truth_from_rows(
        {
            "scan_id": f"{p}_00M_1",
            "patient_id": p,
            "question_id": 42,
            "split": "test",
            "grades": {"hoffa.grade": 1},
            "box_public": TRUE_BOX,
            "volume_shape": shape,
        }
        for p in PATIENTS
    )


def _records(box: list[int], view: dict | None) -> list[dict]:
    text = json.dumps(ms.question(42).answer_object({"hoffa.grade": 1})) + f"\nBox: {box}"
    return [
        {"scan_id": f"{p}_00M_1", "question_id": 42, "raw_text": text, "view": view}
        for p in PATIENTS
    ]


def _iou(records: list[dict], truth: pl.DataFrame) -> list[float]:
    s = score_predictions(records, truth, n_boot=0)
    return s.records["iou"].to_list()


def test_a_box_past_the_edge_scores_the_same_with_and_without_a_view() -> None:
    identity = ViewGeometry.identity(SHAPE).to_dict()
    without = _iou(_records(PAST_EDGE, None), _truth())
    with_view = _iou(_records(PAST_EDGE, identity), _truth())
    assert without == with_view == [1.0] * len(PATIENTS)


def test_a_box_wholly_outside_the_volume_is_malformed_on_both_routes() -> None:
    outside = [25, 29, 0, 9, 0, 9]
    for view in (None, ViewGeometry.identity(SHAPE).to_dict()):
        s = score_predictions(_records(outside, view), _truth(), n_boot=0)
        assert s.records["box_failure"].to_list() == ["box_malformed"] * len(PATIENTS)


def test_a_view_of_another_volume_is_refused() -> None:
    other = ViewGeometry.identity([30, 20, 20]).to_dict()
    with pytest.raises(
        BenchMetricsError, match=r"'view' .* source_shape \[30, 20, 20\].*\[20, 20, 20\]"
    ):
        score_predictions(_records(TRUE_BOX, other), _truth(), n_boot=0)


def test_load_truth_carries_the_volume_shape(tmp_path: Path) -> None:
    t = _truth(None)
    quints = t.drop("volume_shape").with_columns(pl.lit("manual").alias("box_source"))
    quints.write_parquet(tmp_path / "quintuples.parquet")
    pl.DataFrame(
        {
            "scan_id": t["scan_id"],
            "patient_id": t["patient_id"],
            "split": t["split"],
            "shape": [SHAPE] * t.height,
        }
    ).write_parquet(tmp_path / "scans.parquet")
    loaded = load_truth(tmp_path, "test")
    assert loaded["volume_shape"].to_list() == [SHAPE] * len(PATIENTS)
    assert _iou(_records(PAST_EDGE, None), loaded) == [1.0] * len(PATIENTS)
