"""The resumable runner: dataset split + adapter + setting -> predictions JSONL.

Records are appended, flushed and fsynced one by one as replies arrive
(:class:`~vlm_adapters.records.RecordLog`). A rerun with the same output file
reads what is there (ignoring a torn last line, which it cuts off), skips the
(scan, question) pairs already done and appends the rest, so killing a run at
any point and rerunning it gives the same set of records as one uninterrupted
run: none lost, none duplicated.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from knee_volumes.atomic import atomic_file
from moaks_schema import PromptSetting

from vlm_adapters.dataset import ScanItems, load_split
from vlm_adapters.errors import AdapterError
from vlm_adapters.inputs import iter_batches
from vlm_adapters.protocol import SETTINGS, Adapter, Batch
from vlm_adapters.records import PredictionRecord, RecordLog, read_records, repair_log

__all__ = ["RunSummary", "run_adapter", "run_baseline"]

#: ``progress(done, total)`` — called once at the start and after every record.
ProgressFn = Callable[[int, int], None]


@dataclass(frozen=True, slots=True)
class RunSummary:
    """What a run did: records written now, already there, failed, wall time.

    ``errors`` counts the records of this run's (scan, question) pairs that
    hold an error in the file, whether written now or by an earlier run (a
    rerun without ``retry_errors`` keeps them).
    """

    out: Path
    total: int
    written: int
    skipped: int
    errors: int
    wall_s: float
    prompt_tokens: int
    prefill_tokens: int | None
    completion_tokens: int


def _existing(
    out: Path, *, model: str, setting: str, retry_errors: bool
) -> dict[str, PredictionRecord]:
    repair_log(out)
    records = read_records(out)
    for r in records:
        if r.model != model or r.setting != setting:
            raise AdapterError(
                f"{out}: holds records of model {r.model!r}, setting {r.setting!r}; this run is model "
                f"{model!r}, setting {setting!r} (use another --out file)"
            )
    if retry_errors and any(r.error is not None for r in records):
        keep = [r for r in records if r.error is None]
        with atomic_file(out) as tmp, open(tmp, "w", encoding="utf-8") as fh:
            for r in keep:
                fh.write(r.to_json() + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        records = keep
    return {r.record_id: r for r in records}


def run_adapter(
    adapter: Adapter,
    scans: Sequence[ScanItems],
    *,
    setting: PromptSetting,
    out: str | os.PathLike[str],
    retry_errors: bool = False,
    progress: ProgressFn | bool = True,
    fsync: bool = True,
) -> RunSummary:
    """Run ``adapter`` on ``scans`` in ``setting``, appending records to ``out`` (resumable)."""
    if setting not in SETTINGS:
        raise AdapterError(f"setting {setting!r}: expected one of {', '.join(SETTINGS)}")
    out = Path(out)
    done = (
        _existing(out, model=adapter.name, setting=setting, retry_errors=retry_errors)
        if out.exists()
        else {}
    )
    all_ids = [it.record_id for s in scans for it in s.items]
    total = len(all_ids)
    skipped = sum(1 for r in all_ids if r in done)
    errors_before = sum(1 for r in all_ids if r in done and done[r].error is not None)
    patient = {it.record_id: it.patient_id for s in scans for it in s.items}
    pending: dict[str, tuple[Batch, int]] = {}

    def batches():
        for batch in iter_batches(scans, setting=setting, spec=adapter.input_spec, done=done):
            for i, q in enumerate(batch.queries):
                pending[q.record_id] = (batch, i)
            yield batch

    bar = None
    if progress is True:
        from tqdm.auto import tqdm

        bar = tqdm(
            total=total,
            initial=skipped,
            unit="q",
            desc=f"{adapter.name} {setting}",
            dynamic_ncols=True,
        )
        report: ProgressFn | None = lambda d, t: bar.update(d - bar.n)  # noqa: E731
    elif callable(progress):
        report = progress
    else:
        report = None
    if report is not None:
        report(skipped, total)
    t0 = time.perf_counter()
    written = errors = p_tok = c_tok = 0
    prefill: int | None = 0
    try:
        with RecordLog(out, fsync=fsync) as log:
            for reply in adapter.run(batches()):
                batch, i = pending.pop(reply.record_id)
                q = batch.queries[i]
                rec = PredictionRecord.from_reply(
                    batch,
                    q,
                    reply,
                    patient_id=patient[q.record_id],
                    setting=setting,
                    model=adapter.name,
                )
                log.append(rec)
                written += 1
                errors += reply.error is not None
                p_tok += reply.usage.prompt_tokens
                c_tok += reply.usage.completion_tokens
                if prefill is not None:
                    prefill = (
                        None
                        if reply.usage.prefill_tokens is None
                        else prefill + reply.usage.prefill_tokens
                    )
                if report is not None:
                    report(skipped + written, total)
    finally:
        if bar is not None:
            bar.close()
    return RunSummary(
        out,
        total,
        written,
        skipped,
        errors_before + errors,
        time.perf_counter() - t0,
        p_tok,
        prefill,
        c_tok,
    )


def run_baseline(
    *,
    dataset: str | os.PathLike[str],
    split: str,
    model: str,
    setting: PromptSetting,
    out: str | os.PathLike[str],
    questions: Sequence[int] | None = None,
    limit: int | None = None,
    shard: tuple[int, int] | None = None,
    max_concurrency: int | None = None,
    seed: int = 0,
    options: dict | None = None,
    retry_errors: bool = False,
    progress: ProgressFn | bool = True,
) -> RunSummary:
    """Everything ``reasonknee baseline`` does, from Python.

    >>> # run_baseline(dataset="data/phantom", split="test", model="majority",
    >>> #              setting="instruction", out="runs/majority.jsonl")
    """
    from vlm_adapters.spec import make_adapter

    scans = load_split(dataset, split, questions=questions, limit=limit, shard=shard)
    adapter = make_adapter(
        model, dataset=dataset, seed=seed, max_concurrency=max_concurrency, options=options
    )
    try:
        return run_adapter(
            adapter, scans, setting=setting, out=out, retry_errors=retry_errors, progress=progress
        )
    finally:
        adapter.close()
