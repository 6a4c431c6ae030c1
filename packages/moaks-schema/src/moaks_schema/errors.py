"""The one exception type of moaks-schema."""

from __future__ import annotations

__all__ = ["MoaksSchemaError"]


class MoaksSchemaError(ValueError):
    """Raised for an unknown question, attribute, region or OAI variable, or a bad codebook file.

    The message names what was looked up (and the file and row, for codebooks)
    and what was expected.
    """
