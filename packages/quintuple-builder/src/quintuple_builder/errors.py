"""The one exception type of quintuple-builder."""

from __future__ import annotations

__all__ = ["QuintupleBuilderError"]


class QuintupleBuilderError(ValueError):
    """Raised for unreadable or malformed inputs (MOAKS files, scans, label maps, datasets).

    The message names the file, the field and what was expected.
    """
