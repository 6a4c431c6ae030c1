"""Run the per-scan work locally (in process or a process pool) or as Ray tasks.

``executor="ray"`` runs them as Ray tasks in a :func:`~quintuple_builder.ray_session`:
the cluster at ``RAY_ADDRESS`` when set (its workers must import
quintuple-builder), otherwise a local instance of ``num_cpus`` CPUs (default 2)
shut down afterwards. Results come back
in task order whatever the executor, so builds are identical (tested).
"""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor

from quintuple_builder.errors import QuintupleBuilderError
from quintuple_builder.ray_session import ray_session
from quintuple_builder.scan_work import ScanResult, ScanTask, process_scan

__all__ = ["EXECUTORS", "run_scans"]

EXECUTORS: tuple[str, ...] = ("local", "ray")


def _bar(total: int, progress: bool, desc: str):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="scan", disable=not progress)


def _run_local(tasks: Sequence[ScanTask], *, workers: int, progress: bool) -> list[ScanResult]:
    with _bar(len(tasks), progress, "scans") as bar:
        if workers <= 1:
            out = []
            for t in tasks:
                out.append(process_scan(t))
                bar.update()
            return out
        # spawn, not fork: the parent runs polars' thread pool
        with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn")) as pool:
            results = []
            for r in pool.map(process_scan, tasks, chunksize=1):
                results.append(r)
                bar.update()
            return results


def _run_ray(tasks: Sequence[ScanTask], *, num_cpus: int, progress: bool) -> list[ScanResult]:
    with ray_session(num_cpus=num_cpus) as ray:
        remote = ray.remote(num_cpus=1, max_retries=1)(process_scan)
        refs = [remote.remote(t) for t in tasks]
        index = {ref: i for i, ref in enumerate(refs)}
        results: list[ScanResult | None] = [None] * len(refs)
        pending = list(refs)
        with _bar(len(refs), progress, "scans (ray)") as bar:
            while pending:
                done, pending = ray.wait(pending, num_returns=min(len(pending), 16), timeout=1.0)
                for ref in done:
                    results[index[ref]] = ray.get(ref)
                bar.update(len(done))
        return [r for r in results if r is not None]


def run_scans(
    tasks: Sequence[ScanTask],
    *,
    executor: str = "local",
    workers: int = 1,
    num_cpus: int = 2,
    progress: bool = True,
) -> list[ScanResult]:
    """Process every scan; results in task order, failures included (``ok=False``)."""
    if executor == "local":
        return _run_local(tasks, workers=workers, progress=progress)
    if executor == "ray":
        return _run_ray(tasks, num_cpus=num_cpus, progress=progress)
    raise QuintupleBuilderError(
        f"unknown executor {executor!r}: expected one of {', '.join(EXECUTORS)}"
    )
