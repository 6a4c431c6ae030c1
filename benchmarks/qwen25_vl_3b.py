"""The published architecture of Qwen/Qwen2.5-VL-3B-Instruct (its config.json values), shared by the
GPU benchmark scripts, which build it with random weights (throughput does not depend on them)."""

from __future__ import annotations

from typing import Any

__all__ = ["QWEN25_VL_3B_TEXT", "QWEN25_VL_3B_VISION"]

#: Published config values of Qwen/Qwen2.5-VL-3B-Instruct (config.json).
QWEN25_VL_3B_TEXT: dict[str, Any] = {
    "vocab_size": 151936,
    "hidden_size": 2048,
    "intermediate_size": 11008,
    "num_hidden_layers": 36,
    "num_attention_heads": 16,
    "num_key_value_heads": 2,
    "hidden_act": "silu",
    "max_position_embeddings": 128000,
    "rms_norm_eps": 1e-6,
    "rope_parameters": {
        "rope_type": "default",
        "rope_theta": 1000000.0,
        "mrope_section": [16, 24, 24],
    },
    "use_sliding_window": False,
    "sliding_window": 32768,
    "max_window_layers": 70,
    "tie_word_embeddings": True,
}
QWEN25_VL_3B_VISION: dict[str, Any] = {
    "depth": 32,
    "hidden_act": "silu",
    "hidden_size": 1280,
    "intermediate_size": 3420,
    "num_heads": 16,
    "in_channels": 3,
    "out_hidden_size": 2048,
    "patch_size": 14,
    "spatial_merge_size": 2,
    "temporal_patch_size": 2,
    "window_size": 112,
    "fullatt_block_indexes": [7, 15, 23, 31],
    "tokens_per_second": 2,
}
