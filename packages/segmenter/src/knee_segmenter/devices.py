"""Device names (``auto``, ``cpu``, ``cuda``, ``cuda:1``, ``mps``) to torch devices."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

from knee_segmenter.errors import SegmenterError, needs_nnunet

if TYPE_CHECKING:
    import torch

__all__ = ["resolve_device", "torch_threads"]


def resolve_device(name: str = "auto") -> torch.device:
    """The torch device for ``name``; ``auto`` picks cuda, then mps, then cpu.

    >>> str(resolve_device("cpu"))
    'cpu'
    """
    with needs_nnunet():
        import torch

    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    kind = name.split(":", 1)[0]
    if kind not in ("cpu", "cuda", "mps"):
        raise SegmenterError(f"device {name!r}: expected 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'")
    if kind == "cuda" and not torch.cuda.is_available():
        raise SegmenterError(
            f"device {name!r}: CUDA is not available on this machine (use 'cpu' or 'auto')"
        )
    if kind == "mps" and not (
        getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()
    ):
        raise SegmenterError(
            f"device {name!r}: MPS is not available on this machine (use 'cpu' or 'auto')"
        )
    return torch.device(name)


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Use ``n`` torch CPU threads inside the block (``None``: leave torch's setting).

    On a CPU shared with other work, one thread per process is often several times
    faster than torch's default of one per core.
    """
    with needs_nnunet():
        import torch

    if n is None:
        yield
        return
    old = torch.get_num_threads()
    torch.set_num_threads(max(1, int(n)))
    try:
        yield
    finally:
        torch.set_num_threads(old)
