"""One adapter protocol for VLMs on ReasonKnee-Bench: Qwen2.5-VL (transformers), OpenAI-compatible APIs, reference baselines, LoRA SFT."""

__version__ = "0.1.0"
__all__: list[str] = ["__version__"]
