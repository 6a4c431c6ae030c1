"""Seeding a training run, and a fingerprint of a checkpoint's weights to check it.

What nnU-Net leaves to chance, and what :func:`seeded` does about it:

- the network's initial weights (torch's generator): seeded;
- which case and where a patch is cropped (nnU-Net's data loader draws from
  numpy's global generator) and the augmentation's random parameters
  (batchgeneratorsv2 draws from torch's and numpy's generators): seeded, as
  long as the augmentation runs in the training process. That is the default
  on a CPU (``num_workers=0``, i.e. ``nnUNet_n_proc_DA=0``);
- with augmentation worker processes (``num_workers > 0``, nnU-Net's default
  on a GPU) nnU-Net starts its workers unseeded and takes their batches in
  whichever order they finish: such a run is not reproducible, seed or not;
- torch's kernels: :func:`seeded` asks torch for deterministic algorithms
  (``torch.use_deterministic_algorithms(True, warn_only=True)``, and cuDNN's
  deterministic mode on a GPU) while the run lasts.

On a CPU with ``num_workers=0`` and a fixed thread count, two runs with the
same seed give bitwise-identical weights (tested; :func:`weights_digest`).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import random
from collections.abc import Iterator

__all__ = ["seeded", "weights_digest"]


@contextlib.contextmanager
def seeded(seed: int | None) -> Iterator[None]:
    """Seed ``random``, numpy and torch and ask torch for deterministic kernels; restore torch's settings after.

    ``seed=None`` changes nothing (a run that draws its own randomness).
    """
    if seed is None:
        yield
        return
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    was_deterministic = torch.are_deterministic_algorithms_enabled()
    was_warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    cudnn = torch.backends.cudnn
    old_cudnn = (cudnn.deterministic, cudnn.benchmark)
    try:
        torch.use_deterministic_algorithms(True, warn_only=True)
        cudnn.deterministic, cudnn.benchmark = True, False
        yield
    finally:
        torch.use_deterministic_algorithms(was_deterministic, warn_only=was_warn_only)
        cudnn.deterministic, cudnn.benchmark = old_cudnn


def weights_digest(checkpoint: str | os.PathLike[str]) -> str:
    """SHA-256 (hex) of an nnU-Net checkpoint's network weights, in parameter-name order.

    Two trainings gave the same model exactly when their digests agree (the
    rest of a checkpoint holds times and logs that always differ).
    """
    import torch

    state = torch.load(checkpoint, map_location="cpu", weights_only=False)["network_weights"]
    h = hashlib.sha256()
    for name in sorted(state):
        tensor = state[name].detach().cpu().contiguous()
        h.update(name.encode() + b"\0" + str(tensor.dtype).encode() + b"\0")
        h.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()
