"""The model families one trainer fine-tunes: how each loads, encodes, batches and answers.

:func:`vlm_adapters.sft.train_lora` is the same for both; a :class:`Family`
supplies what differs. ``qwen2.5-vl``: frames as a video in the chat template
(:mod:`vlm_adapters.sft.encoding`). ``med3dvlm``: the volume and the published
prompt layout (:mod:`vlm_adapters.sft.volume_encoding`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from vlm_adapters.errors import AdapterError, needs_extra
from vlm_adapters.protocol import Adapter, InputSpec
from vlm_adapters.sft.config import SftConfig
from vlm_adapters.sft.examples import PreparedExample

__all__ = ["Family", "Loaded", "get_family"]


@dataclass(frozen=True)
class Loaded:
    """A base model (before LoRA) with its processor or tokenizer and what the trainer needs of them."""

    model: Any
    processor: Any
    spec: InputSpec
    pad_id: int


class Family(Protocol):
    """What differs between model families (see the module doc)."""

    name: str

    def load(self, config: SftConfig, *, device: Any, dtype: Any) -> Loaded: ...

    def encode(self, loaded: Loaded, example: PreparedExample, config: SftConfig) -> Any: ...

    def collate(self, loaded: Loaded, encoded: list[Any]) -> dict[str, Any]: ...

    def to_device(self, batch: dict[str, Any], *, device: Any, dtype: Any) -> dict[str, Any]: ...

    def adapter(self, model: Any, loaded: Loaded, config: SftConfig, name: str) -> Adapter: ...

    def inference_options(self, config: SftConfig) -> dict[str, Any]: ...


class _Qwen:
    name = "qwen2.5-vl"

    def load(self, config: SftConfig, *, device: Any, dtype: Any) -> Loaded:
        if not (config.base / "config.json").is_file():
            raise AdapterError(
                f"{config.base}: expected a Qwen2.5-VL model folder (config.json, weights, processor)"
            )
        with needs_extra("qwen"):
            from transformers import AutoProcessor, Qwen2_5_VLForConditionalGeneration

        processor = AutoProcessor.from_pretrained(config.base)
        model = Qwen2_5_VLForConditionalGeneration.from_pretrained(config.base, dtype=dtype)
        pad = processor.tokenizer.pad_token_id
        if pad is None:
            raise AdapterError(
                f"{config.base}: the tokenizer has no pad token; expected one (Qwen: <|endoftext|>)"
            )
        return Loaded(model.to(device), processor, config.input_spec(), int(pad))

    def encode(self, loaded: Loaded, example: PreparedExample, config: SftConfig) -> Any:
        from vlm_adapters.sft.encoding import encode_example

        assert example.frames is not None
        return encode_example(loaded.processor, example.frames, example.prompt, example.target)

    def collate(self, loaded: Loaded, encoded: list[Any]) -> dict[str, Any]:
        from vlm_adapters.sft.encoding import collate

        return collate(encoded, pad_token_id=loaded.pad_id)

    def to_device(self, batch: dict[str, Any], *, device: Any, dtype: Any) -> dict[str, Any]:
        out = {k: v.to(device) for k, v in batch.items()}
        out["pixel_values_videos"] = out["pixel_values_videos"].to(dtype)
        return out

    def adapter(self, model: Any, loaded: Loaded, config: SftConfig, name: str) -> Adapter:
        from vlm_adapters.qwen import QwenVLAdapter

        return QwenVLAdapter.from_loaded(
            model, loaded.processor, options=config.qwen_options(), name=name
        )

    def inference_options(self, config: SftConfig) -> dict[str, Any]:
        from vlm_adapters.qwen import FRAME_OPTIONS

        options = config.qwen_options()
        out: dict[str, Any] = {}
        for key in FRAME_OPTIONS:
            value = getattr(options, key)
            out[key] = list(value) if isinstance(value, tuple) else value
        return out


class _Med3DVLM:
    name = "med3dvlm"

    def load(self, config: SftConfig, *, device: Any, dtype: Any) -> Loaded:
        from vlm_adapters.med3dvlm.adapter import load_med3dvlm

        model, tokenizer = load_med3dvlm(config.base, device=device, dtype=dtype)
        pad = tokenizer.pad_token_id
        if pad is None:
            raise AdapterError(f"{config.base}: the tokenizer has no pad token; expected one")
        spec = InputSpec(kind="volume", volume_shape=model.config.image_shape)
        return Loaded(model, tokenizer, spec, int(pad))

    def encode(self, loaded: Loaded, example: PreparedExample, config: SftConfig) -> Any:
        from vlm_adapters.sft.volume_encoding import encode_volume_example

        assert example.volume is not None
        return encode_volume_example(
            loaded.processor,
            example.volume,
            example.prompt,
            example.target,
            n_image=int(loaded.model.config.proj_out_num),
            max_length=config.max_length,
            where=f"quintuples.parquet: {example.example.record_id}",
        )

    def collate(self, loaded: Loaded, encoded: list[Any]) -> dict[str, Any]:
        from vlm_adapters.sft.volume_encoding import collate_volumes

        return collate_volumes(encoded, pad_token_id=loaded.pad_id)

    def to_device(self, batch: dict[str, Any], *, device: Any, dtype: Any) -> dict[str, Any]:
        out = {k: v.to(device) for k, v in batch.items()}
        out["images"] = out["images"].to(dtype)
        return out

    def adapter(self, model: Any, loaded: Loaded, config: SftConfig, name: str) -> Adapter:
        from vlm_adapters.med3dvlm.adapter import Med3DVLMAdapter, Med3DVLMOptions

        options = Med3DVLMOptions(max_new_tokens=config.max_new_tokens, seed=config.seed)
        return Med3DVLMAdapter.from_loaded(model, loaded.processor, options=options, name=name)

    def inference_options(self, config: SftConfig) -> dict[str, Any]:
        return {}


_FAMILIES: dict[str, Family] = {f.name: f for f in (_Qwen(), _Med3DVLM())}


def get_family(name: str) -> Family:
    """The :class:`Family` of a model spec kind (``qwen2.5-vl`` or ``med3dvlm``)."""
    try:
        return _FAMILIES[name]
    except KeyError:
        raise AdapterError(
            f"model family {name!r}: expected one of {', '.join(_FAMILIES)}"
        ) from None
