"""Patient-level splits and the vectorised quintuple assembly."""

from __future__ import annotations

import json

import polars as pl
import pytest
from moaks_schema import ATTRIBUTES, QUESTIONS, READING_COLUMNS, question
from quintuple_builder import (
    QUINTUPLE_COLUMNS,
    QuintupleBuilderError,
    assemble_quintuples,
    assign_splits,
    check_leakage,
    format_answer,
    grades_from_chain,
    split_for_patient,
)


def test_splits_fractions_and_stability() -> None:
    ids = [f"{9000000 + i:07d}" for i in range(20_000)]
    first = assign_splits(ids[:10_000])
    more = assign_splits(ids)
    assert all(more[p] == s for p, s in first.items())  # adding patients moves nobody
    counts = {
        s: sum(1 for v in more.values() if v == s) / len(more) for s in ("train", "val", "test")
    }
    assert abs(counts["train"] - 0.75) < 0.015 and abs(counts["val"] - 0.10) < 0.01
    assert abs(counts["test"] - 0.15) < 0.01
    assert all(split_for_patient(p) == s for p, s in list(more.items())[:100])


def test_tiny_cohorts_get_every_split() -> None:
    for n in (3, 4, 6, 10):
        got = assign_splits([f"{9500000 + i:07d}" for i in range(n)])
        assert set(got.values()) == {"train", "val", "test"}
        assert got == assign_splits(list(reversed(list(got))))


def test_leakage_check() -> None:
    ok = pl.DataFrame({"patient_id": ["1", "1", "2"], "split": ["train", "train", "test"]})
    assert check_leakage(ok) == {"train": 1, "val": 0, "test": 1}
    with pytest.raises(QuintupleBuilderError, match="more than one split"):
        check_leakage(pl.DataFrame({"patient_id": ["1", "1"], "split": ["train", "test"]}))


def _inputs():
    scans = pl.DataFrame(
        {
            "scan_id": ["9000001_00M_1", "9000001_12M_1", "9000002_00M_2"],
            "patient_id": ["9000001", "9000001", "9000002"],
            "visit": ["00M", "12M", "00M"],
            "side": [1, 1, 2],
        }
    )
    rows = []
    for pid, visit, side in scans.select("patient_id", "visit", "side").iter_rows():
        for i, a in enumerate(ATTRIBUTES):
            g = (
                None
                if (pid == "9000002" and a.question_id == 4)
                else (i + len(visit)) % len(a.grades.meanings)
            )
            rows.append((pid, visit, side, a.question_id, a.key, g, "22"))
    readings = pl.DataFrame(rows, schema=list(READING_COLUMNS), orient="row")
    boxes = pl.DataFrame(
        [
            (
                s,
                q.id,
                [1, 3, 2, 6, 4, 9]
                if q.has_box and not (s.startswith("9000002") and q.id == 1)
                else None,
                "manual" if q.has_box else None,
            )
            for s in scans["scan_id"]
            for q in QUESTIONS
        ],
        schema={
            "scan_id": pl.String,
            "question_id": pl.Int64,
            "box_public": pl.List(pl.Int64),
            "box_source": pl.String,
        },
        orient="row",
    )
    return scans, boxes, readings


def test_assemble_rows_answers_and_chains() -> None:
    scans, boxes, readings = _inputs()
    df = assemble_quintuples(scans, boxes, readings, seed=3)
    assert df.columns == [*QUINTUPLE_COLUMNS, "complete"]
    assert df.height == 3 * 69
    assert df["quintuple_id"].is_unique().all()
    check_leakage(df)
    for r in df.iter_rows(named=True):
        q = question(r["question_id"])
        grades = {d["attribute"]: d["grade"] for d in r["grades"]}
        assert list(grades) == [a.key for a in q.attributes]
        if not r["complete"]:
            assert r["answer"] is None and r["reasoning"] is None
            continue
        assert grades_from_chain(q, r["reasoning"]) == grades
        assert r["answer"] == format_answer(q, grades, box=r["box_public"], steps=r["reasoning"])
        assert r["answer_no_cot"] == format_answer(q, grades, box=r["box_public"], steps=None)
        moaks = json.loads(r["answer"].rsplit("\nMOAKS: ", 1)[1])
        assert moaks == q.answer_object(grades)
        assert (r["box_source"] == "manual") == (r["box_public"] is not None)
        assert r["prompt_instruction"].startswith("In this DESS MRI")
    bml = df.filter((pl.col("scan_id") == "9000002_00M_2") & (pl.col("question_id") == 4)).row(
        0, named=True
    )
    assert bml["complete"] is False and all(d["grade"] is None for d in bml["grades"])
    absent = df.filter((pl.col("scan_id") == "9000002_00M_2") & (pl.col("question_id") == 1)).row(
        0, named=True
    )
    assert absent["box_public"] is None and absent["answer"].startswith("Box: none\n")
    assert (
        "could not be delineated" in absent["reasoning"][0] or "not found" in absent["reasoning"][0]
    )
    # determinism and seeding
    assert assemble_quintuples(scans, boxes, readings, seed=3).equals(df)
    other = assemble_quintuples(scans, boxes, readings, seed=4)
    assert not other["reasoning"].equals(df["reasoning"])
    assert other["grades"].equals(df["grades"])


def test_assemble_rejects_duplicate_readings() -> None:
    scans, boxes, readings = _inputs()
    with pytest.raises(QuintupleBuilderError, match="several grades"):
        assemble_quintuples(scans, boxes, pl.concat([readings, readings.head(1)]))
    with pytest.raises(QuintupleBuilderError, match="missing"):
        assemble_quintuples(scans.drop("side"), boxes, readings)
