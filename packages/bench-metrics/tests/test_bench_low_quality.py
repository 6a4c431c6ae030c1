"""Truth boxes flagged low quality (``box_source`` ``"<source>:low_quality"``) are left out of
localisation by default, counted and shown; their grades are still scored."""

from __future__ import annotations

import json
from pathlib import Path

import moaks_schema as ms
import polars as pl
from bench_metrics import score_predictions, truth_from_rows, write_report

TRUE_BOX = [0, 9, 0, 9, 0, 9]
WRONG_BOX = [10, 19, 10, 19, 10, 19]
#: patient -> box_source of its Hoffa box
SOURCES = {
    "9000001": "nnunet",
    "9000002": "nnunet",
    "9000003": "nnunet:low_quality",
    "9000004": "manual:low_quality",
    "9000005": None,
}


def _truth() -> pl.DataFrame:
    return truth_from_rows(
        {
            "scan_id": f"{p}_00M_1",
            "patient_id": p,
            "question_id": 42,
            "split": "test",
            "grades": {"hoffa.grade": 1},
            "box_public": TRUE_BOX,
            "box_source": src,
        }
        for p, src in SOURCES.items()
    )


def _records() -> list[dict]:
    answer = json.dumps(ms.question(42).answer_object({"hoffa.grade": 1}))
    return [
        {
            "scan_id": f"{p}_00M_1",
            "question_id": 42,
            "raw_text": f"{answer}\nBox: {WRONG_BOX if src and 'low_quality' in src else TRUE_BOX}",
        }
        for p, src in SOURCES.items()
    ]


def test_low_quality_boxes_are_excluded_counted_and_shown(tmp_path: Path) -> None:
    s = score_predictions(_records(), _truth(), n_boot=0)
    assert s.meta["n_boxes_low_quality_excluded"] == 2 and s.meta["n_boxes_scored"] == 3
    assert s.mean_iou() == 1.0 and s.overall_micro == 1.0  # the grades are all still scored
    st = {r["structure"]: r for r in s.structures.iter_rows(named=True)}
    assert (
        st["Synovitis"]["n_low_quality_excluded"] == 2 and st["All"]["n_low_quality_excluded"] == 2
    )
    assert st["Patella"]["n_low_quality_excluded"] == 0
    rec = s.records.sort("scan_id")
    assert rec["box_low_quality"].to_list() == [False, False, True, True, False]
    assert rec["box_scored"].to_list() == [True, True, False, False, True]
    report = write_report(s, tmp_path / "r", n_boot=0).read_text()
    assert "2 boxes flagged low quality, excluded" in report
    table = json.loads((tmp_path / "r" / "tables" / "structures.json").read_text())
    assert {r["structure"]: r["n_low_quality_excluded"] for r in table}["All"] == 2


def test_low_quality_boxes_can_be_included() -> None:
    s = score_predictions(_records(), _truth(), n_boot=0, include_low_quality_boxes=True)
    assert s.meta["n_boxes_low_quality_excluded"] == 0 and s.meta["n_boxes_scored"] == 5
    assert s.mean_iou() == 3 / 5
    assert s.meta["include_low_quality_boxes"] is True
