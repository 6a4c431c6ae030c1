"""`reasonknee baseline` on a corpus of broken inputs: a one-line message naming the file or option,
exit 2 for usage and 1 for failure, never a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from reasonknee_baseline.cli import baseline


def _other_models_file(tmp: Path) -> str:
    line = {"model": "atlas", "setting": "instruction", "record_id": "x", "scan_id": "s",
            "patient_id": "p", "question_id": 1, "raw_text": "", "latency_s": 0.0}  # fmt: skip
    (tmp / "p.jsonl").write_text(json.dumps(line) + "\n")
    return "p.jsonl"


def _garbage_file(tmp: Path) -> str:
    (tmp / "p.jsonl").write_text("not json\n{}\n")
    return "p.jsonl"


# (id, extra arguments (or a function of the temp folder giving the --out name), code, words)
CASES = [
    ("model-spec", ["--model", "gpt:x"], 1, ["model spec", "gpt:x"]),
    ("qwen-folder-missing", ["--model", "qwen2.5-vl:/nonexistent/qwen"], 1, ["/nonexistent/qwen"]),
    ("unknown-adapter-option", ["--option", "bogus=1"], 1, ["bogus"]),
    ("option-without-value", ["--option", "slices"], 2, ["--option", "slices"]),
    ("question-70", ["--questions", "70"], 2, ["--questions", "70"]),
    ("shard-5-of-2", ["--shard", "5/2"], 2, ["--shard", "5/2"]),
    ("unknown-split", ["--split", "holdout"], 1, ["holdout"]),
    ("out-of-another-model", _other_models_file, 1, ["p.jsonl", "holds records of model 'atlas'"]),
    ("out-not-jsonl", _garbage_file, 1, ["p.jsonl", "line 1"]),
    (
        "unreachable-server",
        ["--model", "openai:m@http://127.0.0.1:9/v1", "--option", "max_retries=0"],
        1,
        ["127.0.0.1:9", "cannot connect"],
    ),
]


@pytest.mark.parametrize(
    ("extra", "code", "words"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_broken_input_gives_one_message_and_an_exit_code(
    dataset: Path, tmp_path: Path, extra, code: int, words: list[str]
) -> None:
    out = tmp_path / (extra(tmp_path) if callable(extra) else "p.jsonl")
    args = ["--dataset", str(dataset), "--model", "majority", "--setting", "instruction",
            "--out", str(out), "--limit", "1", "--questions", "1"]  # fmt: skip
    res = CliRunner().invoke(baseline, [*args, *([] if callable(extra) else extra)])
    output = res.output
    assert res.exit_code == code, output
    assert res.exception is None or isinstance(res.exception, SystemExit), repr(res.exception)
    assert "Traceback" not in output
    errors = [line for line in output.splitlines() if line.startswith("Error")]
    assert len(errors) == 1, output
    message = errors[0] if code == 1 else output
    for word in words:
        assert word in message, output
