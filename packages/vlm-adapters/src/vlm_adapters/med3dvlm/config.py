"""`Med3DVLMConfig`: the published Med3DVLM configuration (a Qwen2 config plus the 3D vision keys).

The config keys and defaults are those of the upstream repository
(mirthAI/Med3DVLM, ``src/train/train_vlm.py`` and ``src/model/vlm_arch.py``):
a DCFormer ``decomp_small`` encoder (``vision_tower="dcformer"``), its last two
stages selected (``vision_select_layer=-2``, ``vision_select_feature="cls_patch"``),
a ``"mixer"`` projector with ``low_input_size=(256, 384)``,
``high_input_size=(32, 768)``, ``low_output_size=[192, 128]``,
``high_output_size=[64, 128]``, ``mm_mlp_depth=2`` and ``proj_out_num=256``.

Axis conventions: ``input_size`` is upstream's ``(H, W, D)`` order (the
encoder permutes its ``(B, 1, D, H, W)`` input to ``(B, 1, H, W, D)``);
:attr:`Med3DVLMConfig.image_shape` gives the ``(D, H, W)`` the model takes.

Three keys are ours and absent from the published config (their defaults are
``decomp_small``'s): ``dcformer_channels``, ``dcformer_blocks``,
``dcformer_kernels``. They let :mod:`vlm_adapters.med3dvlm.tiny` build the
same architecture at toy sizes.
"""

from __future__ import annotations

import math
from typing import Any

from huggingface_hub.dataclasses import strict
from transformers import Qwen2Config

from vlm_adapters.errors import AdapterError

__all__ = [
    "IMAGE_TOKEN",
    "Med3DVLMConfig",
    "published_config",
    "stage_grid",
]

#: The added special token repeated ``proj_out_num`` times at the start of every prompt.
IMAGE_TOKEN = "<im_patch>"


def stage_grid(shape: tuple[int, int, int], stage: int) -> tuple[int, int, int]:
    """Spatial grid after encoder stage ``stage`` (0..4) for an input of ``shape`` (any axis order).

    The stem divides by 4 (``floor((n - 1) / 4) + 1``), each later stage's max
    pool by 2 (``floor((n - 1) / 2) + 1``).

    >>> stage_grid((128, 256, 256), 3), stage_grid((128, 256, 256), 4)
    ((4, 8, 8), (2, 4, 4))
    """
    grid = [(n - 1) // 4 + 1 for n in shape]
    for _ in range(stage):
        grid = [(n - 1) // 2 + 1 for n in grid]
    return (grid[0], grid[1], grid[2])


@strict
class Med3DVLMConfig(Qwen2Config):
    """Qwen2 language model + DCFormer 3D encoder + mixer projector (upstream ``model_type`` ``vlm_qwen``)."""

    model_type = "vlm_qwen"

    vision_tower: str = "dcformer"
    input_size: list[int] | tuple[int, ...] = (256, 256, 128)
    vision_select_layer: int = -2
    vision_select_feature: str = "cls_patch"
    mm_projector_type: str = "mixer"
    mm_mlp_depth: int = 2
    proj_out_num: int = 256
    low_input_size: list[int] | tuple[int, ...] = (256, 384)
    high_input_size: list[int] | tuple[int, ...] = (32, 768)
    low_output_size: list[int] | tuple[int, ...] = (192, 128)
    high_output_size: list[int] | tuple[int, ...] = (64, 128)
    dcformer_channels: list[int] | tuple[int, ...] = (64, 96, 192, 384, 768)
    dcformer_blocks: list[int] | tuple[int, ...] = (1, 2, 3, 6, 2)
    dcformer_kernels: list[int] | tuple[int, ...] = (13, 11, 9, 7)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """The ``(D, H, W)`` volume the model takes (slices first): ``input_size`` reordered."""
        h, w, d = (int(v) for v in self.input_size)
        return (d, h, w)

    def check(self, where: str = "config.json") -> None:
        """Refuse a configuration this implementation does not reproduce, naming the key."""
        fixed: dict[str, Any] = {
            "vision_tower": "dcformer",
            "vision_select_layer": -2,
            "vision_select_feature": "cls_patch",
            "mm_projector_type": "mixer",
        }
        for key, want in fixed.items():
            if getattr(self, key) != want:
                raise AdapterError(
                    f"{where}: {key}={getattr(self, key)!r}; this Med3DVLM implementation "
                    f"expects {want!r} (the published model)"
                )
        if len(self.input_size) != 3 or min(int(v) for v in self.input_size) < 1:
            raise AdapterError(f"{where}: input_size: expected 3 positive sizes (H, W, D)")
        ch, blocks = list(self.dcformer_channels), list(self.dcformer_blocks)
        if len(ch) != 5 or len(blocks) != 5 or len(self.dcformer_kernels) != 4:
            raise AdapterError(
                f"{where}: dcformer_channels / dcformer_blocks / dcformer_kernels: "
                "expected 5, 5 and 4 entries"
            )
        h, w, d = (int(v) for v in self.input_size)
        low = (math.prod(stage_grid((d, h, w), 3)), ch[3])
        high = (math.prod(stage_grid((d, h, w), 4)), ch[4])
        for key, want in (("low_input_size", low), ("high_input_size", high)):
            got = tuple(int(v) for v in getattr(self, key))
            if got != want:
                raise AdapterError(
                    f"{where}: {key}={list(got)}; expected {list(want)} (tokens x channels of "
                    f"encoder stage {3 if key.startswith('low') else 4} for input_size "
                    f"{list(self.input_size)})"
                )
        depth = len(self.low_output_size)
        if depth != len(self.high_output_size) or self.hidden_size % (2**depth):
            raise AdapterError(
                f"{where}: low_output_size / high_output_size: expected the same length d "
                f"with hidden_size divisible by 2**d"
            )
        n = int(self.low_output_size[-1]) + int(self.high_output_size[-1])
        if n != self.proj_out_num:
            raise AdapterError(
                f"{where}: proj_out_num={self.proj_out_num}; expected {n} "
                "(low_output_size[-1] + high_output_size[-1])"
            )


def published_config(*, vocab_size: int = 151666) -> Med3DVLMConfig:
    """The configuration of the published ``Med3DVLM-Qwen-2.5-7B`` (Qwen2.5-7B-Instruct dimensions).

    ``vocab_size`` is whatever the checkpoint's ``config.json`` says; the
    default assumes upstream's ``resize_token_embeddings(len(tokenizer))`` after
    adding ``<im_patch>`` to Qwen2.5's 151,665 tokens.
    """
    return Med3DVLMConfig(
        vocab_size=vocab_size,
        hidden_size=3584,
        intermediate_size=18944,
        num_hidden_layers=28,
        num_attention_heads=28,
        num_key_value_heads=4,
        max_position_embeddings=32768,
        rms_norm_eps=1e-6,
        tie_word_embeddings=False,
        rope_parameters={"rope_type": "default", "rope_theta": 1_000_000.0},
        bos_token_id=151643,
        eos_token_id=151645,
    )
