"""The one exception type of vlm-adapters."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["AdapterError", "needs_extra"]


class AdapterError(ValueError):
    """Raised for a bad model spec, dataset folder, predictions file or server reply.

    The message names the file (or spec, or URL), the field and what was expected.
    """


@contextmanager
def needs_extra(extra: str) -> Iterator[None]:
    """Turn a failed import inside the block into an :class:`AdapterError` naming the extra.

    ``extra`` is ``"qwen"`` (torch, transformers, peft, accelerate) or ``"ray"``:

    >>> with needs_extra("qwen"):
    ...     import json
    """
    try:
        yield
    except ImportError as exc:
        missing = exc.name or "a required module"
        raise AdapterError(
            f"{missing} is not installed or failed to import ({exc}); "
            f"install the extra: pip install 'vlm-adapters[{extra}]'"
        ) from exc
