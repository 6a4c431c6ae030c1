"""The specialist as an :class:`~vlm_adapters.Adapter` (model spec ``specialist:DIR``).

It asks for the volume (``InputSpec(kind="volume")``, every slice, windowed
0-400 like the VLMs' frames) and answers in the dataset's answer form
(``Box: ...`` / ``MOAKS: {...}``, no reasoning), so its replies go through the
same parser and scorer as any model's.

- ``zero-shot`` / ``instruction``: the localiser boxes every region group of
  the scan once; each question is graded from the crop of its predicted box
  and answered with that box.
- ``gt-region``: the input is already the question's true region (the
  protocol crops it); it is graded as a whole and the box answered is the
  whole crop, which the record's ``view`` maps back to the volume.

The prompt text is not read: the question id says what is asked.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from vlm_adapters.errors import AdapterError
from vlm_adapters.protocol import Batch, InputSpec, Reply, ScanInput, Usage
from vlm_adapters.specialist.layout import side_of
from vlm_adapters.specialist.model import SpecialistModel

__all__ = ["SpecialistAdapter", "SpecialistOptions"]


@dataclass(frozen=True, slots=True)
class SpecialistOptions:
    """Run options (``--option device=cpu``, ``--option threads=2``; one CPU thread by default)."""

    device: str = "auto"
    threads: int = 1


@dataclass(eq=False)
class SpecialistAdapter:
    """A trained specialist answering benchmark questions."""

    model: SpecialistModel
    name: str
    options: SpecialistOptions = field(default_factory=SpecialistOptions)
    input_spec: InputSpec = field(default_factory=lambda: InputSpec(kind="volume"))

    @classmethod
    def load(
        cls,
        path: str | os.PathLike[str],
        *,
        options: SpecialistOptions | None = None,
        name: str | None = None,
    ) -> SpecialistAdapter:
        """The model folder written by :func:`~vlm_adapters.specialist.train_specialist`."""
        from vlm_adapters.specialist.train import _require_torch

        _require_torch()
        opts = options or SpecialistOptions()
        model = SpecialistModel.load(path, device=opts.device)
        return cls(model, name or f"specialist:{path}", opts)

    def answer(
        self, scan: ScanInput, question_ids: Sequence[int]
    ) -> list[tuple[dict[str, int], list[int] | None]]:
        """Grades and box (public form, in the input's voxels) for each question of ``scan``."""
        import torch
        from moaks_schema import question

        from vlm_adapters.specialist.preprocess import box_from_norm, canonical

        if scan.volume is None:
            raise AdapterError(f"scan {scan.scan_id}: the specialist needs the volume input")
        m = self.model
        side = side_of(scan.scan_id)
        shape = tuple(int(v) for v in scan.volume.shape)
        region_crop = scan.key != "full"
        with torch.no_grad():
            vol = torch.as_tensor(canonical(scan.volume, side), device=m.device)
            pred = None
            if not region_crop:
                pred = m.localiser(m.localiser_input(vol)[None])[0].double().cpu().numpy()
            groups = sorted({m.layout.group_of(q) for q in question_ids})
            crops = torch.stack(
                [m.crop(vol, None if (g == 0 or pred is None) else pred[g - 1]) for g in groups]
            )
            g_t = torch.as_tensor(groups, device=m.device)
            best = m.group_logits(crops, g_t).argmax(-1).cpu().numpy()
        graded: dict[str, int] = {}
        for row, g in enumerate(groups):
            for j, a in enumerate(m.members[g]):
                graded[m.layout.attributes[a]] = int(best[row, j])
        out = []
        for qid in question_ids:
            q = question(qid)
            grades = {a.key: int(a.grades.values[graded[a.key]]) for a in q.attributes}
            box = None
            if q.has_box:
                box = (
                    [0, shape[0] - 1, 0, shape[2] - 1, 0, shape[1] - 1]
                    if pred is None
                    else box_from_norm(pred[m.layout.group_of(qid) - 1], shape, side)
                )
            out.append((grades, box))
        return out

    def run(self, batches: Iterable[Batch]) -> Iterator[Reply]:
        import torch
        from moaks_schema import question
        from quintuple_builder.answers import format_answer

        old = torch.get_num_threads()
        torch.set_num_threads(max(int(self.options.threads), 1))
        try:
            for batch in batches:
                t0 = time.perf_counter()
                answers = self.answer(batch.scan, [q.question_id for q in batch.queries])
                each = (time.perf_counter() - t0) / max(len(batch.queries), 1)
                for q, (grades, box) in zip(batch.queries, answers, strict=True):
                    text = format_answer(question(q.question_id), grades, box=box, steps=None)
                    yield Reply(q.record_id, text, Usage(), each)
        finally:
            torch.set_num_threads(old)

    def close(self) -> None:
        return None
