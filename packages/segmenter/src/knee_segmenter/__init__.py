"""nnU-Net v2 segmentation of 25 knee regions: dataset export, training, resumable prediction, Dice."""

__version__ = "0.1.0"
__all__: list[str] = ["__version__"]
