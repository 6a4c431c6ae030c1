"""Scoring of the val replies during LoRA fine-tuning, with bench-metrics.

:func:`vlm_adapters.sft.train_lora` answers the val split after every epoch
and hands the records to an evaluator; this is the one ``reasonknee train
vlm`` passes. It lives in the app because vlm-adapters does not depend on
bench-metrics (docs/architecture.md, "Dependency direction").
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vlm_adapters.records import PredictionRecord

__all__ = ["bench_evaluator"]


def bench_evaluator(
    dataset: Path, split: str, records: Sequence[PredictionRecord]
) -> dict[str, Any]:
    """Score ``records`` against the truth of ``split`` with bench-metrics (no bootstrap).

    Only the (scan, question) pairs that were answered are scored, so a capped
    validation (``eval_limit``) is not charged for the questions it skipped.
    Returns ``accuracy`` (Overall micro, the figure the best checkpoint is
    chosen by, as in the paper), ``accuracy_macro``, ``mean_iou``, the
    accuracy of every category / column group, and the counts.
    """
    import polars as pl
    from bench_metrics.scoring import score_predictions
    from bench_metrics.truth import load_truth
    from bench_metrics.values import finite_or_none as _num

    truth = load_truth(dataset, split)
    asked = pl.DataFrame(
        {"scan_id": [r.scan_id for r in records], "question_id": [r.question_id for r in records]},
        schema={"scan_id": pl.String, "question_id": truth.schema["question_id"]},
    )
    truth = truth.join(asked.unique(), on=["scan_id", "question_id"], how="semi")
    scores = score_predictions(
        [json.loads(r.to_json()) for r in records], truth, n_boot=0, label="sft-val"
    )
    groups = {row["group"]: _num(row["accuracy"]) for row in scores.groups.iter_rows(named=True)}
    return {
        "accuracy": _num(scores.overall_micro) or 0.0,
        "accuracy_macro": _num(scores.overall_macro),
        "mean_iou": _num(scores.mean_iou("All")),
        "groups": groups,
        "n_records": len(records),
        "n_items": int(scores.items.height),
    }
