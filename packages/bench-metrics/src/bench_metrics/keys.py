"""Key spellings: how answer keys, attribute keys and box keys are normalised and looked up.

Normalisation lower-cases a key and turns every run of characters other than
letters, digits and ``%`` into one space, so case, spacing, hyphens,
underscores, slashes and brackets never matter:

>>> normalise_key("Hoffa-Synovitis"), normalise_key("  medial_meniscal_CYST ")
('hoffa synovitis', 'medial meniscal cyst')
>>> normalise_key("% of lesion that is BML (excluding cyst)")
'% of lesion that is bml excluding cyst'
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache, lru_cache

import moaks_schema as ms

__all__ = [
    "ANSWER_KEY_TO_QUESTION",
    "BOX_KEYS",
    "BOX_PART_KEYS",
    "REASONING_KEYS",
    "SINGLE_ATTRIBUTE_ALIASES",
    "QuestionKeys",
    "normalise_key",
    "question_keys",
]

_NON_KEY = re.compile(r"[^0-9a-z%]+")


@lru_cache(maxsize=65536)
def normalise_key(key: str) -> str:
    """The normalised spelling of ``key`` (see the module docstring)."""
    return _NON_KEY.sub(" ", key.lower()).strip()


#: Extra spellings accepted for the attribute of a single-attribute question
#: (osteophyte, Hoffa, effusion, extrusion, morphology, hypertrophy, root tear,
#: patellar tendon, periarticular): the attribute's own public key is always accepted.
SINGLE_ATTRIBUTE_ALIASES: frozenset[str] = frozenset({"grade", "score", "value"})
#: Keys under which a box is looked for inside an answer object (normalised).
BOX_KEYS: frozenset[str] = frozenset(
    {
        "box",
        "bbox",
        "bounding box",
        "bbox 3d",
        "3d bbox",
        "3d box",
        "box 3d",
        "3d bounding box",
        "bounding box 3d",
        "bounding box 3d public",
        "roi",
        "region box",
    }
)
#: The six part names of the public box form, when a box is written as an object.
BOX_PART_KEYS: tuple[str, ...] = ("start slice", "end slice", "x min", "x max", "y min", "y max")
#: Keys whose value is kept as the reasoning text (normalised).
REASONING_KEYS: frozenset[str] = frozenset(
    {
        "reasoning",
        "reasoning steps",
        "chain of thought",
        "cot",
        "rationale",
        "explanation",
        "thinking",
    }
)

#: Normalised public answer key -> question id (all 69 questions).
ANSWER_KEY_TO_QUESTION: dict[str, int] = {normalise_key(q.answer_key): q.id for q in ms.QUESTIONS}
if len(ANSWER_KEY_TO_QUESTION) != len(ms.QUESTIONS):  # pragma: no cover - catalogue invariant
    raise RuntimeError("two public answer keys normalise to the same spelling")


@dataclass(frozen=True, slots=True)
class QuestionKeys:
    """The spellings the parser looks for when reading one question's answer."""

    question: ms.Question
    answer_key: str
    #: normalised attribute spelling -> attribute key (``"bml.FMC.size"``)
    attribute_names: dict[str, str]
    #: the attribute keys in question order
    attribute_keys: tuple[str, ...]
    single: bool
    bare_int: bool
    #: normalised words whose presence makes a malformed span worth repairing
    keywords: tuple[str, ...]


@cache
def question_keys(question_id: int) -> QuestionKeys:
    """The lookup table for question ``question_id`` (cached)."""
    q = ms.question(question_id)
    names = {normalise_key(a.name): a.key for a in q.attributes}
    single = len(q.attributes) == 1
    if single:
        for alias in SINGLE_ATTRIBUTE_ALIASES:
            names.setdefault(alias, q.attributes[0].key)
    words = {*names, *ANSWER_KEY_TO_QUESTION, "box", "moaks"}
    return QuestionKeys(
        question=q,
        answer_key=normalise_key(q.answer_key),
        attribute_names=names,
        attribute_keys=tuple(a.key for a in q.attributes),
        single=single,
        bare_int=q.answer_shape is ms.AnswerShape.BARE_INT,
        keywords=tuple(sorted(words, key=len)),
    )
