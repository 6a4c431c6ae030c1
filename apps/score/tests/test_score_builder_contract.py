"""Contract: every target answer the dataset builder writes reads back exactly (grades and box)."""

from __future__ import annotations

import moaks_schema as ms
from bench_metrics import parse_answer


def test_builder_answers_read_back_exactly() -> None:
    from quintuple_builder.answers import format_answer

    for q in ms.QUESTIONS:
        grades = {a.key: (q.id + i) % len(a.grades.meanings) for i, a in enumerate(q.attributes)}
        box = [q.id, q.id + 9, 2 * q.id, 2 * q.id + 30, 100, 140] if q.box_regions else None
        steps = [
            "Locate the region.",
            f"Its box is {box}." if box else "Look at the whole knee.",
            "Grade it.",
        ]
        for text in (
            format_answer(q, grades, box=box, steps=steps),
            format_answer(q, grades, box=box, steps=None),
        ):
            p = parse_answer(text, q.id)
            assert p.grades == grades and not p.failures, (q.id, text)
            if q.box_regions:
                assert p.box_public == tuple(box), (q.id, text)
            else:
                assert p.box_public is None and p.box_failure is None
