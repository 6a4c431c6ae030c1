"""`reasonknee build`: scans and MOAKS readings to a ReasonKnee dataset.

The click command is :data:`reasonknee_build.cli.build`; the steps it runs are in
:mod:`reasonknee_build.pipeline`.
"""

__version__ = "0.1.0"
__all__: list[str] = ["__version__"]
