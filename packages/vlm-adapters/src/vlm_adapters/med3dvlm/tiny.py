"""A tiny random Med3DVLM checkpoint folder: the same architecture at toy sizes, for tests and demos.

``python -m vlm_adapters.med3dvlm.tiny DIR [--shape D H W] [--seed N]`` writes
``config.json``, ``model.safetensors``, ``generation_config.json`` and the
tokenizer files (a byte-level Qwen tokenizer with ``<im_patch>`` added) to
``DIR``, atomically. It loads as ``med3dvlm:DIR``. Figures from it mean nothing.

Spatial size is free: the stage-3 / stage-4 token counts (``low_input_size``,
``high_input_size``) are derived from it.
"""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Sequence
from pathlib import Path

__all__ = ["TINY_SHAPE", "build_tiny_med3dvlm", "main", "med3dvlm_tokenizer", "tiny_config"]

#: Default ``(D, H, W)`` of the tiny model's input: 8 stage-3 and 2 stage-4 tokens (batch norm
#: in training needs more than one value per channel).
TINY_SHAPE: tuple[int, int, int] = (32, 64, 128)


def med3dvlm_tokenizer() -> object:
    """The offline byte-level Qwen tokenizer (:func:`vlm_adapters.tiny.qwen_tokenizer`) plus ``<im_patch>``."""
    from transformers import AddedToken

    from vlm_adapters.med3dvlm.config import IMAGE_TOKEN
    from vlm_adapters.tiny import qwen_tokenizer

    tok = qwen_tokenizer()
    tok.add_tokens([AddedToken(IMAGE_TOKEN, special=True, normalized=False)], special_tokens=True)
    return tok


def tiny_config(
    *,
    vocab_size: int,
    shape: Sequence[int] = TINY_SHAPE,
    eos: int,
    pad: int,
    initializer_range: float = 0.02,
) -> object:
    """A :class:`Med3DVLMConfig` at toy sizes (hidden 64, 2 layers; channels 8..32; 8 visual tokens)."""
    from vlm_adapters.med3dvlm.config import Med3DVLMConfig, stage_grid

    d, h, w = (int(v) for v in shape)
    channels = (8, 8, 16, 16, 32)
    return Med3DVLMConfig(
        vocab_size=vocab_size,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=32768,
        tie_word_embeddings=False,
        rope_parameters={"rope_type": "default", "rope_theta": 1_000_000.0},
        bos_token_id=pad,
        eos_token_id=eos,
        pad_token_id=pad,
        input_size=[h, w, d],
        low_input_size=[math.prod(stage_grid((d, h, w), 3)), channels[3]],
        high_input_size=[math.prod(stage_grid((d, h, w), 4)), channels[4]],
        low_output_size=[6, 4],
        high_output_size=[2, 4],
        proj_out_num=8,
        dcformer_channels=list(channels),
        dcformer_blocks=[1, 1, 1, 1, 1],
        dcformer_kernels=[5, 3, 3, 3],
        initializer_range=initializer_range,
    )


def build_tiny_med3dvlm(
    out_dir: str | os.PathLike[str],
    *,
    seed: int = 0,
    shape: Sequence[int] = TINY_SHAPE,
    initializer_range: float = 0.02,
) -> Path:
    """Write a tiny random Med3DVLM folder to ``out_dir`` (replaced atomically); returns it.

    Deterministic: the same ``seed`` and ``shape`` give the same weights.
    The layer-scale of every encoder block is set to 1 (published init:
    1e-6); a larger ``initializer_range`` (init std) makes the random
    model's replies depend more visibly on the volume.
    """
    import torch

    from vlm_adapters.med3dvlm.deps import require

    require()
    from vlm_adapters.med3dvlm.model import Med3DVLMForCausalLM

    tok = med3dvlm_tokenizer()
    eos, pad = tok.convert_tokens_to_ids("<|im_end|>"), tok.convert_tokens_to_ids("<|endoftext|>")
    config = tiny_config(
        vocab_size=len(tok), shape=shape, eos=eos, pad=pad, initializer_range=initializer_range
    )
    torch.manual_seed(seed)
    model = Med3DVLMForCausalLM(config)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith(".scale"):
                param.fill_(1.0)
    model.generation_config.eos_token_id = eos
    model.generation_config.pad_token_id = pad
    model.generation_config.do_sample = False
    from vlm_adapters.tiny import save_folder

    return save_folder(Path(out_dir), model, tok)


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``python -m vlm_adapters.med3dvlm.tiny DIR [--shape D H W] [--seed N]``."""
    parser = argparse.ArgumentParser(
        prog="python -m vlm_adapters.med3dvlm.tiny",
        description="Write a tiny random Med3DVLM checkpoint folder (for tests and demos).",
    )
    parser.add_argument("out", type=Path, help="folder to write (replaced if it exists)")
    parser.add_argument(
        "--shape", type=int, nargs=3, default=list(TINY_SHAPE), metavar=("D", "H", "W")
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if min(args.shape) < 1:
        parser.error(f"--shape: expected three positive sizes, got {args.shape}")
    print(build_tiny_med3dvlm(args.out, seed=args.seed, shape=args.shape))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
