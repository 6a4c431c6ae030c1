"""The package's single exception type."""

from __future__ import annotations

__all__ = ["Bbox3dError"]


class Bbox3dError(ValueError):
    """Invalid box, geometry or label map (the message names the field and what was expected)."""
