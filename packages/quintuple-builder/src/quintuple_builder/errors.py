"""The one exception type of quintuple-builder."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["QuintupleBuilderError", "needs_extra"]


class QuintupleBuilderError(ValueError):
    """Raised for unreadable or malformed inputs (MOAKS files, scans, label maps, datasets).

    The message names the file, the field and what was expected.
    """


@contextmanager
def needs_extra(extra: str) -> Iterator[None]:
    """Turn a failed import inside the block into a :class:`QuintupleBuilderError` naming the extra.

    >>> with needs_extra("ray"):
    ...     import json
    """
    try:
        yield
    except ImportError as exc:
        missing = exc.name or "a required module"
        raise QuintupleBuilderError(
            f"{missing} is not installed or failed to import ({exc}); "
            f"install the extra: pip install 'quintuple-builder[{extra}]'"
        ) from exc
