"""The adapter protocol: a scan's prepared input and its questions in, raw texts out.

One :class:`Batch` is one prepared input (frames of a scan, or a volume tensor,
or nothing for the reference baselines) plus the questions asked about it. An
adapter turns a stream of batches into a stream of :class:`Reply` objects, in
any order (an API adapter answers concurrently), one per :class:`Query`.

The geometry ``ScanInput.view`` maps boxes between what the model saw and the
volume's voxels: a box the model writes in the coordinates of the frames (or
of the volume tensor) is mapped back with ``view.box_to_source`` for scoring.
A 3D model (Med3DVLM-style) asks for ``InputSpec(kind="volume")`` and gets
``ScanInput.volume``; nothing else changes.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeAlias, runtime_checkable

import numpy as np
from moaks_schema import PROMPT_SETTINGS, PromptSetting

if TYPE_CHECKING:
    from knee_volumes.frames import SliceRange

__all__ = [
    "SETTINGS",
    "Adapter",
    "Batch",
    "InputKind",
    "InputSpec",
    "Query",
    "Reply",
    "ScanInput",
    "Setting",
    "SliceSpec",
    "Usage",
]

#: The prompt settings of a baseline run (docs/benchmark-protocol.md, "Settings"); one list,
#: ``moaks_schema.PROMPT_SETTINGS`` and its type ``moaks_schema.PromptSetting``.
Setting = PromptSetting
SETTINGS = PROMPT_SETTINGS

#: What an adapter looks at: video/image frames, a volume tensor, or nothing.
InputKind = Literal["frames", "volume", "none"]
#: Slice selection: ``"all"``, ``N`` evenly spaced, ``(start, stop, n)`` or a
#: ``knee_volumes.SliceRange`` (fractions of the scan's slice count).
SliceSpec: TypeAlias = "str | int | tuple[int, int, int] | SliceRange"


@dataclass(frozen=True, slots=True)
class InputSpec:
    """How a scan is prepared for an adapter (once per scan, shared by its questions).

    ``window`` clips intensities before 8-bit scaling (the public scripts use
    0-400); ``size`` resizes each slice to ``(H, W)`` (``None`` keeps it).
    ``volume_shape`` (``kind="volume"`` only): the ``(D, H, W)`` a 3D model
    takes; the volume is then min-max scaled, foreground-cropped and resized
    to it (:func:`vlm_adapters.volume.prepare_volume`; ``slices``, ``size``
    and ``window`` unused).

    >>> InputSpec(kind="frames", slices=32).slices
    32
    """

    kind: InputKind = "frames"
    slices: SliceSpec = "all"
    size: tuple[int, int] | None = None
    window: tuple[float, float] = (0.0, 400.0)
    volume_shape: tuple[int, int, int] | None = None


@dataclass(frozen=True, slots=True, eq=False)
class ScanInput:
    """A scan as one model sees it.

    ``frames``: uint8 ``(T, H, W, 3)`` for ``kind="frames"``; ``volume``:
    float32 ``(T, H, W)`` in [0, 1] for ``kind="volume"``; both ``None`` for
    ``kind="none"``. ``view`` is the ``bbox3d.ViewGeometry`` from volume voxels
    to what the model saw (``None`` = the volume's own voxels). ``shape`` is the
    volume's voxel shape; ``key`` names the input ("full" or the crop box).
    """

    scan_id: str
    shape: tuple[int, int, int]
    view: Any = None
    frames: np.ndarray | None = None
    volume: np.ndarray | None = None
    slice_indices: tuple[int, ...] | None = None
    key: str = "full"
    prep_s: float = 0.0

    @property
    def kind(self) -> InputKind:
        if self.frames is not None:
            return "frames"
        if self.volume is not None:
            return "volume"
        return "none"


@dataclass(frozen=True, slots=True)
class Query:
    """One question about a scan: ``prompt`` is the exact text the model is sent."""

    record_id: str
    scan_id: str
    question_id: int
    prompt: str


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts of one reply.

    ``prefill_tokens`` counts the prompt tokens this reply actually computed
    (a shared, cached video prefix is counted once per scan, on its first
    reply); ``None`` where the adapter cannot tell (APIs report ``cached``
    tokens at most).
    """

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    reasoning_tokens: int = 0
    prefill_tokens: int | None = None

    def to_dict(self) -> dict[str, int | None]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Reply:
    """What an adapter returns for one :class:`Query` (``error`` set = no usable text)."""

    record_id: str
    raw_text: str
    usage: Usage = field(default_factory=Usage)
    latency_s: float = 0.0
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Batch:
    """One prepared input and the questions asked about it."""

    scan: ScanInput
    queries: tuple[Query, ...]


@runtime_checkable
class Adapter(Protocol):
    """A model on ReasonKnee-Bench.

    ``name`` is the model spec written to every record; ``input_spec`` says
    how to prepare scans for it; ``run`` answers every query of every batch
    exactly once, yielding replies as they are ready (any order). Batches are
    pulled lazily, so input preparation overlaps with answering.
    """

    name: str
    input_spec: InputSpec

    def run(self, batches: Iterable[Batch]) -> Iterator[Reply]: ...

    def close(self) -> None: ...
