"""Finding the JSON answer objects in a model's reply.

1. ``<think>…</think>`` blocks (also ``<thinking>``, an unclosed one at the
   end, or a closing tag with no opening one) are split off and kept.
2. The rest is scanned for top-level ``{…}`` spans with a brace scanner that
   knows double-quoted strings; a span left open at the end of the text or at
   a closing markdown fence (truncated output) is a candidate too. Fences,
   prose and brackets around the objects do not matter.
3. Each span is decoded with :func:`json.loads`; if that fails, the
   ``json-repair`` library repairs it (trailing commas, single or typographic
   quotes, unquoted keys, missing closing brackets). Only objects count.

Candidates come back in text order, each marked strict (parsed as written) or
repaired.
"""

from __future__ import annotations

import ast
import json
import re
import warnings
from dataclasses import dataclass
from typing import Any

__all__ = [
    "Candidate",
    "KeyedTwice",
    "decode_candidates",
    "find_spans",
    "items_of",
    "loads_keeping_repeats",
    "split_think",
]

_THINK_OPEN = re.compile(r"<(think|thinking|reasoning)>", re.IGNORECASE)
_THINK_ANY_CLOSE = re.compile(r"</(think|thinking|reasoning)>", re.IGNORECASE)
_TOKEN = re.compile(r'```|[{}"\\]')
_TYPOGRAPHIC = str.maketrans({"\u201c": '"', "\u201d": '"', "\u2018": "'", "\u2019": "'"})
#: Spans longer than this are not repaired (a reply is a few kB; this bounds the cost).
MAX_REPAIR_CHARS = 100_000
#: At most this many spans are repaired per reply (the last ones, which win anyway).
MAX_REPAIRS = 8
#: Spans longer than this are not tried as Python literals.
MAX_LITERAL_CHARS = 20_000


#: the end of a JSON key: a closing quote, then a colon
_KEY_END = re.compile(r'"\s*:')


class KeyedTwice(dict):  # type: ignore[type-arg]
    """A decoded JSON object that writes a key more than once.

    Plain decoding keeps the last value silently; ``pairs`` keeps every (key, value)
    in text order, so a reader can see that two values disagree.
    """

    pairs: list[tuple[str, Any]]


def items_of(obj: dict[str, Any]) -> list[tuple[str, Any]] | Any:
    """Every (key, value) of a decoded object, keys written twice included."""
    return obj.pairs if isinstance(obj, KeyedTwice) else obj.items()


