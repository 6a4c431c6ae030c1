"""The report folder and the paper-layout tables."""

from __future__ import annotations

import json
from pathlib import Path

import moaks_schema as ms
import polars as pl
import pytest
from bench_metrics import (
    PAPER_TABLE2,
    score_predictions,
    table2,
    table3,
    truth_from_rows,
    write_report,
)


def _run(seed: int, label: str):
    import numpy as np

    rng = np.random.default_rng(seed)
    rows, preds = [], []
    for p in range(6):
        pid = f"90000{p:02d}"
        scan = f"{pid}_00M_1"
        for q in ms.QUESTIONS:
            grades = {a.key: int(rng.integers(0, 2)) for a in q.attributes}
            rows.append(
                {
                    "scan_id": scan,
                    "patient_id": pid,
                    "question_id": q.id,
                    "split": "test",
                    "grades": grades,
                    "box_public": [10, 19, 10, 19, 10, 19] if q.box_regions else None,
                }
            )
            guess = {a.key: int(rng.integers(0, 2)) for a in q.attributes}
            obj = {
                **q.answer_object(guess),
                "bbox": [10, 19, 10, 19, 10, int(rng.integers(10, 25))],
            }
            preds.append(
                {
                    "scan_id": scan,
                    "question_id": q.id,
                    "raw_text": json.dumps(obj),
                    "model": label,
                    "setting": "instruction",
                }
            )
    return score_predictions(preds, truth_from_rows(rows), n_boot=50, seed=seed)


def test_tables_in_paper_layout() -> None:
    s = _run(0, "a")
    t2 = table2(s)
    assert t2.columns == [
        "model",
        "setting",
        "BML",
        "Cart.",
        "Ost.",
        "Men.",
        "Others",
        "Overall",
        "source",
    ]
    assert t2.height == 1 + len(PAPER_TABLE2)
    assert t2["source"].to_list() == ["this run"] + ["paper"] * len(PAPER_TABLE2)
    assert t2["Overall"][0] == s.overall_micro
    t3 = table3(s, patellar_tendon=True)
    assert t3.columns[:9] == [
        "model",
        "Patella",
        "Femur",
        "Tibia",
        "Meniscus",
        "ACL",
        "PCL",
        "Synovitis",
        "Patellar tendon",
    ]
    assert t3.filter(pl.col("source") == "paper")["Patellar tendon"].is_null().all()


@pytest.mark.slow
def test_report_folder(tmp_path: Path) -> None:
    a, b = _run(0, "a"), _run(1, "b")
    out = tmp_path / "report"
    md = write_report(a, out, compare=b, n_boot=50)
    text = md.read_text()
    assert (
        "paper (as published)" in text and "Overall (micro)" in text and "Paired comparison" in text
    )
    for png in ("category_accuracy", "iou_per_structure", "iou_vs_accuracy", "confusion_matrices"):
        assert (out / "figures" / f"{png}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for name in (
        "table2",
        "table3",
        "groups",
        "attributes",
        "questions",
        "structures",
        "correlation",
        "failures",
        "comparison",
    ):
        for ext in ("md", "csv", "json"):
            assert (out / "tables" / f"{name}.{ext}").is_file()
    groups = json.loads((out / "tables" / "groups.json").read_text())
    assert {g["group"] for g in groups} >= {"Overall (micro)", "Overall (macro)", "BML", "Others"}
    summary = json.loads((out / "scores.json").read_text())
    assert summary["meta"]["n_items"] == 6 * len(ms.ATTRIBUTES)
    # writing again replaces the folder in one step and leaves no temporary folders behind
    write_report(a, out, n_boot=10)
    assert not (out / "tables" / "comparison.md").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report"]
