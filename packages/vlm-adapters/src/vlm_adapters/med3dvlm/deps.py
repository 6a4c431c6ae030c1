"""The optional dependencies of the Med3DVLM adapter, checked with an error naming the extra."""

from __future__ import annotations

import importlib.util

from vlm_adapters.errors import AdapterError

__all__ = ["EXTRA", "require"]

#: The install extra that brings the Med3DVLM dependencies.
EXTRA = "vlm-adapters[med3dvlm]"


def require(*, remote_code: bool = False) -> None:
    """Raise :class:`AdapterError` naming :data:`EXTRA` when a dependency is missing.

    Our own implementation needs torch, transformers, peft and einops; a
    checkpoint folder's own code (``trust_remote_code``) also needs timm.
    """
    names = ["torch", "transformers", "peft", "einops"] + (["timm"] if remote_code else [])
    missing = [n for n in names if importlib.util.find_spec(n) is None]
    if missing:
        raise AdapterError(
            f"Med3DVLM: missing Python package(s) {', '.join(missing)}; "
            f"install the extra: pip install '{EXTRA}'"
        )
