"""Crash-proof predictions log: SIGKILL a run at random points, rerun, compare with an uninterrupted run."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from vlm_adapters import (
    AdapterError,
    PredictionRecord,
    RecordLog,
    read_records,
    repair_log,
    run_baseline,
)

DRIVER = (
    "import sys\n"
    "from vlm_adapters import run_baseline\n"
    "run_baseline(dataset=sys.argv[1], split='train', model='random', setting='gt-region', out=sys.argv[2],"
    " seed=3, progress=False)\n"
)


def _lines(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def _comparable(path: Path) -> dict[str, tuple]:
    records = read_records(path)
    ids = [r.record_id for r in records]
    assert len(ids) == len(set(ids)), "duplicated records"
    return {
        r.record_id: (
            r.scan_id,
            r.question_id,
            r.setting,
            r.model,
            r.prompt_hash,
            r.raw_text,
            r.error,
        )
        for r in records
    }


@pytest.mark.slow
def test_sigkill_at_random_points_then_resume_equals_uninterrupted(dataset, tmp_path):
    reference = tmp_path / "uninterrupted.jsonl"
    run_baseline(
        dataset=dataset,
        split="train",
        model="random",
        setting="gt-region",
        out=reference,
        seed=3,
        progress=False,
    )
    expected = _comparable(reference)
    assert len(expected) > 200

    out = tmp_path / "killed.jsonl"
    rng = random.Random(12345)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    kills = 0
    for attempt in range(4):
        before = _lines(out)
        target = before + rng.randint(1, 40)
        proc = subprocess.Popen(
            [sys.executable, "-c", DRIVER, str(dataset), str(out)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 60
        while proc.poll() is None and _lines(out) < target and time.monotonic() < deadline:
            time.sleep(0.001)
        time.sleep(rng.random() * 0.01)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait(timeout=30)
        if attempt == 2:
            # a torn write as a crash can leave it: half a record, no newline
            with open(out, "ab") as fh:
                fh.write(b'{"record_id": "9100037_00M_1_5", "scan_id": "91000')
    assert kills >= 3, "the run finished before it could be killed"
    partial = read_records(out)  # the torn tail is ignored, complete lines all parse
    assert 0 < len(partial) < len(expected)

    done = subprocess.run(
        [sys.executable, "-c", DRIVER, str(dataset), str(out)],
        env=env,
        capture_output=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    assert _comparable(out) == expected
    assert out.read_bytes().endswith(b"\n")


def _record(i: int) -> PredictionRecord:
    return PredictionRecord(
        f"s_{i}",
        "s",
        "p",
        i % 69 + 1,
        "instruction",
        "majority",
        "h" * 64,
        f'Box: none\nMOAKS: {{"n": {i}}} é',
        None,
        {"prompt_tokens": i},
    )


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(n=st.integers(0, 5), tail=st.binary(max_size=80).filter(lambda b: b"\n" not in b))
def test_torn_tail_is_ignored_then_cut_before_appending(tmp_path, n, tail):
    import tempfile

    path = Path(tempfile.mkdtemp(dir=tmp_path)) / "log.jsonl"
    with RecordLog(path) as log:
        for i in range(n):
            log.append(_record(i))
    with open(path, "ab") as fh:
        fh.write(tail)
    assert [r.record_id for r in read_records(path)] == [f"s_{i}" for i in range(n)]
    with RecordLog(path) as log:
        log.append(_record(99))
    assert [r.record_id for r in read_records(path)] == [f"s_{i}" for i in range(n)] + ["s_99"]
    assert repair_log(path) == 0


def test_malformed_complete_line_is_an_error_naming_the_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text(_record(1).to_json() + "\nnot json\n", encoding="utf-8")
    with pytest.raises(AdapterError, match=r"bad.jsonl: line 2"):
        read_records(path)


def test_resume_refuses_another_model_and_retries_errors(dataset, tmp_path):
    out = tmp_path / "p.jsonl"
    run_baseline(
        dataset=dataset,
        split="test",
        limit=1,
        model="majority",
        setting="instruction",
        out=out,
        questions=[1, 2, 3],
        progress=False,
    )
    with pytest.raises(AdapterError, match="holds records of model 'majority'"):
        run_baseline(
            dataset=dataset,
            split="test",
            limit=1,
            model="atlas",
            setting="instruction",
            out=out,
            progress=False,
        )
    # mark one record as failed: a plain rerun keeps it, --retry-errors redoes it
    lines = out.read_text(encoding="utf-8").splitlines()
    bad = json.loads(lines[0])
    bad["error"], bad["raw_text"] = "HTTP 503: overloaded", ""
    out.write_text("\n".join([json.dumps(bad), *lines[1:]]) + "\n", encoding="utf-8")
    s = run_baseline(
        dataset=dataset,
        split="test",
        limit=1,
        model="majority",
        setting="instruction",
        out=out,
        questions=[1, 2, 3],
        progress=False,
    )
    # the error record still in the file is counted, though this run wrote nothing
    assert s.written == 0 and s.skipped == 3 and s.errors == 1
    s = run_baseline(
        dataset=dataset,
        split="test",
        limit=1,
        model="majority",
        setting="instruction",
        out=out,
        questions=[1, 2, 3],
        retry_errors=True,
        progress=False,
    )
    assert s.written == 1 and s.errors == 0
    records = read_records(out)
    assert len(records) == 3 and all(r.error is None for r in records)
