"""``parse_question_ids``: the selection syntax shared by the apps' ``--questions`` options."""

from __future__ import annotations

import moaks_schema as ms
import pytest
from hypothesis import given
from hypothesis import strategies as st

_ID = st.integers(min_value=1, max_value=69)
_PART = st.one_of(_ID.map(lambda i: (i, i)), st.tuples(_ID, _ID).map(sorted).map(tuple))


def _spell(parts: list[tuple[int, int]], pad: list[str]) -> str:
    spelled = [
        f"{lo}" if lo == hi and i % 2 == 0 else f"{lo}-{hi}" for i, (lo, hi) in enumerate(parts)
    ]
    return ",".join(pad[i % len(pad)] + s + pad[(i + 1) % len(pad)] for i, s in enumerate(spelled))


@given(
    st.lists(_PART, min_size=1, max_size=8),
    st.lists(st.sampled_from(["", " ", "\t"]), min_size=1, max_size=3),
)
def test_selection_is_the_sorted_union_of_its_parts(
    parts: list[tuple[int, int]], pad: list[str]
) -> None:
    expected = sorted({i for lo, hi in parts for i in range(lo, hi + 1)})
    got = ms.parse_question_ids(_spell(parts, pad))
    assert got == tuple(expected)
    assert ms.parse_question_ids(",".join(map(str, got))) == got  # round trip


@given(st.integers().filter(lambda i: not 1 <= i <= 69))
def test_ids_outside_the_catalogue_are_refused(n: int) -> None:
    with pytest.raises(ms.MoaksSchemaError, match="question ids"):
        ms.parse_question_ids(f"1,{n}")


@given(st.text(alphabet="0123456789-, xa.", max_size=12))
def test_any_text_parses_or_raises_the_package_error(text: str) -> None:
    try:
        got = ms.parse_question_ids(text)
    except ms.MoaksSchemaError:
        return
    assert got and list(got) == sorted(set(got)) and got[0] >= 1 and got[-1] <= 69


@pytest.mark.parametrize(
    "text", ["", "  ", "1,,2", "a", "1-", "-3", "3-1", "1-2-3", "0", "70", "1.5", "60-70"]
)
def test_bad_selections_name_the_input(text: str) -> None:
    with pytest.raises(ms.MoaksSchemaError) as err:
        ms.parse_question_ids(text)
    assert repr(text) in str(err.value)


def test_examples() -> None:
    assert ms.parse_question_ids("1-15,42") == (*range(1, 16), 42)
    assert ms.parse_question_ids("69") == (69,)
    assert ms.parse_question_ids("1-69") == tuple(range(1, 70))
    assert isinstance(ms.MoaksSchemaError("x"), ValueError)
