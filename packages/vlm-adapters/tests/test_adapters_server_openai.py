"""OpenAI-compatible adapter against a real server on 127.0.0.1 (`transformers serve` on a tiny Qwen2.5-VL),
with a real fault-injecting HTTP proxy in front of it for 429s, 5xx, a timeout and JSON-mode refusal.

The server process is started when this module is imported (pytest collects every module before running
any), so its start-up (~20-50 s on a loaded 2-core machine) overlaps with the other test modules; it is
stopped when the session ends.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from knee_phantom import write_phantom_dataset
from vlm_adapters import (
    AdapterError,
    load_split,
    make_adapter,
    read_records,
    run_adapter,
    run_baseline,
)

QUESTIONS = [1, 44, 60]
OPTIONS = {"slices": 4, "max_tokens": 8, "backoff_s": 0.01, "timeout_s": 30.0}


def tiny_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session's small dataset folder (built once, shared by the test modules)."""
    root = tmp_path_factory.getbasetemp() / "vlm-adapters-tiny-dataset"
    if not (root / "manifest.json").exists():
        write_phantom_dataset(root, n_patients=8, seed=0)
    return root


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


_SERVE = (
    "import os, sys, threading, time\n"
    "parent = os.getppid()\n"
    "def _watch():  # exit with the test session, even when it is killed\n"
    "    while os.getppid() == parent:\n"
    "        time.sleep(1)\n"
    "    os._exit(0)\n"
    "threading.Thread(target=_watch, daemon=True).start()\n"
    "from vlm_adapters.tiny import build_tiny_qwen\n"
    "path = build_tiny_qwen(sys.argv[1], seed=0)\n"
    "from transformers.cli.transformers import main\n"
    "sys.argv = ['transformers', 'serve', str(path), '--host', '127.0.0.1', '--port', sys.argv[2], '--device', 'cpu']\n"
    "main()\n"
)


def _start_server() -> tuple[subprocess.Popen, Path, int, Path]:
    folder = Path(tempfile.mkdtemp(prefix="vlm-adapters-serve-"))
    port = _free_port()
    log = folder / "transformers-serve.log"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    with open(log, "wb") as fh:
        proc = subprocess.Popen(
            [sys.executable, "-c", _SERVE, str(folder / "tiny-qwen"), str(port)],
            stdout=fh,
            stderr=subprocess.STDOUT,
            env=env,
        )

    def stop() -> None:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        import shutil

        shutil.rmtree(folder, ignore_errors=True)

    atexit.register(stop)
    return proc, folder / "tiny-qwen", port, log


_SERVER = _start_server()


@pytest.fixture(scope="module")
def server() -> tuple[str, str]:
    """`transformers serve` on a tiny Qwen2.5-VL: (base_url, model id)."""
    proc, model, port, log = _SERVER
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 150
    while True:
        if proc.poll() is not None:
            raise RuntimeError(
                f"transformers serve exited with {proc.returncode}: {log.read_text()[-2000:]}"
            )
        try:
            with urllib.request.urlopen(base + "/health", timeout=1) as r:
                if r.status == 200:
                    break
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"transformers serve did not come up in 150 s: {log.read_text()[-2000:]}"
            )
        time.sleep(0.2)
    return base + "/v1", str(model)


