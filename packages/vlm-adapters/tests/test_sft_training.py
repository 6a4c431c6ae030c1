"""LoRA fine-tuning end to end with the tiny offline Qwen2.5-VL on a small dataset folder."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest
from knee_phantom import region_blocks
from vlm_adapters.errors import AdapterError
from vlm_adapters.sft import SftConfig, train_lora

QUESTIONS = (4, 44)  # a BML question (box: FMC) and a meniscal extrusion question (box: MMA)
SHAPE = (12, 32, 32)


def _label_map() -> np.ndarray:
    """The 25 regions as separate 3 x 5 x 5 blocks."""
    return region_blocks(SHAPE, pitch=(4, 10, 10), side=1)  # a right knee


def _build_dataset(root: Path) -> Path:
    """A real dataset folder (quintuple_builder.build_dataset) of four synthetic knees."""
    import polars as pl
    from knee_volumes import Volume, write_nifti
    from moaks_schema import READING_COLUMNS, question
    from quintuple_builder import build_dataset

    rng = np.random.default_rng(0)
    scans, reads = [], []
    for i in range(4):
        pid = f"{9200000 + i:07d}"
        sid = f"{pid}_00M_1"
        vol = Volume(rng.integers(0, 400, SHAPE).astype(np.uint16), spacing=(0.7, 0.365, 0.365))
        img = write_nifti(vol, root / "src" / f"{sid}.nii.gz")
        lab = write_nifti(_label_map(), root / "src" / f"{sid}_labels.nii.gz", affine=vol.affine)
        scans.append(
            {
                "scan_id": sid,
                "patient_id": pid,
                "visit": "00M",
                "side": 1,
                "study_folder": "20050101",
                "series_folder": f"{10000000 + i:08d}",
                "image_path": str(img),
                "label_path": str(lab),
            }
        )
        for qid in QUESTIONS:
            for a in question(qid).attributes:
                reads.append((pid, "00M", 1, qid, a.key, int(rng.integers(0, 2)), "phantom"))
    readings = pl.DataFrame(reads, schema=list(READING_COLUMNS), orient="row")
    result = build_dataset(
        pl.DataFrame(scans),
        readings,
        root / "dataset",
        label_source="phantom",
        question_ids=list(QUESTIONS),
        seed=0,
        progress=False,
    )
    return result.out_dir


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    from vlm_adapters.tiny import build_tiny_qwen

    return build_tiny_qwen(tmp_path_factory.mktemp("tiny-sft") / "qwen", seed=0)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    return _build_dataset(tmp_path_factory.mktemp("sft-data"))


def _config(dataset: Path, base: Path, out: Path, **kw) -> SftConfig:
    opts = dict(
        cot=False,
        max_frames=4,
        frame_size=(28, 28),
        lora_r=8,
        lora_alpha=16,
        lora_dropout=0.0,
        lr=5e-3,
        warmup_ratio=0.0,
        batch=1,
        grad_accum=1,
        epochs=1,
        device="cpu",
        eval_limit=0,
        progress=False,
        max_new_tokens=8,
        seed=0,
        setting="zero-shot",
    )
    opts.update(kw)
    return SftConfig(dataset=dataset, base=base, out=out, **opts)


@pytest.mark.slow
def test_a_few_steps_lower_the_answer_loss(tiny, dataset, tmp_path):
    # every step sees the same batch of two examples, so the loss must fall step after step;
    # the tiny model's frozen, normalised output layer keeps it near ln(vocab) whatever LoRA does,
    # hence an absolute rather than a relative margin
    cfg = _config(dataset, tiny, tmp_path / "run", train_limit=2, batch=2, epochs=6, lr=1e-2)
    result = train_lora(cfg)
    losses = result.step_losses
    assert len(losses) == 6 and result.global_step == 6
    assert all(b < a for a, b in itertools.pairwise(losses)), losses
    assert losses[-1] < losses[0] - 0.15, losses
    assert (tmp_path / "run" / "best" / "adapter_config.json").is_file()
    assert (tmp_path / "run" / "best" / "adapter_model.safetensors").is_file()


@pytest.mark.slow
def test_interrupted_run_resumes_to_the_same_weights(tiny, dataset, tmp_path):
    from safetensors.torch import load_file

    kw = dict(cot=True, train_limit=2, epochs=2, checkpoint_every=1)
    straight = train_lora(_config(dataset, tiny, tmp_path / "straight", **kw))

    class Stop(Exception):
        pass

    def stop(record):
        raise Stop

    cfg = _config(dataset, tiny, tmp_path / "resumed", **kw)
    with pytest.raises(Stop):
        train_lora(cfg, on_epoch=stop)
    progress = json.loads((tmp_path / "resumed" / "checkpoint" / "progress.json").read_text())
    assert (progress["epoch"], progress["batch_pos"], progress["finished"]) == (0, 1, False)
    resumed = train_lora(cfg)
    assert resumed.resumed and resumed.global_step == straight.global_step == 4
    assert resumed.step_losses == pytest.approx(straight.step_losses, rel=1e-5)
    a = load_file(tmp_path / "straight" / "checkpoint" / "adapter_model.safetensors")
    b = load_file(tmp_path / "resumed" / "checkpoint" / "adapter_model.safetensors")
    assert a.keys() == b.keys() and all(np.allclose(a[k], b[k], atol=1e-6) for k in a)
    # a finished run returns its result; other options on the same folder are refused
    again = train_lora(cfg)
    assert again.global_step == 4 and again.step_losses == resumed.step_losses
    with pytest.raises(AdapterError, match="lr"):
        train_lora(_config(dataset, tiny, tmp_path / "resumed", lr=1e-3, **kw))


def test_empty_train_split_is_an_error(tiny, dataset, tmp_path):
    import polars as pl

    data = tmp_path / "data"
    data.mkdir()
    for name in ("scans.parquet", "quintuples.parquet"):
        df = pl.read_parquet(dataset / name).with_columns(pl.lit("val").alias("split"))
        df.write_parquet(data / name)
    (data / "images").symlink_to(dataset / "images")
    (data / "manifest.json").write_bytes((dataset / "manifest.json").read_bytes())
    with pytest.raises(AdapterError, match="train split"):
        train_lora(_config(data, tiny, tmp_path / "run"))


def test_validation_needs_an_evaluator(tiny, dataset, tmp_path):
    with pytest.raises(AdapterError, match="evaluate"):
        train_lora(_config(dataset, tiny, tmp_path / "run", eval_limit=None))
    assert not (tmp_path / "run" / "checkpoint").exists()


@pytest.mark.slow
def test_best_val_accuracy_keeps_the_adapter_and_loads_with_its_frames(tiny, dataset, tmp_path):
    """The evaluator's accuracy picks best/ (ties: the first epoch); best/ then loads with the
    frames it was trained on, unless the user says otherwise."""
    from vlm_adapters.qwen import lora_frame_defaults
    from vlm_adapters.records import read_records
    from vlm_adapters.spec import make_adapter

    accuracies = iter([0.25, 0.75, 0.75])
    seen: list[tuple[str, int]] = []

    def evaluate(ds, split, records):
        assert ds == dataset and split == "val"
        assert all(r.setting == "zero-shot" and r.error is None for r in records)
        seen.append((split, len(records)))
        return {"accuracy": next(accuracies), "n_records": len(records)}

    out = tmp_path / "run"
    result = train_lora(
        _config(dataset, tiny, out, train_limit=1, epochs=3, eval_limit=1, max_new_tokens=3),
        evaluate=evaluate,
    )
    assert seen == [("val", 1)] * 3
    assert [h.val_accuracy for h in result.history] == [0.25, 0.75, 0.75]
    assert result.best_epoch == 2 and result.best_accuracy == 0.75
    info = json.loads((out / "best" / "sft_run.json").read_text())
    assert info["epoch"] == 2 and info["val_metrics"] == {"accuracy": 0.75, "n_records": 1}
    assert json.loads((out / "eval" / "epoch-003.metrics.json").read_text())["accuracy"] == 0.75
    (rec,) = read_records(out / "eval" / "epoch-002.predictions.jsonl")
    assert rec.view is not None and rec.view["view_shape"] == [4, 28, 28]

    frames = lora_frame_defaults(out / "best")
    assert frames == {"slices": 4, "size": (28, 28), "window": (0.0, 400.0), "fps": 4.0}
    assert lora_frame_defaults(tmp_path) == {}
    spec = f"qwen2.5-vl:{tiny}+lora:{out / 'best'}"
    adapter = make_adapter(spec, options={"device": "cpu", "dtype": "float32"})
    assert (adapter.input_spec.slices, adapter.input_spec.size) == (4, (28, 28))
    adapter.close()
    adapter = make_adapter(spec, options={"device": "cpu", "dtype": "float32", "slices": 2})
    assert (adapter.input_spec.slices, adapter.input_spec.size) == (2, (28, 28))
    adapter.close()


def test_an_evaluator_without_accuracy_is_an_error(tiny, dataset, tmp_path):
    with pytest.raises(AdapterError, match="accuracy"):
        train_lora(
            _config(dataset, tiny, tmp_path / "run", train_limit=1, eval_limit=1, max_new_tokens=2),
            evaluate=lambda ds, split, records: {"acc": 1.0},
        )


def test_answer_loss_equals_the_models_own_masked_loss(tiny):
    import torch
    from transformers import AutoProcessor, Qwen2_5_VLForConditionalGeneration
    from vlm_adapters.sft import answer_loss, collate, encode_example

    processor = AutoProcessor.from_pretrained(tiny)
    model = Qwen2_5_VLForConditionalGeneration.from_pretrained(tiny).eval()
    frames = np.random.default_rng(3).integers(0, 256, (4, 28, 28, 3), dtype=np.uint8)
    batch = collate(
        [
            encode_example(processor, frames, "Grade it.", "Box: [1, 2, 3, 4, 5, 6]\nMOAKS: {}"),
            encode_example(processor, frames, "A longer question, so padding.", "Box: none"),
        ],
        pad_token_id=processor.tokenizer.pad_token_id,
    )
    with torch.no_grad():
        ours = answer_loss(model, batch)
        theirs = model(**batch).loss
    assert float(ours) == pytest.approx(float(theirs), rel=1e-5)


@pytest.mark.parametrize("checkpointing", [False, True])
def test_lora_weights_get_gradients_and_the_vision_tower_is_not_backpropagated(tiny, checkpointing):
    from transformers import AutoProcessor, Qwen2_5_VLForConditionalGeneration
    from vlm_adapters.sft import add_lora, answer_loss, collate, encode_example

    processor = AutoProcessor.from_pretrained(tiny)
    model = add_lora(
        Qwen2_5_VLForConditionalGeneration.from_pretrained(tiny),
        r=4,
        alpha=8,
        dropout=0.0,
        target_modules=("q_proj", "v_proj"),
        gradient_checkpointing=checkpointing,
    )
    model.train()
    seen = []
    model.get_base_model().model.visual.merger.register_forward_hook(lambda m, i, o: seen.append(o))
    frames = np.random.default_rng(4).integers(0, 256, (4, 28, 28, 3), dtype=np.uint8)
    batch = collate(
        [encode_example(processor, frames, "Q?", "Box: none\nMOAKS: {}")],
        pad_token_id=processor.tokenizer.pad_token_id,
    )
    answer_loss(model, batch).backward()
    assert (
        len(seen) == 1 and not seen[0].requires_grad
    )  # the video features carry no autograd graph
    lora = [p for n, p in model.named_parameters() if "lora_A" in n or "lora_B" in n]
    assert lora and all(p.grad is not None for p in lora)
    assert all(not p.requires_grad for n, p in model.named_parameters() if "visual" in n)
    assert any(float(p.grad.abs().sum()) > 0 for p in lora)
