"""`reasonknee baseline`: run a VLM or a reference baseline on ReasonKnee-Bench, resumably."""

__version__ = "0.1.0"
__all__: list[str] = ["__version__"]
