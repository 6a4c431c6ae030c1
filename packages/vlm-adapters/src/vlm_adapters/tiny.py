"""Tiny offline assets for tests and demos: a random Qwen2.5-VL.

:func:`build_tiny_qwen`: the real architecture and the real processors at toy
sizes: a byte-level tokenizer with the Qwen special tokens and a chat template,
image and video processors with small size limits, and a 2-layer text model
(hidden 64) with a 1-block vision tower (hidden 32). Used by tests, the SFT
trainer's tests and the demo; throughput or quality figures from it mean
nothing.

A small dataset folder to run it on: :func:`knee_phantom.write_phantom_dataset`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from knee_volumes.atomic import atomic_folder

from vlm_adapters.errors import needs_extra

__all__ = [
    "QWEN_CHAT_TEMPLATE",
    "QWEN_SPECIAL_TOKENS",
    "build_tiny_qwen",
    "byte_level_alphabet",
    "qwen_processor",
    "qwen_tokenizer",
    "save_folder",
]

#: The Qwen2 / Qwen2.5-VL special tokens, in the order of their ids after the vocabulary.
QWEN_SPECIAL_TOKENS: tuple[str, ...] = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|object_ref_start|>",
    "<|object_ref_end|>",
    "<|box_start|>",
    "<|box_end|>",
    "<|quad_start|>",
    "<|quad_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
)

#: A ChatML template in the Qwen2.5-VL layout: images and videos become
#: ``<|vision_start|><|image_pad|><|vision_end|>`` (resp. ``<|video_pad|>``).
QWEN_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
    "{% endif %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' or 'video' in content %}"
    "<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}"
    "{% endif %}{% endfor %}<|im_end|>\n"
    "{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def byte_level_alphabet() -> list[str]:
    """The 256 printable characters a byte-level BPE uses for the bytes 0..255 (GPT-2 order).

    >>> alphabet = byte_level_alphabet()
    >>> len(alphabet), alphabet[ord("A")], len(set(alphabet))
    (256, 'A', 256)
    """
    printable = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    mapping: dict[int, int] = {b: b for b in printable}
    extra = 0
    for b in range(256):
        if b not in mapping:
            mapping[b] = 256 + extra
            extra += 1
    return [chr(mapping[b]) for b in range(256)]


def qwen_tokenizer(
    vocab: dict[str, int] | None = None, merges: list[tuple[str, str]] | None = None
) -> Any:
    """A ``Qwen2Tokenizer`` with the Qwen special tokens and chat template, built offline.

    Default vocabulary: the 256 byte-level characters, no merges (every UTF-8
    byte one token; any text round-trips). Pass a trained byte-level BPE's
    ``vocab`` and ``merges`` for realistic token counts.
    """
    with needs_extra("qwen"):
        from transformers import Qwen2Tokenizer

    if vocab is None:
        vocab = {ch: i for i, ch in enumerate(byte_level_alphabet())}
    return Qwen2Tokenizer(
        vocab=vocab,
        merges=list(merges or []),
        unk_token=None,
        bos_token=None,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=list(QWEN_SPECIAL_TOKENS),
        chat_template=QWEN_CHAT_TEMPLATE,
        model_max_length=131072,
    )


def qwen_processor(tokenizer: Any, *, max_pixels: int, min_pixels: int = 28 * 28) -> Any:
    """A ``Qwen2_5_VLProcessor`` (image + video processors bounded to ``max_pixels`` per frame)."""
    with needs_extra("qwen"):
        from transformers import Qwen2_5_VLProcessor, Qwen2VLImageProcessor, Qwen2VLVideoProcessor

    size = {"shortest_edge": min_pixels, "longest_edge": max_pixels}
    return Qwen2_5_VLProcessor(
        image_processor=Qwen2VLImageProcessor(size=size),
        video_processor=Qwen2VLVideoProcessor(size=size, cap_pixels_per_frame=False),
        tokenizer=tokenizer,
        chat_template=QWEN_CHAT_TEMPLATE,
    )


def build_tiny_qwen(
    out_dir: str | os.PathLike[str],
    *,
    seed: int = 0,
    max_pixels: int = 64 * 64,
    min_pixels: int = 28 * 28,
    initializer_range: float = 0.02,
) -> Path:
    """Build and save a tiny random Qwen2.5-VL (model, tokenizer, processors) into ``out_dir``.

    Offline and deterministic: the same ``seed`` gives the same weights. The
    folder loads with ``Qwen2_5_VLForConditionalGeneration.from_pretrained`` and
    ``AutoProcessor.from_pretrained``; it is written to a temporary sibling
    first and renamed into place, so a failure leaves nothing half-written.
    ``max_pixels`` / ``min_pixels`` bound the per-frame resize of both
    processors (the library defaults would upscale small frames ~16x).
    ``initializer_range`` is the init std (larger values make the random
    model's replies depend more visibly on its input). Returns ``out_dir``.
    """
    with needs_extra("qwen"):
        import torch
        from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    out = Path(out_dir)
    processor = qwen_processor(qwen_tokenizer(), max_pixels=max_pixels, min_pixels=min_pixels)
    tokenizer = processor.tokenizer
    ids = {tok: tokenizer.convert_tokens_to_ids(tok) for tok in QWEN_SPECIAL_TOKENS}
    vocab_size = len(tokenizer)

    hidden = 64
    heads = 4
    # head_dim = hidden / heads = 16, so mrope_section must sum to 8
    config = Qwen2_5_VLConfig(
        text_config={
            "vocab_size": vocab_size,
            "hidden_size": hidden,
            "intermediate_size": 128,
            "num_hidden_layers": 2,
            "num_attention_heads": heads,
            "num_key_value_heads": 2,
            "max_position_embeddings": 32768,
            "rope_parameters": {
                "rope_type": "default",
                "rope_theta": 1_000_000.0,
                "mrope_section": [2, 3, 3],
            },
            "bos_token_id": ids["<|endoftext|>"],
            "eos_token_id": ids["<|im_end|>"],
            "pad_token_id": ids["<|endoftext|>"],
            "initializer_range": initializer_range,
        },
        vision_config={
            "depth": 1,
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_heads": 2,
            "out_hidden_size": hidden,
            "fullatt_block_indexes": [0],
            "window_size": 112,
            "patch_size": 14,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
            "tokens_per_second": 2,
            "initializer_range": initializer_range,
        },
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=False,
        initializer_range=initializer_range,
    )

    torch.manual_seed(seed)
    model = Qwen2_5_VLForConditionalGeneration(config)
    model.generation_config.eos_token_id = ids["<|im_end|>"]
    model.generation_config.pad_token_id = ids["<|endoftext|>"]
    model.generation_config.do_sample = False

    return save_folder(out, model, processor)


def save_folder(out: Path, *parts: Any) -> Path:
    """``part.save_pretrained`` of each part into a temporary sibling of ``out``, then renamed into
    place (an existing ``out`` is replaced); a failure leaves nothing half-written. Returns ``out``."""
    with atomic_folder(out, overwrite=True) as tmp:
        for part in parts:
            part.save_pretrained(tmp)
    return out
