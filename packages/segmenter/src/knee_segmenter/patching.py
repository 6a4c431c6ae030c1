"""One way to change an nnU-Net module attribute for the length of a block (and put it back)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

__all__ = ["replaced"]

_ABSENT = object()


@contextlib.contextmanager
def replaced(owner: Any, name: str, value: Any) -> Iterator[Any]:
    """``owner.name`` is ``value`` inside the block; yields what ``owner.name`` was (None: nothing).

    Afterwards ``owner`` holds its own old value again, or, where the name was not its own (an
    attribute it inherited, a method of an instance's class, nothing at all), no value of its own.
    """
    own = vars(owner).get(name, _ABSENT)
    before = getattr(owner, name, None)
    setattr(owner, name, value)
    try:
        yield before
    finally:
        if own is _ABSENT:
            delattr(owner, name)
        else:
            setattr(owner, name, own)
