"""Run the per-scan work locally (in process or a process pool) or as Ray tasks.

``executor="ray"`` connects to ``RAY_ADDRESS`` when set (a cluster whose
workers can import quintuple-builder), otherwise starts a local Ray instance
(``num_cpus`` CPUs, default 2) and shuts it down afterwards. Results come back
in task order whatever the executor, so builds are identical (tested).
"""

from __future__ import annotations

import multiprocessing as mp
import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor

from quintuple_builder.errors import QuintupleBuilderError
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


def _no_uv_runtime_env() -> None:
    """Workers of a local instance run this interpreter: stop Ray re-creating a `uv run` environment
    (it would repackage the working tree and install it anew in every worker)."""
    os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
    import sys

    constants = sys.modules.get("ray._private.ray_constants")
    if constants is not None and os.environ["RAY_ENABLE_UV_RUN_RUNTIME_ENV"] == "0":
        setattr(constants, "RAY_ENABLE_UV_RUN_RUNTIME_ENV", False)  # noqa: B010


def _run_ray(tasks: Sequence[ScanTask], *, num_cpus: int, progress: bool) -> list[ScanResult]:
    if not os.environ.get("RAY_ADDRESS"):
        _no_uv_runtime_env()
    try:
        import ray
    except ImportError as exc:
        raise QuintupleBuilderError(
            "executor 'ray' needs Ray: install the extra, pip install 'quintuple-builder[ray]'"
        ) from exc
    started = False
    if not ray.is_initialized():
        address = os.environ.get("RAY_ADDRESS")
        if address:
            ray.init(address=address, log_to_driver=False, configure_logging=False)
        else:
            ray.init(
                num_cpus=num_cpus,
                include_dashboard=False,
                log_to_driver=False,
                configure_logging=False,
            )
        started = True
    try:
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
    finally:
        if started:
            ray.shutdown()


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
