"""The one exception type of bench-metrics."""

from __future__ import annotations

__all__ = ["BenchMetricsError"]


class BenchMetricsError(ValueError):
    """Raised for unreadable inputs: a predictions file, a results JSON, a dataset folder.

    The message names the file, the field (or line) and what was expected. The
    answer parser never raises it: an unreadable answer is a named failure.
    """
