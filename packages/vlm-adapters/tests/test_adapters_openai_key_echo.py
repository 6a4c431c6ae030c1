"""The API key never leaks, even when a server echoes the request's Authorization header back.

A real HTTP server on 127.0.0.1 (a thread of this test; it serves a bounded
number of requests and stops with the fixture) answers every chat request with
a 401, 429, 500 or a malformed 200 whose body holds the request's
``Authorization`` header and an ``sk-`` key of its own. The key must appear in
no raised message, log record, console output or prediction record.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from vlm_adapters import AdapterError, read_records, run_baseline
from vlm_adapters.openai_api import redact

OPTIONS = {"slices": 4, "max_tokens": 8, "backoff_s": 0.0, "max_retries": 1, "timeout_s": 10.0}
OTHER_KEY = "sk-proj-" + "Z9" * 20


class EchoServer:
    """Answers POSTs with ``status`` and a body echoing the Authorization header (at most 200)."""

    def __init__(self) -> None:
        self.status: int | str = 401
        self.headers_seen: list[str] = []
        self.images: list[int] = []
        echo = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                request = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
                auth = self.headers.get("Authorization", "")
                echo.headers_seen.append(auth)
                parts = request["messages"][0]["content"]
                echo.images.append(sum(p["type"] == "image_url" for p in parts))
                if echo.status == "ok":  # a chat completion
                    body = json.dumps({"choices": [{"message": {"content": "grade 0"}}]}).encode()
                elif echo.status == 200:  # not a chat completion
                    body = f'{{"oops": "you sent {auth}", "also": "{OTHER_KEY}"'.encode()
                else:
                    payload = {"error": {"message": f"bad header {auth!r}", "key": OTHER_KEY}}
                    body = json.dumps(payload).encode()
                self.send_response(200 if echo.status == "ok" else echo.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                if echo.status == 429:
                    self.send_header("Retry-After", "0")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                return None

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.timeout = 1
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        for _ in range(200):  # bounded: stops by itself
            if self._stop.is_set():
                break
            self.httpd.handle_request()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.httpd.server_close()


@pytest.fixture
def echo() -> Iterator[EchoServer]:
    server = EchoServer()
    yield server
    server.close()


def _run(dataset: Path, url: str, out: Path) -> object:
    return run_baseline(
        dataset=dataset,
        split="test",
        limit=1,
        model=f"openai:m@{url}",
        setting="zero-shot",
        out=out,
        questions=[1],
        options={**OPTIONS, "api_key_env": "REASONKNEE_ECHO_KEY"},
        progress=True,
    )


@pytest.mark.parametrize("status", [401, 429, 500, 200])
def test_echoed_key_is_redacted_everywhere(
    dataset, echo, status, tmp_path, monkeypatch, caplog, capfd
) -> None:
    secret = f"sk-reasonknee-{uuid.uuid4().hex}"
    monkeypatch.setenv("REASONKNEE_ECHO_KEY", secret)
    echo.status = status
    caplog.set_level(logging.DEBUG)
    out = tmp_path / "p.jsonl"
    raised = ""
    if status == 401:
        with pytest.raises(AdapterError) as err:
            _run(dataset, echo.url, out)
        raised = str(err.value)
        assert "HTTP 401" in raised and "[redacted]" in raised
    else:
        _run(dataset, echo.url, out)
        errors = [r.error for r in read_records(out)]
        assert errors and all(errors), errors
        assert all("[redacted]" in e for e in errors), errors
        raised = " ".join(errors)
    assert echo.headers_seen and set(echo.headers_seen) == {f"Bearer {secret}"}
    captured = capfd.readouterr()
    for text in (raised, caplog.text, captured.out, captured.err):
        assert secret not in text
        assert OTHER_KEY not in text
    for p in tmp_path.rglob("*"):
        if p.is_file():
            assert secret.encode() not in p.read_bytes(), p


def test_redact_covers_the_key_bearer_tokens_and_sk_keys() -> None:
    text = "Bearer abc.DEF-123_x and sk-ant-api03-xyz789 and mysecretvalue42, fine"
    out = redact(text, keys=["mysecretvalue42"])
    assert out == "Bearer [redacted] and [redacted] and [redacted], fine"
    assert redact("authorization: Basic dXNlcjpwYXNz") == "authorization: Basic [redacted]"


def test_default_slices_fit_the_scan(dataset, echo, tmp_path, monkeypatch) -> None:
    from knee_volumes import SliceRange
    from vlm_adapters import load_split

    monkeypatch.setenv("REASONKNEE_ECHO_KEY", "sk-test-0000000000")
    echo.status = "ok"
    n_slices = load_split(dataset, "test", limit=1)[0].shape[0]
    assert n_slices < 128  # the public o1 script's range (32, 128) would not fit
    options = {k: v for k, v in OPTIONS.items() if k != "slices"}
    summary = run_baseline(
        dataset=dataset,
        split="test",
        limit=1,
        model=f"openai:m@{echo.url}",
        setting="zero-shot",
        out=tmp_path / "p.jsonl",
        questions=[1],
        options={**options, "api_key_env": "REASONKNEE_ECHO_KEY"},
        progress=False,
    )
    assert summary.errors == 0 and summary.written == 1
    assert echo.images == [SliceRange(0.2, 0.8, 32).resolve(n_slices)[2]]
    assert SliceRange(0.2, 0.8, 32).resolve(160) == (32, 128, 32)


def test_slices_that_do_not_fit_say_how_to_choose(dataset, tmp_path) -> None:
    with pytest.raises(AdapterError, match=r"not inside the \d+ slices available: choose 'all', N"):
        run_baseline(
            dataset=dataset,
            split="test",
            limit=1,
            model="openai:m@http://127.0.0.1:9/v1",
            setting="zero-shot",
            out=tmp_path / "p.jsonl",
            questions=[1],
            options={**OPTIONS, "slices": (32, 128, 32)},
            progress=False,
        )
