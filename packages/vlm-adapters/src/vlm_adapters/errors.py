"""The one exception type of vlm-adapters."""

from __future__ import annotations

__all__ = ["AdapterError"]


class AdapterError(ValueError):
    """Raised for a bad model spec, dataset folder, predictions file or server reply.

    The message names the file (or spec, or URL), the field and what was expected.
    """
