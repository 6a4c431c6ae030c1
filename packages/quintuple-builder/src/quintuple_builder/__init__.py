"""Builds ReasonKnee quintuples {I, Q, B, C, D}: MOAKS readings, boxes, prompts, reasoning chains, splits, exports."""

__version__ = "0.1.0"
__all__: list[str] = ["__version__"]
