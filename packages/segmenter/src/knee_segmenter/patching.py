"""One way to change an nnU-Net module attribute for the length of a block (and put it back)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

__all__ = ["replaced"]


@contextlib.contextmanager
def replaced(owner: Any, name: str, value: Any) -> Iterator[Any]:
    """``owner.name`` is ``value`` inside the block, its old value again after; yields the old value."""
    saved = getattr(owner, name)
    setattr(owner, name, value)
    try:
        yield saved
    finally:
        setattr(owner, name, saved)
