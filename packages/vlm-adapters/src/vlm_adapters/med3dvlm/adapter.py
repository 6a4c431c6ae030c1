"""Med3DVLM as an :class:`~vlm_adapters.Adapter` (``med3dvlm:PATH[+lora:DIR]``).

The model sees the volume (``InputSpec(kind="volume")``: min-max scaled,
foreground-cropped, resized to its ``(D, H, W)``, slices first; a tensor of
another shape is refused). The prompt is the published one: no chat
template, ``"<im_patch>" * proj_out_num``, a space, the question; the visual
embeddings replace positions ``1 .. proj_out_num``
(:mod:`vlm_adapters.med3dvlm.model`). Replies are the generated text with the
leading space stripped (training puts a space before the answer).

With ``prefix_reuse`` (default) the image prefix (positions ``0 ..
proj_out_num``, the same for every question) is encoded and prefilled once
per prepared input, and the questions are decoded on copies of its KV cache,
``question_batch`` at a time (right-padded, masked, explicit positions).
Without it each question runs alone through ``generate`` on its full
sequence (upstream's batch-size-1 path); both give the same greedy tokens.
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vlm_adapters.decoding import decode_on_cache, generate_kwargs, replies_on_prefix, until_eos
from vlm_adapters.errors import AdapterError
from vlm_adapters.local import apply_lora, core_model, device_and_dtype, stop_tokens
from vlm_adapters.protocol import Batch, InputSpec, Query, Reply, ScanInput, Usage

__all__ = ["Med3DVLMAdapter", "Med3DVLMOptions", "load_med3dvlm"]


@dataclass(frozen=True, slots=True)
class Med3DVLMOptions:
    """Options of the Med3DVLM adapter.

    Generation: greedy unless ``do_sample`` (``seed`` seeds sampling);
    ``prefix_reuse`` and ``question_batch`` as in the module doc.
    ``trust_remote_code`` loads the folder's own model code instead of ours
    (off by default: it runs code from the checkpoint folder; prefix reuse
    is then unavailable).
    """

    max_new_tokens: int = 1024
    do_sample: bool = False
    temperature: float = 1.0
    seed: int = 0
    prefix_reuse: bool = True
    question_batch: int = 8
    device: str | None = None
    dtype: str | None = None
    merge_lora: bool = True
    trust_remote_code: bool = False


@dataclass
class _Prefix:
    cache: Any
    length: int
    seconds: float


def load_med3dvlm(
    path: str | os.PathLike[str],
    *,
    device: Any,
    dtype: Any,
    trust_remote_code: bool = False,
) -> tuple[Any, Any]:
    """``(model, tokenizer)`` from a local checkpoint folder (no hub), on ``device`` in ``dtype``."""
    from vlm_adapters.med3dvlm.deps import require

    require(remote_code=trust_remote_code)
    from transformers import AutoTokenizer

    from vlm_adapters.med3dvlm.config import IMAGE_TOKEN

    folder = Path(path)
    if not (folder / "config.json").is_file():
        raise AdapterError(
            f"{folder}: no config.json; expected a local Med3DVLM checkpoint folder (no hub downloads)"
        )
    if trust_remote_code:
        from transformers import AutoModelForCausalLM

        warnings.warn(
            f"{folder}: trust_remote_code=True runs the model code shipped in that folder",
            stacklevel=2,
        )
        model = AutoModelForCausalLM.from_pretrained(folder, dtype=dtype, trust_remote_code=True)
    else:
        from vlm_adapters.med3dvlm.model import Med3DVLMForCausalLM

        model = Med3DVLMForCausalLM.from_pretrained(folder, dtype=dtype)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    if tokenizer.convert_tokens_to_ids(IMAGE_TOKEN) in (None, tokenizer.unk_token_id):
        raise AdapterError(f"{folder}: the tokenizer has no {IMAGE_TOKEN!r} token")
    return model.to(device), tokenizer


class Med3DVLMAdapter:
    """Med3DVLM (our implementation, or the folder's own with ``trust_remote_code``) as an adapter."""

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        options: Med3DVLMOptions | None = None,
        name: str = "med3dvlm",
    ) -> None:
        from vlm_adapters.med3dvlm.config import IMAGE_TOKEN

        o = options or Med3DVLMOptions()
        self.options = o
        self.name = name
        self.model = model.eval()
        self.tokenizer = tokenizer
        config = self._core().config
        self.n_image = int(config.proj_out_num)
        h, w, d = (int(v) for v in config.input_size)
        self.image_shape = (d, h, w)
        self.image_id = int(tokenizer.convert_tokens_to_ids(IMAGE_TOKEN))
        self.eos_ids, self.pad_id = stop_tokens(model, tokenizer)
        self.input_spec = InputSpec(kind="volume", volume_shape=self.image_shape)

    @classmethod
    def from_loaded(
        cls,
        model: Any,
        tokenizer: Any,
        *,
        options: Med3DVLMOptions | None = None,
        name: str = "med3dvlm",
    ) -> Med3DVLMAdapter:
        """Wrap a model already in memory (ours, or a peft model around it, e.g. during fine-tuning)."""
        return cls(model, tokenizer, options=options, name=name)

    @classmethod
    def load(
        cls,
        model_path: str | os.PathLike[str],
        *,
        lora: str | os.PathLike[str] | None = None,
        options: Med3DVLMOptions | None = None,
        name: str | None = None,
    ) -> Med3DVLMAdapter:
        """Load a local checkpoint folder, applying a peft LoRA folder (``med3dvlm:BASE+lora:DIR``) if given."""
        o = options or Med3DVLMOptions()
        device, dtype = device_and_dtype(o.device, o.dtype)
        model, tokenizer = load_med3dvlm(
            model_path, device=device, dtype=dtype, trust_remote_code=o.trust_remote_code
        )
        if lora is not None:
            model = apply_lora(model, lora, merge=o.merge_lora)
        label = name or (f"med3dvlm:{model_path}" + (f"+lora:{lora}" if lora else ""))
        return cls(model.to(device), tokenizer, options=o, name=label)

    # ----------------------------------------------------------------- inputs
    def _core(self) -> Any:
        return core_model(self.model)

    def prompt_ids(self, prompt: str) -> list[int]:
        """Token ids of one question: ``proj_out_num`` image tokens, a space, the question."""
        from vlm_adapters.med3dvlm.config import IMAGE_TOKEN

        ids = list(self.tokenizer(IMAGE_TOKEN * self.n_image + " " + prompt)["input_ids"])
        n = self.n_image
        if ids[:n] != [self.image_id] * n or len(ids) < n + 2:
            raise AdapterError(
                f"{self.name}: prompt {prompt[:40]!r}...: expected {n} image tokens then text tokens"
            )
        return ids

    def images(self, scan: ScanInput) -> Any:
        """The volume as ``(1, 1, D, H, W)``; another shape (e.g. a transposed volume) is refused."""
        import torch

        if scan.volume is None:
            raise AdapterError(
                f"scan {scan.scan_id}: Med3DVLM needs a volume (InputSpec kind 'volume')"
            )
        if tuple(scan.volume.shape) != self.image_shape:
            raise AdapterError(
                f"scan {scan.scan_id}: volume tensor {tuple(scan.volume.shape)}; expected (D, H, W) = "
                f"{self.image_shape}, slices first (a transposed volume gives the same token count "
                "and would fail silently)"
            )
        device = next(self.model.parameters()).device
        return torch.from_numpy(scan.volume).to(device)[None, None]

    # ----------------------------------------------------------------- running
    def run(self, batches: Iterable[Batch]) -> Iterator[Reply]:
        for batch in batches:
            if not batch.queries:
                continue
            if self.options.prefix_reuse and not self.options.trust_remote_code:
                yield from self._run_reuse(batch)
            else:
                images = self.images(batch.scan)
                for q in batch.queries:
                    yield self._run_plain(images, q)

    def close(self) -> None:
        import gc

        self.model = None  # type: ignore[assignment]
        gc.collect()

    def _text(self, tokens: list[int]) -> str:
        return self.tokenizer.decode(tokens, skip_special_tokens=True).removeprefix(" ")

    def _run_plain(self, images: Any, q: Query) -> Reply:
        import torch

        o = self.options
        t0 = time.perf_counter()
        ids = torch.tensor([self.prompt_ids(q.prompt)], device=images.device)
        kwargs = generate_kwargs(o, eos_ids=self.eos_ids, pad_id=self.pad_id)
        kwargs["attention_mask"] = torch.ones_like(ids)
        core = self._core()
        with torch.inference_mode():
            if hasattr(core, "splice"):  # ours
                embeds = core.splice(ids, images)
                out = self.model.generate(inputs_embeds=embeds, **kwargs)
            else:  # a folder's own code (trust_remote_code): upstream's generate(images=, inputs=)
                kwargs.pop("attention_mask")  # upstream drops it (batch size 1)
                images = images.to(next(core.parameters()).dtype)
                out = self.model.generate(images=images, inputs=ids, **kwargs)
        new = until_eos(out[0].tolist(), self.eos_ids)
        n = int(ids.shape[1])
        usage = Usage(n, len(new), n + len(new), 0, n)
        return Reply(q.record_id, self._text(new), usage, time.perf_counter() - t0)

    def prefill_prefix(self, images: Any) -> _Prefix:
        """Encode the volume and prefill the image prefix (``proj_out_num + 1`` positions) once."""
        import torch

        t0 = time.perf_counter()
        n = self.n_image
        ids = torch.full((1, n + 1), self.image_id, dtype=torch.long, device=images.device)
        with torch.inference_mode():
            embeds = self._core().splice(ids, images)
            out = self.model(inputs_embeds=embeds, use_cache=True, logits_to_keep=1)
        cache = getattr(out, "cache", None) or out.past_key_values
        if images.device.type == "cuda":
            torch.cuda.synchronize(images.device)
        return _Prefix(cache, n + 1, time.perf_counter() - t0)

    def _run_reuse(self, batch: Batch) -> Iterator[Reply]:
        o = self.options
        prefix = self.prefill_prefix(self.images(batch.scan))
        suffixes = [self.prompt_ids(q.prompt)[prefix.length :] for q in batch.queries]

        def decode(start: int, stop: int) -> list[tuple[str, int, int]]:
            outs = decode_on_cache(
                self.model,
                prefix.cache,
                suffixes[start:stop],
                prefix_length=prefix.length,
                next_position=prefix.length,
                pad_id=self.pad_id,
                eos_ids=self.eos_ids,
                max_new_tokens=o.max_new_tokens,
                do_sample=o.do_sample,
                temperature=o.temperature,
                seed=o.seed,
            )
            return [
                (self._text(new), len(s), len(new))
                for s, new in zip(suffixes[start:stop], outs, strict=True)
            ]

        yield from replies_on_prefix(
            batch.queries,
            decode,
            prefix_length=prefix.length,
            prefix_seconds=prefix.seconds,
            question_batch=o.question_batch,
        )
