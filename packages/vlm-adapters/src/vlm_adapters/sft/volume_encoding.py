"""Encoding for fine-tuning a 3D model (Med3DVLM): the published prompt layout, loss on the answer.

One example is ``prompt_ids + answer_ids + [eos]``: ``prompt_ids`` the
tokens of ``"<im_patch>" * proj_out_num + " " + prompt`` (no chat template,
as the published model was trained), ``answer_ids`` those of ``" " + answer``
tokenized on its own, exactly as generation continues the prompt. ``labels``
copy the answer and the end token and are ``-100`` elsewhere (image tokens,
prompt, padding). The volume goes beside the text as ``images`` ``(1, D, H, W)``;
the model splices it in (:mod:`vlm_adapters.med3dvlm.model`). An example
longer than ``max_length`` is refused, never truncated.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from vlm_adapters.errors import AdapterError
from vlm_adapters.sft.encoding import IGNORE_INDEX

if TYPE_CHECKING:
    import torch

__all__ = ["VolumeExample", "collate_volumes", "encode_volume_example"]


@dataclass(frozen=True)
class VolumeExample:
    """Tensors of one example: token ids, labels (-100 outside the answer), volume ``(1, D, H, W)``."""

    input_ids: torch.Tensor
    labels: torch.Tensor
    images: torch.Tensor


def encode_volume_example(
    tokenizer: Any,
    volume: np.ndarray,
    prompt: str,
    answer: str,
    *,
    n_image: int,
    max_length: int | None,
    where: str = "example",
) -> VolumeExample:
    """Encode one (volume, prompt, answer) triple; decoding the labelled ids gives ``" " + answer`` + eos."""
    import torch

    from vlm_adapters.med3dvlm.config import IMAGE_TOKEN

    if not answer:
        raise AdapterError(f"{where}: answer: expected a non-empty target text")
    vol = np.asarray(volume)
    if vol.ndim != 3 or vol.dtype != np.float32:
        raise AdapterError(
            f"{where}: volume: expected float32 (D, H, W), got {vol.dtype} {vol.shape}"
        )
    eos = tokenizer.eos_token_id
    if eos is None:
        raise AdapterError("tokenizer: expected an end-of-sequence token")
    prompt_ids = list(tokenizer(IMAGE_TOKEN * n_image + " " + prompt)["input_ids"])
    answer_ids = list(tokenizer(" " + answer, add_special_tokens=False)["input_ids"])
    ids = prompt_ids + answer_ids + [int(eos)]
    if max_length is not None and len(ids) > max_length:
        raise AdapterError(
            f"{where}: {len(ids)} tokens ({n_image} image + {len(prompt_ids) - n_image} prompt + "
            f"{len(answer_ids) + 1} answer); expected at most max_length={max_length} "
            "(raise --max-length; examples are never truncated)"
        )
    input_ids = torch.tensor(ids, dtype=torch.long)
    labels = torch.full_like(input_ids, IGNORE_INDEX)
    labels[len(prompt_ids) :] = input_ids[len(prompt_ids) :]
    return VolumeExample(input_ids, labels, torch.from_numpy(vol.copy())[None])


def collate_volumes(
    examples: Sequence[VolumeExample], *, pad_token_id: int
) -> dict[str, torch.Tensor]:
    """Right-pad a batch (padding: ``pad_token_id``, label -100, attention 0); stack the volumes."""
    import torch

    if not examples:
        raise AdapterError("collate: expected at least one example")
    length = max(e.input_ids.numel() for e in examples)
    n = len(examples)
    input_ids = torch.full((n, length), pad_token_id, dtype=torch.long)
    labels = torch.full((n, length), IGNORE_INDEX, dtype=torch.long)
    attention = torch.zeros((n, length), dtype=torch.long)
    for i, e in enumerate(examples):
        k = e.input_ids.numel()
        input_ids[i, :k], labels[i, :k], attention[i, :k] = e.input_ids, e.labels, 1
    images = torch.stack([e.images for e in examples])
    return {"input_ids": input_ids, "labels": labels, "attention_mask": attention, "images": images}
