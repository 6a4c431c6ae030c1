"""write_comparison_report: any number of models, an optional agreement row, intervals, headline."""

from __future__ import annotations

import json
from pathlib import Path

import moaks_schema as ms
import polars as pl
import pytest
from bench_metrics import (
    OVERALL_MICRO,
    AgreementRow,
    headline,
    score_predictions,
    truth_from_rows,
    write_comparison_report,
)

PATIENTS = [f"90000{i:02d}" for i in range(6)]
BOX = [0, 9, 0, 9, 0, 9]


def _truth() -> pl.DataFrame:
    return truth_from_rows(
        {
            "scan_id": f"{p}_00M_1",
            "patient_id": p,
            "question_id": q,
            "split": "test",
            "grades": {ms.question(q).attributes[0].key: i % 2},
            "box_public": BOX,
        }
        for i, p in enumerate(PATIENTS)
        for q in (30, 42)
    )


def _run(truth: pl.DataFrame, grade_of: object, box: list[int]) -> list[dict]:
    out = []
    for r in truth.iter_rows(named=True):
        a = ms.question(r["question_id"]).attributes[0].key
        g = grade_of(r["grades"][0]["grade"])  # type: ignore[operator]
        text = json.dumps(ms.question(r["question_id"]).answer_object({a: g})) + f" Box: {box}"
        out.append({"scan_id": r["scan_id"], "question_id": r["question_id"], "raw_text": text})
    return out


@pytest.mark.slow  # three full model reports with figures
def test_three_models_and_a_second_reader(tmp_path: Path) -> None:
    truth = _truth()
    runs = {
        name: score_predictions(_run(truth, f, box), truth, n_boot=30, seed=1)
        for name, f, box in (
            ("oracle", lambda g: g, BOX),
            ("zeros", lambda g: 0, [0, 4, 0, 9, 0, 9]),
            ("specialist", lambda g: 1 - g, BOX),
        )
    }
    reader = score_predictions(_run(truth.head(4), lambda g: g, BOX), truth.head(4), n_boot=30)
    rows = [
        AgreementRow("second reader", reader, note="a second MOAKS read of the same knees"),
        AgreementRow("nobody", None),
    ]
    paths = write_comparison_report(
        runs,
        tmp_path / "report",
        title="Comparison",
        note="Phantom numbers.",
        extra_rows=rows,
        sections=["## Time", "", "- 1 s"],
        summary={"phantom": True},
        n_boot=30,
    )
    text = paths.readme.read_text()
    assert text.startswith("# Comparison\n\n> Phantom numbers.") and "## Time" in text
    assert "| oracle | 6 |" in text and "| specialist |" in text and "| second reader | 2 |" in text
    assert "nobody" not in text and "a second MOAKS read" in text
    assert "1.000 [1.000, 1.000]" in text  # intervals beside every cell
    summary = json.loads(paths.summary.read_text())
    assert set(summary["headline"]) == {"oracle", "zeros", "specialist", "second reader"}
    assert summary["phantom"]
    assert summary["headline"]["zeros"] == headline(runs["zeros"])
    assert summary["headline"]["oracle"]["overall_micro"] == runs["oracle"].accuracy(OVERALL_MICRO)
    assert summary["headline"]["second reader"]["n_knees"] == 2
    assert set(paths.models) == {*runs, "second reader"}
    assert all(p.is_file() for p in paths.models.values())
    t2 = json.loads((tmp_path / "report" / "tables" / "comparison_table2.json").read_text())
    assert [r["model"] for r in t2] == ["oracle", "zeros", "specialist", "second reader"]
    assert t2[1]["Overall (micro)"].startswith("0.500 [")
