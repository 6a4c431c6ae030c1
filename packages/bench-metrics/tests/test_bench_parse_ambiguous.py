"""A hedge or a contradiction is not an answer: it fails as ``ambiguous``, never as a grade.

docs/benchmark-protocol.md, "Reading one reply", states the rules tested here.
"""

from __future__ import annotations

import json

import moaks_schema as ms
import pytest
from bench_metrics import FailureKind, parse_answer, read_grade
from hypothesis import given, settings
from hypothesis import strategies as st

AMBIGUOUS = FailureKind("ambiguous")
#: every grade space of the catalogue with at least two grades
SPACES = sorted({a.grades for a in ms.ATTRIBUTES}, key=lambda s: s.meanings)
HEDGES = (
    "{a} or {b}",
    "{a} (or {b})",
    "{a} ({b})",
    "{a} [{b}]",
    "{a} (possibly {b})",
    "{a} (probably {b})",
    "{a}, maybe {b}",
    "{a} - possibly {b}",
    "{a}/{b}",
    "{a}-{b}",
    "{a} to {b}",
    "{a}–{b}",
    "between {a} and {b}",
    "either {a} or {b}",
    "{a} vs {b}",
    "{a} or {b}?",
    "Grade {a} (Grade {b})",
    "grade {a} (could be {b})",
    "{a} ({b}?)",
    "{a} (mild) or {b}",
    "{a} and {b}",
    "{a} (likely), {b}",
    "{a}? {b}?",
)


@st.composite
def two_grades(draw: st.DrawFn) -> tuple[ms.GradeSpace, int, int]:
    space = draw(st.sampled_from(SPACES))
    a, b = draw(
        st.lists(st.integers(0, len(space.meanings) - 1), min_size=2, max_size=2, unique=True)
    )
    return space, a, b


@settings(max_examples=400, deadline=None)
@given(two_grades(), st.sampled_from(HEDGES))
def test_a_hedge_between_two_grades_is_never_a_grade(
    case: tuple[ms.GradeSpace, int, int], form: str
) -> None:
    space, a, b = case
    result = read_grade(form.format(a=a, b=b), space)
    assert isinstance(result, FailureKind), (form, a, b, result)


@pytest.mark.parametrize(
    "text", ["2 (or 3)", "1 (possibly 2)", "2 (3)", "2 or 3", "1-2", "possibly 2", "2?"]
)
def test_hedges_fail_as_ambiguous(text: str) -> None:
    assert read_grade(text, ms.attribute("osteophyte.PS.grade").grades) is AMBIGUOUS


@pytest.mark.parametrize(
    ("text", "key", "grade"),
    [
        ("2 (33-66%)", "bml.FMC.percent", 2),
        ("1 (mild)", "hoffa.grade", 1),
        ("3 (three or more lesions)", "bml.FMC.number", 3),
        ("Grade 2 (10-75% of the subregion surface)", "cartilage.PM.size", 2),
        ("1 (2-2.9 mm)", "extrusion.MMA.grade", 1),
        ("3 (>=5 mm)", "extrusion.MMA.grade", 3),
        ("0 (<2 mm)", "extrusion.MMA.grade", 0),
        ("2 (grade 2)", "hoffa.grade", 2),
        ("Grade 2 (medium)", "osteophyte.PS.grade", 2),
    ],
)
def test_labels_in_brackets_stay_readable(text: str, key: str, grade: int) -> None:
    assert read_grade(text, ms.attribute(key).grades) == grade


def _answer(qid: int, inner: dict[str, object]) -> str:
    return json.dumps({"MOAKS_scores": {ms.question(qid).answer_key: inner}})


def test_two_keys_of_one_attribute_that_disagree_are_ambiguous() -> None:
    p = parse_answer(_answer(42, {"grade": 1, "score": 3}), 42)
    assert p.failures == {"hoffa.grade": AMBIGUOUS} and p.grades == {}
    q = ms.question(9)
    size = q.attributes[0]
    text = _answer(9, {size.name: 1, size.name.upper(): 2})
    assert parse_answer(text, 9).failures[size.key] is AMBIGUOUS


def test_the_same_value_given_twice_stays_readable() -> None:
    p = parse_answer(_answer(42, {"grade": 1, "score": "1 (mild)"}), 42)
    assert p.grades == {"hoffa.grade": 1} and not p.failures


def test_one_object_naming_the_question_twice_with_different_answers_is_ambiguous() -> None:
    key = ms.question(42).answer_key
    text = json.dumps({"MOAKS_scores": {key: {"grade": 1}}, "final": {key: {"grade": 2}}})
    assert parse_answer(text, 42).failures == {"hoffa.grade": AMBIGUOUS}
    same = json.dumps({"MOAKS_scores": {key: {"grade": 2}}, "final": {key: {"grade": 2}}})
    assert parse_answer(same, 42).grades == {"hoffa.grade": 2}


def test_across_objects_the_last_object_wins() -> None:
    first, last = _answer(42, {"grade": 1}), _answer(42, {"grade": 2})
    assert parse_answer(f"{first}\nCorrected: {last}", 42).grades == {"hoffa.grade": 2}


@pytest.mark.parametrize(
    "text",
    [
        '{"MOAKS_scores": {"hoffa synovitis": {"grade": 1, "grade": 3}}}',
        '{"MOAKS_scores": {"hoffa synovitis": {"grade": 1}, "hoffa synovitis": {"grade": 2}}}',
        'Here: {"hoffa synovitis": {"grade": 1, "grade": 3}} done',
    ],
)
def test_a_key_written_twice_with_different_values_is_ambiguous(text: str) -> None:
    """JSON keeps the last of two equal keys silently; the parser does not."""
    assert parse_answer(text, 42).failures == {"hoffa.grade": AMBIGUOUS}


def test_a_key_written_twice_with_the_same_value_is_read() -> None:
    text = '{"MOAKS_scores": {"hoffa synovitis": {"grade": 2, "grade": "2 (moderate)"}}}'
    assert parse_answer(text, 42).grades == {"hoffa.grade": 2}
