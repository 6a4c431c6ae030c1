"""The one exception type of knee-volumes."""

from __future__ import annotations

from os import PathLike

__all__ = ["VolumeError"]


class VolumeError(ValueError):
    """A scan, label map or frame request that cannot be read, written or prepared.

    The message starts with the file or folder concerned (when there is one)
    and says what is wrong and what was expected; ``path`` keeps the path.

    >>> str(VolumeError("truncated pixel data", path="scan/001"))
    'scan/001: truncated pixel data'
    """

    def __init__(self, message: str, *, path: str | PathLike[str] | None = None) -> None:
        self.path = None if path is None else str(path)
        self.reason = message
        super().__init__(message if path is None else f"{path}: {message}")
