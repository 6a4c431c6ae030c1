"""The one exception type of knee-segmenter."""

from __future__ import annotations

__all__ = ["SegmenterError"]


class SegmenterError(ValueError):
    """Raised for bad input to export, training, prediction or Dice.

    The message names the case or file, the field and what was expected, e.g.
    ``case 'knee_003': label map labels/knee_003.nii.gz has values [27] outside 0..25``.
    """
