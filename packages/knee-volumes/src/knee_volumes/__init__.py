"""Knee DESS MRI volumes: NIfTI/DICOM IO, OAI layout, canonical orientation, model frames, previews and the phantom cohort."""

__version__ = "0.1.0"
__all__: list[str] = ["__version__"]
