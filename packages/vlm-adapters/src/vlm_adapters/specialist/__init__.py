"""``specialist``: a supervised 3D model that reads the volume and answers all 69 questions.

- A **localiser** (3D CNN over the whole, downsampled volume) regresses the
  box of every question's region(s) as an offset from the train-split atlas.
- A **grader** (one 3D CNN shared by all questions, conditioned on the crop's
  region group, with one output head per attribute) grades each question
  from the crop of its box (the whole volume for questions without one).
- Left knees are mirrored to right ones on the slice axis (the side comes from
  the scan id).

Train with :func:`train_specialist` (``reasonknee train specialist``); run
with ``--model specialist:DIR`` (:class:`SpecialistAdapter`). Needs
``vlm-adapters[specialist]`` (torch, safetensors); imports torch only when used.
"""

from vlm_adapters.specialist.adapter import SpecialistAdapter, SpecialistOptions
from vlm_adapters.specialist.data import FIT_SPLITS, load_split_scans
from vlm_adapters.specialist.layout import HeadLayout
from vlm_adapters.specialist.model import SpecialistConfig, SpecialistModel
from vlm_adapters.specialist.train import EpochRecord, SpecialistResult, train_specialist

__all__ = [
    "FIT_SPLITS",
    "EpochRecord",
    "HeadLayout",
    "SpecialistAdapter",
    "SpecialistConfig",
    "SpecialistModel",
    "SpecialistOptions",
    "SpecialistResult",
    "load_split_scans",
    "train_specialist",
]
