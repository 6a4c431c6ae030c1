"""`reasonknee build`: scans and MOAKS readings to a ReasonKnee dataset.

The click command is :data:`reasonknee_build.cli.build`; it parses options and
calls :func:`quintuple_builder.build_from_release`.
"""

__version__ = "0.1.0"
__all__: list[str] = ["__version__"]
