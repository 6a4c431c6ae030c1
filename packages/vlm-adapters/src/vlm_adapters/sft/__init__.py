"""LoRA supervised fine-tuning of Qwen2.5-VL on a ReasonKnee dataset folder.

The loss covers the answer only (box + reasoning + MOAKS JSON with ``cot``,
box + MOAKS JSON without, then the end-of-turn token); the val split is
answered after every epoch and scored by the evaluator the caller passes
(``train_lora(config, evaluate=...)``; ``reasonknee train vlm`` passes
bench-metrics' scorer), and the adapter with the best accuracy is kept in
``<out>/best``, which the Qwen adapter loads as
``qwen2.5-vl:BASE+lora:<out>/best`` (with its training frame options, from
``sft_run.json``). Runs resume from ``<out>/checkpoint``.

>>> from pathlib import Path
>>> cfg = SftConfig(dataset=Path("data"), base=Path("qwen"), out=Path("runs/a"), cot=False)
>>> cfg.target_column
'answer_no_cot'
"""

from vlm_adapters.sft.config import SftConfig
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
from vlm_adapters.sft.loss import answer_loss
from vlm_adapters.sft.trainer import (
    EpochRecord,
    TrainResult,
    add_lora,
    enable_checkpointing,
    resolve_device,
    train_lora,
)

__all__ = [
    "ANSWER_END",
    "IGNORE_INDEX",
    "VIDEO_FPS",
    "EncodedExample",
    "EpochRecord",
    "Evaluator",
    "ExampleInputs",
    "PreparedExample",
    "SftConfig",
    "SftExample",
    "TrainResult",
    "add_lora",
    "answer_loss",
    "collate",
    "enable_checkpointing",
    "encode_example",
    "encode_prompt",
    "generate_predictions",
    "group_by_scan",
    "load_examples",
    "resolve_device",
    "target_in_view",
    "train_lora",
    "user_messages",
]
