"""Chat encoding for fine-tuning Qwen2.5-VL: prompt + video masked out, only the answer is learned.

One example becomes ``input_ids = prompt_ids + answer_ids + [<|im_end|>] + ["\\n"]``
where ``prompt_ids`` is the processor's encoding of the chat up to and
including ``<|im_start|>assistant\\n`` (system turn, user turn with the video
placeholder expanded to its video tokens, the question text). ``labels`` copy
``input_ids`` on ``answer_ids + [<|im_end|>]`` and are ``-100`` everywhere else
(prompt, video tokens, the trailing newline, padding), so the loss is the
answer's alone and the model learns to stop after it. The answer is tokenized
on its own, exactly as generation produces it after the assistant header.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from vlm_adapters.errors import AdapterError

if TYPE_CHECKING:
    import torch

__all__ = [
    "ANSWER_END",
    "IGNORE_INDEX",
    "VIDEO_FPS",
    "EncodedExample",
    "collate",
    "encode_example",
    "encode_prompt",
    "user_messages",
]

#: The end-of-turn token appended to (and learned with) every answer.
ANSWER_END = "<|im_end|>"
#: Label value that the loss ignores (torch's cross-entropy default).
IGNORE_INDEX = -100
#: Frame rate declared to the processor for the slice video (the public scripts' 4 fps,
#: ``QwenOptions.fps``'s default: training and inference must agree).
VIDEO_FPS = 4.0


@dataclass(frozen=True)
class EncodedExample:
    """Tensors of one example (batch axis of 1 removed)."""

    input_ids: torch.Tensor
    labels: torch.Tensor
    pixel_values_videos: torch.Tensor
    video_grid_thw: torch.Tensor
    extras: dict[str, torch.Tensor]


def user_messages(prompt: str) -> list[dict[str, Any]]:
    """The chat of one question: a user turn with the slice video, then the prompt text.

    The same layout as :meth:`vlm_adapters.qwen.QwenVLAdapter.chat_text` (no system prompt given).
    """
    return [{"role": "user", "content": [{"type": "video"}, {"type": "text", "text": prompt}]}]


def _check_frames(frames: np.ndarray) -> np.ndarray:
    arr = np.asarray(frames)
    if arr.ndim != 4 or arr.shape[-1] != 3 or arr.dtype != np.uint8:
        raise AdapterError(
            f"frames: expected a uint8 array (T, H, W, 3), got {arr.dtype} {arr.shape}"
        )
    return arr


def encode_prompt(processor: Any, frames: np.ndarray, prompt: str) -> dict[str, torch.Tensor]:
    """Processor outputs for the prompt alone, ending with the assistant header (batch of 1)."""
    arr = _check_frames(frames)
    text = processor.apply_chat_template(
        user_messages(prompt), add_generation_prompt=True, tokenize=False
    )
    return dict(
        processor(
            text=[text],
            videos=[arr],
            video_metadata=[{"fps": VIDEO_FPS, "total_num_frames": int(arr.shape[0])}],
            return_tensors="pt",
        )
    )


def encode_example(processor: Any, frames: np.ndarray, prompt: str, answer: str) -> EncodedExample:
    """Encode one (frames, prompt, answer) triple with the loss mask on the answer.

    Decoding ``input_ids[labels != -100]`` gives back ``answer + ANSWER_END``.
    """
    import torch

    if not answer:
        raise AdapterError("answer: expected a non-empty target text")
    tok = processor.tokenizer
    end_id = tok.convert_tokens_to_ids(ANSWER_END)
    if end_id is None or end_id == tok.unk_token_id:
        raise AdapterError(
            f"tokenizer: expected the special token {ANSWER_END!r} in its vocabulary"
        )
    enc = encode_prompt(processor, frames, prompt)
    prompt_ids = enc.pop("input_ids")[0]
    enc.pop("attention_mask", None)
    answer_ids = torch.tensor(
        tok(answer, add_special_tokens=False)["input_ids"], dtype=prompt_ids.dtype
    )
    newline_ids = torch.tensor(
        tok("\n", add_special_tokens=False)["input_ids"], dtype=prompt_ids.dtype
    )
    end = torch.tensor([end_id], dtype=prompt_ids.dtype)
    input_ids = torch.cat([prompt_ids, answer_ids, end, newline_ids])
    labels = torch.full_like(input_ids, IGNORE_INDEX)
    start, stop = prompt_ids.numel(), prompt_ids.numel() + answer_ids.numel() + 1
    labels[start:stop] = input_ids[start:stop]
    extras: dict[str, torch.Tensor] = {}
    for key, value in enc.items():
        if key in ("pixel_values_videos", "video_grid_thw"):
            continue
        if key == "mm_token_type_ids":
            # per-token modality ids: the appended answer tokens are text (0)
            pad = torch.zeros(input_ids.numel() - value.shape[1], dtype=value.dtype)
            extras[key] = torch.cat([value[0], pad])
        else:
            extras[key] = value
    return EncodedExample(
        input_ids=input_ids,
        labels=labels,
        pixel_values_videos=enc["pixel_values_videos"],
        video_grid_thw=enc["video_grid_thw"],
        extras=extras,
    )


def collate(examples: Sequence[EncodedExample], *, pad_token_id: int) -> dict[str, torch.Tensor]:
    """Right-pad a batch (padding: ``pad_token_id``, label -100, attention 0).

    Video patches and grids are concatenated in batch order, as the Qwen2.5-VL
    model expects.
    """
    import torch

    if not examples:
        raise AdapterError("collate: expected at least one example")
    length = max(e.input_ids.numel() for e in examples)
    n = len(examples)
    dtype = examples[0].input_ids.dtype
    input_ids = torch.full((n, length), pad_token_id, dtype=dtype)
    labels = torch.full((n, length), IGNORE_INDEX, dtype=dtype)
    attention = torch.zeros((n, length), dtype=torch.long)
    batch: dict[str, torch.Tensor] = {}
    per_token = {
        k: torch.zeros((n, length), dtype=v.dtype)
        for k, v in examples[0].extras.items()
        if v.dim() == 1 and v.numel() == examples[0].input_ids.numel()
    }
    for i, e in enumerate(examples):
        k = e.input_ids.numel()
        input_ids[i, :k] = e.input_ids
        labels[i, :k] = e.labels
        attention[i, :k] = 1
        for key in per_token:
            per_token[key][i, :k] = e.extras[key]
    batch.update(input_ids=input_ids, labels=labels, attention_mask=attention)
    batch.update(per_token)
    batch["pixel_values_videos"] = torch.cat([e.pixel_values_videos for e in examples])
    batch["video_grid_thw"] = torch.cat([e.video_grid_thw for e in examples])
    for key in examples[0].extras:
        if key not in per_token:
            batch[key] = torch.cat([e.extras[key] for e in examples])
    return batch
