"""Helpers shared by the adapters that run a model from a local folder (Qwen2.5-VL, Med3DVLM)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from vlm_adapters.errors import AdapterError, needs_extra

__all__ = ["apply_lora", "core_model", "device_and_dtype", "stop_tokens"]


def core_model(model: Any) -> Any:
    """The transformers model itself (inside a peft wrapper when LoRA is not merged)."""
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def device_and_dtype(device: str | None, dtype: str | None) -> tuple[Any, Any]:
    """``(torch.device, torch dtype)``: CUDA when present, bf16 there and float32 elsewhere by default."""
    with needs_extra("qwen"):  # torch: both local model families' extras hold it
        import torch

    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if dtype:
        return dev, getattr(torch, dtype)
    return dev, (torch.bfloat16 if dev.type == "cuda" else torch.float32)


def stop_tokens(model: Any, tokenizer: Any, *, extra: Sequence[str] = ()) -> tuple[set[int], int]:
    """``(end-of-sequence ids, pad id)``: the generation config's, the tokenizer's and ``extra`` tokens."""
    gen = getattr(core_model(model), "generation_config", None)
    eos = getattr(gen, "eos_token_id", None)
    eos = tokenizer.eos_token_id if eos is None else eos
    ids = {int(e) for e in (eos if isinstance(eos, list | tuple) else [eos]) if e is not None}
    if tokenizer.eos_token_id is not None:
        ids.add(int(tokenizer.eos_token_id))
    ids.update(int(tokenizer.convert_tokens_to_ids(t)) for t in extra)
    pad = tokenizer.pad_token_id
    return ids, int(pad if pad is not None else min(ids))


def apply_lora(model: Any, lora: str | os.PathLike[str], *, merge: bool) -> Any:
    """``model`` with the peft LoRA folder ``lora`` applied (merged into the weights if ``merge``)."""
    with needs_extra("qwen"):
        from peft import PeftModel

    lora_dir = Path(lora)
    if not (lora_dir / "adapter_config.json").is_file():
        raise AdapterError(f"{lora_dir}: no adapter_config.json; expected a peft LoRA folder")
    model = PeftModel.from_pretrained(model, lora_dir)
    return model.merge_and_unload() if merge else model
