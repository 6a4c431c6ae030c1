"""`reasonknee score`: score predictions against a ReasonKnee dataset."""

__version__ = "0.1.0"
__all__: list[str] = ["__version__"]
