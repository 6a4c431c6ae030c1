"""The target answer text: box line, reasoning steps and the MOAKS JSON line.

The shape every prompt asks for (:func:`quintuple_builder.prompts.answer_shape`)::

    Box: [start_slice, end_slice, x_min, x_max, y_min, y_max]     (or "Box: none")
    Reasoning:
    1. <step>
    2. <step>
    MOAKS: {"MOAKS_scores": {"<answer key>": {...}}}

Without reasoning (``answer_no_cot``) the middle block is left out.

>>> from moaks_schema import question
>>> print(format_answer(question(44), {"extrusion.MMA.grade": 1}, box=[3, 9, 10, 20, 4, 12], steps=None))
Box: [3, 9, 10, 20, 4, 12]
MOAKS: {"MOAKS_scores": {"medial meniscus anterior extrusion": 1}}
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from moaks_schema import Question

__all__ = ["box_text", "format_answer", "moaks_json"]


def box_text(box: Sequence[int] | None) -> str:
    """The public box as text (``"[a, b, c, d, e, f]"``), or ``"none"``."""
    if box is None:
        return "none"
    return "[" + ", ".join(str(int(v)) for v in box) + "]"


def moaks_json(question: Question, grades: Mapping[str, int]) -> str:
    """The public MOAKS answer object as one line of JSON."""
    return json.dumps(question.answer_object(grades), ensure_ascii=False)


def format_answer(
    question: Question,
    grades: Mapping[str, int],
    *,
    box: Sequence[int] | None,
    steps: Sequence[str] | None,
) -> str:
    """The whole answer text; ``steps=None`` gives the answer without reasoning."""
    lines = [f"Box: {box_text(box)}"]
    if steps is not None:
        lines.append("Reasoning:")
        lines += [f"{i}. {s}" for i, s in enumerate(steps, start=1)]
    lines.append(f"MOAKS: {moaks_json(question, grades)}")
    return "\n".join(lines)
