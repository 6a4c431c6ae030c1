"""Reference baselines that need no weights: the floor every model is shown against.

- ``majority``: the most frequent train-split grade of each attribute (ties:
  the lower grade; an attribute never graded in train: 0); no box.
- ``atlas``: the majority grades plus the atlas box: the mean normalised
  train box of the question's region(s), mapped into each scan's voxel shape.
  The atlas lives in a side-canonical frame: left knees (OAI side 2) are the
  mirror images of right ones on the slice axis (which runs right -> left), so
  their boxes are mirrored on that axis before the mean, and the atlas box is
  mirrored back for a left knee. Without this, medial boxes of the two sides
  would average to the middle of the knee.
- ``random``: grades drawn uniformly from each attribute's grade space and a
  random box inside the volume, from a generator seeded by ``(seed,
  record_id)`` so the answers do not depend on the order or on resuming.

Answers are written as text in the dataset's own answer form
(:func:`quintuple_builder.answers.format_answer`, without reasoning), boxes
in volume voxels (``view`` = ``None``).
"""

from __future__ import annotations

import hashlib
import os
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from vlm_adapters.errors import AdapterError
from vlm_adapters.protocol import Batch, InputSpec, Reply, Usage

if TYPE_CHECKING:
    import polars as pl

__all__ = ["REFERENCE_KINDS", "ReferenceBaseline", "fit_reference"]

REFERENCE_KINDS: tuple[str, ...] = ("majority", "atlas", "random")


@dataclass
class ReferenceBaseline:
    """A fitted reference baseline (see the module docstring); an :class:`~vlm_adapters.Adapter`."""

    kind: str
    majority: dict[str, int] = field(default_factory=dict)
    atlas: dict[int, tuple[float, ...]] = field(default_factory=dict)
    sides: dict[str, int] = field(default_factory=dict)
    seed: int = 0
    input_spec: InputSpec = field(default_factory=lambda: InputSpec(kind="none"))

    def __post_init__(self) -> None:
        if self.kind not in REFERENCE_KINDS:
            raise AdapterError(
                f"reference baseline {self.kind!r}: expected one of {', '.join(REFERENCE_KINDS)}"
            )

    @property
    def name(self) -> str:
        return self.kind

    def grades(self, question_id: int, record_id: str) -> dict[str, int]:
        from moaks_schema import question

        q = question(question_id)
        if self.kind == "random":
            rng = self._rng(record_id, "grades")
            return {a.key: int(rng.integers(0, len(a.grades.values))) for a in q.attributes}
        return {a.key: self.majority.get(a.key, 0) for a in q.attributes}

    def box(
        self,
        question_id: int,
        record_id: str,
        shape: tuple[int, int, int],
        *,
        scan_id: str | None = None,
    ) -> list[int] | None:
        """The answer box in volume voxels (``scan_id`` gives the atlas the knee's side)."""
        from moaks_schema import question

        if not question(question_id).has_box or self.kind == "majority":
            return None
        if self.kind == "random":
            rng = self._rng(record_id, "box")
            lo_hi = [sorted(int(v) for v in rng.integers(0, n, size=2)) for n in shape]
            (s0, s1), (r0, r1), (c0, c1) = lo_hi
            return [s0, s1, c0, c1, r0, r1]
        norm = self.atlas.get(question_id)
        if norm is None:
            return None
        side = self.sides.get(scan_id) if scan_id is not None else None
        if side is None:
            raise AdapterError(
                f"atlas baseline: scan {scan_id!r} is not in the scans.parquet it was fitted with "
                "(field 'side' needed to mirror a left knee)"
            )
        return _denormalise(_side_canonical(norm, side), shape)

    def _rng(self, record_id: str, what: str) -> np.random.Generator:
        digest = hashlib.sha256(f"{self.seed}:{record_id}:{what}".encode()).digest()
        return np.random.default_rng(int.from_bytes(digest[:8], "little"))

    def run(self, batches: Iterable[Batch]) -> Iterator[Reply]:
        from moaks_schema import question
        from quintuple_builder.answers import format_answer

        for batch in batches:
            for q in batch.queries:
                t0 = time.perf_counter()
                text = format_answer(
                    question(q.question_id),
                    self.grades(q.question_id, q.record_id),
                    box=self.box(q.question_id, q.record_id, batch.scan.shape, scan_id=q.scan_id),
                    steps=None,
                )
                yield Reply(q.record_id, text, Usage(), time.perf_counter() - t0)

    def close(self) -> None:
        return None


