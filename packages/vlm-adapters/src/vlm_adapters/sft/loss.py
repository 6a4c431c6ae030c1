"""The training loss: next-token cross-entropy over the answer tokens only.

Only the positions from the first answer token on go through the output
layer (``logits_to_keep``), so the prompt and the video (15 k+ tokens at the
paper's input size) never materialise vocabulary-sized logits. The value is
the one the model's own ``labels=`` loss gives (mean over labelled tokens).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from vlm_adapters.errors import AdapterError
from vlm_adapters.sft.encoding import IGNORE_INDEX

if TYPE_CHECKING:
    import torch

__all__ = ["answer_loss"]


def answer_loss(model: Any, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """Mean cross-entropy of the labelled tokens of ``batch`` (a :func:`collate` output)."""
    import torch.nn.functional as F

    labels = batch["labels"]
    labelled = (labels != IGNORE_INDEX).any(dim=0).nonzero().flatten()
    if labelled.numel() == 0:
        raise AdapterError(
            "batch: expected labelled answer tokens, found none (all labels are -100)"
        )
    first = int(labelled[0])
    if first == 0:
        raise AdapterError("batch: the first token cannot be a target (nothing precedes it)")
    length = labels.shape[1]
    keep = length - first + 1  # hidden states from position first-1 on
    inputs = {k: v for k, v in batch.items() if k != "labels"}
    out = model(**inputs, logits_to_keep=keep, use_cache=False)
    logits = out.logits[:, :-1]  # positions first-1 .. L-2 predict tokens first .. L-1
    target = labels[:, first:]
    return F.cross_entropy(
        logits.float().reshape(-1, logits.shape[-1]), target.reshape(-1), ignore_index=IGNORE_INDEX
    )
