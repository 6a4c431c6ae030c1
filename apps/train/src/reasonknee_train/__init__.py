"""`reasonknee train`: nnU-Net training and LoRA fine-tuning of VLMs."""

__version__ = "0.1.0"
__all__: list[str] = ["__version__"]
