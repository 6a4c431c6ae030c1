"""Fine-tuning Med3DVLM through the shared trainer: encoding, loss mask, recipe defaults, resume."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("einops")

from vlm_adapters.errors import AdapterError
from vlm_adapters.sft import FAMILY_DEFAULTS, SftConfig


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from vlm_adapters.med3dvlm.tiny import build_tiny_med3dvlm

    return build_tiny_med3dvlm(tmp_path_factory.mktemp("m3d-sft") / "tiny", seed=0)


def test_family_defaults_are_the_upstream_recipe_and_explicit_options_win() -> None:
    cfg = SftConfig(dataset=Path("d"), base=Path("b"), out=Path("o"), family="med3dvlm")
    assert (cfg.lora_r, cfg.lora_alpha, cfg.lora_dropout) == (16, 32, 0.05)
    assert (cfg.lr, cfg.lr_schedule, cfg.warmup_ratio, cfg.epochs, cfg.batch) == (
        5e-5,
        "cosine",
        0.03,
        5,
        8,
    )
    assert "gate_proj" in cfg.target_modules and "lm_head" in cfg.modules_to_save
    assert cfg.max_length == 4096
    qwen = SftConfig(dataset=Path("d"), base=Path("b"), out=Path("o"), lr=3e-4, max_length=None)
    assert (qwen.family, qwen.lr, qwen.epochs, qwen.modules_to_save, qwen.max_length) == (
        "qwen2.5-vl",
        3e-4,
        FAMILY_DEFAULTS["qwen2.5-vl"]["epochs"],
        (),
        None,
    )
    with pytest.raises(AdapterError, match="family"):
        SftConfig(dataset=Path("d"), base=Path("b"), out=Path("o"), family="llava")
    # a run folder written before the family fields existed still resumes as Qwen
    old = {k: v for k, v in qwen.fingerprint().items() if k not in ("family", "lr_schedule")}
    assert qwen.differences(old) == []
    assert cfg.differences(old) != []


def test_encoding_learns_the_answer_only_and_refuses_an_overlong_example(tiny: Path) -> None:
    from transformers import AutoTokenizer
    from vlm_adapters.sft import IGNORE_INDEX, collate_volumes, encode_volume_example

    tok = AutoTokenizer.from_pretrained(tiny)
    vol = np.zeros((32, 64, 128), np.float32)
    answer = 'Box: [1, 2, 3, 4, 5, 6]\nMOAKS: {"x": 1}'
    ex = encode_volume_example(tok, vol, "Grade it.", answer, n_image=8, max_length=None)
    learned = ex.input_ids[ex.labels != IGNORE_INDEX].tolist()
    assert tok.decode(learned) == " " + answer + tok.eos_token
    assert ex.input_ids[:8].tolist() == [tok.convert_tokens_to_ids("<im_patch>")] * 8
    n = ex.input_ids.numel()
    with pytest.raises(AdapterError, match="max_length"):
        encode_volume_example(tok, vol, "Grade it.", answer, n_image=8, max_length=n - 1)
    short = encode_volume_example(tok, vol, "Q?", "none", n_image=8, max_length=n)
    batch = collate_volumes([ex, short], pad_token_id=tok.pad_token_id)
    assert batch["images"].shape == (2, 1, 32, 64, 128)
    assert int(batch["attention_mask"][1].sum()) == short.input_ids.numel()
    assert (batch["labels"][1, short.input_ids.numel() :] == IGNORE_INDEX).all()


def test_answer_loss_equals_the_models_own_masked_loss(tiny: Path) -> None:
    import torch
    from transformers import AutoTokenizer
    from vlm_adapters.med3dvlm.model import Med3DVLMForCausalLM
    from vlm_adapters.sft import answer_loss, collate_volumes, encode_volume_example

    tok = AutoTokenizer.from_pretrained(tiny)
    model = Med3DVLMForCausalLM.from_pretrained(tiny).eval()
    vol = np.random.default_rng(0).random((32, 64, 128), dtype=np.float32)
    batch = collate_volumes(
        [
            encode_volume_example(tok, vol, "Grade it.", "Box: none", n_image=8, max_length=None),
            encode_volume_example(
                tok, vol, "A longer one.", "MOAKS: {}", n_image=8, max_length=None
            ),
        ],
        pad_token_id=tok.pad_token_id,
    )
    with torch.no_grad():
        ours = answer_loss(model, batch)
        theirs = model(**batch).loss
    assert float(ours) == pytest.approx(float(theirs), rel=1e-5)


@pytest.mark.slow
def test_interrupted_med3dvlm_run_resumes_to_the_same_weights(dataset, tiny, tmp_path) -> None:
    """Resuming restores the LoRA layers and the modules trained in full (encoder batch-norm
    statistics included), the optimizer and the position in the epoch."""
    from safetensors.torch import load_file
    from vlm_adapters.sft import train_lora

    def config(out: Path) -> SftConfig:
        return SftConfig(
            family="med3dvlm",
            dataset=dataset,
            base=tiny,
            out=out,
            cot=False,
            setting="zero-shot",
            train_limit=2,
            batch=1,
            epochs=2,
            lr=1e-3,
            checkpoint_every=1,
            eval_limit=0,
            device="cpu",
            progress=False,
        )

    straight = train_lora(config(tmp_path / "straight"))

    class Stop(Exception):
        pass

    def stop(record) -> None:
        raise Stop

    with pytest.raises(Stop):
        train_lora(config(tmp_path / "resumed"), on_epoch=stop)
    resumed = train_lora(config(tmp_path / "resumed"))
    assert resumed.resumed and resumed.global_step == straight.global_step == 4
    assert resumed.step_losses == pytest.approx(straight.step_losses, rel=1e-5)
    a = load_file(tmp_path / "straight" / "checkpoint" / "adapter_model.safetensors")
    b = load_file(tmp_path / "resumed" / "checkpoint" / "adapter_model.safetensors")
    assert any("running_mean" in k for k in a) and any("lora_A" in k for k in a)
    assert a.keys() == b.keys() and all(np.allclose(a[k], b[k], atol=1e-6) for k in a)
