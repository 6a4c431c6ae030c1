"""Reading one attribute value as a grade, or naming why it cannot be read.

Accepted: an integer (or an integral float such as ``2.0``) inside the grade
space; a string holding exactly one integer, optionally after ``grade`` /
``score`` / ``code`` and optionally followed by a label (``"Grade 2"``,
``"2 (medium)"``, ``"2 - medium"``, ``"grade: 2"``). For presence attributes
only (grade space absent/present), also JSON booleans and the words
yes/no, true/false, present/absent, positive/negative. A label may hold numbers
with a unit (``"2 (33-66%)"``, ``"1 (2-2.9 mm)"``) or the same grade again.

A hedge is ``ambiguous``: a second number (``"2 or 3"``, ``"1-2"``, ``"2 (3)"``,
``"1 (possibly 2)"``, ``"2 out of 3"``), a hedge word or a question mark beside
the number (``"possibly 2"``, ``"2?"``), ``"2 or higher"``. Everything else that is
not one grade is ``not_a_number``: words without a number, booleans for graded
attributes, lists, null.

>>> import moaks_schema as ms
>>> read_grade("Grade 2 (medium)", ms.attribute("osteophyte.PS.grade").grades)
2
>>> read_grade("2 (possibly 3)", ms.attribute("osteophyte.PS.grade").grades)
<FailureKind.AMBIGUOUS: 'ambiguous'>
>>> read_grade(4, ms.attribute("osteophyte.PS.grade").grades)
<FailureKind.OUT_OF_RANGE: 'out_of_range'>
"""

from __future__ import annotations

import math
import re

from moaks_schema import GradeSpace

from bench_metrics.failures import FailureKind

__all__ = ["finite_or_none", "is_presence_space", "read_grade"]

_GRADE_TEXT = re.compile(
    r"""^\s*
    (?:moaks\s*)?(?:grade|score|code|level|class)?\s*[:=#]?\s*   # optional lead word
    ([+-]?\d{1,6})(?:\.0+)?                                     # the one integer
    \s*(?P<label>
        \((?:[^()]|\([^()]*\))*\)                                # (medium), (33-66%), (a (b))
      | \[[^\[\]]*\]                                            # [medium]
      | [-–—:,]\s*[^\d\s][^\d]*                                 # - medium, : none
      | (?!(?:or|to|and|plus|minus)\b)[^\W\d_][^\d]*      # medium (never "or higher")
    )?\s*\.?\s*$""",
    re.VERBOSE | re.IGNORECASE,
)
#: a number with a unit, or a range of them, as MOAKS labels write them: "33-66%", "<2 mm", ">=5 mm"
_UNIT_NUMBER = re.compile(
    r"[<>≤≥]?=?\s*\d+(?:\.\d+)?(?:\s*(?:-|–|—|to)\s*\d+(?:\.\d+)?)?\s*(?:%|mm\b)",
    re.IGNORECASE,
)
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
#: words (and the question mark) that hedge a grade
_HEDGE = re.compile(
    r"\?|\b(?:possibly|probably|maybe|perhaps|likely|unlikely|either|versus|vs|unclear|uncertain"
    r"|borderline|could|might)\b",
    re.IGNORECASE,
)
#: an alternative or a range written in words ("2 or 3", "2 or higher", "2 to 3", "1 and 2")
_ALTERNATIVE = re.compile(r"\b(?:or|to|and)\b", re.IGNORECASE)
_LEADING_OR = re.compile(r"^\W*or\b", re.IGNORECASE)
_NON_INTEGRAL = re.compile(r"^\s*[+-]?\d*\.\d+\s*$")
_PRESENCE_WORDS = {
    "yes": 1,
    "no": 0,
    "true": 1,
    "false": 0,
    "present": 1,
    "absent": 0,
    "positive": 1,
    "negative": 0,
}


def finite_or_none(value: object) -> float | None:
    """A number as a float for a table or JSON; ``None`` when it is missing, NaN or infinite.

    >>> finite_or_none(0.5), finite_or_none(float("nan")), finite_or_none(None), finite_or_none(3)
    (0.5, None, None, 3.0)
    """
    if value is None:
        return None
    x = float(value)  # type: ignore[arg-type]  # a non-number is a caller's bug: let it raise
    return x if math.isfinite(x) else None


def is_presence_space(space: GradeSpace) -> bool:
    """Whether ``space`` is absent/present (the only space where yes/no words are read)."""
    return space.meanings == ("absent", "present")


def _other_numbers(text: str, n: int) -> bool:
    """Whether ``text`` names a number other than ``n`` (numbers with a unit, "33-66%", are labels)."""
    return any(float(x) != n for x in _NUMBER.findall(_UNIT_NUMBER.sub(" ", text)))


def _hedged_label(label: str, n: int) -> bool:
    """Whether the label after grade ``n`` hedges it: another number, a hedge word, a leading "or"."""
    return _other_numbers(label, n) or bool(_HEDGE.search(label) or _LEADING_OR.match(label))


def _hedged_text(text: str) -> bool:
    """Whether ``text`` (not one grade with a label) names two numbers, or hedges the one it names."""
    numbers = {float(x) for x in _NUMBER.findall(_UNIT_NUMBER.sub(" ", text))}
    if len(numbers) >= 2:
        return True
    return bool(numbers) and bool(_HEDGE.search(text) or _ALTERNATIVE.search(text))


def _in_space(n: int, space: GradeSpace) -> int | FailureKind:
    return n if 0 <= n < len(space.meanings) else FailureKind.OUT_OF_RANGE


def read_grade(value: object, space: GradeSpace) -> int | FailureKind:
    """The grade ``value`` gives in ``space``, or the failure that stops it. Never raises."""
    if type(value) is int:
        return _in_space(value, space)
    if isinstance(value, bool):
        return int(value) if is_presence_space(space) else FailureKind.NOT_A_NUMBER
    if isinstance(value, int):
        return _in_space(int(value), space)
    if isinstance(value, float):
        if not math.isfinite(value):
            return FailureKind.NOT_A_NUMBER
        if not value.is_integer():
            return FailureKind.OUT_OF_RANGE
        return _in_space(int(value), space)
    if isinstance(value, str):
        if len(value) > 200:
            return FailureKind.NOT_A_NUMBER
        m = _GRADE_TEXT.match(value)
        if m is not None:
            n = int(m.group(1))
            if m.group("label") and _hedged_label(m.group("label"), n):
                return FailureKind.AMBIGUOUS
            return _in_space(n, space)
        if _hedged_text(value):
            return FailureKind.AMBIGUOUS
        if _NON_INTEGRAL.match(value):
            return FailureKind.OUT_OF_RANGE
        if is_presence_space(space):
            word = value.strip().rstrip(".").lower()
            if word in _PRESENCE_WORDS:
                return _PRESENCE_WORDS[word]
        return FailureKind.NOT_A_NUMBER
    return FailureKind.NOT_A_NUMBER
