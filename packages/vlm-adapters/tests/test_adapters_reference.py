"""Reference baselines (majority, atlas, random) on a small dataset, scored by bench-metrics."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import polars as pl
import pytest
from vlm_adapters import AdapterError, fit_reference, load_split, read_records, run_baseline


@pytest.fixture(scope="module")
def runs(dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("reference-runs")
    paths = {}
    for kind in ("majority", "atlas", "random"):
        paths[kind] = out / f"{kind}.jsonl"
        summary = run_baseline(
            dataset=dataset,
            split="test",
            model=kind,
            setting="instruction",
            out=paths[kind],
            progress=False,
        )
        assert summary.errors == 0 and summary.written == summary.total > 0
    return paths


def _score(dataset: Path, path: Path):
    from bench_metrics import load_predictions, load_truth, score_predictions

    truth = load_truth(dataset, "test")
    return score_predictions(
        load_predictions(path), truth, reference=load_truth(dataset, "train"), n_boot=0
    )


def test_majority_matches_train_majority_and_parses_cleanly(
    dataset: Path, runs: dict[str, Path]
) -> None:
    q = pl.read_parquet(dataset / "quintuples.parquet").filter(pl.col("split") == "train")
    counts: dict[str, Counter[int]] = {}
    for grades in q["grades"].to_list():
        for g in grades:
            if g["grade"] is not None:
                counts.setdefault(g["attribute"], Counter())[g["grade"]] += 1
    expected = {k: min(c.items(), key=lambda kv: (-kv[1], kv[0]))[0] for k, c in counts.items()}
    assert fit_reference("majority", dataset).majority == expected

    scores = _score(dataset, runs["majority"])
    overall = scores.groups.filter(pl.col("group") == "Overall (micro)").row(0, named=True)
    assert overall["failure_rate"] == 0.0
    # the majority baseline's accuracy is, by definition, the majority-class reference line
    assert overall["accuracy"] == pytest.approx(overall["majority"])
    # no box: every boxed question counts as a missing box (IoU 0), as docs/benchmark-protocol.md says
    boxes = scores.records.filter(pl.col("box_scored"))
    assert boxes.height > 0 and (boxes["iou"] == 0).all()


def test_atlas_box_localises_and_random_does_not(dataset: Path, runs: dict[str, Path]) -> None:
    atlas = (
        _score(dataset, runs["atlas"])
        .structures.filter(pl.col("structure") == "All")
        .row(0, named=True)
    )
    rand = (
        _score(dataset, runs["random"])
        .structures.filter(pl.col("structure") == "All")
        .row(0, named=True)
    )
    assert atlas["box_failure_rate"] == 0.0 and rand["box_failure_rate"] == 0.0
    assert atlas["mean_iou"] > 0.4  # blocks move by a voxel or two between knees
    assert rand["mean_iou"] < atlas["mean_iou"] / 4


def test_random_is_seeded_and_order_free(
    dataset: Path, runs: dict[str, Path], tmp_path: Path
) -> None:
    again = tmp_path / "random.jsonl"
    run_baseline(
        dataset=dataset,
        split="test",
        model="random",
        setting="instruction",
        out=again,
        questions=[44, 1, 60],
        progress=False,
    )
    first = {r.record_id: r.raw_text for r in read_records(runs["random"])}
    for r in read_records(again):
        assert r.raw_text == first[r.record_id]
    other = tmp_path / "random7.jsonl"
    run_baseline(
        dataset=dataset,
        split="test",
        model="random",
        setting="instruction",
        out=other,
        seed=7,
        progress=False,
    )
    assert [r.raw_text for r in read_records(other)] != [
        first[r.record_id] for r in read_records(other)
    ]


def test_records_follow_the_predictions_contract(dataset: Path, runs: dict[str, Path]) -> None:
    import hashlib

    lines = runs["atlas"].read_text(encoding="utf-8").splitlines()
    items = {it.record_id: it for s in load_split(dataset, "test") for it in s.items}
    assert len(lines) == len(items)
    for line in lines:
        d = json.loads(line)
        assert set(d) >= {
            "record_id",
            "scan_id",
            "patient_id",
            "question_id",
            "setting",
            "model",
            "prompt_hash",
            "raw_text",
            "view",
            "usage",
            "latency_s",
            "error",
        }
        assert d["record_id"] == f"{d['scan_id']}_{d['question_id']}"
        prompt = items[d["record_id"]].prompts["instruction"]
        assert d["prompt_hash"] == hashlib.sha256(prompt.encode()).hexdigest()
        assert d["view"] is None and d["model"] == "atlas" and d["error"] is None


def test_fitting_needs_a_train_split(tmp_path: Path) -> None:
    with pytest.raises(AdapterError, match=r"manifest\.json"):
        fit_reference("atlas", tmp_path)
    with pytest.raises(AdapterError, match="expected one of"):
        fit_reference("median", tmp_path)
