"""`SftConfig`: every option of one LoRA fine-tuning run, validated at construction."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from moaks_schema import PromptSetting

from vlm_adapters.errors import AdapterError
from vlm_adapters.protocol import SETTINGS

__all__ = ["FAMILIES", "FAMILY_DEFAULTS", "MED3DVLM_MAX_LENGTH", "SftConfig"]

#: The model families one trainer fine-tunes (the model spec kinds).
FAMILIES: tuple[str, ...] = ("qwen2.5-vl", "med3dvlm")

#: Med3DVLM's default maximum sequence length (tokens): 256 image positions + the
#: instruction prompt + a reasoning chain + the JSON answer (docs/fine-tuning.md);
#: upstream's 512 cuts the chain. A longer example is refused, never truncated.
MED3DVLM_MAX_LENGTH = 4096

#: Per-family defaults of the options left ``None`` (``modules_to_save`` names are full
#: module paths: a bare ``vision_tower`` or ``mm_projector`` would also match modules nested
#: inside). Qwen2.5-VL: this project's LoRA recipe. Med3DVLM: the upstream fine-tuning recipe (LoRA r=16, alpha=32, dropout
#: 0.05 on every linear layer of the language model; vision tower, projector,
#: embeddings and LM head trained in full; lr 5e-5, cosine, warm-up 0.03, 5 epochs,
#: batch 8).
FAMILY_DEFAULTS: dict[str, dict[str, Any]] = {
    "qwen2.5-vl": {
        "target_modules": ("q_proj", "k_proj", "v_proj", "o_proj"),
        "modules_to_save": (),
        "epochs": 3,
        "lr": 1e-4,
        "batch": 1,
        "grad_accum": 8,
        "lr_schedule": "linear",
        "max_length": None,
    },
    "med3dvlm": {
        "target_modules": (
            "q_proj",
            "k_proj",
            "v_proj",
            "o_proj",
            "gate_proj",
            "up_proj",
            "down_proj",
        ),
        "modules_to_save": (
            "model.vision_tower",
            "model.mm_projector",
            "model.embed_tokens",
            "lm_head",
        ),
        "epochs": 5,
        "lr": 5e-5,
        "batch": 8,
        "grad_accum": 1,
        "lr_schedule": "cosine",
        "max_length": MED3DVLM_MAX_LENGTH,
    },
}

#: Values a run folder written before a fingerprint field existed is taken to have had.
_FINGERPRINT_LEGACY: dict[str, Any] = {
    "family": "qwen2.5-vl",
    "modules_to_save": [],
    "lr_schedule": "linear",
    "max_length": None,
}

#: Fields that change what is trained; a resumed run must match them exactly.
_FINGERPRINT_FIELDS: tuple[str, ...] = (
    "family",
    "dataset",
    "base",
    "cot",
    "setting",
    "lora_r",
    "lora_alpha",
    "lora_dropout",
    "target_modules",
    "modules_to_save",
    "lr_schedule",
    "max_length",
    "epochs",
    "lr",
    "weight_decay",
    "warmup_ratio",
    "batch",
    "grad_accum",
    "max_frames",
    "frame_size",
    "window",
    "seed",
    "train_limit",
    "max_steps",
    "dtype",
)


@dataclass(frozen=True, kw_only=True)
class SftConfig:
    """Options of :func:`vlm_adapters.sft.train_lora`.

    The target is ``answer`` (box + reasoning + MOAKS JSON) with ``cot=True`` and
    ``answer_no_cot`` (box + MOAKS JSON) without; the prompt is the
    ``prompt_<setting>`` column of ``quintuples.parquet``. Frames: ``max_frames``
    evenly spaced sagittal slices (``None``: all, as the paper), each resized to
    ``frame_size`` (rows, cols; ``None``: native, 384 x 384 for OAI DESS) after
    windowing to ``window``; ``gt-region`` crops the volume to the question's
    box first. ``dtype="auto"`` trains in bf16 where the device has it.

    ``family`` is ``"qwen2.5-vl"`` or ``"med3dvlm"`` (a 3D model: it sees the
    volume, and the frame options are unused). Options left ``None`` take the
    family's defaults (:data:`FAMILY_DEFAULTS`); ``modules_to_save`` are
    trained in full beside the LoRA layers; ``max_length`` refuses (never
    truncates) a longer example; ``lr_schedule`` is ``"linear"`` or
    ``"cosine"`` decay after the warm-up.

    >>> SftConfig(dataset=Path("d"), base=Path("b"), out=Path("o")).setting
    'instruction'
    """

    dataset: Path
    base: Path
    out: Path
    family: str = "qwen2.5-vl"
    cot: bool = True
    setting: PromptSetting = "instruction"
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    target_modules: tuple[str, ...] = None  # type: ignore[assignment]
    modules_to_save: tuple[str, ...] = None  # type: ignore[assignment]
    epochs: int = None  # type: ignore[assignment]
    lr: float = None  # type: ignore[assignment]
    lr_schedule: str = None  # type: ignore[assignment]
    max_length: int | None = -1  # -1: the family's default
    weight_decay: float = 0.0
    warmup_ratio: float = 0.03
    batch: int = None  # type: ignore[assignment]
    grad_accum: int = None  # type: ignore[assignment]
    max_frames: int | None = None
    frame_size: tuple[int, int] | None = None
    window: tuple[float, float] = (0.0, 400.0)
    device: str = "auto"
    dtype: Literal["auto", "bf16", "fp32"] = "auto"
    gradient_checkpointing: bool = False
    seed: int = 0
    max_new_tokens: int = 1024
    eval_limit: int | None = None
    train_limit: int | None = None
    max_steps: int | None = None
    checkpoint_every: int = 50
    frame_cache: int = 4
    progress: bool = True

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise AdapterError(f"SftConfig.family: expected one of {FAMILIES}, got {self.family!r}")
        for name, value in FAMILY_DEFAULTS[self.family].items():
            if getattr(self, name) is None or (name == "max_length" and self.max_length == -1):
                object.__setattr__(self, name, value)
        for name in ("dataset", "base", "out"):
            object.__setattr__(self, name, Path(getattr(self, name)))
        object.__setattr__(self, "target_modules", tuple(self.target_modules))
        object.__setattr__(self, "modules_to_save", tuple(self.modules_to_save))
        if self.lr_schedule not in ("linear", "cosine"):
            raise AdapterError(
                f"SftConfig.lr_schedule: expected 'linear' or 'cosine', got {self.lr_schedule!r}"
            )
        if self.max_length is not None and int(self.max_length) < 2:
            raise AdapterError(
                f"SftConfig.max_length: expected None or an integer >= 2, got {self.max_length!r}"
            )
        if self.frame_size is not None:
            object.__setattr__(self, "frame_size", tuple(int(v) for v in self.frame_size))
        object.__setattr__(self, "window", tuple(float(v) for v in self.window))
        if self.setting not in SETTINGS:
            raise AdapterError(
                f"SftConfig.setting: expected one of {SETTINGS}, got {self.setting!r}"
            )
        positive = (
            "lora_r",
            "epochs",
            "batch",
            "grad_accum",
            "max_new_tokens",
            "checkpoint_every",
            "frame_cache",
        )
        for name in positive:
            if int(getattr(self, name)) < 1:
                raise AdapterError(
                    f"SftConfig.{name}: expected an integer >= 1, got {getattr(self, name)!r}"
                )
        for name in ("max_frames", "eval_limit", "train_limit", "max_steps"):
            value = getattr(self, name)
            if value is not None and int(value) < (0 if name == "eval_limit" else 1):
                raise AdapterError(
                    f"SftConfig.{name}: expected None or a positive integer, got {value!r}"
                )
        if self.lora_alpha <= 0 or self.lr <= 0:
            raise AdapterError(
                f"SftConfig.lora_alpha / lr: expected > 0, got {self.lora_alpha!r} / {self.lr!r}"
            )
        if not 0.0 <= self.lora_dropout < 1.0 or not 0.0 <= self.warmup_ratio < 1.0:
            raise AdapterError("SftConfig.lora_dropout / warmup_ratio: expected values in [0, 1)")
        if self.frame_size is not None and (len(self.frame_size) != 2 or min(self.frame_size) < 1):
            raise AdapterError(
                f"SftConfig.frame_size: expected (rows, cols) >= 1, got {self.frame_size!r}"
            )
        if len(self.window) != 2 or self.window[0] >= self.window[1]:
            raise AdapterError(
                f"SftConfig.window: expected (low, high) with low < high, got {self.window!r}"
            )
        if self.dtype not in ("auto", "bf16", "fp32"):
            raise AdapterError(
                f"SftConfig.dtype: expected 'auto', 'bf16' or 'fp32', got {self.dtype!r}"
            )
        if not self.target_modules:
            raise AdapterError("SftConfig.target_modules: expected at least one module name")

    @property
    def target_column(self) -> str:
        """The quintuples.parquet column trained as the answer."""
        return "answer" if self.cot else "answer_no_cot"

    def input_spec(self) -> Any:
        """The :class:`vlm_adapters.protocol.InputSpec` of the frames (the same at inference)."""
        from vlm_adapters.protocol import InputSpec

        slices = "all" if self.max_frames is None else self.max_frames
        return InputSpec(kind="frames", slices=slices, size=self.frame_size, window=self.window)

    def qwen_options(self) -> Any:
        """:class:`vlm_adapters.qwen.QwenOptions` that show the model what training showed it."""
        from vlm_adapters.qwen import QwenOptions
        from vlm_adapters.sft.encoding import VIDEO_FPS

        spec = self.input_spec()
        return QwenOptions(
            slices=spec.slices,
            size=spec.size,
            window=spec.window,
            fps=VIDEO_FPS,
            max_new_tokens=self.max_new_tokens,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready view (paths as strings, tuples as lists)."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Path):
                value = str(value)
            elif isinstance(value, tuple):
                value = list(value)
            out[f.name] = value
        return out

    def fingerprint(self) -> dict[str, Any]:
        """The options a resumed run must share with the run it continues."""
        data = self.to_dict()
        fp = {name: data[name] for name in _FINGERPRINT_FIELDS}
        fp["dataset"] = str(Path(fp["dataset"]).resolve())
        fp["base"] = str(Path(fp["base"]).resolve())
        return fp

    def differences(self, recorded: dict[str, Any]) -> list[str]:
        """Fingerprint fields whose value differs from ``recorded`` (a run folder's; fields it
        predates count as their old fixed values)."""
        current = self.fingerprint()
        old = {**_FINGERPRINT_LEGACY, **recorded}
        return sorted(k for k in set(current) | set(recorded) if current.get(k) != old.get(k))

    def fingerprint_hash(self) -> str:
        """sha256 of :meth:`fingerprint` (canonical JSON)."""
        blob = json.dumps(self.fingerprint(), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()
