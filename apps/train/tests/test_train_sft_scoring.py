"""train (with bench-metrics as the evaluator) -> save -> load -> baseline -> score, end to end,
with the tiny offline Qwen2.5-VL on a small phantom dataset folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from reasonknee_train.evaluation import bench_evaluator


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    from vlm_adapters.tiny import build_tiny_qwen

    return build_tiny_qwen(tmp_path_factory.mktemp("tiny-sft-e2e") / "qwen", seed=0)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    from knee_phantom import write_phantom_dataset

    return write_phantom_dataset(
        tmp_path_factory.mktemp("sft-e2e") / "dataset", n_patients=4, seed=0, question_ids=[4, 44]
    )


def test_bench_evaluator_scores_only_the_questions_answered(dataset: Path) -> None:
    import polars as pl
    from vlm_adapters.records import PredictionRecord, prompt_hash

    val = pl.read_parquet(dataset / "quintuples.parquet").filter(pl.col("split") == "val")
    assert val["question_id"].n_unique() == 2  # the split holds two questions ...
    row = val.filter(pl.col("question_id") == 44).row(0, named=True)  # ... one is asked

    def record(text: str) -> PredictionRecord:
        return PredictionRecord(
            record_id=row["quintuple_id"],
            scan_id=row["scan_id"],
            patient_id=row["patient_id"],
            question_id=44,
            setting="zero-shot",
            model="test",
            prompt_hash=prompt_hash("p"),
            raw_text=text,
            view=None,
        )

    wrong = bench_evaluator(dataset, "val", [record("no answer at all")])
    # only the asked question's one attribute is charged, not the unasked question's three
    assert wrong["accuracy"] == 0.0 and wrong["n_records"] == 1 and wrong["n_items"] == 1
    json.dumps(wrong)  # JSON-ready: it is written to eval/epoch-NNN.metrics.json
    right = bench_evaluator(dataset, "val", [record(row["answer_no_cot"])])
    assert right["accuracy"] == 1.0 and set(right) >= {"accuracy_macro", "mean_iou", "groups"}


@pytest.mark.slow
def test_train_save_load_baseline_score(tiny: Path, dataset: Path, tmp_path: Path) -> None:
    """The adapter kept in best/ loads in the Qwen adapter (frames from its sft_run.json),
    answers as it did in training, and scores as it did in training."""
    from bench_metrics.inputs import load_predictions
    from bench_metrics.scoring import score_predictions
    from bench_metrics.truth import load_truth
    from vlm_adapters.records import read_records
    from vlm_adapters.runner import run_baseline
    from vlm_adapters.sft import SftConfig, train_lora

    out = tmp_path / "run"
    config = SftConfig(
        dataset=dataset,
        base=tiny,
        out=out,
        cot=False,
        setting="zero-shot",
        max_frames=4,
        frame_size=(28, 28),
        lora_r=8,
        lora_alpha=16,
        lora_dropout=0.0,
        lr=5e-3,
        warmup_ratio=0.0,
        batch=1,
        grad_accum=1,
        epochs=2,
        device="cpu",
        progress=False,
        max_new_tokens=12,
        seed=0,
        train_limit=2,
        eval_limit=None,
    )
    result = train_lora(config, evaluate=bench_evaluator)
    assert [h.epoch for h in result.history] == [1, 2]
    assert all(h.val_accuracy is not None and 0.0 <= h.val_accuracy <= 1.0 for h in result.history)
    accs = [h.val_accuracy for h in result.history]
    assert result.best_epoch == 1 + accs.index(max(accs)) and result.best_accuracy == max(accs)
    info = json.loads((out / "best" / "sft_run.json").read_text())
    assert info["epoch"] == result.best_epoch and info["config"]["max_frames"] == 4
    in_training = {
        r.record_id: r.raw_text
        for r in read_records(out / "eval" / f"epoch-{result.best_epoch:03d}.predictions.jsonl")
    }
    n_val = len(load_truth(dataset, "val").select("scan_id", "question_id").unique())
    assert len(in_training) == n_val > 0

    preds = tmp_path / "val.jsonl"
    summary = run_baseline(
        dataset=dataset,
        split="val",
        model=f"qwen2.5-vl:{tiny}+lora:{out / 'best'}",
        setting="zero-shot",
        out=preds,
        # no slices / size: the adapter takes them from best/sft_run.json
        options={"max_new_tokens": 12, "device": "cpu", "dtype": "float32"},
        progress=False,
    )
    assert summary.written == n_val
    loaded = {r.record_id: r.raw_text for r in read_records(preds)}
    assert loaded == in_training
    scores = score_predictions(load_predictions(preds), load_truth(dataset, "val"), n_boot=0)
    assert scores.overall_micro == pytest.approx(result.best_accuracy)
