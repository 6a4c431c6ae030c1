"""Parsing volume and frame sizes written as text (``"32,64,64"``, ``"384x384"``)."""

from __future__ import annotations

from knee_volumes.errors import VolumeError

__all__ = ["parse_size"]


def parse_size(text: str, *, n: int, minimum: int = 1) -> tuple[int, ...]:
    """``n`` integers ``>= minimum`` separated by ``,`` or ``x``; for ``n == 2`` one number means a square.

    >>> parse_size("32,64,64", n=3), parse_size("384X384", n=2), parse_size("224", n=2)
    ((32, 64, 64), (384, 384), (224, 224))
    """
    try:
        parts = tuple(int(v) for v in text.lower().replace("x", ",").split(","))
    except ValueError:
        parts = ()
    if n == 2 and len(parts) == 1:
        parts = parts * 2
    if len(parts) != n or min(parts) < minimum:
        raise VolumeError(f"{text!r}: expected {n} integers >= {minimum} separated by ',' or 'x'")
    return parts
