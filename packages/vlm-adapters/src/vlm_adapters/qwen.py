"""Qwen2.5-VL through transformers, from a local folder (optionally with a LoRA adapter).

The scan is shown as a video (frames, fps metadata) before the question, in
the model's own chat template; generation is greedy by default. A scan's
questions share the video: with ``prefix_reuse`` (default) the prompt is split
right after ``<|vision_end|>``, the shared prefix (system turn + video) is
encoded and prefilled once per prepared input, and the questions are decoded
on top of copies of its KV cache, ``question_batch`` at a time (suffixes
right-padded, masked, with explicit multimodal-RoPE positions). Without it
each question pays for the video again through ``model.generate`` (what the
public scripts do); the two give the same greedy tokens.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vlm_adapters.decoding import decode_on_cache, generate_kwargs, replies_on_prefix, until_eos
from vlm_adapters.errors import AdapterError, needs_extra
from vlm_adapters.local import apply_lora, core_model, device_and_dtype, stop_tokens
from vlm_adapters.protocol import Batch, InputSpec, Query, Reply, ScanInput, SliceSpec, Usage

__all__ = ["FRAME_OPTIONS", "VISION_END", "QwenOptions", "QwenVLAdapter", "lora_frame_defaults"]

VISION_END = "<|vision_end|>"

#: The :class:`QwenOptions` that decide what the model sees; a LoRA folder written by
#: :func:`vlm_adapters.sft.train_lora` records them (``sft_run.json``).
FRAME_OPTIONS: tuple[str, ...] = ("slices", "size", "window", "fps")


@dataclass(frozen=True, slots=True)
class QwenOptions:
    """Options of the Qwen2.5-VL adapter.

    Frames: ``slices`` (``"all"`` = every slice, as the public scripts feed
    all 160), ``size`` per frame before the processor, intensity ``window``;
    ``fps`` is the video metadata (public scripts: 4); ``max_pixels`` /
    ``min_pixels`` bound the processor's per-frame resize (``None`` keeps the
    checkpoint's). Generation: greedy unless ``do_sample``; ``seed`` seeds
    sampling. ``prefix_reuse`` and ``question_batch`` as in the module doc.
    """

    slices: SliceSpec = "all"
    size: tuple[int, int] | None = None
    window: tuple[float, float] = (0.0, 400.0)
    fps: float = 4.0
    max_pixels: int | None = None
    min_pixels: int | None = None
    max_new_tokens: int = 1024
    do_sample: bool = False
    temperature: float = 1.0
    seed: int = 0
    prefix_reuse: bool = True
    question_batch: int = 8
    device: str | None = None
    dtype: str | None = None
    attn_implementation: str | None = "sdpa"
    merge_lora: bool = True
    system_prompt: str | None = None


@dataclass
class _Prefix:
    cache: Any
    length: int
    next_position: int
    inputs_s: float
    prefill_s: float


class QwenVLAdapter:
    """Qwen2.5-VL (transformers) as an :class:`~vlm_adapters.Adapter`.

    Build it with :meth:`load` from a local folder (and optionally a peft LoRA
    folder), or with :meth:`from_loaded` around a model already in memory.
    """

    def __init__(
        self,
        model: Any,
        processor: Any,
        *,
        options: QwenOptions | None = None,
        name: str = "qwen2.5-vl",
    ) -> None:
        import torch

        o = options or QwenOptions()
        self.options = o
        self.name = name
        self.model = model.eval()
        self.device = (
            next(model.parameters()).device if o.device is None else torch.device(o.device)
        )
        self.processor = processor
        if o.max_pixels is not None or o.min_pixels is not None:
            for proc in (processor.video_processor, processor.image_processor):
                size = dict(proc.size)
                if o.max_pixels is not None:
                    size["longest_edge"] = int(o.max_pixels)
                if o.min_pixels is not None:
                    size["shortest_edge"] = int(o.min_pixels)
                proc.size = size
        self.tokenizer = processor.tokenizer
        self.eos_ids, self.pad_id = stop_tokens(model, self.tokenizer, extra=("<|im_end|>",))
        self.input_spec = InputSpec(kind="frames", slices=o.slices, size=o.size, window=o.window)

    @classmethod
    def from_loaded(
        cls,
        model: Any,
        processor: Any,
        *,
        options: QwenOptions | None = None,
        name: str = "qwen2.5-vl",
    ) -> QwenVLAdapter:
        """Wrap a model already in memory: a ``Qwen2_5_VLForConditionalGeneration`` or a peft model
        around one (LoRA layers active, unmerged, e.g. the model being fine-tuned).

        The model is switched to eval mode and stays the caller's: :meth:`close`
        only drops the adapter's reference to it.
        """
        return cls(model, processor, options=options, name=name)

    @classmethod
    def load(
        cls,
        model_path: str | os.PathLike[str],
        *,
        lora: str | os.PathLike[str] | None = None,
        options: QwenOptions | None = None,
        name: str | None = None,
    ) -> QwenVLAdapter:
        """Load from a local folder (``from_pretrained``; no hub), applying a peft LoRA folder if given.

        Without ``options``, a LoRA folder written by fine-tuning shows the model
        its training frames (:func:`lora_frame_defaults`).
        """
        path = Path(model_path)
        if not (path / "config.json").is_file():  # before the slow imports: a typo fails fast
            raise AdapterError(
                f"{path}: no config.json; expected a local Qwen2.5-VL folder (no hub downloads)"
            )
        with needs_extra("qwen"):
            import torch  # noqa: F401  (first, so a missing torch is named as such)
            from transformers import AutoProcessor, Qwen2_5_VLForConditionalGeneration

        if options is None:
            options = (
                QwenOptions(**lora_frame_defaults(lora)) if lora is not None else QwenOptions()
            )
        o = options
        device, dtype = device_and_dtype(o.device, o.dtype)
        kwargs: dict[str, Any] = {"dtype": dtype}
        if o.attn_implementation:
            kwargs["attn_implementation"] = o.attn_implementation
        model = Qwen2_5_VLForConditionalGeneration.from_pretrained(path, **kwargs)
        if lora is not None:
            model = apply_lora(model, lora, merge=o.merge_lora)
        model = model.to(device)
        processor = AutoProcessor.from_pretrained(path)
        label = name or (f"qwen2.5-vl:{path}" + (f"+lora:{lora}" if lora else ""))
        return cls(model, processor, options=o, name=label)

    # ----------------------------------------------------------------- prompts
    def chat_text(self, prompt: str) -> str:
        """The full templated text of one question (video placeholder + question + generation prompt)."""
        messages: list[dict[str, Any]] = []
        if self.options.system_prompt is not None:
            messages.append(
                {
                    "role": "system",
                    "content": [{"type": "text", "text": self.options.system_prompt}],
                }
            )
        messages.append(
            {"role": "user", "content": [{"type": "video"}, {"type": "text", "text": prompt}]}
        )
        return self.processor.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=True
        )

    def split_prompt(self, prompt: str) -> tuple[str, str]:
        """(shared prefix ending with ``<|vision_end|>``, the question's suffix)."""
        text = self.chat_text(prompt)
        idx = text.find(VISION_END)
        if idx < 0:
            raise AdapterError(
                f"{self.name}: the chat template did not place a video ({VISION_END} missing)"
            )
        cut = idx + len(VISION_END)
        return text[:cut], text[cut:]

    def _video_inputs(self, text: str, scan: ScanInput) -> Any:
        if scan.frames is None:
            raise AdapterError(
                f"scan {scan.scan_id}: the Qwen adapter needs frames (InputSpec kind 'frames')"
            )
        import numpy as np

        frames = scan.frames if scan.frames.flags.writeable else np.array(scan.frames)
        meta = [{"fps": float(self.options.fps), "total_num_frames": int(frames.shape[0])}]
        inputs = self.processor(
            text=[text], videos=[frames], video_metadata=meta, return_tensors="pt"
        )
        return inputs.to(self.device)

    # ----------------------------------------------------------------- running
    def run(self, batches: Iterable[Batch]) -> Iterator[Reply]:
        for batch in batches:
            if not batch.queries:
                continue
            if self.options.prefix_reuse:
                yield from self._run_reuse(batch)
            else:
                for q in batch.queries:
                    yield self._run_plain(batch.scan, q)

    def close(self) -> None:
        import gc

        self.model = None  # type: ignore[assignment]
        gc.collect()

    def _core(self) -> Any:
        """The transformers model itself (inside a peft wrapper when LoRA is not merged)."""
        return core_model(self.model)

    def _run_plain(self, scan: ScanInput, q: Query) -> Reply:
        import torch

        t0 = time.perf_counter()
        inputs = self._video_inputs(self.chat_text(q.prompt), scan)
        n_prompt = int(inputs["input_ids"].shape[1])
        gen_kwargs = generate_kwargs(self.options, eos_ids=self.eos_ids, pad_id=self.pad_id)
        with torch.inference_mode():
            out = self.model.generate(**inputs, **gen_kwargs)
        new = out[0, n_prompt:].tolist()
        new = until_eos(new, self.eos_ids)
        text = self.tokenizer.decode(new, skip_special_tokens=True)
        usage = Usage(n_prompt, len(new), n_prompt + len(new), 0, n_prompt)
        return Reply(q.record_id, text, usage, time.perf_counter() - t0)

    def prefill_prefix(self, scan: ScanInput, prefix_text: str) -> _Prefix:
        """Encode the video and prefill the shared prefix once; returns its KV cache and positions."""
        import torch

        t0 = time.perf_counter()
        inputs = self._video_inputs(prefix_text, scan)
        t1 = time.perf_counter()
        ids = inputs["input_ids"]
        rope_kwargs = {
            k: inputs[k]
            for k in ("video_grid_thw", "second_per_grid_ts", "mm_token_type_ids", "attention_mask")
            if k in inputs
        }
        with torch.inference_mode():
            position_ids, _ = self._core().model.get_rope_index(ids, **rope_kwargs)
            out = self.model(**inputs, position_ids=position_ids, use_cache=True, logits_to_keep=1)
        cache = getattr(out, "cache", None)
        if cache is None:
            cache = out.past_key_values
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        return _Prefix(
            cache,
            int(ids.shape[1]),
            int(position_ids[0, 0, -1].item()) + 1,
            t1 - t0,
            time.perf_counter() - t1,
        )

    def _run_reuse(self, batch: Batch) -> Iterator[Reply]:
        prefix_text = None
        suffixes: list[str] = []
        for q in batch.queries:
            p, s = self.split_prompt(q.prompt)
            if prefix_text is None:
                prefix_text = p
            elif p != prefix_text:
                raise AdapterError(
                    f"scan {batch.scan.scan_id}: questions of one batch must share the video prefix"
                )
            suffixes.append(s)
        assert prefix_text is not None
        prefix = self.prefill_prefix(batch.scan, prefix_text)
        yield from replies_on_prefix(
            batch.queries,
            lambda a, b: self.decode_on_prefix(prefix, suffixes[a:b]),
            prefix_length=prefix.length,
            prefix_seconds=prefix.inputs_s + prefix.prefill_s,
            question_batch=self.options.question_batch,
        )

    def decode_on_prefix(
        self, prefix: _Prefix, suffixes: Sequence[str]
    ) -> list[tuple[str, int, int]]:
        """Greedy (or sampled) decoding of several suffixes on copies of the prefix cache.

        Returns ``(text, suffix_tokens, new_tokens)`` per suffix.
        """
        o = self.options
        enc = [self.tokenizer(s, add_special_tokens=False)["input_ids"] for s in suffixes]
        outs = decode_on_cache(
            self.model,
            prefix.cache,
            enc,
            prefix_length=prefix.length,
            next_position=prefix.next_position,
            pad_id=self.pad_id,
            eos_ids=self.eos_ids,
            max_new_tokens=o.max_new_tokens,
            do_sample=o.do_sample,
            temperature=o.temperature,
            seed=o.seed,
            rope_axes=3,
        )
        return [
            (self.tokenizer.decode(toks, skip_special_tokens=True), len(e), len(toks))
            for e, toks in zip(enc, outs, strict=True)
        ]


def lora_frame_defaults(lora: str | os.PathLike[str]) -> dict[str, Any]:
    """The frame options (:data:`FRAME_OPTIONS`) a fine-tuned LoRA folder was trained with.

    Read from ``<lora>/sft_run.json`` (written by :func:`vlm_adapters.sft.train_lora`):
    its ``frames`` entry, or, for older files, its ``config``. A folder without
    the file (any other peft adapter) gives ``{}``. Options a user passes win
    over these (:func:`vlm_adapters.make_adapter` only fills in missing ones).
    """
    import json

    from vlm_adapters.sft.encoding import VIDEO_FPS
    from vlm_adapters.sft.state import RUN_INFO_FILE

    path = Path(lora) / RUN_INFO_FILE
    if not path.is_file():
        return {}
    try:
        info = json.loads(path.read_text())
        frames = info.get("frames")
        if frames is None:
            config = info["config"]
            frames = {
                "slices": "all" if config.get("max_frames") is None else config["max_frames"],
                "size": config.get("frame_size"),
                "window": config.get("window", (0.0, 400.0)),
                "fps": VIDEO_FPS,
            }
        out = {k: frames[k] for k in FRAME_OPTIONS if k in frames}
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise AdapterError(
            f"{path}: expected the JSON sft_run.json of a fine-tuning run ({exc})"
        ) from exc
    for key in ("size", "window", "slices"):
        if isinstance(out.get(key), list):
            out[key] = tuple(out[key])
    return out
