"""The parser never raises, whatever the text, and always accounts for every attribute."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import moaks_schema as ms
from bench_metrics import FailureKind, parse_answer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

_spec = importlib.util.spec_from_file_location(
    "_bench_corpus", Path(__file__).with_name("test_bench_parse_corpus.py")
)
assert _spec is not None and _spec.loader is not None
_corpus = importlib.util.module_from_spec(_spec)
sys.modules.setdefault("_bench_corpus", _corpus)
_spec.loader.exec_module(_corpus)
SEEDS: list[str] = [c.text for c in _corpus.CORPUS]

JSONISH = st.text(
    alphabet=st.sampled_from(
        list("{}[]\":,'`\\ \n0123456789-.abcdefgMOAKS_scores<think>/\u201c\u201d")
    ),
    max_size=300,
)


def check(text: object, qid: int) -> None:
    p = parse_answer(text, qid)
    q = ms.question(qid)
    keys = {a.key for a in q.attributes}
    assert set(p.grades) | set(p.failures) == keys
    assert not set(p.grades) & set(p.failures)
    for k, v in p.grades.items():
        assert v in ms.attribute(k).grades
    assert all(isinstance(f, FailureKind) for f in p.failures.values())
    if q.box_regions:
        assert (p.box is None) != (p.box_failure is None)
    else:
        assert p.box is None and p.box_failure is None


QID = st.integers(min_value=1, max_value=69)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=400), QID)
def test_never_raises_on_any_text(text: str, qid: int) -> None:
    check(text, qid)


@settings(max_examples=300, deadline=None)
@given(JSONISH, QID)
def test_never_raises_on_json_like_noise(text: str, qid: int) -> None:
    check(text, qid)


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(SEEDS), st.integers(0, 2000), st.integers(0, 2000), st.text(max_size=20), QID
)
def test_never_raises_on_mutated_real_answers(
    seed: str, a: int, b: int, insert: str, qid: int
) -> None:
    lo, hi = sorted((a % (len(seed) + 1), b % (len(seed) + 1)))
    check(seed[:lo] + insert + seed[hi:], qid)  # cut, splice and truncate realistic replies
    check(seed[:lo], qid)


@settings(max_examples=100, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
        lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=30), c, max_size=4),
        max_leaves=20,
    ),
    QID,
)
def test_never_raises_on_any_json_value(value: object, qid: int) -> None:
    import json

    check(json.dumps(value), qid)
    check(value, qid)  # not even a string


def test_deep_nesting_and_huge_numbers() -> None:
    check("[" * 5000 + "]" * 5000, 30)
    check('{"a":' * 3000 + "1" + "}" * 3000, 30)
    check('{"MOAKS_scores": {"patella superior osteophyte": {"grade": ' + "9" * 5000 + "}}}", 30)
    check('{"MOAKS_scores": {"patella superior osteophyte": {"grade": 1e999}}}', 30)
    check('{"MOAKS_scores": {"patella superior osteophyte": {"grade": NaN}}}', 30)
