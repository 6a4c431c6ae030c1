"""LoRA supervised fine-tuning on a ReasonKnee dataset folder: one trainer, two model families.

``SftConfig(family="qwen2.5-vl")`` (frames as a video, the chat template) or
``family="med3dvlm"`` (the volume, the published prompt layout, upstream's
recipe by default); what differs lives in :mod:`vlm_adapters.sft.families`.
The loss covers the answer only (box + reasoning + MOAKS JSON with ``cot``,
box + MOAKS JSON without, then the end-of-turn token); the val split is
answered after every epoch and scored by the evaluator the caller passes
(``train_lora(config, evaluate=...)``; ``reasonknee train vlm`` passes
bench-metrics' scorer), and the adapter with the best accuracy is kept in
``<out>/best``, which loads as ``qwen2.5-vl:BASE+lora:<out>/best`` (with its
training frame options, from ``sft_run.json``) or ``med3dvlm:BASE+lora:<out>/best``. Runs resume from ``<out>/checkpoint``.

>>> from pathlib import Path
>>> cfg = SftConfig(dataset=Path("data"), base=Path("qwen"), out=Path("runs/a"), cot=False)
>>> cfg.target_column
'answer_no_cot'
"""

from vlm_adapters.sft.config import FAMILIES, FAMILY_DEFAULTS, MED3DVLM_MAX_LENGTH, SftConfig
from vlm_adapters.sft.encoding import (
    ANSWER_END,
    IGNORE_INDEX,
    VIDEO_FPS,
    EncodedExample,
    collate,
    encode_example,
    encode_prompt,
    user_messages,
)
from vlm_adapters.sft.evaluation import Evaluator, generate_predictions, group_by_scan
from vlm_adapters.sft.examples import (
    ExampleInputs,
    PreparedExample,
    SftExample,
    load_examples,
    target_in_view,
)
from vlm_adapters.sft.families import Family, Loaded, get_family
from vlm_adapters.sft.loss import answer_loss
from vlm_adapters.sft.trainer import (
    EpochRecord,
    TrainResult,
    add_lora,
    enable_checkpointing,
    resolve_device,
    train_lora,
)
from vlm_adapters.sft.volume_encoding import (
    VolumeExample,
    collate_volumes,
    encode_volume_example,
)

__all__ = [
    "ANSWER_END",
    "FAMILIES",
    "FAMILY_DEFAULTS",
    "IGNORE_INDEX",
    "MED3DVLM_MAX_LENGTH",
    "VIDEO_FPS",
    "EncodedExample",
    "EpochRecord",
    "Evaluator",
    "ExampleInputs",
    "Family",
    "Loaded",
    "PreparedExample",
    "SftConfig",
    "SftExample",
    "TrainResult",
    "VolumeExample",
    "add_lora",
    "answer_loss",
    "collate",
    "collate_volumes",
    "enable_checkpointing",
    "encode_example",
    "encode_prompt",
    "encode_volume_example",
    "generate_predictions",
    "get_family",
    "group_by_scan",
    "load_examples",
    "resolve_device",
    "target_in_view",
    "train_lora",
    "user_messages",
]
