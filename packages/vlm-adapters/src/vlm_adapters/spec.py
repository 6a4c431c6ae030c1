"""Model spec strings -> adapters.

- ``qwen2.5-vl:PATH`` — a local Qwen2.5-VL folder;
- ``qwen2.5-vl:BASE+lora:DIR`` — the same with a peft LoRA adapter folder;
- ``openai:MODEL[@BASE_URL]`` — an OpenAI-compatible endpoint (default
  ``https://api.openai.com/v1``; the key comes from ``$OPENAI_API_KEY``);
- ``majority``, ``atlas``, ``random`` — the reference baselines (fitted on the
  dataset's train split);
- ``specialist:DIR`` — a supervised 3D model folder written by
  ``reasonknee train specialist`` (:mod:`vlm_adapters.specialist`).
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from typing import Any

from vlm_adapters.errors import AdapterError
from vlm_adapters.protocol import Adapter

__all__ = ["ModelSpec", "make_adapter", "parse_model_spec"]


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """A parsed model spec: ``kind`` in qwen2.5-vl | openai | majority | atlas | random."""

    kind: str
    path: str | None = None
    lora: str | None = None
    model: str | None = None
    base_url: str | None = None

    @property
    def text(self) -> str:
        """The spec written back (what records carry as ``model``)."""
        if self.kind == "qwen2.5-vl":
            return f"qwen2.5-vl:{self.path}" + (f"+lora:{self.lora}" if self.lora else "")
        if self.kind == "openai":
            return f"openai:{self.model}" + (f"@{self.base_url}" if self.base_url else "")
        if self.kind == "specialist":
            return f"specialist:{self.path}"
        return self.kind


def parse_model_spec(spec: str) -> ModelSpec:
    """Parse a model spec string.

    >>> parse_model_spec("qwen2.5-vl:/m/base+lora:/m/lora")
    ModelSpec(kind='qwen2.5-vl', path='/m/base', lora='/m/lora', model=None, base_url=None)
    >>> parse_model_spec("openai:o1@http://127.0.0.1:8000/v1").base_url
    'http://127.0.0.1:8000/v1'
    """
    s = spec.strip()
    if s in ("majority", "atlas", "random"):
        return ModelSpec(kind=s)
    kind, sep, rest = s.partition(":")
    if not sep or not rest:
        raise AdapterError(
            f"model spec {spec!r}: expected qwen2.5-vl:PATH[+lora:DIR], openai:MODEL[@BASE_URL], "
            "specialist:DIR, majority, atlas or random"
        )
    if kind == "qwen2.5-vl":
        path, plus, lora = rest.partition("+lora:")
        if not path or (plus and not lora):
            raise AdapterError(
                f"model spec {spec!r}: expected qwen2.5-vl:PATH or qwen2.5-vl:BASE+lora:DIR"
            )
        return ModelSpec(kind="qwen2.5-vl", path=path, lora=lora or None)
    if kind == "openai":
        model, at, base_url = rest.partition("@")
        if not model or (at and not base_url):
            raise AdapterError(
                f"model spec {spec!r}: expected openai:MODEL or openai:MODEL@BASE_URL"
            )
        return ModelSpec(kind="openai", model=model, base_url=base_url or None)
    if kind == "specialist":
        return ModelSpec(kind="specialist", path=rest)
    raise AdapterError(
        f"model spec {spec!r}: unknown kind {kind!r}; expected qwen2.5-vl, openai, specialist, majority, atlas, random"
    )


def make_adapter(
    spec: str | ModelSpec,
    *,
    dataset: str | os.PathLike[str] | None = None,
    seed: int = 0,
    max_concurrency: int | None = None,
    options: dict[str, Any] | None = None,
) -> Adapter:
    """Build the adapter a spec names.

    ``dataset`` is needed by the reference baselines (their train split);
    ``options`` are keyword options of :class:`~vlm_adapters.QwenOptions` or
    :class:`~vlm_adapters.OpenAIOptions` (unknown names are an error). For
    ``qwen2.5-vl:BASE+lora:DIR`` with a ``DIR/sft_run.json`` (a fine-tuning
    run's ``best/``), the frame options not given default to the ones it was
    trained with (:func:`vlm_adapters.qwen.lora_frame_defaults`).
    """
    ms = parse_model_spec(spec) if isinstance(spec, str) else spec
    opts = dict(options or {})
    if ms.kind in ("majority", "atlas", "random"):
        from vlm_adapters.reference import fit_reference

        if dataset is None and ms.kind != "random":
            raise AdapterError(f"model {ms.kind!r}: needs the dataset folder (its train split)")
        return fit_reference(ms.kind, dataset or "", seed=seed)
    if ms.kind == "specialist":
        from vlm_adapters.specialist.adapter import SpecialistAdapter, SpecialistOptions

        return SpecialistAdapter.load(
            ms.path or "", options=_options(SpecialistOptions, opts), name=ms.text
        )
    if ms.kind == "qwen2.5-vl":
        from vlm_adapters.qwen import QwenOptions, QwenVLAdapter, lora_frame_defaults

        opts.setdefault("seed", seed)
        if ms.lora:  # a fine-tuned adapter sees the frames it was trained on, unless told otherwise
            for key, value in lora_frame_defaults(ms.lora).items():
                opts.setdefault(key, value)
        return QwenVLAdapter.load(
            ms.path or "", lora=ms.lora, options=_options(QwenOptions, opts), name=ms.text
        )
    from vlm_adapters.openai_api import OpenAIAdapter, OpenAIOptions

    if ms.base_url:
        opts["base_url"] = ms.base_url
    if max_concurrency is not None:
        opts["max_concurrency"] = max_concurrency
    opts.setdefault("seed", seed)
    return OpenAIAdapter(ms.model or "", options=_options(OpenAIOptions, opts), name=ms.text)


def _options(cls: type, opts: dict[str, Any]) -> Any:
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(opts) - known)
    if unknown:
        raise AdapterError(
            f"{cls.__name__}: unknown option(s) {', '.join(unknown)}; expected some of {sorted(known)}"
        )
    return cls(**opts)
