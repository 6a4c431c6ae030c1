"""Med3DVLM (mirthAI/Med3DVLM): a native 3D model, as an adapter and a fine-tuning target.

- :mod:`~vlm_adapters.med3dvlm.config`: the published configuration;
- :mod:`~vlm_adapters.med3dvlm.dcformer`, :mod:`~vlm_adapters.med3dvlm.mixer`,
  :mod:`~vlm_adapters.med3dvlm.model`: our implementation, whose state dict
  equals the published one (docs/baselines.md);
- :mod:`~vlm_adapters.med3dvlm.preprocess`: the volume as the model was trained on it;
- :mod:`~vlm_adapters.med3dvlm.adapter`: ``med3dvlm:PATH[+lora:DIR]``;
- :mod:`~vlm_adapters.med3dvlm.tiny`: a tiny random checkpoint writer.

Needs the extra ``vlm-adapters[med3dvlm]`` (torch, transformers, peft, einops, timm);
importing this package does not import torch.
"""

from __future__ import annotations

__all__ = [
    "Med3DVLMAdapter",
    "Med3DVLMConfig",
    "Med3DVLMForCausalLM",
    "Med3DVLMOptions",
    "build_tiny_med3dvlm",
]

_LAZY = {
    "Med3DVLMAdapter": "vlm_adapters.med3dvlm.adapter",
    "Med3DVLMOptions": "vlm_adapters.med3dvlm.adapter",
    "Med3DVLMConfig": "vlm_adapters.med3dvlm.config",
    "Med3DVLMForCausalLM": "vlm_adapters.med3dvlm.model",
    "build_tiny_med3dvlm": "vlm_adapters.med3dvlm.tiny",
}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'vlm_adapters.med3dvlm' has no attribute {name!r}")
