"""Med3DVLM end to end on CPU: phantom dataset -> `reasonknee train vlm --model med3dvlm:TINY`
-> baseline with `med3dvlm:TINY+lora:OUT/best` -> bench-metrics scores."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from reasonknee_train.cli import train

pytest.importorskip("einops")


@pytest.fixture(scope="module")
def phantom(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from knee_phantom import write_phantom_dataset

    return write_phantom_dataset(
        tmp_path_factory.mktemp("m3d-phantom") / "ds", n_patients=4, seed=0
    )


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from vlm_adapters.med3dvlm.tiny import build_tiny_med3dvlm

    return build_tiny_med3dvlm(tmp_path_factory.mktemp("m3d-tiny") / "tiny", seed=0)


@pytest.mark.slow
@pytest.mark.parametrize("cot", [False, True])
def test_build_train_baseline_score(phantom: Path, tiny: Path, tmp_path: Path, cot: bool) -> None:
    from bench_metrics import load_predictions, load_truth, score_predictions
    from vlm_adapters import read_records, run_baseline

    out = tmp_path / "run"
    args = [
        "vlm",
        "--dataset",
        str(phantom),
        "--model",
        f"med3dvlm:{tiny}",
        "--out",
        str(out),
        "--cot" if cot else "--no-cot",
        "--setting",
        "instruction",
        "--epochs",
        "2",
        "--batch",
        "2",
        "--lr",
        "1e-3",
        "--eval-limit",
        "1",
        "--max-new-tokens",
        "4",
        "--max-steps",
        "2",
        "--device",
        "cpu",
        "--dtype",
        "fp32",
    ]
    res = CliRunner().invoke(train, args)
    assert res.exit_code == 0, res.output
    best = out / "best"
    assert res.output.strip().splitlines()[-1] == str(best)
    assert "med3dvlm:" in res.output  # how to load the result
    adapter = json.loads((best / "adapter_config.json").read_text())
    # the upstream recipe: LoRA on every LM linear layer, the rest of the model trained in full
    assert set(adapter["target_modules"]) == {
        "q_proj",
        "k_proj",
        "v_proj",
        "o_proj",
        "gate_proj",
        "up_proj",
        "down_proj",
    }
    assert set(adapter["modules_to_save"]) == {
        "model.vision_tower",
        "model.mm_projector",
        "model.embed_tokens",
        "lm_head",
    }
    info = json.loads((best / "sft_run.json").read_text())
    assert info["family"] == "med3dvlm" and info["config"]["cot"] is cot
    assert info["config"]["lr_schedule"] == "cosine" and info["config"]["max_length"] == 4096
    (rec, *_) = read_records(out / "eval" / "epoch-001.predictions.jsonl")
    assert rec.view["view_shape"] == [32, 64, 128]
    # rerunning resumes (here: returns the finished run)
    again = CliRunner().invoke(train, args)
    assert again.exit_code == 0 and "resumed" in again.output

    preds = tmp_path / "preds.jsonl"
    summary = run_baseline(
        dataset=phantom,
        split="test",
        model=f"med3dvlm:{tiny}+lora:{best}",
        setting="instruction",
        out=preds,
        limit=1,
        questions=[1, 44, 60],
        options={"max_new_tokens": 4},
        progress=False,
    )
    assert summary.written == 3 and summary.errors == 0
    from vlm_adapters import AdapterError, make_adapter

    with pytest.raises(AdapterError, match="family 'med3dvlm'"):
        make_adapter(f"qwen2.5-vl:{tiny}+lora:{best}")
    scores = score_predictions(
        load_predictions(preds), load_truth(phantom, "test"), questions=[1, 44, 60], n_boot=0
    )
    assert scores.groups.height > 0
