"""The specialist model: its settings, its two networks, and the steps shared by training and inference.

A model folder holds ``config.json`` (:class:`SpecialistConfig`, the
:class:`~vlm_adapters.specialist.layout.HeadLayout`, the train-split atlas),
``weights.safetensors`` and ``metrics.json`` (the training history).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vlm_adapters.errors import AdapterError
from vlm_adapters.specialist.layout import HeadLayout

__all__ = [
    "CONFIG_FILE",
    "METRICS_FILE",
    "WEIGHTS_FILE",
    "SpecialistConfig",
    "SpecialistModel",
    "resolve_device",
]

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "weights.safetensors"
METRICS_FILE = "metrics.json"
_MAX_GRADES = 9


@dataclass(frozen=True, slots=True)
class SpecialistConfig:
    """Training settings (all bounded by epochs, none by wall-clock).

    AdamW at ``lr`` decayed to 0 over the epochs (cosine).
    ``loc_size``: the grid the localiser sees the whole volume on; ``crop_size``:
    the grid every crop is resampled to; ``jitter``: the largest shift of a
    training crop's edges, as a fraction of the box's extent (so the grader
    is used to a localiser's errors). ``threads``: torch CPU threads; one is
    the default because these small 3D convolutions gain little from more
    and lose much when the cores are shared (measured: a 64-crop step took
    13 ms of CPU on 1 thread, 550 ms on 2 on a loaded 2-core machine).
    """

    seed: int = 0
    epochs: int = 20
    lr: float = 3e-3
    weight_decay: float = 1e-4
    batch: int = 64
    loc_batch: int = 8
    width: int = 8
    loc_size: tuple[int, int, int] = (16, 32, 32)
    crop_size: tuple[int, int, int] = (8, 16, 16)
    jitter: float = 0.1
    threads: int = 1

    def __post_init__(self) -> None:
        for name in ("epochs", "batch", "loc_batch", "width", "threads"):
            if int(getattr(self, name)) < 1:
                raise AdapterError(f"specialist config: {name} must be >= 1")
        if not self.lr > 0 or self.weight_decay < 0 or not 0 <= self.jitter < 0.5:
            raise AdapterError(
                "specialist config: expected lr > 0, weight_decay >= 0, 0 <= jitter < 0.5"
            )
        for name in ("loc_size", "crop_size"):
            v = tuple(getattr(self, name))
            if len(v) != 3 or min(v) < 8 or any(x % 8 for x in v):
                raise AdapterError(f"specialist config: {name} must be 3 multiples of 8, got {v}")


def resolve_device(device: str) -> str:
    """``"auto"`` -> ``"cuda"`` when present, else ``"cpu"``; anything else is checked by torch."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        torch.device(device)
    except RuntimeError as exc:
        raise AdapterError(f"device {device!r}: {exc}") from exc
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise AdapterError(f"device {device!r}: CUDA is not available here")
    return device


@dataclass(eq=False)
class SpecialistModel:
    """The two networks plus what is needed to run them (see the package docstring)."""

    config: SpecialistConfig
    layout: HeadLayout
    atlas: np.ndarray
    device: str = "cpu"
    localiser: Any = None
    grader: Any = None
    extra: dict = field(default_factory=dict)

    @classmethod
    def create(
        cls, config: SpecialistConfig, layout: HeadLayout, atlas: np.ndarray, device: str
    ) -> SpecialistModel:
        """Fresh networks (initialised from the current torch seed) on ``device``."""
        from vlm_adapters.specialist.network import build_networks

        loc, grader = build_networks(
            n_groups=len(layout.groups),
            total_grades=layout.total_grades,
            atlas=atlas,
            loc_size=config.loc_size,
            width=config.width,
        )
        model = cls(config, layout, np.asarray(atlas, dtype=np.float64), device)
        model.localiser, model.grader = loc.to(device), grader.to(device)
        model._tables()
        return model

    def _tables(self) -> None:
        """Per group: its attributes, and the gather index of their logits (padded)."""
        import torch

        lay = self.layout
        members = [
            [a for a, g in enumerate(lay.attr_group) if g == grp] for grp in range(len(lay.groups))
        ]
        k = max(len(m) for m in members)
        pad = lay.total_grades
        index = np.full((len(members), k, _MAX_GRADES), pad, dtype=np.int64)
        attrs = np.full((len(members), k), -1, dtype=np.int64)
        for grp, m in enumerate(members):
            for j, a in enumerate(m):
                off, n = lay.offsets[a], lay.n_grades[a]
                index[grp, j, :n] = np.arange(off, off + n)
                attrs[grp, j] = a
        self.members = members
        self.group_attrs = attrs
        self.gather_index = torch.as_tensor(index, device=self.device)

    # ----------------------------------------------------------------- steps
    def localiser_input(self, volume: Any) -> Any:
        """A canonical ``(T, H, W)`` tensor on the localiser's grid, ``(1, *loc_size)``."""
        from vlm_adapters.specialist.preprocess import resample

        return resample(volume, self.config.loc_size)

    def crop(self, volume: Any, norm: Any | None) -> Any:
        """A group's crop (``norm`` fractions; ``None`` = the whole array) on the crop grid."""
        from vlm_adapters.specialist.preprocess import crop_norm, resample

        part = volume if norm is None else crop_norm(volume, norm)
        return resample(part, self.config.crop_size)

    def group_logits(self, crops: Any, groups: Any) -> Any:
        """``(N, K, 9)`` logits of each crop's own attributes (padding at -1e4)."""
        import torch

        logits = self.grader(crops, groups)
        padded = torch.cat([logits, logits.new_full((logits.shape[0], 1), -1e4)], dim=1)
        idx = self.gather_index[groups]
        return padded.gather(1, idx.flatten(1)).view(idx.shape)

    # ----------------------------------------------------------------- files
    def config_dict(self) -> dict:
        return {
            "format": "reasonknee-specialist/1",
            "config": asdict(self.config),
            "layout": self.layout.to_dict(),
            "atlas": self.atlas.tolist(),
            **self.extra,
        }

    def state_dict(self) -> dict:
        out = {f"localiser.{k}": v for k, v in self.localiser.state_dict().items()}
        out.update({f"grader.{k}": v for k, v in self.grader.state_dict().items()})
        return {k: v.detach().cpu().contiguous() for k, v in out.items()}

    def save(self, folder: Path, metrics: dict) -> None:
        """Write the three files into ``folder`` (an atomic folder being built)."""
        from safetensors.torch import save_file

        (folder / CONFIG_FILE).write_text(json.dumps(self.config_dict(), indent=2) + "\n")
        save_file(self.state_dict(), str(folder / WEIGHTS_FILE))
        # safetensors writes owner-only; give the weights the same mode as the other files
        (folder / WEIGHTS_FILE).chmod((folder / CONFIG_FILE).stat().st_mode & 0o777)
        (folder / METRICS_FILE).write_text(json.dumps(metrics, indent=2) + "\n")

    @classmethod
    def load(cls, folder: str | Path, *, device: str = "auto") -> SpecialistModel:
        """A trained model folder, on ``device``, in eval mode."""
        folder = Path(folder)
        path = folder / CONFIG_FILE
        if not path.is_file() or not (folder / WEIGHTS_FILE).is_file():
            raise AdapterError(
                f"{folder}: expected a specialist model folder ({CONFIG_FILE}, {WEIGHTS_FILE}) "
                "written by `reasonknee train specialist`"
            )
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            cfg = dict(raw["config"])
            for k in ("loc_size", "crop_size"):
                cfg[k] = tuple(cfg[k])
            config = SpecialistConfig(**cfg)
            atlas = np.asarray(raw["atlas"], dtype=np.float64)
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise AdapterError(f"{path}: malformed specialist config: {exc}") from exc
        layout = HeadLayout.from_dict(raw.get("layout", {}), where=str(path))
        from safetensors.torch import load_file

        model = cls.create(config, layout, atlas, resolve_device(device))
        state = load_file(str(folder / WEIGHTS_FILE))
        try:
            model.localiser.load_state_dict(
                {k[10:]: v for k, v in state.items() if k.startswith("localiser.")}
            )
            model.grader.load_state_dict(
                {k[7:]: v for k, v in state.items() if k.startswith("grader.")}
            )
        except RuntimeError as exc:
            raise AdapterError(f"{folder / WEIGHTS_FILE}: does not fit {path}: {exc}") from exc
        model.localiser.eval()
        model.grader.eval()
        return model
