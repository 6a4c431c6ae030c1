"""Any OpenAI-compatible chat endpoint (OpenAI o1/GPT, vLLM, SGLang, ``transformers serve``).

Slices are sent as images (PNG data URLs, encoded once per prepared scan and
reused by all its questions), before the question text so that servers with
prefix caching (vLLM, SGLang) reuse the shared image prefix. Requests run
concurrently under ``max_concurrency``, across scans (the next scan is
prepared while requests are in flight). 429 and 5xx replies, timeouts and
connection errors are retried with exponential backoff (``Retry-After``
honoured); a question that still fails is recorded with its error and the run
goes on; 401/403/404, or a server never reached at all, stop the run (a
configuration error).

The API key is read from the environment variable ``api_key_env`` at request
time and never stored on the adapter, written to any record, or put in an
error message: every server text the adapter keeps, records or raises goes
through :func:`redact` first (the key's value, anything shaped like a bearer
token or an ``sk-…`` key), so a server that echoes the request's
``Authorization`` header cannot leak it.
"""

from __future__ import annotations

import asyncio
import base64
import io
import os
import random
import re
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from knee_volumes.frames import SliceRange

from vlm_adapters.errors import AdapterError
from vlm_adapters.protocol import Batch, InputSpec, Query, Reply, ScanInput, SliceSpec, Usage

__all__ = ["O1_SLICES", "OpenAIAdapter", "OpenAIOptions", "encode_frames", "redact"]

#: The public o1 script's slices (32..128 of 160, 32 of them) as a range that fits any scan.
O1_SLICES = SliceRange(0.2, 0.8, 32)
_RETRY_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}
_FATAL_STATUS = {401, 403, 404}
_END = object()
_REDACTED = "[redacted]"
# an Authorization value after its scheme, or an "sk-" style API key
_SECRET = re.compile(r"(?i)\b(bearer|basic|token)(\s+)[A-Za-z0-9._~+/=-]+|\bsk-[A-Za-z0-9_-]{6,}")


def redact(text: str, *, keys: Iterable[str | None] = ()) -> str:
    """``text`` with each of ``keys``, bearer/basic tokens and ``sk-…`` keys replaced by ``[redacted]``.

    >>> redact("echo: Bearer sk-abc123456 and my-key-value", keys=["my-key-value"])
    'echo: Bearer [redacted] and [redacted]'
    """
    for key in keys:
        if key and len(key) >= 4:
            text = text.replace(key, _REDACTED)
    return _SECRET.sub(lambda m: f"{m[1]}{m[2]}{_REDACTED}" if m[1] else _REDACTED, text)


@dataclass(frozen=True, slots=True)
class OpenAIOptions:
    """Options of the OpenAI-compatible adapter.

    ``slices`` defaults to the public o1 script's choice, 32 evenly spaced
    slices between slices 32 and 128 of a 160-slice scan, scaled to the scan
    it is given (``SliceRange(0.2, 0.8, 32)``: the middle 60 %, with fewer
    slices where the scan has fewer); give ``N``, ``"all"`` or ``(start, stop,
    N)`` to choose others. ``json_response``: ask for ``response_format =
    {"type": "json_object"}`` (dropped for the rest of the run if the server
    rejects it). ``max_tokens_field``: ``"max_completion_tokens"`` for OpenAI
    reasoning models, ``"max_tokens"`` for most servers.
    """

    base_url: str = "https://api.openai.com/v1"
    api_key_env: str = "OPENAI_API_KEY"
    slices: SliceSpec = O1_SLICES
    size: tuple[int, int] | None = None
    window: tuple[float, float] = (0.0, 400.0)
    image_format: str = "png"
    max_concurrency: int = 8
    max_retries: int = 5
    backoff_s: float = 1.0
    backoff_max_s: float = 60.0
    timeout_s: float = 300.0
    json_response: bool = False
    max_tokens: int | None = None
    max_tokens_field: str = "max_tokens"
    temperature: float | None = None
    seed: int = 0
    extra_body: dict[str, Any] = field(default_factory=dict)


