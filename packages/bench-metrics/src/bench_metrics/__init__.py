"""ReasonKnee-Bench scoring: robust answer parsing, accuracy, kappa, IoU, bootstrap intervals, paper tables and reports."""

__version__ = "0.1.0"
__all__: list[str] = ["__version__"]