class FaultProxy:
    """A real HTTP server forwarding /v1/chat/completions upstream, after scripted faults."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.plan: list[str] = []
        self.always: str | None = None
        self.seen: list[dict] = []
        self.lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                return None

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                data = json.loads(body)
                with proxy.lock:
                    proxy.seen.append(
                        {
                            "auth": self.headers.get("Authorization"),
                            "json_mode": "response_format" in data,
                        }
                    )
                    action = proxy.plan.pop(0) if proxy.plan else (proxy.always or "forward")
                if action == "reject_json" and "response_format" in data:
                    return self._send(
                        400, b'{"error": {"message": "response_format is not supported"}}'
                    )
                if action == "429":
                    return self._send(429, b'{"error": "rate limited"}', {"Retry-After": "0"})
                if action in ("401", "503"):
                    return self._send(int(action), b'{"error": "' + action.encode() + b'"}')
                if action == "timeout":
                    time.sleep(5.0)
                req = urllib.request.Request(
                    proxy.upstream + "/chat/completions",
                    data=body,
                    headers={"Content-Type": "application/json"},
                )
                with urllib.request.urlopen(req, timeout=60) as resp:
                    payload = resp.read()
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self._send(200, payload)  # the client may have given up (the injected timeout)

            def _send(
                self, code: int, payload: bytes, headers: dict[str, str] | None = None
            ) -> None:
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(payload)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture()
def proxy(server: tuple[str, str]) -> Iterator[FaultProxy]:
    p = FaultProxy(server[0])
    yield p
    p.close()


def test_real_server_end_to_end(server, tmp_path_factory, tmp_path) -> None:
    base_url, model = server
    dataset = tiny_dataset(tmp_path_factory)
    out = tmp_path / "served.jsonl"
    spec = f"openai:{model}@{base_url}"
    s = run_baseline(
        dataset=dataset,
        split="test",
        limit=1,
        model=spec,
        setting="instruction",
        out=out,
        questions=QUESTIONS,
        max_concurrency=2,
        options=OPTIONS,
        progress=False,
    )
    assert s.written == len(QUESTIONS) and s.errors == 0
    for r in read_records(out):
        assert r.model == spec and r.error is None and r.raw_text
        assert r.usage["prompt_tokens"] > 0 and 1 <= r.usage["completion_tokens"] <= 8
        assert r.usage["total_tokens"] == r.usage["prompt_tokens"] + r.usage["completion_tokens"]
        assert r.view["view_shape"][0] == 4


def test_429s_and_a_timeout_are_retried(proxy, server, tmp_path_factory) -> None:
    dataset = tiny_dataset(tmp_path_factory)
    proxy.plan = ["429", "429", "timeout"]
    adapter = make_adapter(
        f"openai:{server[1]}@{proxy.url}",
        max_concurrency=1,
        options={**OPTIONS, "timeout_s": 2.5, "max_retries": 6},
    )
    scans = load_split(dataset, "test", questions=[1, 60], limit=1)
    out = tmp_path_factory.mktemp("retry") / "p.jsonl"
    s = run_adapter(adapter, scans, setting="zero-shot", out=out, progress=False)
    assert s.errors == 0 and s.written == 2
    # 2 x 429 + 1 timeout retried (a loaded machine may add a slow reply's timeout on top)
    assert adapter.retries >= 3 and len(proxy.seen) == 2 + adapter.retries
    assert all(r.raw_text and r.error is None for r in read_records(out))


def test_exhausted_retries_are_recorded_and_auth_errors_stop(
    proxy, server, tmp_path_factory
) -> None:
    dataset = tiny_dataset(tmp_path_factory)
    folder = tmp_path_factory.mktemp("errors")
    proxy.always = "503"
    s = run_baseline(
        dataset=dataset,
        split="test",
        limit=1,
        model=f"openai:{server[1]}@{proxy.url}",
        setting="zero-shot",
        out=folder / "p.jsonl",
        questions=[1, 60],
        options={**OPTIONS, "max_retries": 2},
        progress=False,
    )
    assert s.errors == 2 and len(proxy.seen) == 6
    assert all(
        r.error.startswith("HTTP 503") and r.raw_text == ""
        for r in read_records(folder / "p.jsonl")
    )
    proxy.always = "401"
    with pytest.raises(AdapterError, match="HTTP 401"):
        run_baseline(
            dataset=dataset,
            split="test",
            limit=1,
            model=f"openai:{server[1]}@{proxy.url}",
            setting="zero-shot",
            out=folder / "q.jsonl",
            questions=[1],
            options=OPTIONS,
            progress=False,
        )


def test_json_mode_is_dropped_when_the_server_refuses_it(proxy, server, tmp_path_factory) -> None:
    dataset = tiny_dataset(tmp_path_factory)
    proxy.always = "reject_json"
    out = tmp_path_factory.mktemp("json") / "p.jsonl"
    s = run_baseline(
        dataset=dataset,
        split="test",
        limit=1,
        model=f"openai:{server[1]}@{proxy.url}",
        setting="zero-shot",
        out=out,
        questions=[1, 44],
        max_concurrency=1,
        options={**OPTIONS, "json_response": True},
        progress=False,
    )
    assert s.errors == 0
    assert [x["json_mode"] for x in proxy.seen] == [True, False, False]


def test_api_key_is_sent_but_never_written(
    proxy, server, tmp_path_factory, monkeypatch, capfd
) -> None:
    dataset = tiny_dataset(tmp_path_factory)
    secret = f"sk-reasonknee-{uuid.uuid4().hex}"
    monkeypatch.setenv("REASONKNEE_TEST_KEY", secret)
    folder = tmp_path_factory.mktemp("secret")
    proxy.plan = ["429", "503"]
    run_baseline(
        dataset=dataset,
        split="test",
        limit=1,
        model=f"openai:{server[1]}@{proxy.url}",
        setting="instruction",
        out=folder / "p.jsonl",
        questions=[1, 44],
        max_concurrency=2,
        options={**OPTIONS, "api_key_env": "REASONKNEE_TEST_KEY"},
        progress=True,
    )
    proxy.always = "401"
    with pytest.raises(AdapterError) as err:
        run_baseline(
            dataset=dataset,
            split="test",
            limit=1,
            model=f"openai:{server[1]}@{proxy.url}",
            setting="zero-shot",
            out=folder / "q.jsonl",
            questions=[1],
            options={**OPTIONS, "api_key_env": "REASONKNEE_TEST_KEY"},
            progress=False,
        )
    assert {x["auth"] for x in proxy.seen} == {f"Bearer {secret}"}
    assert secret not in str(err.value)
    captured = capfd.readouterr()
    assert secret not in captured.out and secret not in captured.err
    files = [p for p in folder.rglob("*") if p.is_file()]
    assert files
    for p in files:
        assert secret.encode() not in p.read_bytes(), p


def test_unreachable_server_stops_the_run(tmp_path_factory) -> None:
    dataset = tiny_dataset(tmp_path_factory)
    port = _free_port()  # nothing listens there
    with pytest.raises(AdapterError, match="cannot connect"):
        run_baseline(
            dataset=dataset,
            split="test",
            limit=1,
            model=f"openai:m@http://127.0.0.1:{port}/v1",
            setting="zero-shot",
            out=tmp_path_factory.mktemp("down") / "p.jsonl",
            questions=[1, 2, 3],
            options={**OPTIONS, "max_retries": 1},
            progress=False,
        )
