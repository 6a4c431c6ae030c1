"""The one exception type of knee-segmenter."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["SegmenterError", "needs_nnunet"]


class SegmenterError(ValueError):
    """Raised for bad input to export, training, prediction or Dice.

    The message names the case or file, the field and what was expected, e.g.
    ``case 'knee_003': label map labels/knee_003.nii.gz has values [27] outside 0..25``.
    """


@contextmanager
def needs_nnunet() -> Iterator[None]:
    """Turn a failed import of torch or nnunetv2 inside the block into a :class:`SegmenterError`.

    Both are dependencies of knee-segmenter; the message says how to get them back.

    >>> with needs_nnunet():
    ...     import json
    """
    try:
        yield
    except ImportError as exc:
        missing = exc.name or "a required module"
        raise SegmenterError(
            f"{missing} is not installed or failed to import ({exc}); knee-segmenter needs "
            "torch and nnunetv2: pip install 'knee-segmenter' (for a GPU, first the torch "
            "build for your machine, https://pytorch.org)"
        ) from exc
