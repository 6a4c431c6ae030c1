"""Found by nnU-Net through ``nnUNet_extTrainer`` (this folder): re-exports the package's trainers."""

from knee_segmenter.trainer import KneeSegmenterTrainer

__all__ = ["KneeSegmenterTrainer"]
