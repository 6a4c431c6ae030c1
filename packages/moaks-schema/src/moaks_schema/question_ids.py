"""Parse question-id selections such as ``"1-15,42"`` (the ``--questions`` option of the apps)."""

from __future__ import annotations

from moaks_schema.errors import MoaksSchemaError
from moaks_schema.questions import QUESTIONS

__all__ = ["parse_question_ids"]


def parse_question_ids(text: str) -> tuple[int, ...]:
    """Public question ids named by ``text``: comma-separated ids and inclusive ranges.

    The result is sorted and free of repeats; white space around parts is ignored.
    Raises :class:`MoaksSchemaError` for an empty selection, a part that is not an
    id or a ``lo-hi`` range with ``lo <= hi``, or an id outside ``1..69``.

    >>> parse_question_ids("4, 1-3,42")
    (1, 2, 3, 4, 42)
    """
    last = len(QUESTIONS)
    if not isinstance(text, str) or not text.strip():
        raise MoaksSchemaError(f"question ids {text!r}: expected ids and ranges, e.g. '1-15,42'")
    out: set[int] = set()
    for raw in text.split(","):
        part = raw.strip()
        lo_text, dash, hi_text = part.partition("-")
        if not lo_text.strip().isdecimal() or (dash and not hi_text.strip().isdecimal()):
            raise MoaksSchemaError(
                f"question ids {text!r}: part {part!r} is not an id or a range like '1-15'"
            )
        lo = int(lo_text)
        hi = int(hi_text) if dash else lo
        if lo > hi:
            raise MoaksSchemaError(
                f"question ids {text!r}: range {part!r} runs backwards (expected lo <= hi)"
            )
        if lo < 1 or hi > last:
            raise MoaksSchemaError(f"question ids {text!r}: {part!r} lies outside 1..{last}")
        out.update(range(lo, hi + 1))
    return tuple(sorted(out))