def _normalise(box_public: list[int], shape: tuple[int, int, int]) -> tuple[float, ...]:
    """Public inclusive box -> half-open fractions (s0, s1, r0, r1, c0, c1) of the shape."""
    s0, s1, x0, x1, y0, y1 = (int(v) for v in box_public)
    S, R, C = shape
    return (s0 / S, (s1 + 1) / S, y0 / R, (y1 + 1) / R, x0 / C, (x1 + 1) / C)


def _side_canonical(norm: tuple[float, ...], side: int) -> tuple[float, ...]:
    """A normalised box in the right-knee frame (side 2 = left: mirrored on the slice axis).

    Mirroring is its own inverse, so the same call maps an atlas box back to a left knee.

    >>> _side_canonical((0.1, 0.4, 0.2, 0.3, 0.5, 0.6), 2)
    (0.6, 0.9, 0.2, 0.3, 0.5, 0.6)
    """
    if side == 1:
        return norm
    s0, s1, *rest = norm
    return (1.0 - s1, 1.0 - s0, *rest)


def _sides(scans: pl.DataFrame, source: str) -> dict[str, int]:
    """``scan_id -> side`` from a scans table; a side other than 1 or 2 is refused."""
    out: dict[str, int] = {}
    for scan_id, side in scans.select("scan_id", "side").iter_rows():
        if side not in (1, 2):
            raise AdapterError(
                f"{source}: field 'side' of scan {scan_id!r} is {side!r}; expected 1 (right) or 2 (left)"
            )
        out[str(scan_id)] = int(side)
    return out


def _denormalise(norm: tuple[float, ...], shape: tuple[int, int, int]) -> list[int]:
    out: list[int] = []
    for (a, b), n in zip(
        ((norm[0], norm[1]), (norm[2], norm[3]), (norm[4], norm[5])), shape, strict=True
    ):
        lo = min(max(round(a * n), 0), n - 1)
        hi = min(max(round(b * n), lo + 1), n)  # half-open, non-empty
        out += [lo, hi - 1]
    (s0, s1), (r0, r1), (c0, c1) = out[0:2], out[2:4], out[4:6]
    return [s0, s1, c0, c1, r0, r1]


def fit_reference(
    kind: str, dataset: str | os.PathLike[str], *, seed: int = 0, split: str = "train"
) -> ReferenceBaseline:
    """Fit a reference baseline on ``split`` (train) of the dataset folder."""
    import polars as pl

    from vlm_adapters.dataset import load_quintuples, load_scans

    if kind not in REFERENCE_KINDS:
        raise AdapterError(
            f"reference baseline {kind!r}: expected one of {', '.join(REFERENCE_KINDS)}"
        )
    if kind == "random":
        return ReferenceBaseline(kind, seed=seed)
    qs = load_quintuples(dataset, split=split)
    if qs.height == 0:
        raise AdapterError(
            f"{dataset}/quintuples.parquet: no quintuple in split {split!r} to fit {kind!r} on"
        )
    counts: dict[str, Counter[int]] = {}
    for grades in qs["grades"].to_list():
        for g in grades or []:
            if g["grade"] is not None:
                counts.setdefault(g["attribute"], Counter())[int(g["grade"])] += 1
    majority = {k: min(c.items(), key=lambda kv: (-kv[1], kv[0]))[0] for k, c in counts.items()}
    atlas: dict[int, tuple[float, ...]] = {}
    sides: dict[str, int] = {}
    if kind == "atlas":
        from moaks_schema import question

        scans = load_scans(dataset)
        sides = _sides(scans, f"{dataset}/scans.parquet")
        shapes = {
            r["scan_id"]: tuple(r["shape"])
            for r in scans.select("scan_id", "shape").iter_rows(named=True)
        }
        per_regions: dict[tuple[str, ...], list[tuple[float, ...]]] = {}
        boxed = qs.filter(pl.col("box_public").is_not_null())
        for r in boxed.select("scan_id", "question_id", "box_public").iter_rows(named=True):
            regions = question(int(r["question_id"])).box_regions
            norm = _normalise(r["box_public"], shapes[r["scan_id"]])
            per_regions.setdefault(regions, []).append(_side_canonical(norm, sides[r["scan_id"]]))
        from moaks_schema import QUESTIONS

        for q in QUESTIONS:
            boxes = per_regions.get(q.box_regions)
            if q.has_box and boxes:
                atlas[q.id] = tuple(
                    float(v) for v in np.mean(np.asarray(boxes, dtype=np.float64), axis=0)
                )
    return ReferenceBaseline(kind, majority=majority, atlas=atlas, sides=sides, seed=seed)