def _keep_repeats(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    d = dict(pairs)
    if len(d) == len(pairs):
        return d
    out = KeyedTwice(d)
    out.pairs = pairs
    return out


def _n_keys(value: Any) -> int:
    if isinstance(value, dict):
        return len(value) + sum(_n_keys(v) for v in value.values())
    if isinstance(value, list):
        return sum(_n_keys(v) for v in value)
    return 0


def loads_keeping_repeats(text: str) -> Any:
    """:func:`json.loads`, except that an object writing a key twice becomes a :class:`KeyedTwice`.

    The plain (fast) decoder runs first; only when the text shows more key ends than the
    decoded value holds keys is it decoded again keeping every pair.

    >>> loads_keeping_repeats('{"a": 1, "a": 2}').pairs
    [('a', 1), ('a', 2)]
    """
    value = json.loads(text)
    if len(_KEY_END.findall(text)) > _n_keys(value):
        value = json.loads(text, object_pairs_hook=_keep_repeats)
    return value


@dataclass(frozen=True, slots=True)
class Candidate:
    """One decoded answer object and where it was found."""

    obj: dict[str, Any]
    start: int
    end: int
    strict: bool


def split_think(text: str) -> tuple[str, str]:
    """``(think, rest)``: the thinking blocks (joined) and the text without them.

    >>> split_think("<think>hmm</think> {\\"a\\": 1}")
    ('hmm', ' {"a": 1}')
    """
    if "<" not in text:
        return "", text
    thinks: list[str] = []
    close = _THINK_ANY_CLOSE.search(text)
    first_open = _THINK_OPEN.search(text)
    if close is not None and (first_open is None or close.start() < first_open.start()):
        # a closing tag with no opening one: everything before it was thinking
        thinks.append(text[: close.start()].strip())
        text = text[close.end() :]
    rest: list[str] = []
    pos = 0
    while True:
        m = _THINK_OPEN.search(text, pos)
        if m is None:
            rest.append(text[pos:])
            break
        rest.append(text[pos : m.start()])
        end = re.compile(rf"</{m.group(1)}>", re.IGNORECASE).search(text, m.end())
        if end is None:  # truncated inside thinking
            thinks.append(text[m.end() :].strip())
            break
        thinks.append(text[m.end() : end.start()].strip())
        pos = end.end()
    return "\n\n".join(t for t in thinks if t), "".join(rest)


def find_spans(text: str) -> list[tuple[int, int, bool]]:
    """Top-level ``{…}`` spans as ``(start, end, closed)``, in text order.

    >>> find_spans('say {"a": "}"} and {"b": 1')
    [(4, 14, True), (19, 26, False)]
    """
    spans: list[tuple[int, int, bool]] = []
    depth = 0
    start = -1
    in_str = False
    skip_until = -1
    for m in _TOKEN.finditer(text):
        pos = m.start()
        if pos < skip_until:
            continue
        tok = m.group()
        if in_str:
            if tok == "\\":
                skip_until = pos + 2
            elif tok == '"':
                in_str = False
            continue
        if tok == "{":
            if depth == 0:
                start = pos
            depth += 1
        elif tok == "}":
            if depth > 0:
                depth -= 1
                if depth == 0:
                    spans.append((start, pos + 1, True))
        elif tok == '"':
            if depth > 0:
                in_str = True
        elif tok == "```" and depth > 0:  # a closing fence inside an open object: it was cut off
            spans.append((start, pos, False))
            depth = 0
    if depth > 0:
        spans.append((start, len(text), False))
    return spans


def _objects(value: Any) -> list[dict[str, Any]]:
    if isinstance(value, dict):
        return [value] if value else []
    if isinstance(value, list):
        return [v for v in value if isinstance(v, dict) and v]
    return []


def _literal(span: str) -> list[dict[str, Any]] | None:
    """The span read as a Python literal (a reply in ``repr`` style), or None."""
    if len(span) > MAX_LITERAL_CHARS:
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # invalid escapes in the text are not our warnings
            value = ast.literal_eval(span)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None
    objs = _objects(value)
    return objs or None


def _repair(span: str) -> list[dict[str, Any]]:
    import json_repair

    lit = _literal(span)
    if lit is not None:
        return lit
    try:
        value = json_repair.loads(span.translate(_TYPOGRAPHIC))
    except (ValueError, RecursionError):  # what json-repair raises on text it cannot repair
        return []
    return _objects(value)


_NON_KEY = re.compile(r"[^0-9a-z%]+")


def decode_candidates(text: str, *, keywords: tuple[str, ...] | None = None) -> list[Candidate]:
    """Every answer object in ``text`` (thinking already removed), in text order. Never raises.

    ``keywords`` (normalised spellings, see :mod:`bench_metrics.keys`): a span
    that is not valid JSON is only repaired when it mentions one of them, so
    noise with braces is not turned into objects that could say nothing
    about the question.
    """
    spans = find_spans(text)
    out: list[Candidate] = []
    failed: list[tuple[int, int]] = []
    for start, end, closed in spans:
        if closed:
            try:
                value = loads_keeping_repeats(text[start:end])
            except (ValueError, RecursionError):
                failed.append((start, end))
                continue
            out.extend(Candidate(o, start, end, True) for o in _objects(value))
        else:
            failed.append((start, end))
    repairs = 0
    for start, end in reversed(failed):
        span = text[start:end]
        if ":" not in span or len(span) > MAX_REPAIR_CHARS:
            continue
        if keywords is not None:
            norm = " " + _NON_KEY.sub(" ", span.lower()) + " "
            if not any(f" {k} " in norm for k in keywords):
                continue
        if repairs >= MAX_REPAIRS:
            break
        repairs += 1
        out.extend(Candidate(o, start, end, False) for o in _repair(span))
    out.sort(key=lambda c: c.start)
    return out
