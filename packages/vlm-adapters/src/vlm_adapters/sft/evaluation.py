"""Validation during fine-tuning: the model in training answers the val split through the
Qwen adapter's own inference path, and bench-metrics scores the replies."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from vlm_adapters.errors import AdapterError
from vlm_adapters.protocol import InputSpec
from vlm_adapters.qwen import QwenOptions, QwenVLAdapter
from vlm_adapters.records import PredictionRecord, prompt_hash
from vlm_adapters.sft.examples import SftExample

__all__ = ["LoadedQwenAdapter", "generate_predictions", "group_by_scan", "score_predictions"]


class LoadedQwenAdapter(QwenVLAdapter):
    """:class:`QwenVLAdapter` around a model already in memory (the one being trained).

    ``model`` is the peft model's base (LoRA layers injected, not merged), so
    the replies are those of the adapter being trained, produced by exactly
    the code that serves ``qwen2.5-vl:BASE+lora:DIR`` later.
    """

    def __init__(self, model: Any, processor: Any, *, options: QwenOptions, name: str) -> None:
        self.model_path = ""
        self.lora = None
        self.options = options
        self.name = name
        self.device = next(model.parameters()).device
        self.model = model
        self.processor = processor
        self.tokenizer = processor.tokenizer
        gen = model.generation_config
        eos = gen.eos_token_id if gen.eos_token_id is not None else self.tokenizer.eos_token_id
        self.eos_ids = {int(e) for e in (eos if isinstance(eos, (list, tuple)) else [eos])}
        self.eos_ids.add(int(self.tokenizer.convert_tokens_to_ids("<|im_end|>")))
        pad = self.tokenizer.pad_token_id
        self.pad_id = int(pad if pad is not None else next(iter(self.eos_ids)))
        self.input_spec = InputSpec(
            kind="frames", slices=options.slices, size=options.size, window=options.window
        )

    def close(self) -> None:  # the trainer owns the model
        pass


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
    processor: Any,
    examples: Sequence[SftExample],
    *,
    setting: str,
    options: QwenOptions,
    model_name: str,
    read_volume: Any = None,
    progress: bool = True,
) -> list[PredictionRecord]:
    """Greedy replies of the model being trained to ``examples``, as prediction records (formats.md)."""
    from tqdm.auto import tqdm

    from vlm_adapters.inputs import iter_batches

    base = peft_model.get_base_model() if hasattr(peft_model, "get_base_model") else peft_model
    was_training = peft_model.training
    peft_model.eval()
    adapter = LoadedQwenAdapter(base, processor, options=options, name=model_name)
    scans = group_by_scan(examples)
    patients = {ex.record_id: ex.scan.patient_id for ex in examples}
    records: list[PredictionRecord] = []
    try:
        bar = tqdm(total=len(examples), desc="val", disable=not progress, leave=False)
        for batch in iter_batches(
            scans, setting=setting, spec=adapter.input_spec, read_volume=read_volume
        ):
            queries = {q.record_id: q for q in batch.queries}
            view = batch.scan.view.to_dict() if batch.scan.view is not None else None
            for reply in adapter.run([batch]):
                q = queries[reply.record_id]
                records.append(
                    PredictionRecord(
                        record_id=q.record_id,
                        scan_id=q.scan_id,
                        patient_id=patients[q.record_id],
                        question_id=q.question_id,
                        setting=setting,
                        model=model_name,
                        prompt_hash=prompt_hash(q.prompt),
                        raw_text=reply.raw_text,
                        view=view,
                        usage=reply.usage.to_dict(),
                        latency_s=reply.latency_s,
                        error=reply.error,
                        prep_s=batch.scan.prep_s / len(batch.queries),
                    )
                )
                bar.update(1)
        bar.close()
    finally:
        peft_model.train(was_training)
    return records


def score_predictions(
    dataset: Path, split: str, records: Sequence[PredictionRecord]
) -> dict[str, Any]:
    """Score ``records`` against the truth of ``split`` with bench-metrics (no bootstrap).

    Only the (scan, question) pairs that were answered are scored, so a capped
    validation (``eval_limit``) is not charged for the questions it skipped.
    Returns ``accuracy`` (Overall micro, the figure the best checkpoint is
    chosen by), ``accuracy_macro``, ``mean_iou``, the accuracy of every
    category / column group, and the counts.
    """
    import json
    import math

    import polars as pl
    try:
        from bench_metrics.scoring import score_predictions as bench_score
        from bench_metrics.truth import load_truth
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise AdapterError(
            "validation during fine-tuning scores with bench-metrics: install it "
            "(pip install bench-metrics) or train with eval_limit=0 (--eval-limit 0)"
        ) from exc

    truth = load_truth(dataset, split)
    asked = pl.DataFrame(
        {"scan_id": [r.scan_id for r in records], "question_id": [r.question_id for r in records]},
        schema={"scan_id": pl.String, "question_id": truth.schema["question_id"]},
    )
    truth = truth.join(asked.unique(), on=["scan_id", "question_id"], how="semi")
    scores = bench_score(
        [json.loads(r.to_json()) for r in records], truth, n_boot=0, label="sft-val"
    )

    def num(v: Any) -> float | None:
        return None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)

    groups = {row["group"]: num(row["accuracy"]) for row in scores.groups.iter_rows(named=True)}
    return {
        "accuracy": num(scores.overall_micro) or 0.0,
        "accuracy_macro": num(scores.overall_macro),
        "mean_iou": num(scores.mean_iou("All")),
        "groups": groups,
        "n_records": len(records),
        "n_items": int(scores.items.height),
    }
