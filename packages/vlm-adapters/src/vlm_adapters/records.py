"""The predictions JSONL (docs/formats.md): one record per (scan, question), crash-proof.

Each record is written as one line with its newline in a single ``write``,
then flushed and fsynced, so after a crash the file holds complete records
plus at most one torn last line. :func:`repair_log` cuts such a tail off
before a resumed run appends; a record counts as done only once its newline
is on disk.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from vlm_adapters.errors import AdapterError

if TYPE_CHECKING:
    from moaks_schema import PromptSetting

    from vlm_adapters.protocol import Batch, Query, Reply

__all__ = [
    "PredictionRecord",
    "RecordLog",
    "prompt_hash",
    "read_records",
    "repair_log",
]


def prompt_hash(prompt: str) -> str:
    """sha256 hex of the exact prompt text (UTF-8).

    >>> prompt_hash("abc")[:12]
    'ba7816bf8f01'
    """
    return hashlib.sha256(prompt.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class PredictionRecord:
    """One line of the predictions JSONL (field names are the file's keys)."""

    record_id: str
    scan_id: str
    patient_id: str
    question_id: int
    setting: str
    model: str
    prompt_hash: str
    raw_text: str
    view: dict[str, Any] | None
    usage: dict[str, int | None] = field(default_factory=dict)
    latency_s: float = 0.0
    error: str | None = None
    prep_s: float = 0.0

    @classmethod
    def from_reply(
        cls,
        batch: Batch,
        query: Query,
        reply: Reply,
        *,
        patient_id: str,
        setting: PromptSetting,
        model: str,
    ) -> PredictionRecord:
        """The record of ``reply`` to ``query`` of ``batch`` (its scan's preparation time shared evenly)."""
        view = batch.scan.view.to_dict() if batch.scan.view is not None else None
        return cls(
            record_id=query.record_id,
            scan_id=query.scan_id,
            patient_id=patient_id,
            question_id=query.question_id,
            setting=setting,
            model=model,
            prompt_hash=prompt_hash(query.prompt),
            raw_text=reply.raw_text,
            view=view,
            usage=reply.usage.to_dict(),
            latency_s=reply.latency_s,
            error=reply.error,
            prep_s=batch.scan.prep_s / len(batch.queries),
        )

    def to_json(self) -> str:
        return json.dumps(
            {
                "record_id": self.record_id,
                "scan_id": self.scan_id,
                "patient_id": self.patient_id,
                "question_id": self.question_id,
                "setting": self.setting,
                "model": self.model,
                "prompt_hash": self.prompt_hash,
                "raw_text": self.raw_text,
                "view": self.view,
                "usage": self.usage,
                "latency_s": round(self.latency_s, 6),
                "prep_s": round(self.prep_s, 6),
                "error": self.error,
            },
            ensure_ascii=False,
        )

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PredictionRecord:
        return cls(
            record_id=str(d["record_id"]),
            scan_id=str(d["scan_id"]),
            patient_id=str(d.get("patient_id", "")),
            question_id=int(d["question_id"]),
            setting=str(d["setting"]),
            model=str(d["model"]),
            prompt_hash=str(d.get("prompt_hash", "")),
            raw_text=str(d.get("raw_text", "")),
            view=d.get("view"),
            usage=dict(d.get("usage") or {}),
            latency_s=float(d.get("latency_s") or 0.0),
            error=d.get("error"),
            prep_s=float(d.get("prep_s") or 0.0),
        )


def _iter_lines(path: Path) -> Iterator[tuple[int, bytes]]:
    with open(path, "rb") as fh:
        yield from enumerate(fh, start=1)


def repair_log(path: str | os.PathLike[str]) -> int:
    """Cut an unterminated (torn) last line off ``path``; return the bytes removed.

    A missing file is left alone (0).
    """
    p = Path(path)
    if not p.exists():
        return 0
    size = p.stat().st_size
    if size == 0:
        return 0
    with open(p, "rb+") as fh:
        fh.seek(0, os.SEEK_END)
        end = fh.tell()
        # find the last newline, reading backwards in chunks
        pos = end
        keep = 0
        while pos > 0:
            step = min(65536, pos)
            pos -= step
            fh.seek(pos)
            chunk = fh.read(step)
            idx = chunk.rfind(b"\n")
            if idx >= 0:
                keep = pos + idx + 1
                break
        if keep == end:
            return 0
        fh.truncate(keep)
        fh.flush()
        os.fsync(fh.fileno())
        return end - keep


def read_records(
    path: str | os.PathLike[str], *, allow_torn_tail: bool = True
) -> list[PredictionRecord]:
    """Read a predictions JSONL; an unterminated last line is ignored (a crash's torn write).

    A malformed complete line raises :class:`AdapterError` naming the file and line.
    """
    p = Path(path)
    out: list[PredictionRecord] = []
    if not p.exists():
        return out
    for lineno, line in _iter_lines(p):
        if not line.endswith(b"\n"):
            if allow_torn_tail:
                break
            raise AdapterError(f"{p}: line {lineno} is not terminated (torn write)")
        if not line.strip():
            continue
        try:
            out.append(PredictionRecord.from_dict(json.loads(line)))
        except (ValueError, KeyError, TypeError) as exc:
            raise AdapterError(
                f"{p}: line {lineno} is not a prediction record (expected a JSON object with "
                f"record_id, scan_id, question_id, setting, model): {exc}"
            ) from None
    return out


class RecordLog:
    """Append-only writer: one ``write`` per record, then flush and fsync.

    >>> import tempfile, os
    >>> d = tempfile.mkdtemp()
    >>> with RecordLog(os.path.join(d, "p.jsonl")) as log:
    ...     log.append(PredictionRecord("s_1", "s", "p", 1, "instruction", "majority", "h", "{}", None))
    >>> [r.record_id for r in read_records(os.path.join(d, "p.jsonl"))]
    ['s_1']
    """

    def __init__(self, path: str | os.PathLike[str], *, fsync: bool = True) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        repair_log(self.path)
        self._fh: IO[bytes] = open(self.path, "ab")  # noqa: SIM115 - closed by close() / __exit__
        self._fsync = fsync

    def append(self, record: PredictionRecord) -> None:
        self._fh.write((record.to_json() + "\n").encode("utf-8"))
        self._fh.flush()
        if self._fsync:
            os.fsync(self._fh.fileno())

    def close(self) -> None:
        if not self._fh.closed:
            self._fh.close()

    def __enter__(self) -> RecordLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
