"""Axis-aligned 3D boxes in voxel space: conversions, IoU and boxes from label maps, fast."""

__version__ = "0.1.0"
__all__: list[str] = ["__version__"]
