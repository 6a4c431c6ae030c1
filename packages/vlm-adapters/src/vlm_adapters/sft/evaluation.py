"""Validation during fine-tuning: the model in training answers the val split through its
adapter's own inference path; an evaluator given by the caller scores the replies.

vlm-adapters does not score (bench-metrics sits beside it in the dependency
direction): :func:`~vlm_adapters.sft.train_lora` takes an :data:`Evaluator`,
``evaluate(dataset, split, records) -> metrics`` whose ``"accuracy"`` entry
chooses the checkpoint kept in ``<out>/best``. ``reasonknee train vlm``
passes bench-metrics' scorer (``reasonknee_train.evaluation.bench_evaluator``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from moaks_schema import PromptSetting

from vlm_adapters.protocol import Adapter
from vlm_adapters.records import PredictionRecord
from vlm_adapters.sft.examples import SftExample

__all__ = ["Evaluator", "generate_predictions", "group_by_scan"]

#: ``evaluate(dataset, split, records) -> metrics``: scores the val replies of one epoch.
#: ``metrics["accuracy"]`` (a float in [0, 1]) picks the best checkpoint; the whole
#: dict is written to ``<out>/eval/epoch-NNN.metrics.json``, so keep it JSON-ready.
Evaluator = Callable[[Path, str, Sequence[PredictionRecord]], dict[str, Any]]


def group_by_scan(examples: Sequence[SftExample]) -> list[Any]:
    """Examples regrouped into one :class:`~vlm_adapters.dataset.ScanItems` per scan (first-seen order)."""
    scans: dict[str, Any] = {}
    for ex in examples:
        if ex.scan.scan_id in scans:
            held = scans[ex.scan.scan_id]
            scans[ex.scan.scan_id] = replace(held, items=(*held.items, ex.item))
        else:
            scans[ex.scan.scan_id] = ex.scan
    return list(scans.values())


def generate_predictions(
    peft_model: Any,
    adapter: Adapter,
    examples: Sequence[SftExample],
    *,
    setting: PromptSetting,
    read_volume: Any = None,
    progress: bool = True,
) -> list[PredictionRecord]:
    """Greedy replies of the model being trained to ``examples``, as prediction records (formats.md).

    ``adapter`` wraps the peft model (LoRA layers active, not merged) with the
    family's ``from_loaded`` (:class:`~vlm_adapters.qwen.QwenVLAdapter`,
    :class:`~vlm_adapters.med3dvlm.adapter.Med3DVLMAdapter`): the code that
    serves ``KIND:BASE+lora:DIR`` later. The model's train mode is restored.
    """
    from tqdm.auto import tqdm

    from vlm_adapters.inputs import iter_batches

    was_training = peft_model.training
    model_name = adapter.name
    scans = group_by_scan(examples)
    patients = {ex.record_id: ex.scan.patient_id for ex in examples}
    records: list[PredictionRecord] = []
    try:
        bar = tqdm(total=len(examples), desc="val", disable=not progress, leave=False)
        for batch in iter_batches(
            scans, setting=setting, spec=adapter.input_spec, read_volume=read_volume
        ):
            queries = {q.record_id: q for q in batch.queries}
            for reply in adapter.run([batch]):
                q = queries[reply.record_id]
                records.append(
                    PredictionRecord.from_reply(
                        batch,
                        q,
                        reply,
                        patient_id=patients[q.record_id],
                        setting=setting,
                        model=model_name,
                    )
                )
                bar.update(1)
        bar.close()
    finally:
        peft_model.train(was_training)
    return records
