"""The umbrella `reasonknee` command on broken inputs (one message, exit 2 usage / 1 failure, never a
traceback), and the docs' `--model openai:…` examples run as written against a local server."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner
from reasonknee.cli import main


class ChatServer:
    """A small OpenAI-compatible chat endpoint on 127.0.0.1 (a thread; bounded; stops itself).

    Every answer is a chat completion saying grade 0 with no box; ``images`` counts
    the slices each request carried.
    """

    def __init__(self, max_requests: int = 2000) -> None:
        self.images: list[int] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
                parts = body["messages"][0]["content"]
                server.images.append(sum(p["type"] == "image_url" for p in parts))
                answer = json.dumps({"grade": 0, "box": None})
                reply = {"choices": [{"message": {"content": answer}}], "usage": {}}
                data = json.dumps(reply).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args) -> None:
                return None

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.timeout = 1
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self._stop = threading.Event()
        self._max = max_requests
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        for _ in range(self._max):
            if self._stop.is_set():
                break
            self.httpd.handle_request()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.httpd.server_close()


@pytest.fixture
def chat() -> Iterator[ChatServer]:
    server = ChatServer()
    yield server
    server.close()


def _demo(out: Path, *extra: str) -> list[str]:
    return ["demo", "--out", str(out), "--patients", "3", "--shape", "48,64,64",
            "--bootstrap", "0", "--quiet", *extra]  # fmt: skip


def _baseline(t: Path, *extra: str) -> list[str]:
    return ["baseline", "--dataset", str(t), "--model", "majority", "--setting", "instruction",
            "--out", str(t / "p.jsonl"), *extra]  # fmt: skip


CASES = [
    ("demo-shape", lambda t: ["demo", "--shape", "4,4", "--out", str(t / "d")], 2, ["--shape"]),
    ("demo-option", lambda t: _demo(t / "d", "--option", "slices"), 2, ["--option", "slices"]),
    ("demo-model-spec", lambda t: _demo(t / "d", "--model", "gpt:x"), 2, ["--model", "gpt:x"]),
    (
        "build-visits",
        lambda t: ["build", "--phantom", "2", "--visits", "99M", "--out", str(t / "b")],
        2,
        ["--visits", "99M"],
    ),
    ("baseline-not-a-dataset", _baseline, 1, ["manifest.json", "expected a dataset folder"]),
    ("train-neither", lambda t: ["train", "segmenter", "--out", str(t / "m")], 2, ["exactly one"]),
    ("schema-option", lambda t: ["schema", "--bogus"], 2, ["--bogus"]),
]


@pytest.mark.parametrize(
    ("make_args", "code", "words"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_broken_input_gives_one_message_and_an_exit_code(
    tmp_path: Path, make_args, code: int, words: list[str]
) -> None:
    res = CliRunner().invoke(main, make_args(tmp_path))
    output = res.output
    assert res.exit_code == code, output
    assert res.exception is None or isinstance(res.exception, SystemExit), repr(res.exception)
    assert "Traceback" not in output
    errors = [line for line in output.splitlines() if line.startswith("Error")]
    assert len(errors) == 1, output
    for word in words:
        assert word in (errors[0] if code == 1 else output), output


@pytest.mark.slow
def test_demo_with_an_openai_model_runs_on_48_slices_and_an_unreachable_one_fails_cleanly(
    chat: ChatServer, tmp_path: Path
) -> None:
    # the quickstart's example, pointed at this test's server (48-slice phantom scans)
    res = CliRunner().invoke(main, _demo(tmp_path / "d", "--model", f"openai:gpt-4o@{chat.url}"))
    assert res.exit_code == 0, res.output
    assert chat.images and set(chat.images) == {28}  # o1's slices 32..128 of 160, scaled to 48
    summary = json.loads((tmp_path / "d" / "report" / "summary.json").read_text())
    assert f"openai:gpt-4o@{chat.url}" in summary["config"]["models"]
    assert f"openai:gpt-4o@{chat.url}" in summary["headline"]
    # with --option like `reasonknee baseline`, and a server that is not there
    down = "openai:gpt-4o@http://127.0.0.1:9/v1"
    res = CliRunner().invoke(
        main, _demo(tmp_path / "e", "--model", down, "--option", "max_retries=0")
    )
    assert res.exit_code == 1 and "Traceback" not in res.output, res.output
    errors = [line for line in res.output.splitlines() if line.startswith("Error")]
    assert len(errors) == 1 and "127.0.0.1:9" in errors[0] and "cannot connect" in errors[0]


def test_baselines_doc_local_server_example_runs_as_written(
    chat: ChatServer, tmp_path: Path
) -> None:
    from knee_phantom import write_phantom_dataset

    dataset = write_phantom_dataset(tmp_path / "dataset", n_patients=3, seed=0)
    # docs/baselines.md: reasonknee baseline ... --model openai:/models/...@http://127.0.0.1:8000/v1
    #     --max-concurrency 64   (here the test server's port and a small slice of the split)
    args = ["baseline", "--dataset", str(dataset), "--setting", "instruction", "--out",
            str(tmp_path / "p.jsonl"), "--model", f"openai:/models/Qwen2.5-VL-7B-Instruct@{chat.url}",
            "--max-concurrency", "64", "--limit", "1", "--questions", "1-3"]  # fmt: skip
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    assert "3 written, 0 already done, 0 errors" in " ".join(res.output.split())
