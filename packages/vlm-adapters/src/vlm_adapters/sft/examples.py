"""Training examples: a dataset split's questions with their target texts and model inputs.

Inputs go through the same glue as inference (:func:`vlm_adapters.inputs.iter_batches`):
the same frames, the same prompt (with the sentence stating the frames'
coordinate system when the model does not see the volume's own voxels). The
target's box is rewritten in those frame coordinates, so the model learns to
answer in what it sees, exactly as the scorer reads a prediction back
(``view.box_to_source``).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from moaks_schema import PromptSetting

from vlm_adapters.dataset import DatasetItem, ScanItems, load_quintuples, load_split
from vlm_adapters.errors import AdapterError
from vlm_adapters.inputs import iter_batches
from vlm_adapters.protocol import InputSpec

__all__ = ["ExampleInputs", "PreparedExample", "SftExample", "load_examples", "target_in_view"]


@dataclass(frozen=True, slots=True)
class SftExample:
    """One (scan, question) pair of a split and the text the model must answer."""

    scan: ScanItems
    item: DatasetItem
    target: str

    @property
    def record_id(self) -> str:
        return self.item.record_id


@dataclass(frozen=True, slots=True)
class PreparedExample:
    """What the model reads (frames or a volume, prompt) and writes (target, box in its coordinates).

    ``frames``: uint8 ``(T, H, W, 3)`` for a frames model; ``volume``: float32
    ``(D, H, W)`` for a 3D model (:class:`~vlm_adapters.protocol.ScanInput`).
    """

    example: SftExample
    frames: np.ndarray | None
    prompt: str
    target: str
    view: Any
    volume: np.ndarray | None = None


def load_examples(
    dataset: str | Path,
    split: str,
    *,
    target_column: str,
    setting: PromptSetting,
    limit: int | None = None,
) -> list[SftExample]:
    """The questions of ``split`` with their ``target_column`` text, in (scan, question) order.

    Rows without a target or without a prompt for ``setting`` are skipped;
    ``limit`` keeps the first N examples. An absent split gives an empty list.
    """
    root = Path(dataset)
    table = load_quintuples(root, split=split)
    if target_column not in table.columns:
        raise AdapterError(
            f"{root / 'quintuples.parquet'}: missing column {target_column!r} (formats.md)"
        )
    targets = {
        str(qid): text
        for qid, text in table.select("quintuple_id", target_column).iter_rows()
        if text
    }
    if not targets:
        return []
    scans = load_split(root, split)
    out: list[SftExample] = []
    for scan in scans:
        for item in scan.items:
            if item.record_id in targets and setting in item.prompts:
                one = replace(scan, items=(item,))
                out.append(SftExample(scan=one, item=item, target=targets[item.record_id]))
                if limit is not None and len(out) >= limit:
                    return out
    return out


def target_in_view(target: str, box_public: tuple[int, ...] | None, view: Any) -> str:
    """``target`` with its box (written as ``[a, b, c, d, e, f]``) mapped into ``view``'s coordinates.

    Every occurrence is rewritten (the box line, and the reasoning step that
    locates the region); unchanged when there is no box or the view is the
    volume itself. The box must appear at least once in the target text.

    >>> target_in_view("Box: [1, 2, 3, 4, 5, 6]\\n{}", (1, 2, 3, 4, 5, 6), None)
    'Box: [1, 2, 3, 4, 5, 6]\\n{}'
    """
    if box_public is None or view is None:
        return target
    from bbox3d import Box

    mapped = view.box_to_view(Box.from_public(list(box_public))).to_public()
    if tuple(mapped) == tuple(box_public):
        return target
    written = "[" + ", ".join(str(int(v)) for v in box_public) + "]"
    count = target.count(written)
    if count == 0:
        raise AdapterError(
            f"quintuples.parquet: target text: expected the box {written} in it "
            "(to rewrite it in frame coordinates), found none"
        )
    return target.replace(written, "[" + ", ".join(str(int(v)) for v in mapped) + "]")


class ExampleInputs:
    """Prepares examples for the model, keeping the last ``cache`` volumes read in memory."""

    def __init__(self, *, setting: PromptSetting, spec: InputSpec, cache: int = 4) -> None:
        self.setting: PromptSetting = setting
        self.spec = spec
        self.cache = cache
        self._volumes: OrderedDict[Path, Any] = OrderedDict()

    def read_volume(self, path: Any) -> Any:
        """``knee_volumes.read_volume`` through the cache."""
        from knee_volumes import read_volume

        key = Path(path)
        if key in self._volumes:
            self._volumes.move_to_end(key)
            return self._volumes[key]
        volume = read_volume(key)
        self._volumes[key] = volume
        while len(self._volumes) > self.cache:
            self._volumes.popitem(last=False)
        return volume

    def prepare(self, example: SftExample) -> PreparedExample:
        """Frames (or volume), prompt and target (box in the input's coordinates) of one example."""
        batch = next(
            iter_batches(
                [example.scan], setting=self.setting, spec=self.spec, read_volume=self.read_volume
            )
        )
        scan = batch.scan
        if scan.frames is None and scan.volume is None:
            raise AdapterError(
                f"{example.scan.image_path}: expected frames or a volume for fine-tuning, got none"
            )
        target = target_in_view(example.target, example.item.box_public, scan.view)
        return PreparedExample(
            example=example,
            frames=scan.frames,
            prompt=batch.queries[0].prompt,
            target=target,
            view=scan.view,
            volume=scan.volume,
        )
