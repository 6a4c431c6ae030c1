"""`reasonknee score` end to end on a tiny dataset folder written here."""

from __future__ import annotations

import json
from pathlib import Path

import moaks_schema as ms
import polars as pl
import pytest
from click.testing import CliRunner
from reasonknee_score.cli import score

QUESTIONS = (4, 30, 42, 62, 65)


def _dataset(root: Path) -> Path:
    """A dataset folder per docs/formats.md: scans.parquet and quintuples.parquet (train + test)."""
    scans, quints = [], []
    for i in range(6):
        pid = f"90000{i:02d}"
        split = "test" if i < 3 else "train"
        scan_id = f"{pid}_00M_1"
        scans.append(
            {
                "scan_id": scan_id,
                "patient_id": pid,
                "visit": "00M",
                "side": 1,
                "study_folder": "20040101",
                "series_folder": f"1000000{i}",
                "split": split,
                "image_path": f"images/{pid}/00M/x.nii.gz",
                "label_path": None,
                "shape": [160, 384, 384],
                "spacing": [0.7, 0.365, 0.365],
                "label_source": "phantom",
            }
        )
        for q in QUESTIONS:
            qq = ms.question(q)
            grades = [
                {"attribute": a.key, "grade": (i + j) % 2} for j, a in enumerate(qq.attributes)
            ]
            quints.append(
                {
                    "quintuple_id": f"{scan_id}_{q}",
                    "scan_id": scan_id,
                    "patient_id": pid,
                    "visit": "00M",
                    "side": 1,
                    "split": split,
                    "question_id": q,
                    "prompt_instruction": "…",
                    "box_public": [10, 29, 40, 79, 50, 99] if qq.box_regions else None,
                    "box_source": "phantom" if qq.box_regions else None,
                    "reasoning": ["step"],
                    "grades": grades,
                    "grade_source": "phantom",
                    "answer": "",
                    "answer_no_cot": "",
                }
            )
    root.mkdir()
    pl.DataFrame(scans).write_parquet(root / "scans.parquet")
    pl.DataFrame(quints).write_parquet(root / "quintuples.parquet")
    return root


def _predictions(path: Path, dataset: Path, *, all_zero: bool) -> Path:
    q = pl.read_parquet(dataset / "quintuples.parquet").filter(pl.col("split") == "test")
    with path.open("w") as fh:
        for row in q.iter_rows(named=True):
            qq = ms.question(row["question_id"])
            grades = {g["attribute"]: 0 if all_zero else g["grade"] for g in row["grades"]}
            text = (
                "Bounding box: [10, 29, 40, 79, 50, 99]\n```json\n"
                + json.dumps(qq.answer_object(grades))
                + "\n```"
            )
            fh.write(
                json.dumps(
                    {
                        "record_id": row["quintuple_id"],
                        "scan_id": row["scan_id"],
                        "patient_id": row["patient_id"],
                        "question_id": row["question_id"],
                        "setting": "instruction",
                        "model": "zeros" if all_zero else "oracle",
                        "raw_text": text,
                        "view": None,
                        "error": None,
                    }
                )
                + "\n"
            )
    return path


@pytest.mark.slow
def test_score_prints_the_headline_and_writes_the_report(tmp_path: Path) -> None:
    ds = _dataset(tmp_path / "ds")
    oracle = _predictions(tmp_path / "oracle.jsonl", ds, all_zero=False)
    zeros = _predictions(tmp_path / "zeros.jsonl", ds, all_zero=True)
    out = tmp_path / "report"
    r = CliRunner().invoke(
        score,
        [
            str(zeros),
            "--dataset",
            str(ds),
            "--out",
            str(out),
            "--compare",
            str(oracle),
            "--bootstrap",
            "50",
            "--seed",
            "1",
        ],
    )
    assert r.exit_code == 0, r.output
    assert (
        "Overall (micro)" in r.output
        and "zeros / instruction" in r.output
        and "mean IoU" in r.output
    )
    text = (out / "report.md").read_text()
    assert "Paired comparison: zeros / instruction minus oracle / instruction" in text
    groups = {g["group"]: g for g in json.loads((out / "tables" / "groups.json").read_text())}
    assert groups["Overall (micro)"]["accuracy"] < 1.0
    summary = json.loads((out / "scores.json").read_text())
    assert (
        summary["meta"]["majority_reference"] == "reference split"
    )  # the train split of the same dataset
    r2 = CliRunner().invoke(
        score,
        [
            str(oracle),
            "--dataset",
            str(ds),
            "--out",
            str(out),
            "--bootstrap",
            "0",
            "--questions",
            "30,42",
        ],
    )
    assert r2.exit_code == 0, r2.output
    g2 = {g["group"]: g for g in json.loads((out / "tables" / "groups.json").read_text())}
    assert g2["Overall (micro)"]["accuracy"] == 1.0 and g2["Overall (micro)"]["n_items"] == 6


