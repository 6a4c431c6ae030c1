"""Scoring against the wrong pairs is refused, not reported as a result; a torn last line is
counted; a dataset that puts a patient in two splits is refused (docs/benchmark-protocol.md)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import moaks_schema as ms
import polars as pl
import pytest
from bench_metrics import (
    BenchMetricsError,
    CoverageError,
    check_patient_splits,
    compare_runs,
    load_predictions,
    load_truth_scans,
    read_predictions_file,
    score_predictions,
    truth_from_rows,
)

PATIENTS = [f"90000{i:02d}" for i in range(10)]


def _truth(split: str = "test", prefix: str = "") -> pl.DataFrame:
    return truth_from_rows(
        {
            "scan_id": f"{prefix}{p}_00M_1",
            "patient_id": f"{prefix}{p}",
            "question_id": 42,
            "split": split,
            "grades": {"hoffa.grade": i % 4},
            "box_public": [0, 9, 0, 9, 0, 9],
        }
        for i, p in enumerate(PATIENTS)
    )


def _records(truth: pl.DataFrame, n: int | None = None) -> list[dict[str, object]]:
    q = ms.question(42)
    return [
        {
            "scan_id": r["scan_id"],
            "question_id": 42,
            "model": "m",
            "raw_text": json.dumps(q.answer_object({"hoffa.grade": 0}))
            + " Box: [0, 9, 0, 9, 0, 9]",
        }
        for r in truth.head(n if n is not None else truth.height).iter_rows(named=True)
    ]


def _write(path: Path, records: list[dict[str, object]], tail: str = "") -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records) + tail)
    return path


def test_a_run_on_another_split_is_refused() -> None:
    other = _records(_truth("train", prefix="T"))
    with pytest.raises(CoverageError, match=r"match 0 of 10 .* at least 90%"):
        score_predictions(other, _truth(), n_boot=0)
    forced = score_predictions(other, _truth(), n_boot=0, min_coverage=0)
    assert forced.meta["coverage"] == 0.0 and forced.meta["n_unmatched_predictions"] == 10


def test_a_partial_run_needs_the_threshold_lowered() -> None:
    truth = _truth()
    with pytest.raises(CoverageError, match=r"match 8 of 10"):
        score_predictions(_records(truth, 8), truth, n_boot=0)
    s = score_predictions(_records(truth, 9), truth, n_boot=0)
    assert s.meta["coverage"] == 0.9 and s.meta["min_coverage"] == 0.9
    assert (
        score_predictions(_records(truth, 8), truth, n_boot=0, min_coverage=0.8).meta[
            "n_missing_predictions"
        ]
        == 2
    )


def test_an_empty_predictions_file_is_refused(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    with pytest.raises(BenchMetricsError, match=r"empty\.jsonl: no prediction records"):
        load_predictions(empty)


def test_compared_runs_must_cover_the_same_pairs() -> None:
    truth = _truth()
    a = score_predictions(_records(truth), truth, n_boot=0)
    b = score_predictions(_records(truth, 8), truth, n_boot=0, min_coverage=0.8)
    assert compare_runs(a, a, n_boot=10).height > 0
    with pytest.raises(CoverageError, match=r"cover different \(scan, question\) pairs"):
        compare_runs(a, b, n_boot=10)
    other_truth = _truth(prefix="T")
    c = score_predictions(_records(other_truth), other_truth, n_boot=0)
    with pytest.raises(CoverageError, match="scored different"):
        compare_runs(a, c, n_boot=10)


def test_a_torn_last_line_is_counted_and_reported(tmp_path: Path) -> None:
    truth = _truth()
    path = _write(tmp_path / "p.jsonl", _records(truth), tail='{"scan_id": "x", "quest')
    read = read_predictions_file(path)
    assert read.frame.height == 10 and read.torn_line == 11 and read.n_torn_lines == 1
    with pytest.warns(UserWarning, match=r"p\.jsonl: line 11 is torn"):
        assert load_predictions(path).height == 10
    s = score_predictions(read, truth, n_boot=0)
    assert s.meta["n_torn_lines"] == 1 and s.meta["predictions_source"] == str(path)
    whole = _write(tmp_path / "q.jsonl", _records(truth))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert read_predictions_file(whole).n_torn_lines == 0


def _scans(splits: dict[str, list[str]]) -> pl.DataFrame:
    rows = []
    for split, patients in splits.items():
        for i, p in enumerate(patients):
            rows.append(
                {
                    "scan_id": f"{p}_00M_{i + 1}",
                    "patient_id": p,
                    "visit": "00M",
                    "side": i + 1,
                    "study_folder": "s",
                    "series_folder": f"{split}{i}",
                    "split": split,
                }
            )
    return pl.DataFrame(rows)


def test_a_patient_in_two_splits_is_refused(tmp_path: Path) -> None:
    check_patient_splits(_scans({"train": ["1", "2"], "test": ["3"]}))
    leaky = _scans({"train": ["1", "2"], "test": ["2"]})
    with pytest.raises(
        BenchMetricsError, match=r"patient 2 is in more than one split \(test, train\)"
    ):
        check_patient_splits(leaky, source="scans.parquet")
    leaky.write_parquet(tmp_path / "scans.parquet")
    with pytest.raises(BenchMetricsError, match=r"scans\.parquet: patient 2 "):
        load_truth_scans(tmp_path)
