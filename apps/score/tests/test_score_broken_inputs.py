"""A corpus of broken inputs: `reasonknee score` answers each with one line naming the file or
option and what was expected, exit code 2 (usage) or 1 (failure), never a traceback."""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner
from reasonknee_score.cli import score

_spec = importlib.util.spec_from_file_location(
    "_score_app_fixtures", Path(__file__).with_name("test_score_app.py")
)
assert _spec is not None and _spec.loader is not None
_app = importlib.util.module_from_spec(_spec)
sys.modules.setdefault("_score_app_fixtures", _app)
_spec.loader.exec_module(_app)


@dataclass(frozen=True)
class Broken:
    name: str
    #: builds the inputs in a folder holding a good dataset ``ds`` and a good run ``run.jsonl``;
    #: returns the extra command-line arguments
    make: Callable[[Path], list[str]]
    code: int
    says: str  # a piece of the one-line message (a file or option name and what was expected)


def _write(path: Path, text: str | bytes) -> Path:
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


def _file(name: str, content: str | bytes) -> Callable[[Path], list[str]]:
    """A maker that writes one predictions file ``name`` holding ``content``."""
    return lambda root: [str(_write(root / name, content))]


def _other_split(root: Path) -> list[str]:
    q = pl.read_parquet(root / "ds" / "quintuples.parquet")
    lines = (root / "run.jsonl").read_text().splitlines()
    train = q.filter(pl.col("split") == "train")["scan_id"].unique().sort().to_list()
    test = q.filter(pl.col("split") == "test")["scan_id"].unique().sort().to_list()
    swap = dict(zip(test, train, strict=True))
    recs = [json.loads(line) for line in lines]
    for r in recs:
        r["scan_id"] = swap[r["scan_id"]]
    _write(root / "train-run.jsonl", "".join(json.dumps(r) + "\n" for r in recs))
    return [str(root / "train-run.jsonl")]


def _leaky(root: Path) -> list[str]:
    scans = pl.read_parquet(root / "ds" / "scans.parquet")
    first_test = scans.filter(pl.col("split") == "test")["patient_id"][0]
    leak = (
        scans.filter(pl.col("split") == "train")
        .head(1)
        .with_columns(pl.lit(first_test).alias("patient_id"))
    )
    pl.concat(
        [
            scans.filter(pl.col("split") == "test"),
            leak,
            scans.filter(pl.col("split") == "train").slice(1),
        ]
    ).write_parquet(root / "ds" / "scans.parquet")
    return [str(root / "run.jsonl")]


def _compare_missing_other_pairs(root: Path) -> list[str]:
    """Each run answers 14 of 15 pairs (93 %), but not the same 14: together 13 (87 %)."""
    lines = (root / "run.jsonl").read_text().splitlines(keepends=True)
    _write(root / "a.jsonl", "".join(lines[1:]))
    _write(root / "b.jsonl", "".join(lines[:-1]))
    return [str(root / "a.jsonl"), "--compare", str(root / "b.jsonl")]


CORPUS = [
    Broken("missing file", lambda r: [str(r / "nope.jsonl")], 2, "does not exist"),
    Broken(
        "empty file",
        _file("e.jsonl", ""),
        1,
        "e.jsonl: no prediction records",
    ),
    Broken(
        "blank lines only",
        _file("b.jsonl", "\n\n"),
        1,
        "b.jsonl: no prediction records",
    ),
    Broken(
        "not JSON",
        _file("x.jsonl", "hello\nworld\n"),
        1,
        "x.jsonl: line 1: not a JSON object",
    ),
    Broken(
        "binary",
        _file("bin.jsonl", b"\xff\xfe\x00garbage"),
        1,
        "bin.jsonl: not UTF-8 text",
    ),
    Broken(
        "record without ids",
        _file("i.jsonl", '{"raw_text": "x"}\n'),
        1,
        "i.jsonl: record 1: fields 'scan_id' and 'question_id'",
    ),
    Broken(
        "question id out of range",
        _file("q.jsonl", '{"scan_id": "a", "question_id": 99}\n'),
        1,
        "'question_id' = 99; expected 1..69",
    ),
    Broken(
        "public results without matching ids",
        _file("pub.json", '{"bad_key": {}}'),
        1,
        "pub.json: no entry has a '<model>_result' field",
    ),
    Broken("run of another split", _other_split, 1, "train-run.jsonl: the predictions match 0 of"),
    Broken("wrong --split", lambda r: [str(r / "run.jsonl"), "--split", "train"], 1, "match 0 of"),
    Broken(
        "unknown --split",
        lambda r: [str(r / "run.jsonl"), "--split", "val"],
        1,
        "field 'split' has no rows for 'val'",
    ),
    Broken(
        "bad --questions", lambda r: [str(r / "run.jsonl"), "--questions", "0-3"], 2, "--questions"
    ),
    Broken(
        "negative --bootstrap",
        lambda r: [str(r / "run.jsonl"), "--bootstrap", "-1"],
        2,
        "--bootstrap",
    ),
    Broken("dataset with leakage", _leaky, 1, "is in more than one split"),
    Broken(
        "corrupt quintuples",
        lambda r: [str(r / "run.jsonl")] if _write(r / "ds" / "quintuples.parquet", "junk") else [],
        1,
        "quintuples.parquet: not a readable Parquet file",
    ),
    Broken(
        "compare runs covering different pairs",
        _compare_missing_other_pairs,
        1,
        "cover different (scan, question) pairs",
    ),
    Broken(
        "compare run of another split",
        lambda r: [str(r / "run.jsonl"), "--compare", *_other_split(r)],
        1,
        "train-run.jsonl: the predictions match 0 of",
    ),
]


@pytest.mark.parametrize("case", CORPUS, ids=[c.name for c in CORPUS])
def test_broken_input_gives_one_line_and_an_exit_code(tmp_path: Path, case: Broken) -> None:
    ds = _app._dataset(tmp_path / "ds")
    _app._predictions(tmp_path / "run.jsonl", ds, all_zero=False)
    args = case.make(tmp_path)
    out = tmp_path / "report"
    fast = [] if "--bootstrap" in args else ["--bootstrap", "0"]
    r = CliRunner().invoke(score, [*args, "--dataset", str(ds), "--out", str(out), *fast])
    text = r.output.strip()
    assert r.exit_code == case.code, text
    # a project error ends as SystemExit from click, never as the exception itself
    assert "Traceback" not in text and isinstance(r.exception, SystemExit), repr(r.exception)
    lines = [line for line in text.splitlines() if line.startswith("Error:")]
    assert len(lines) == 1 and case.says in lines[0], text
    assert not out.exists()  # nothing half-written
