"""`reasonknee demo`, run small: the report is complete and its numbers agree with the dataset."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner
from reasonknee.cli import main


@pytest.fixture(scope="module")
def demo_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    result = CliRunner().invoke(
        main,
        [
            "demo",
            "--out",
            str(out),
            "--patients",
            "8",
            "--shape",
            "32,48,48",
            "--bootstrap",
            "50",
            "--second-reads",
            "1",
            "--quiet",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "Report:" in result.output and "not clinical numbers" in result.output
    return out


@pytest.mark.slow  # the module's demo run takes about a minute
def test_report_files(demo_out: Path) -> None:
    report = demo_out / "report"
    for name in ("README.md", "summary.json"):
        assert (report / name).is_file()
    for model in ("majority", "atlas", "random", "specialist"):
        run = report / "models" / f"{model}.instruction"
        assert (run / "report.md").is_file()
        assert (run / "tables" / "table2.csv").is_file()
        assert any((run / "figures").glob("*.png"))
    previews = list((report / "previews").glob("*.png"))
    assert previews and all(p.stat().st_size > 5000 for p in previews)
    assert any((report / "statistics").rglob("*.png"))
    text = (report / "README.md").read_text()
    assert "phantom" in text and "| majority |" in text and "Patellar tendon" in text
    # the four references: floor, prior, pixels, ceiling (and the chance line)
    for row in ("| majority |", "| atlas |", "| specialist |", "| second reader |", "| random |"):
        assert row in text, row
    head = json.loads((report / "summary.json").read_text())["headline"]
    assert set(head) == {"majority", "atlas", "random", "specialist", "second reader"}


@pytest.mark.slow  # the module's demo run takes about a minute
def test_numbers_agree_with_the_dataset(demo_out: Path) -> None:
    import bench_metrics as bm

    summary = json.loads((report := demo_out / "report" / "summary.json").read_text())
    manifest = json.loads((demo_out / "dataset" / "manifest.json").read_text())
    assert summary["content_hash"] == manifest["content_hash"], report

    # The majority baseline's accuracy, recomputed straight from the dataset's quintuples.
    quints = pl.read_parquet(demo_out / "dataset" / "quintuples.parquet")
    long = quints.select("split", "grades").explode("grades").unnest("grades").drop_nulls("grade")
    train = long.filter(pl.col("split") == "train")
    counts = (
        train.group_by("attribute", "grade")
        .len()
        .sort(["attribute", "len", "grade"], descending=[False, True, False])
    )
    majority = dict(
        counts.unique("attribute", keep="first", maintain_order=True)
        .select("attribute", "grade")
        .iter_rows()
    )
    test = long.filter(pl.col("split") == "test")
    expected = (
        sum(int(majority.get(a) == g) for a, g in test.select("attribute", "grade").iter_rows())
        / test.height
    )
    head = summary["headline"]
    assert head["majority"]["overall_micro"] == pytest.approx(expected)
    assert head["majority"]["majority_reference"] == pytest.approx(expected)
    assert head["majority"]["items"] == test.height
    assert majority == bm.majority_grades(bm.load_truth(demo_out / "dataset", "train"))
    # Atlas gives majority grades plus boxes; random must be clearly worse; only boxes differ.
    assert head["atlas"]["overall_micro"] == pytest.approx(expected)
    assert head["atlas"]["mean_iou"] > head["random"]["mean_iou"]
    assert head["majority"]["mean_iou"] == 0.0
    assert head["random"]["overall_micro"] < expected
    for h in head.values():
        assert h["failure_rate"] == 0.0


@pytest.mark.slow  # the module's demo run takes about a minute
def test_second_reader_row_is_the_phantom_second_reads(demo_out: Path) -> None:
    import bench_metrics as bm

    summary = json.loads((demo_out / "report" / "summary.json").read_text())
    pairs = bm.load_reader_pairs(demo_out / "dataset", "test")
    assert pairs.height > 0  # every knee read twice here
    head = summary["headline"]["second reader"]
    assert head["n_knees"] == pairs["scan_id"].n_unique() and head["items"] == pairs.height
    agree = (pairs["grade_a"] == pairs["grade_b"]).mean()
    assert head["overall_micro"] == pytest.approx(agree)
    assert 0.6 < agree < 1.0
    assert head["mean_iou"] is None  # a reader gives no box
    text = (demo_out / "report" / "README.md").read_text()
    assert f"| second reader | {head['n_knees']} |" in text
    assert (demo_out / "report" / "models" / "second_reader" / "report.md").is_file()


def test_bad_shape_is_refused(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["demo", "--out", str(tmp_path), "--shape", "32,48"])
    assert result.exit_code != 0 and "--shape" in result.output
