"""Device names (``auto``, ``cpu``, ``cuda``, ``cuda:1``, ``mps``) to torch devices."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

from knee_segmenter.errors import SegmenterError, needs_nnunet

if TYPE_CHECKING:
    import torch

__all__ = ["cpu_has_native_bf16", "resolve_device", "torch_threads"]

#: /proc/cpuinfo flags of x86 CPUs that compute in bfloat16 natively (AVX-512 BF16, AMX)
_BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})


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


def cpu_has_native_bf16(cpuinfo: str | None = None) -> bool:
    """Whether this CPU computes bfloat16 natively (x86 ``avx512_bf16`` / ``amx_bf16`` flags).

    Reads ``/proc/cpuinfo`` (or the text given); False where it cannot tell
    (other systems), so callers fall back to float32.

    >>> cpu_has_native_bf16("flags\t: fpu sse avx2 avx512f avx512_bf16")
    True
    >>> cpu_has_native_bf16("flags\t: fpu sse avx2")
    False
    """
    if cpuinfo is None:
        try:
            with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
                cpuinfo = f.read()
        except OSError:
            return False
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags" and _BF16_FLAGS & set(value.split()):
            return True
    return False
