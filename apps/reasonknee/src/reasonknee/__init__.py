"""The ``reasonknee`` command: schema, build, train, baseline, score and demo."""

__version__ = "0.1.0"
__all__ = ["__version__"]
