"""`reasonknee baseline` end to end on a small dataset: records, resume, shards, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from reasonknee_baseline.cli import baseline, parse_options
from vlm_adapters import read_records


def _run(*args: str) -> object:
    return CliRunner().invoke(baseline, list(args), catch_exceptions=False)


def test_majority_run_then_resume(dataset: Path, tmp_path: Path) -> None:
    out = tmp_path / "majority.jsonl"
    r = _run(
        "--dataset",
        str(dataset),
        "--split",
        "test",
        "--model",
        "majority",
        "--setting",
        "instruction",
        "--out",
        str(out),
        "--questions",
        "1-3,44",
        "--limit",
        "1",
    )
    assert r.exit_code == 0, r.output
    assert "4 written, 0 already done, 0 errors" in " ".join(r.output.split())
    first = [json.loads(line) for line in out.read_text().splitlines()]
    assert [d["question_id"] for d in first] == [1, 2, 3, 44]
    assert all(d["model"] == "majority" and d["setting"] == "instruction" for d in first)
    r = _run(
        "--dataset",
        str(dataset),
        "--split",
        "test",
        "--model",
        "majority",
        "--setting",
        "instruction",
        "--out",
        str(out),
        "--questions",
        "1-5,44",
        "--limit",
        "1",
    )
    assert r.exit_code == 0 and "2 written, 4 already done" in " ".join(r.output.split())
    assert len(read_records(out)) == 6


def _sharded_equals_single_run(dataset: Path, tmp_path: Path, executor: str, shards: int) -> None:
    """Run the random baseline once and in ``shards`` shards on ``executor``; the records must agree."""
    common = [
        "--dataset",
        str(dataset),
        "--split",
        "train",
        "--model",
        "random",
        "--setting",
        "gt-region",
        "--questions",
        "1,42,60",
        "--seed",
        "5",
    ]
    assert _run(*common, "--out", str(tmp_path / "one.jsonl")).exit_code == 0
    r = _run(
        *common,
        "--out",
        str(tmp_path / "sharded.jsonl"),
        "--shards",
        str(shards),
        "--executor",
        executor,
    )
    assert r.exit_code == 0, r.output
    one = {x.record_id: x.raw_text for x in read_records(tmp_path / "one.jsonl")}
    sharded = {x.record_id: x.raw_text for x in read_records(tmp_path / "sharded.jsonl")}
    assert one == sharded and len(one) > 3
    assert {p.name for p in tmp_path.glob("sharded.shard*")} == {
        f"sharded.shard{i}of{shards}.jsonl" for i in range(shards)
    }


def test_local_shards_merge_to_the_single_run(dataset: Path, tmp_path: Path) -> None:
    _sharded_equals_single_run(dataset, tmp_path, "local", 3)


@pytest.mark.slow
def test_ray_shards_merge_to_the_single_run(dataset: Path, tmp_path: Path) -> None:
    """The shards as Ray tasks on a local instance started for the run (and shut down after)."""
    ray = pytest.importorskip("ray", reason="the baseline app's ray extra is not installed")
    _sharded_equals_single_run(dataset, tmp_path, "ray", 2)
    assert not ray.is_initialized()


def test_bad_input_is_a_clear_error(dataset: Path, tmp_path: Path) -> None:
    r = CliRunner().invoke(
        baseline,
        [
            "--dataset",
            str(dataset),
            "--model",
            "llama:7b",
            "--setting",
            "instruction",
            "--out",
            str(tmp_path / "x.jsonl"),
        ],
    )
    assert r.exit_code != 0 and "unknown kind 'llama'" in " ".join(r.output.split())
    r = CliRunner().invoke(
        baseline,
        [
            "--dataset",
            str(dataset),
            "--model",
            "majority",
            "--setting",
            "instruction",
            "--out",
            str(tmp_path / "x.jsonl"),
            "--questions",
            "0-3",
        ],
    )
    assert r.exit_code != 0 and "1..69" in r.output
    r = CliRunner().invoke(
        baseline,
        [
            "--dataset",
            str(dataset),
            "--model",
            "qwen2.5-vl:/nonexistent",
            "--setting",
            "instruction",
            "--out",
            str(tmp_path / "y.jsonl"),
        ],
    )
    assert r.exit_code != 0 and "no config.json" in " ".join(r.output.split())


def test_parsers() -> None:
    assert parse_options(("prefix_reuse=false", "size=[224,224]", "base=x")) == {
        "prefix_reuse": False,
        "size": (224, 224),
        "base": "x",
    }


def test_med3dvlm_checkpoint_folder_runs(dataset: Path, tmp_path: Path) -> None:
    pytest.importorskip("einops")
    from vlm_adapters.med3dvlm.tiny import build_tiny_med3dvlm

    tiny = build_tiny_med3dvlm(tmp_path / "tiny", seed=0)
    out = tmp_path / "m3d.jsonl"
    args = ["--dataset", str(dataset), "--model", f"med3dvlm:{tiny}", "--setting", "gt-region"]
    opts = ["--option", "max_new_tokens=3", "--questions", "1,54", "--limit", "1"]
    r = _run(*args, "--out", str(out), *opts)
    assert r.exit_code == 0, r.output
    records = read_records(out)
    assert [x.model for x in records] == [f"med3dvlm:{tiny}"] * 2
    assert all(x.view["view_shape"] == [32, 64, 128] for x in records)
    bad = CliRunner().invoke(
        baseline, [*args, "--out", str(tmp_path / "x.jsonl"), "--option", "slices=8"]
    )
    assert bad.exit_code == 1 and "unknown option" in bad.output
