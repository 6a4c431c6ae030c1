"""Run folder layout and resumable training state (written atomically).

```
<out>/
  checkpoint/      last resumable state: adapter, optimizer + scheduler + RNG (trainer_state.pt), progress.json
  best/            the adapter with the best validation accuracy (+ processor files, sft_run.json)
  eval/            epoch-NNN.predictions.jsonl and epoch-NNN.metrics.json per evaluated epoch
  result.json      written when the run has finished
```

``best/`` loads with ``PeftModel.from_pretrained(base_model, "<out>/best")``
and in the adapters as ``qwen2.5-vl:BASE+lora:<out>/best`` or
``med3dvlm:BASE+lora:<out>/best``.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from knee_volumes.atomic import atomic_file

from vlm_adapters.errors import AdapterError

__all__ = [
    "BEST_DIR",
    "CHECKPOINT_DIR",
    "EVAL_DIR",
    "PROGRESS_FILE",
    "RESULT_FILE",
    "RUN_INFO_FILE",
    "TRAINER_STATE_FILE",
    "atomic_dir",
    "read_json",
    "recover_dir",
    "write_json",
    "write_lines",
]

CHECKPOINT_DIR = "checkpoint"
BEST_DIR = "best"
EVAL_DIR = "eval"
RESULT_FILE = "result.json"
PROGRESS_FILE = "progress.json"
TRAINER_STATE_FILE = "trainer_state.pt"
#: Written into ``best/``: the training options and the validation figures of that adapter.
RUN_INFO_FILE = "sft_run.json"


@contextmanager
def atomic_dir(path: Path) -> Iterator[Path]:
    """Yield a temporary sibling folder; on success it replaces ``path`` (old copy kept until then).

    A crash leaves either the previous ``path`` or, at worst, ``path`` missing with
    ``<path>.old`` holding the previous copy (:func:`recover_dir` restores it).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp.", dir=path.parent))
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = path.with_name(path.name + ".old")
    if old.exists():
        shutil.rmtree(old)
    if path.exists():
        os.replace(path, old)
    os.replace(tmp, path)
    shutil.rmtree(old, ignore_errors=True)


def recover_dir(path: Path) -> None:
    """Restore ``<path>.old`` when a crash hit between the two renames of :func:`atomic_dir`."""
    old = path.with_name(path.name + ".old")
    if not path.exists() and old.exists():
        os.replace(old, path)


def write_json(path: Path, data: Any) -> None:
    """Write JSON to ``path`` through a temporary file and a rename."""
    with atomic_file(path) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=2, sort_keys=True)
        fh.write("\n")


def read_json(path: Path, *, what: str = "file") -> Any:
    """Read a JSON file, raising :class:`AdapterError` naming it when it is not valid JSON."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise AdapterError(f"{path}: expected a readable JSON {what} ({exc})") from exc


def write_lines(path: Path, lines: list[str]) -> None:
    """Write text lines atomically (one JSON object per line for a JSONL)."""
    with atomic_file(path) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        for line in lines:
            fh.write(line + "\n")
