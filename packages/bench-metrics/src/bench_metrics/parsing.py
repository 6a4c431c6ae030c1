"""Parsing one model reply into grades, a box and the reasoning, never guessing.

The rules (docs/benchmark-protocol.md gives them in full):

- Thinking blocks are split off and kept (:func:`~bench_metrics.candidates.split_think`);
  the answer objects are found in the rest (:func:`~bench_metrics.candidates.decode_candidates`).
- An object is *about the asked question* when it holds the question's public
  answer key (any spelling that normalises equal, see :mod:`bench_metrics.keys`)
  at any nesting depth up to 4 (so ``MOAKS_scores``, ``MOAKS_grade``, no wrapper,
  or any other wrapper), or, failing that, the question's attribute keys
  themselves with no answer key around them. An object holding only another
  question's answer key is *about another region*.
- Across objects, the last strict (parsed as written) object about the question
  wins; if none is strict, the last repaired one. Within the chosen object every
  place that answers (each occurrence of the answer key, each spelling of an
  attribute key) is read: when they disagree the attribute fails as ``ambiguous``. None about the question: every attribute
  fails with ``wrong_region`` if some object names another region, else
  ``key_missing`` if there was any object, else ``no_answer_object``.
- Values: :func:`~bench_metrics.values.read_grade`. A bare value is read for a
  single-attribute question (extrusion 44-45 is shaped so), and ``{"grade": n}``
  (or ``score`` / ``value``) for any single-attribute question.
- The box: a ``box`` / ``bbox`` / ``bounding_box`` (...) entry of the chosen
  object, else of any other object (last first), else the last labelled line
  (``Box: [...]``, ``Bounding box: [...]``), else the last bracketed list of
  six numbers in the reply outside thinking. Public form, in the coordinates
  of what the model saw.

>>> p = parse_answer('Box: [3, 9, 10, 20, 30, 40]. ```json\\n{"MOAKS_scores": {"patella superior osteophyte": {"grade": "Grade 2"}}}\\n```', 30)
>>> p.grades, p.failures, p.box.to_public()
({'osteophyte.PS.grade': 2}, {}, [3, 9, 10, 20, 30, 40])
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from bbox3d import Box
from moaks_schema import attribute

from bench_metrics.candidates import (
    Candidate,
    decode_candidates,
    items_of,
    loads_keeping_repeats,
    split_think,
)
from bench_metrics.failures import FailureKind
from bench_metrics.keys import (
    ANSWER_KEY_TO_QUESTION,
    BOX_KEYS,
    BOX_PART_KEYS,
    REASONING_KEYS,
    QuestionKeys,
    normalise_key,
    question_keys,
)
from bench_metrics.values import read_grade

__all__ = ["ParsedAnswer", "PublicBox", "parse_answer", "parse_many"]

_MAX_DEPTH = 4
_NUM = r"\s*([+-]?\d+(?:\.\d+)?)\s*"
_BOX_TEXT = re.compile(r"[\[(]" + ",".join([_NUM] * 6) + r"[\])]")
#: a box on its own labelled line: "Box: [...]", "**Bounding box**: (...)", "3D box = [...]"
_BOX_LINE = re.compile(
    r"(?:^|\n)[ \t>*#-]*(?:3d[ \t]+)?(?:bounding[ \t]+)?(?:box|bbox)[ \t*]*[:=][ \t*]*"
    + r"[\[(]"
    + ",".join([_NUM] * 6)
    + r"[\])]",
    re.IGNORECASE,
)
_MAX_TEXT = 1_000_000  # replies longer than this are cut before parsing (none is that long)


PublicBox = tuple[int, int, int, int, int, int]


@dataclass(frozen=True, slots=True)
class ParsedAnswer:
    """What one reply says about one question.

    ``grades`` and ``failures`` together cover every attribute of the question
    (keyed by ``Attribute.key``). ``box_public`` is the box as written, in the
    public inclusive form ``[start_slice, end_slice, x_min, x_max, y_min,
    y_max]`` and in the coordinates of what the model saw (``box`` gives it as a
    :class:`bbox3d.Box`), or ``None`` with ``box_failure`` saying why.
    """

    question_id: int
    grades: dict[str, int]
    failures: dict[str, FailureKind]
    box_public: PublicBox | None = None
    box_failure: FailureKind | None = None
    reasoning: str = ""
    think: str = ""
    repaired: bool = False
    candidates: int = 0

    @property
    def box(self) -> Box | None:
        """The box as a half-open :class:`bbox3d.Box` (in the model's view coordinates)."""
        return None if self.box_public is None else Box.from_public(self.box_public)

    @property
    def complete(self) -> bool:
        """Every attribute was read."""
        return not self.failures


_ABOUT, _FLAT, _OTHER, _NONE = 0, 1, 2, 3
_NO_BOX = object()


class _Scan:
    """One walk over a candidate object: what it says about the question, and its box entry.

    Every place of the object that answers the question is kept (``values``): a JSON
    object has no order, so when two places disagree the answer is ambiguous.
    """

    __slots__ = ("box", "kind", "reasoning", "values")

    def __init__(self, obj: dict[str, Any], qk: QuestionKeys, need_box: bool) -> None:
        self.kind = _NONE
        self.values: list[Any] = []
        self.box: Any = _NO_BOX
        self.reasoning: Any = None
        other = False
        flat: list[dict[str, Any]] = []
        about: list[Any] = []
        level: list[Any] = [obj]
        for depth in range(_MAX_DEPTH + 1):
            nxt: list[Any] = []
            for d in level:
                if isinstance(d, list):
                    nxt.extend(v for v in d if isinstance(v, (dict, list)))
                    continue
                for k, v in items_of(d):
                    if not isinstance(k, str):
                        continue
                    nk = normalise_key(k)
                    if nk == qk.answer_key:
                        about.append(v)
                        continue  # an answer is not searched for further answers
                    if nk in ANSWER_KEY_TO_QUESTION:
                        other = True
                    elif nk in BOX_KEYS:
                        if self.box is _NO_BOX:
                            self.box = v
                    elif nk in REASONING_KEYS:
                        if depth == 0:
                            self.reasoning = v
                    elif (
                        nk in qk.attribute_names
                        and not isinstance(v, (dict, list))
                        and (not flat or flat[-1] is not d)
                    ):
                        flat.append(d)
                    if isinstance(v, (dict, list)) and depth < _MAX_DEPTH:
                        nxt.append(v)
            if not nxt:
                break
            level = nxt
        if about:
            self.kind, self.values = _ABOUT, about
        elif other:
            self.kind = _OTHER
        elif flat:
            self.kind, self.values = _FLAT, flat


def _attribute_values(values: list[Any], qk: QuestionKeys) -> dict[str, list[Any]]:
    """Attribute key -> every value given for it (under any spelling, in any answering place)."""
    found: dict[str, list[Any]] = {}
    for value in values:
        if isinstance(value, dict):
            for k, v in items_of(value):
                if isinstance(k, str):
                    key = qk.attribute_names.get(normalise_key(k))
                    if key is not None:
                        found.setdefault(key, []).append(v)
        elif qk.single and not isinstance(value, list):
            found.setdefault(qk.attribute_keys[0], []).append(value)
    return found


def _read_value(
    values: list[Any], qk: QuestionKeys
) -> tuple[dict[str, int], dict[str, FailureKind]]:
    """The grades (or failures) of the question's attributes; values that disagree are ambiguous."""
    grades: dict[str, int] = {}
    failures: dict[str, FailureKind] = {}
    found = _attribute_values(values, qk)
    for key in qk.attribute_keys:
        given = found.get(key)
        if not given:
            failures[key] = FailureKind.KEY_MISSING
            continue
        space = attribute(key).grades
        readings = {read_grade(v, space) for v in given}
        g = readings.pop() if len(readings) == 1 else FailureKind.AMBIGUOUS
        if isinstance(g, FailureKind):
            failures[key] = g
        else:
            grades[key] = g
    return grades, failures


def _box_int(v: Any) -> int | None:
    if type(v) is int:
        return v if v >= 0 else None
    if type(v) is float and math.isfinite(v) and v.is_integer() and v >= 0:
        return int(v)
    return None


def _box_from_value(value: Any) -> PublicBox | FailureKind:
    """Six non-negative integers with start <= end per axis, in the public order, or BOX_MALFORMED."""
    if isinstance(value, dict):
        parts = {normalise_key(k): v for k, v in value.items() if isinstance(k, str)}
        if not all(p in parts for p in BOX_PART_KEYS):
            return FailureKind.BOX_MALFORMED
        value = [parts[p] for p in BOX_PART_KEYS]
    elif isinstance(value, str):
        m = _BOX_TEXT.search(value)
        if m is None:
            return FailureKind.BOX_MALFORMED
        value = [_num(x) for x in m.groups()]
    if isinstance(value, list) and len(value) == 1 and isinstance(value[0], list):
        value = value[0]
    if not isinstance(value, list) or len(value) != 6:
        return FailureKind.BOX_MALFORMED
    ints: list[int] = []
    for v in value:
        n = _box_int(v)
        if n is None:
            return FailureKind.BOX_MALFORMED
        ints.append(n)
    s0, s1, x0, x1, y0, y1 = ints
    if s1 < s0 or x1 < x0 or y1 < y0:
        return FailureKind.BOX_MALFORMED
    return (s0, s1, x0, x1, y0, y1)


def _num(s: str) -> int | float:
    try:
        return float(s) if "." in s else int(s)
    except ValueError:  # pragma: no cover - the pattern only matches numbers
        return math.nan


def _strip_fences(text: str) -> str:
    return re.sub(r"```[A-Za-z]*", "", text).strip() if "```" in text else text.strip()


def _reasoning_text(v: Any) -> str | None:
    if isinstance(v, str):
        return v
    if isinstance(v, list):
        return "\n".join(str(x) for x in v)
    return None


def parse_answer(text: object, question_id: int) -> ParsedAnswer:
    """Read ``text`` (a model's whole reply) as an answer to question ``question_id``.

    Never raises on any ``text`` (a non-string reads as no answer object);
    ``question_id`` must be a public id 1..69.
    """
    qk = question_keys(int(question_id))
    q = qk.question
    if not isinstance(text, str):
        text = ""
    if len(text) > _MAX_TEXT:
        text = text[:_MAX_TEXT]
    think, rest = split_think(text)

    cands: list[Candidate] = []
    fast = rest.strip()
    if fast[:1] == "{" and fast[-1:] == "}":
        try:
            value = loads_keeping_repeats(fast)
        except (ValueError, RecursionError):
            value = None
        if isinstance(value, dict) and value:
            off = rest.index("{")
            cands = [Candidate(value, off, off + len(fast), True)]
    if not cands:
        cands = decode_candidates(rest, keywords=qk.keywords)

    need_box = bool(q.box_regions)
    scans = [_Scan(c.obj, qk, need_box) for c in cands]
    chosen = -1
    other = False
    for i, (c, sc) in enumerate(zip(cands, scans, strict=True)):
        if sc.kind == _OTHER:
            other = True
        elif sc.kind != _NONE and (c.strict or chosen < 0 or not cands[chosen].strict):
            chosen = i

    if chosen >= 0:
        grades, failures = _read_value(scans[chosen].values, qk)
    else:
        kind = (
            FailureKind.WRONG_REGION
            if other
            else FailureKind.KEY_MISSING
            if cands
            else FailureKind.NO_ANSWER_OBJECT
        )
        grades, failures = {}, dict.fromkeys(qk.attribute_keys, kind)

    # the box: the chosen object's entry, else any other object's (last first), else the text's last 6-list
    box: PublicBox | None = None
    box_failure: FailureKind | None = None
    if q.box_regions:
        order = ([chosen] if chosen >= 0 else []) + [
            i for i in range(len(cands) - 1, -1, -1) if i != chosen
        ]
        found: PublicBox | FailureKind | None = None
        for i in order:
            if scans[i].box is not _NO_BOX:
                found = _box_from_value(scans[i].box)
                break
        if found is None:
            last = None
            for last in _BOX_LINE.finditer(rest):  # noqa: B007 - the last labelled line is wanted
                pass
            if last is None:
                for last in _BOX_TEXT.finditer(rest):  # noqa: B007 - else the last 6-list
                    pass
            found = (
                _box_from_value([_num(x) for x in last.groups()])
                if last
                else FailureKind.BOX_MISSING
            )
        if isinstance(found, tuple):
            box = found
        else:
            box_failure = found

    # the reasoning: the chosen object's reasoning entry, else the prose around the objects
    reasoning = _reasoning_text(scans[chosen].reasoning) if chosen >= 0 else None
    if reasoning is None:
        if cands:
            first, last_end = cands[0].start, cands[-1].end
            reasoning = (
                _strip_fences(rest[:first]) + "\n" + _strip_fences(rest[last_end:])
            ).strip()
        else:
            reasoning = rest.strip()
    return ParsedAnswer(
        question_id=q.id,
        grades=grades,
        failures=failures,
        box_public=box,
        box_failure=box_failure,
        reasoning=reasoning,
        think=think,
        repaired=chosen >= 0 and not cands[chosen].strict,
        candidates=len(cands),
    )


def parse_many(texts: Iterable[object], question_ids: Iterable[int]) -> list[ParsedAnswer]:
    """:func:`parse_answer` over pairs; identical (text, question) pairs are parsed once."""
    memo: dict[tuple[object, int], ParsedAnswer] = {}
    out: list[ParsedAnswer] = []
    for text, qid in zip(texts, question_ids, strict=True):
        key = (text if isinstance(text, str) else None, int(qid))
        p = memo.get(key)
        if p is None:
            p = parse_answer(text, int(qid))
            if len(memo) < 200_000:
                memo[key] = p
        out.append(p)
    return out