def test_score_reads_a_public_results_json(tmp_path: Path) -> None:
    ds = _dataset(tmp_path / "ds")
    results = {
        f"90000{i:02d}_00M_20040101_1000000{i}_1_65": {
            "question": "q",
            "o1_result": {"MOAKS_scores": {"popliteal_cyst_presence": {"presence": i % 2}}},
        }
        for i in range(3)
    }
    path = tmp_path / "o1_results.json"
    path.write_text(json.dumps(results))
    r = CliRunner().invoke(
        score,
        [
            str(path),
            "--dataset",
            str(ds),
            "--out",
            str(tmp_path / "r"),
            "--questions",
            "65",
            "--bootstrap",
            "10",
        ],
    )
    assert r.exit_code == 0, r.output
    g = {x["group"]: x for x in json.loads((tmp_path / "r" / "tables" / "groups.json").read_text())}
    assert g["Periarticular"]["accuracy"] == 1.0


def test_bad_input_is_a_clear_error(tmp_path: Path) -> None:
    ds = _dataset(tmp_path / "ds")
    preds = _predictions(tmp_path / "p.jsonl", ds, all_zero=True)
    r = CliRunner().invoke(
        score, [str(preds), "--dataset", str(ds), "--out", str(tmp_path / "r"), "--split", "val"]
    )
    assert r.exit_code != 0 and "no rows for 'val'" in r.output
    r = CliRunner().invoke(
        score,
        [str(preds), "--dataset", str(ds), "--out", str(tmp_path / "r"), "--questions", "0-3"],
    )
    assert r.exit_code != 0 and "1..69" in r.output
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("argv", [["--help"]])
def test_help(argv: list[str]) -> None:
    r = CliRunner().invoke(score, argv)
    assert r.exit_code == 0 and "--dataset" in r.output


def test_second_reader_row_when_the_dataset_has_reader_pairs(tmp_path: Path) -> None:
    ds = _dataset(tmp_path / "ds")
    oracle = _predictions(tmp_path / "oracle.jsonl", ds, all_zero=False)
    args = [str(oracle), "--dataset", str(ds), "--bootstrap", "20"]
    r0 = CliRunner().invoke(score, [*args, "--out", str(tmp_path / "r0")])
    assert r0.exit_code == 0 and "second reader" not in r0.output  # no pairs: no row
    q = pl.read_parquet(ds / "quintuples.parquet")
    pairs = (
        q.select("scan_id", "patient_id", "split", "question_id", "grades")
        .explode("grades")
        .unnest("grades")
        .rename({"grade": "grade_a"})
        .with_columns(
            (1 - pl.col("grade_a")).alias("grade_b"),
            pl.lit("22").alias("source_a"),
            pl.lit("63A").alias("source_b"),
        )
    )
    pairs.write_parquet(ds / "reader_pairs.parquet")
    out = tmp_path / "r1"
    r1 = CliRunner().invoke(score, [*args, "--out", str(out)])
    assert r1.exit_code == 0, r1.output
    assert "ReasonKnee-Bench: second reader" in r1.output
    assert "on 3 knee(s) of 3 patient(s)" in r1.output
    groups = json.loads((out / "second_reader" / "tables" / "groups.json").read_text())
    overall = next(g for g in groups if g["group"] == "Overall (micro)")
    assert overall["accuracy"] == 0.0  # every second read differs here
    r2 = CliRunner().invoke(score, [*args, "--out", str(tmp_path / "r2"), "--no-second-reader"])
    assert r2.exit_code == 0 and "second reader" not in r2.output
