"""One adapter protocol for VLMs on ReasonKnee-Bench: Qwen2.5-VL (transformers), Med3DVLM
(a native 3D model), OpenAI-compatible APIs, reference baselines, and a resumable runner.

>>> from vlm_adapters import parse_model_spec
>>> parse_model_spec("openai:gpt-4o").kind
'openai'

Heavy modules (torch, transformers, httpx) load only when an adapter that
needs them is built.
"""

from vlm_adapters.dataset import (
    PROMPT_COLUMN,
    DatasetItem,
    ScanItems,
    load_quintuples,
    load_scans,
    load_split,
)
from vlm_adapters.errors import AdapterError
from vlm_adapters.inputs import iter_batches, prepare_scan_input, view_note
from vlm_adapters.protocol import (
    SETTINGS,
    Adapter,
    Batch,
    InputKind,
    InputSpec,
    Query,
    Reply,
    ScanInput,
    Setting,
    SliceSpec,
    Usage,
)
from vlm_adapters.records import PredictionRecord, RecordLog, prompt_hash, read_records, repair_log
from vlm_adapters.reference import REFERENCE_KINDS, ReferenceBaseline, fit_reference
from vlm_adapters.runner import RunSummary, run_adapter, run_baseline
from vlm_adapters.sharding import merge_records, run_sharded, shard_path
from vlm_adapters.spec import ModelSpec, make_adapter, parse_model_spec

__version__ = "0.1.0"

__all__ = [
    "PROMPT_COLUMN",
    "REFERENCE_KINDS",
    "SETTINGS",
    "Adapter",
    "AdapterError",
    "Batch",
    "DatasetItem",
    "InputKind",
    "InputSpec",
    "Med3DVLMAdapter",
    "Med3DVLMOptions",
    "ModelSpec",
    "OpenAIAdapter",
    "OpenAIOptions",
    "PredictionRecord",
    "Query",
    "QwenOptions",
    "QwenVLAdapter",
    "RecordLog",
    "ReferenceBaseline",
    "Reply",
    "RunSummary",
    "ScanInput",
    "ScanItems",
    "Setting",
    "SliceSpec",
    "Usage",
    "__version__",
    "build_tiny_med3dvlm",
    "build_tiny_qwen",
    "fit_reference",
    "iter_batches",
    "load_quintuples",
    "load_scans",
    "load_split",
    "make_adapter",
    "merge_records",
    "parse_model_spec",
    "prepare_scan_input",
    "prompt_hash",
    "read_records",
    "repair_log",
    "run_adapter",
    "run_baseline",
    "run_sharded",
    "shard_path",
    "view_note",
]

_LAZY = {
    "Med3DVLMAdapter": "vlm_adapters.med3dvlm.adapter",
    "Med3DVLMOptions": "vlm_adapters.med3dvlm.adapter",
    "build_tiny_med3dvlm": "vlm_adapters.med3dvlm.tiny",
    "OpenAIAdapter": "vlm_adapters.openai_api",
    "OpenAIOptions": "vlm_adapters.openai_api",
    "QwenOptions": "vlm_adapters.qwen",
    "QwenVLAdapter": "vlm_adapters.qwen",
    "build_tiny_qwen": "vlm_adapters.tiny",
}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'vlm_adapters' has no attribute {name!r}")
