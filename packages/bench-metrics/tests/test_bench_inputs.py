"""Reading predictions JSONL, the public results JSON and a dataset folder's truth."""

from __future__ import annotations

import json
from pathlib import Path

import moaks_schema as ms
import polars as pl
import pytest
from bench_metrics import (
    BenchMetricsError,
    load_predictions,
    load_public_results,
    load_truth,
    read_predictions,
    score_predictions,
    truth_from_rows,
)

SCANS = pl.DataFrame(
    {
        "scan_id": ["9000001_00M_1", "9000002_12M_2"],
        "patient_id": ["9000001", "9000002"],
        "visit": ["00M", "12M"],
        "side": [1, 2],
        "study_folder": ["20040101", "20050202"],
        "series_folder": ["10000001", "10000002"],
    }
)


def _truth() -> pl.DataFrame:
    rows = []
    for scan, pid in zip(SCANS["scan_id"], SCANS["patient_id"], strict=True):
        rows.append(
            {
                "scan_id": scan,
                "patient_id": pid,
                "question_id": 30,
                "split": "test",
                "grades": {"osteophyte.PS.grade": 1},
                "box_public": [0, 9, 0, 9, 0, 9],
            }
        )
        rows.append(
            {
                "scan_id": scan,
                "patient_id": pid,
                "question_id": 65,
                "split": "test",
                "grades": {"periarticular.popliteal_cyst.presence": 1},
            }
        )
    return truth_from_rows(rows)


def test_predictions_jsonl_roundtrip_and_torn_last_line(tmp_path: Path) -> None:
    recs = [
        {
            "record_id": "9000001_00M_1_30",
            "scan_id": "9000001_00M_1",
            "patient_id": "9000001",
            "question_id": 30,
            "setting": "instruction",
            "model": "qwen",
            "prompt_hash": "ab",
            "raw_text": "{}",
            "view": None,
            "usage": {"prompt_tokens": 1},
            "latency_s": 0.1,
            "error": None,
        }
    ]
    path = tmp_path / "p.jsonl"
    path.write_text(json.dumps(recs[0]) + "\n\n" + '{"scan_id": "x", "quest')  # killed mid-write
    with pytest.warns(UserWarning, match="torn"):
        frame = load_predictions(path)
    assert frame.height == 1 and frame["model"][0] == "qwen" and frame["view"][0] is None
    bad = tmp_path / "bad.jsonl"
    bad.write_text("not json\n" + json.dumps(recs[0]) + "\n")
    with pytest.raises(BenchMetricsError, match=r"bad\.jsonl: line 1"):
        load_predictions(bad)
    missing = tmp_path / "missing.jsonl"
    missing.write_text(json.dumps({"scan_id": "x"}) + "\n")
    with pytest.raises(BenchMetricsError, match="question_id"):
        load_predictions(missing)


def _public(model: str = "o1") -> dict:
    key = "9000001_00M_20040101_10000001_1"
    key2 = "9000002_12M_20050202_10000002_2"
    return {
        f"{key}_30": {
            "question": "q",
            f"{model}_result": {"MOAKS_scores": {"patella superior osteophyte": {"grade": 1}}},
            f"{model}_total_tokens": 10,
        },
        f"{key}_65": {
            "question": "q",
            f"{model}_result": {
                "response": '```json\n{"popliteal_cyst_presence": {"presence": "Grade 1"}}\n```'
            },
        },
        f"{key2}_30": {"question": "q", f"{model}_result": {"error": "rate limited"}},
        f"{key2}_65": {
            "question": "q",
            f"{model}_result": {"MOAKS_scores": {"popliteal_cyst_presence": {"presence": 0}}},
        },
        "9999999_00M_20040101_10000009_1_30": {
            "question": "q",
            f"{model}_result": {"response": "x"},
        },
    }


