"""Prompts for every question and setting; reasoning chains that never contradict the grades."""

from __future__ import annotations

import itertools
import json
import re

import pytest
from moaks_schema import QUESTIONS, AnswerShape, question
from quintuple_builder import (
    SETTINGS,
    QuintupleBuilderError,
    format_answer,
    grades_from_chain,
    json_template,
    prompt,
    prompt_table,
    reasoning_chain,
)
from quintuple_builder.feature_text import observation_phrases
from quintuple_builder.reasoning import N_VARIANTS


def _fill(template: str, grade: int) -> str:
    return re.sub(r"<integer 0-\d>", str(grade), template)


@pytest.mark.parametrize("q", QUESTIONS, ids=lambda q: str(q.id))
def test_prompt_shape(q) -> None:
    table = prompt_table((q,))[q.id]
    assert set(table) == set(SETTINGS)
    for setting, text in table.items():
        tail = text.split("Answer in exactly this format:\n", 1)[1]
        lines = tail.splitlines()
        assert lines[0] == (
            "Box: [start_slice, end_slice, x_min, x_max, y_min, y_max]"
            if q.has_box
            else "Box: none"
        )
        assert lines[1] == "Reasoning:"
        moaks = next(ln for ln in lines if ln.startswith("MOAKS: "))[len("MOAKS: ") :]
        assert moaks == json_template(q)
        filled = json.loads(_fill(moaks, 0))
        assert filled == q.answer_object({a.key: 0 for a in q.attributes})
        if q.answer_shape is AnswerShape.BARE_INT:
            assert isinstance(filled["MOAKS_scores"][q.answer_key], int)
        if q.has_box:
            assert "inclusive ends" in text
            assert "first and last column (x, left to right)" in text
        if setting == "zero-shot":
            assert "MOAKS grading" not in text
        else:
            for a in q.attributes:
                assert (
                    f'"{a.name}": '
                    + ", ".join(f"Grade {g}: {m}" for g, m in enumerate(a.grades.meanings))
                    in text
                )
        assert ("cropped to" in text) == (setting == "gt-region" and q.has_box)
    assert len({prompt(q, s) for s in SETTINGS}) == 3


def test_prompt_rejects_unknown_setting() -> None:
    with pytest.raises(QuintupleBuilderError, match="setting"):
        prompt(question(1), "few-shot")


def test_every_chain_reads_back_its_grades() -> None:
    n = 0
    for q in QUESTIONS:
        for combo in itertools.product(*(a.grades.values for a in q.attributes)):
            grades = {a.key: g for a, g in zip(q.attributes, combo, strict=True)}
            for variant in range(N_VARIANTS):
                for box in ("[1, 2, 3, 4, 5, 6]", None):
                    steps = reasoning_chain(q, grades, box=box, variant=variant, seed=7)
                    assert grades_from_chain(q, steps) == grades
                    assert len(steps) == 5 and all(s.strip() for s in steps)
                    if box and q.has_box:
                        assert box in steps[0]
                    n += 1
    assert n > 20_000


def test_chain_contradiction_is_caught() -> None:
    q = question(4)
    grades = {"bml.FMC.size": 2, "bml.FMC.number": 1, "bml.FMC.percent": 3}
    steps = reasoning_chain(q, grades, box="[1, 2, 3, 4, 5, 6]")
    other = observation_phrases(q, q.attributes[0])[0][0]
    bad = [*steps[:2], steps[2] + " Also " + other + ".", *steps[3:]]
    with pytest.raises(QuintupleBuilderError, match="observation"):
        grades_from_chain(q, bad)
    bad_final = [*steps[:4], steps[4].replace("= 2", "= 3")]
    with pytest.raises(QuintupleBuilderError, match="criteria"):
        grades_from_chain(q, bad_final)
    with pytest.raises(QuintupleBuilderError, match="no grade"):
        reasoning_chain(q, {"bml.FMC.size": 1}, box=None)


def test_wording_varies_and_is_seeded() -> None:
    q = question(30)
    g = {"osteophyte.PS.grade": 1}
    texts = {
        tuple(reasoning_chain(q, g, box="[1, 2, 3, 4, 5, 6]", variant=v, seed=0))
        for v in range(N_VARIANTS)
    }
    assert len(texts) >= 4
    assert reasoning_chain(q, g, box=None, variant=3, seed=5) == reasoning_chain(
        q, g, box=None, variant=3, seed=5
    )


def test_observation_phrases_do_not_nest() -> None:
    for q in QUESTIONS:
        for a in q.attributes:
            per_grade = observation_phrases(q, a)
            assert len(per_grade) == len(a.grades.meanings)
            for g1, g2 in itertools.permutations(range(len(per_grade)), 2):
                for p1 in per_grade[g1]:
                    for p2 in per_grade[g2]:
                        assert p1.lower() not in p2.lower(), (a.key, p1, p2)


def test_answer_text() -> None:
    q = question(45)
    text = format_answer(q, {"extrusion.MMM.grade": 3}, box=[1, 2, 3, 4, 5, 6], steps=["a", "b"])
    assert text == (
        "Box: [1, 2, 3, 4, 5, 6]\nReasoning:\n1. a\n2. b\n"
        'MOAKS: {"MOAKS_scores": {"medial meniscus medial extrusion": 3}}'
    )
    assert format_answer(question(43), {"effusion.grade": 0}, box=None, steps=None).startswith(
        "Box: none\n"
    )
