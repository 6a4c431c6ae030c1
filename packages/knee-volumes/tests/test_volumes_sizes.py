"""Sizes written as text: one parser for every app option that takes a volume or frame size."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from knee_volumes import VolumeError, parse_size


@given(st.lists(st.integers(1, 2000), min_size=3, max_size=3), st.sampled_from([",", "x", "X"]))
def test_round_trip(dims: list[int], sep: str) -> None:
    assert parse_size(sep.join(map(str, dims)), n=3) == tuple(dims)


def test_square_and_minimum() -> None:
    assert parse_size("224", n=2) == (224, 224)
    assert parse_size("16,32,32", n=3, minimum=16) == (16, 32, 32)


@pytest.mark.parametrize(
    ("text", "n", "minimum"),
    [
        ("32,64", 3, 1),
        ("a,b,c", 3, 1),
        ("8,64,64", 3, 16),
        ("", 2, 1),
        ("1,2,3", 2, 1),
        ("0x4", 2, 1),
    ],
)
def test_bad_sizes_name_the_text(text: str, n: int, minimum: int) -> None:
    with pytest.raises(VolumeError, match=repr(text).replace("(", r"\(")):
        parse_size(text, n=n, minimum=minimum)