def test_public_results_json_is_matched_by_ids_and_scored(tmp_path: Path) -> None:
    path = tmp_path / "results.json"
    path.write_text(json.dumps(_public()))
    frame = load_public_results(path, SCANS)
    assert frame.height == 5
    assert frame.filter(pl.col("error").is_not_null())["scan_id"].to_list() == ["9000002_12M_2"]
    assert read_predictions(path, scans=SCANS).equals(frame)
    s = score_predictions(frame, _truth(), n_boot=0)
    assert s.meta["n_unmatched_predictions"] == 1  # the scan that is not in scans.parquet
    assert s.accuracy("Osteophytes") == pytest.approx(0.5)  # one right, one error (no prediction)
    assert s.accuracy("Periarticular") == pytest.approx(
        0.5
    )  # "Grade 1" read from the raw response; 0 wrong
    f = {(r["scope"], r["kind"]): r["count"] for r in s.failures.iter_rows(named=True)}
    assert f[("grade", "no_prediction")] == 1
    assert f[("box", "box_missing")] == 1 and f[("box", "no_prediction")] == 1


def test_public_results_with_several_models_need_a_choice(tmp_path: Path) -> None:
    data = _public("o1")
    for k, v in _public("qwen").items():
        data[k].update(v)
    path = tmp_path / "r.json"
    path.write_text(json.dumps(data))
    with pytest.raises(BenchMetricsError, match="pass model="):
        load_public_results(path, SCANS)
    assert load_public_results(path, SCANS, model="qwen")["model"].unique().to_list() == ["qwen"]
    with pytest.raises(BenchMetricsError, match="'gpt_result' not found"):
        load_public_results(path, SCANS, model="gpt")


def test_load_truth_from_a_dataset_folder(tmp_path: Path) -> None:
    t = _truth()
    rows = t.with_columns(
        pl.format("{}_{}", "scan_id", "question_id").alias("quintuple_id"),
        pl.lit("00M").alias("visit"),
        pl.lit(1).alias("side"),
        pl.lit("prompt").alias("prompt_instruction"),
        pl.lit("manual").alias("box_source"),
        pl.lit([["step"]]).alias("reasoning"),
    )
    train = rows.with_columns(
        pl.lit("train").alias("split"), pl.format("T{}", "scan_id").alias("scan_id")
    )
    pl.concat([rows, train]).write_parquet(tmp_path / "quintuples.parquet")
    got = load_truth(tmp_path, "test")
    assert got.height == 4 and set(got["split"]) == {"test"}
    assert load_truth(tmp_path, None).height == 8
    with pytest.raises(
        BenchMetricsError, match=r"quintuples\.parquet: field 'split' has no rows for 'val'"
    ):
        load_truth(tmp_path, "val")
    with pytest.raises(BenchMetricsError, match="not found"):
        load_truth(tmp_path / "nope", "test")


def test_truth_is_checked() -> None:
    with pytest.raises(BenchMetricsError, match="belongs to question 30"):
        score_predictions(
            [],
            truth_from_rows(
                [
                    {
                        "scan_id": "s",
                        "patient_id": "p",
                        "question_id": 31,
                        "grades": {"osteophyte.PS.grade": 1},
                    }
                ]
            ),
        )
    with pytest.raises(BenchMetricsError, match="outside its grade space"):
        score_predictions(
            [],
            truth_from_rows(
                [
                    {
                        "scan_id": "s",
                        "patient_id": "p",
                        "question_id": 30,
                        "grades": {"osteophyte.PS.grade": 7},
                    }
                ]
            ),
        )
    with pytest.raises(BenchMetricsError, match="duplicate"):
        truth_from_rows([{"scan_id": "s", "patient_id": "p", "question_id": 30, "grades": {}}] * 2)
    assert ms.question(30).box_regions  # boxed, yet no true box given: simply not scored for IoU
    s = score_predictions(
        [],
        truth_from_rows(
            [
                {
                    "scan_id": "s",
                    "patient_id": "p",
                    "question_id": 30,
                    "grades": {"osteophyte.PS.grade": 1},
                }
            ]
        ),
        n_boot=10,
        min_coverage=0,  # no predictions at all: refused unless forced (test_bench_coverage.py)
    )
    assert s.overall_micro == 0.0 and s.meta["n_boxes_scored"] == 0
