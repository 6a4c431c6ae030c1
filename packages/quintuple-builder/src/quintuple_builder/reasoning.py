"""Clinician-style reasoning chains, generated from the true grades and box.

A chain has five steps, in the order a reader works (paper §3.2):

1. locate the region and give its box (``{BOX}`` stands for the public box text);
2. what the finding looks like on DESS and what it must be told apart from;
3. what is seen, one phrase per attribute, chosen from the phrases of its grade;
4. which MOAKS grade definition that meets (``"<attribute>" meets grade g (<meaning>)``);
5. the grades (``Grades: <attribute> = g; ...``).

Wording varies with ``variant`` and ``seed`` (a seeded ``random.Random``); the
grades are never contradicted: :func:`grades_from_chain` reads them back from
steps 3, 4 and 5 and fails unless all three agree.

>>> from moaks_schema import question
>>> q = question(34)
>>> steps = reasoning_chain(q, {"osteophyte.FMA.grade": 2}, box="[3, 9, 10, 20, 4, 12]", variant=0, seed=0)
>>> grades_from_chain(q, steps)
{'osteophyte.FMA.grade': 2}
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping, Sequence

from moaks_schema import Feature, Question

from quintuple_builder.errors import QuintupleBuilderError
from quintuple_builder.feature_text import (
    FEATURE_TEXT,
    PERIARTICULAR_SITE,
    observation_phrases,
)
from quintuple_builder.prompts import box_target_name

__all__ = [
    "BOX_PLACEHOLDER",
    "N_VARIANTS",
    "grades_from_chain",
    "reasoning_chain",
]

#: Stands for the public box text in a chain template.
BOX_PLACEHOLDER = "{BOX}"
#: Number of wording variants a build draws from per question.
N_VARIANTS = 8

_LOCATE = (
    "First locate the {target}; on this scan it lies within the box {box}.",
    "The {target} is found first: it occupies the box {box} (slices, then columns x, then rows y).",
    "Localise the {target} on the sagittal slices; its extent gives the box {box}.",
    "Start with anatomy: the {target} spans the box {box}.",
)
_LOCATE_ABSENT = (
    "The {target} could not be delineated on this scan, so no box is given; the assessment covers the "
    "place where it is expected.",
    "No box can be given because the {target} was not found in the label map; it is assessed where it "
    "normally lies.",
)
_LOCATE_GLOBAL = (
    "{finding} is not confined to one labelled region, so the whole joint is surveyed and no box is given.",
    "No single region holds {finding_lc}; the assessment surveys the whole knee without a box.",
)
_OBS_LEAD = (
    "On the slices through the {target}, {obs}.",
    "Looking at the {target}: {obs}.",
    "In this knee, {obs}.",
    "What is seen: {obs}.",
)
_CRIT_LEAD = (
    "By the MOAKS definitions, {crit}.",
    "Against the MOAKS criteria, {crit}.",
    "Applying the MOAKS grading, {crit}.",
)


def _cap(s: str) -> str:
    return s[:1].upper() + s[1:]


def _target(question: Question) -> str:
    if question.has_box:
        return box_target_name(question)
    if question.feature is Feature.EFFUSION:
        return "knee joint"
    return "periarticular soft tissues"


def reasoning_chain(
    question: Question,
    grades: Mapping[str, int],
    *,
    box: str | None,
    variant: int = 0,
    seed: int = 0,
) -> list[str]:
    """The reasoning steps for ``question`` with these ``grades`` (keyed by ``Attribute.key``).

    ``box`` is the public box text (or :data:`BOX_PLACEHOLDER` to fill later);
    None when the question has no box or the region is absent from the scan.
    """
    missing = [a.key for a in question.attributes if grades.get(a.key) is None]
    if missing:
        raise QuintupleBuilderError(f"question {question.id}: no grade for {', '.join(missing)}")
    rng = random.Random(f"{seed}|{question.id}|{variant}")
    text = FEATURE_TEXT[question.feature]
    target = _target(question)
    if question.has_box and box is not None:
        locate = rng.choice(_LOCATE).format(target=target, box=box)
    elif question.has_box:
        locate = rng.choice(_LOCATE_ABSENT).format(target=target)
    elif question.feature is Feature.PERIARTICULAR:
        where = PERIARTICULAR_SITE.get(question.site or "", "")
        locate = (
            f"Search the periarticular soft tissues for {question.site_name} ({where}); it is not "
            "tied to one labelled region, so no box is given."
        )
    else:
        name = (
            question.site_name if question.feature is not Feature.EFFUSION else "Effusion-synovitis"
        )
        locate = rng.choice(_LOCATE_GLOBAL).format(finding=_cap(name), finding_lc=name.lower())
    look = f"{_cap(rng.choice(text.looks))}; {rng.choice(text.mimics)}."
    obs = "; ".join(
        rng.choice(observation_phrases(question, a)[int(grades[a.key])])
        for a in question.attributes
    )
    observe = rng.choice(_OBS_LEAD).format(target=target, obs=obs)
    crit = "; ".join(
        f'"{a.name}" meets grade {int(grades[a.key])} ({a.grades.meaning(int(grades[a.key]))})'
        for a in question.attributes
    )
    criteria = rng.choice(_CRIT_LEAD).format(crit=crit)
    conclusion = (
        "Grades: "
        + "; ".join(f"{a.name} = {int(grades[a.key])}" for a in question.attributes)
        + "."
    )
    return [locate, look, observe, criteria, conclusion]


def _observed_grade(question: Question, attr_index: int, step: str) -> int:
    attr = question.attributes[attr_index]
    low = step.lower()
    found = {
        g
        for g, phrases in enumerate(observation_phrases(question, attr))
        for p in phrases
        if p.lower() in low
    }
    if len(found) != 1:
        raise QuintupleBuilderError(
            f"question {question.id}, {attr.key}: observation step names grades {sorted(found)}, "
            "expected exactly one"
        )
    return found.pop()


def grades_from_chain(question: Question, steps: Sequence[str]) -> dict[str, int]:
    """Read the grades back from a chain; raises unless steps 3, 4 and 5 agree."""
    if len(steps) != 5:
        raise QuintupleBuilderError(
            f"question {question.id}: expected 5 reasoning steps, got {len(steps)}"
        )
    out: dict[str, int] = {}
    final = steps[4]
    if not final.startswith("Grades: "):
        raise QuintupleBuilderError(f"question {question.id}: last step must start with 'Grades: '")
    for i, a in enumerate(question.attributes):
        m = re.search(re.escape(a.name) + r" = (\d+)", final)
        c = re.search('"' + re.escape(a.name) + r'" meets grade (\d+)', steps[3])
        if not m or not c:
            raise QuintupleBuilderError(f"question {question.id}: grade of {a.name!r} not stated")
        g = int(m.group(1))
        if (
            int(c.group(1)) != g
            or g not in a.grades
            or f'"{a.name}" meets grade {g} ({a.grades.meaning(g)})' not in steps[3]
        ):
            raise QuintupleBuilderError(
                f"question {question.id}: {a.name!r} criteria step disagrees"
            )
        if _observed_grade(question, i, steps[2]) != g:
            raise QuintupleBuilderError(f"question {question.id}: {a.name!r} observation disagrees")
        out[a.key] = g
    return out