def encode_frames(frames: Any, *, image_format: str = "png") -> list[str]:
    """Each frame of a ``(T, H, W, 3)`` uint8 array as a ``data:image/...;base64,`` URL."""
    from PIL import Image

    fmt = image_format.lower()
    mime = {
        "png": "image/png",
        "jpeg": "image/jpeg",
        "jpg": "image/jpeg",
        "webp": "image/webp",
    }.get(fmt)
    if mime is None:
        raise AdapterError(f"image_format {image_format!r}: expected png, jpeg or webp")
    urls = []
    for frame in frames:
        buf = io.BytesIO()
        Image.fromarray(frame).save(buf, format="JPEG" if fmt == "jpg" else fmt.upper())
        urls.append(f"data:{mime};base64," + base64.b64encode(buf.getvalue()).decode("ascii"))
    return urls


class OpenAIAdapter:
    """A chat model behind ``{base_url}/chat/completions`` as an :class:`~vlm_adapters.Adapter`."""

    def __init__(
        self, model: str, *, options: OpenAIOptions | None = None, name: str | None = None
    ) -> None:
        self.model = model
        self.options = options or OpenAIOptions()
        o = self.options
        if o.max_concurrency < 1:
            raise AdapterError(f"max_concurrency {o.max_concurrency}: expected >= 1")
        self.name = name or (
            f"openai:{model}@{o.base_url}"
            if o.base_url != OpenAIOptions.base_url
            else f"openai:{model}"
        )
        self.input_spec = InputSpec(kind="frames", slices=o.slices, size=o.size, window=o.window)
        self._json_ok = o.json_response
        self._rng = random.Random(o.seed)
        self.retries = 0  # requests retried during the last run (for reports and tests)
        self._reached = False  # a reply came back: later connection errors are transient

    # ----------------------------------------------------------------- requests
    def _redact(self, text: str, limit: int = 300) -> str:
        """Server text fit to keep: secrets removed first, then cut to ``limit`` characters."""
        return redact(text, keys=[os.environ.get(self.options.api_key_env)])[:limit]

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        key = os.environ.get(self.options.api_key_env)
        if key:
            headers["Authorization"] = f"Bearer {key}"
        return headers

    def request_body(self, images: list[str], prompt: str) -> dict[str, Any]:
        """The chat-completions request body of one question (images first, then the text)."""
        o = self.options
        content: list[dict[str, Any]] = [
            {"type": "image_url", "image_url": {"url": u}} for u in images
        ]
        content.append({"type": "text", "text": prompt})
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [{"role": "user", "content": content}],
        }
        if o.max_tokens is not None:
            body[o.max_tokens_field] = o.max_tokens
        if o.temperature is not None:
            body["temperature"] = o.temperature
        if self._json_ok:
            body["response_format"] = {"type": "json_object"}
        body.update(o.extra_body)
        return body

    def _delay(self, attempt: int, retry_after: str | None) -> float:
        o = self.options
        if retry_after is not None:
            try:
                return min(max(float(retry_after), 0.0), o.backoff_max_s)
            except ValueError:
                pass
        base = min(o.backoff_s * (2**attempt), o.backoff_max_s)
        return base * (0.5 + self._rng.random() / 2)

    async def _one(self, client: Any, sem: asyncio.Semaphore, images: list[str], q: Query) -> Reply:
        import httpx

        url = self.options.base_url.rstrip("/") + "/chat/completions"
        t0 = time.perf_counter()
        last_error = "no attempt"
        for attempt in range(self.options.max_retries + 1):
            if attempt:
                self.retries += 1
            retry_after = None
            async with sem:
                try:
                    resp = await client.post(
                        url, json=self.request_body(images, q.prompt), headers=self._headers()
                    )
                except httpx.TimeoutException:
                    last_error = f"timeout after {self.options.timeout_s:g} s"
                    resp = None
                except httpx.TransportError as exc:
                    last_error = f"connection error: {type(exc).__name__}"
                    resp = None
            if resp is not None:
                if resp.status_code == 200:
                    self._reached = True
                    return _reply_from(q, resp, time.perf_counter() - t0, url, self._redact)
                detail = self._redact(resp.text)
                if resp.status_code == 400 and self._json_ok and "response_format" in detail:
                    self._json_ok = (
                        False  # the server does not support JSON mode: ask again without it
                    )
                    continue
                if resp.status_code in _FATAL_STATUS:
                    raise AdapterError(
                        f"{url}: HTTP {resp.status_code} (check the model name, URL and "
                        f"${self.options.api_key_env}): {detail}"
                    )
                last_error = f"HTTP {resp.status_code}: {detail}"
                if resp.status_code not in _RETRY_STATUS and resp.status_code < 500:
                    break
                retry_after = resp.headers.get("retry-after")
            if attempt < self.options.max_retries:
                await asyncio.sleep(self._delay(attempt, retry_after))
        if last_error.startswith("connection error") and not self._reached:
            raise AdapterError(
                f"{url}: cannot connect ({last_error} after {self.options.max_retries} retries); "
                "is the server running and the base URL right?"
            )
        return Reply(q.record_id, "", Usage(), time.perf_counter() - t0, error=last_error)

    async def _arun(self, batches: Iterable[Batch]) -> AsyncIterator[Reply]:
        import httpx

        o = self.options
        loop = asyncio.get_running_loop()
        sem = asyncio.Semaphore(o.max_concurrency)
        it = iter(batches)
        pending: set[asyncio.Task[Reply]] = set()
        exhausted = False
        limits = httpx.Limits(
            max_connections=o.max_concurrency, max_keepalive_connections=o.max_concurrency
        )
        async with httpx.AsyncClient(timeout=httpx.Timeout(o.timeout_s), limits=limits) as client:
            try:
                while True:
                    while not exhausted and len(pending) < 2 * o.max_concurrency:
                        batch = await loop.run_in_executor(None, next, it, _END)
                        if batch is _END:
                            exhausted = True
                            break
                        images = await loop.run_in_executor(None, self._images, batch.scan)
                        for q in batch.queries:
                            pending.add(asyncio.ensure_future(self._one(client, sem, images, q)))
                    if not pending:
                        break
                    done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                    failed = [
                        t for t in done if t.exception() is not None
                    ]  # (marks them retrieved)
                    for task in done:
                        if task not in failed:
                            yield task.result()
                    if failed:
                        raise failed[0].exception()  # type: ignore[misc]
            finally:
                for task in pending:
                    task.cancel()
                if pending:
                    await asyncio.gather(*pending, return_exceptions=True)

    def _images(self, scan: ScanInput) -> list[str]:
        if scan.frames is None:
            raise AdapterError(
                f"scan {scan.scan_id}: the OpenAI adapter needs frames (InputSpec kind 'frames')"
            )
        return encode_frames(scan.frames, image_format=self.options.image_format)

    def run(self, batches: Iterable[Batch]) -> Iterator[Reply]:
        self.retries = 0
        loop = asyncio.new_event_loop()
        agen = self._arun(batches)
        try:
            while True:
                try:
                    reply = loop.run_until_complete(agen.__anext__())
                except StopAsyncIteration:
                    break
                yield reply
        finally:
            loop.run_until_complete(agen.aclose())
            loop.run_until_complete(loop.shutdown_default_executor())
            loop.close()

    def close(self) -> None:
        return None


def _reply_from(
    q: Query, resp: Any, latency: float, url: str, clean: Callable[[str, int], str]
) -> Reply:
    try:
        data = resp.json()
        message = data["choices"][0]["message"]
    except (ValueError, KeyError, IndexError, TypeError):
        return Reply(
            q.record_id,
            "",
            Usage(),
            latency,
            error=f"{url}: reply is not a chat completion: {clean(resp.text, 200)}",
        )
    text = message.get("content") or ""
    if isinstance(text, list):  # some servers return content parts
        text = "".join(p.get("text", "") for p in text if isinstance(p, dict))
    u = data.get("usage") or {}
    details = u.get("completion_tokens_details") or {}
    usage = Usage(
        prompt_tokens=int(u.get("prompt_tokens") or 0),
        completion_tokens=int(u.get("completion_tokens") or 0),
        total_tokens=int(u.get("total_tokens") or 0),
        reasoning_tokens=int(details.get("reasoning_tokens") or 0),
        prefill_tokens=None,
    )
    return Reply(q.record_id, str(text), usage, latency)
