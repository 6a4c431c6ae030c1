"""Sharded runs: split a run's scans over workers (local processes or Ray tasks), then merge.

Each shard ``i`` of ``n`` runs the scans ``i, i+n, ...`` into its own
resumable log ``<out stem>.shard<i>of<n>.jsonl`` beside ``out``; when every
shard is done their records are merged (each record once, shard order) into
``out``, written to a temporary file and renamed into place. Rerunning after a
failure resumes every shard where it stopped.

With ``executor="ray"`` the shards are Ray tasks on the cluster named by
``$RAY_ADDRESS`` (or a local Ray instance), each asking for ``num_gpus`` GPUs,
so a farm of GPU workers runs one model replica per shard. An OpenAI-compatible
server farm (vLLM, SGLang) needs no sharding: raise ``max_concurrency``.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from knee_volumes.atomic import atomic_file

from vlm_adapters.errors import AdapterError, needs_extra
from vlm_adapters.records import read_records
from vlm_adapters.runner import RunSummary, run_baseline

__all__ = ["merge_records", "run_sharded", "shard_path"]


def shard_path(out: str | os.PathLike[str], index: int, shards: int) -> Path:
    """Where shard ``index`` of ``shards`` logs its records.

    >>> shard_path("runs/q.jsonl", 1, 4).name
    'q.shard1of4.jsonl'
    """
    p = Path(out)
    return p.with_name(f"{p.stem}.shard{index}of{shards}{p.suffix or '.jsonl'}")


def merge_records(parts: list[Path], out: str | os.PathLike[str]) -> int:
    """Merge shard logs into ``out`` (atomically; a record id seen twice is kept once). Returns the count."""
    out = Path(out)
    seen: set[str] = set()
    n = 0
    with atomic_file(out) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        for part in parts:
            for r in read_records(part):
                if r.record_id in seen:
                    continue
                seen.add(r.record_id)
                fh.write(r.to_json() + "\n")
                n += 1
        fh.flush()
        os.fsync(fh.fileno())
    return n


def _shard(kwargs: dict[str, Any]) -> RunSummary:
    return run_baseline(**kwargs)


def _on_ray(jobs: list[dict[str, Any]], *, num_gpus: float, num_cpus: float) -> list[RunSummary]:
    from quintuple_builder import ray_session

    with needs_extra("ray"):  # imported here so that the message names this package's extra
        import ray
    with ray_session():
        task = ray.remote(num_gpus=num_gpus, num_cpus=num_cpus, max_retries=2)(_shard)
        return list(ray.get([task.remote(j) for j in jobs]))


def run_sharded(
    *,
    shards: int,
    out: str | os.PathLike[str],
    executor: str = "ray",
    num_gpus: float = 0.0,
    num_cpus: float = 1.0,
    **run_kwargs: Any,
) -> RunSummary:
    """:func:`~vlm_adapters.run_baseline` in ``shards`` parts (``executor``: ``ray`` or ``local``), merged into ``out``."""
    if shards < 1:
        raise AdapterError(f"shards {shards}: expected >= 1")
    if executor not in ("ray", "local"):
        raise AdapterError(f"executor {executor!r}: expected 'ray' or 'local'")
    t0 = time.perf_counter()
    parts = [shard_path(out, i, shards) for i in range(shards)]
    jobs = [
        {**run_kwargs, "out": str(p), "shard": (i, shards), "progress": False}
        for i, p in enumerate(parts)
    ]
    if executor == "local":
        summaries = [_shard(j) for j in jobs]
    else:
        summaries = _on_ray(jobs, num_gpus=num_gpus, num_cpus=num_cpus)
    merge_records(parts, out)
    prefill = [s.prefill_tokens for s in summaries]
    return RunSummary(
        out=Path(out),
        total=sum(s.total for s in summaries),
        written=sum(s.written for s in summaries),
        skipped=sum(s.skipped for s in summaries),
        errors=sum(s.errors for s in summaries),
        wall_s=time.perf_counter() - t0,
        prompt_tokens=sum(s.prompt_tokens for s in summaries),
        prefill_tokens=None
        if any(p is None for p in prefill)
        else sum(p for p in prefill if p is not None),
        completion_tokens=sum(s.completion_tokens for s in summaries),
    )
