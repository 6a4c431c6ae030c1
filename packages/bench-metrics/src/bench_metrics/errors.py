"""The exception type of bench-metrics (and its one refinement, :class:`CoverageError`)."""

from __future__ import annotations

__all__ = ["BenchMetricsError", "CoverageError"]


class BenchMetricsError(ValueError):
    """Raised for unreadable inputs: a predictions file, a results JSON, a dataset folder.

    The message names the file, the field (or line) and what was expected. The
    answer parser never raises it: an unreadable answer is a named failure.
    """


class CoverageError(BenchMetricsError):
    """A run does not cover the pairs it is scored or compared on.

    Raised when predictions match too few of the truth (scan, question) pairs
    (``min_coverage``), and when two compared runs were scored on, or answered,
    different pairs. Scoring such a run would report its misses as a result.
    """
