"""Question prompts for the three settings, one template per feature.

Settings (docs/formats.md): ``zero-shot`` (the request and the answer shape),
``instruction`` (plus what the finding is on DESS and the MOAKS grading schema
built from the grade spaces of :mod:`moaks_schema`), ``gt-region`` (the
instruction prompt plus a sentence saying the volume shown is cropped to the
region). Every prompt ends with the exact answer shape (:func:`answer_shape`):
the box in the public form with its convention, the reasoning, and the MOAKS
JSON with the public keys.

>>> from moaks_schema import question
>>> p = prompt(question(34), "zero-shot")
>>> p.startswith("In this DESS MRI of the knee, identify and grade the osteophyte at the femur medial anterior")
True
>>> '"femur medial anterior osteophyte": {"grade": <integer 0-3>}' in p
True
"""

from __future__ import annotations

from moaks_schema import (
    PROMPT_SETTINGS,
    QUESTIONS,
    AnswerShape,
    Feature,
    PromptSetting,
    Question,
    region,
)

from quintuple_builder.errors import QuintupleBuilderError
from quintuple_builder.feature_text import FEATURE_TEXT, PERIARTICULAR_SITE

__all__ = [
    "BOX_CONVENTION",
    "SETTINGS",
    "answer_shape",
    "box_target_name",
    "grading_schema",
    "json_template",
    "prompt",
    "prompt_table",
]

#: The three prompt settings, in order (``moaks_schema.PROMPT_SETTINGS``).
SETTINGS = PROMPT_SETTINGS

#: The box convention every prompt that asks for a box states.
BOX_CONVENTION = (
    "The box is [start_slice, end_slice, x_min, x_max, y_min, y_max] in the slices and pixels shown to "
    "you, counted from 0, with inclusive ends: start_slice and end_slice are the first and last sagittal "
    "slice containing the {target}, x_min and x_max its first and last column (x, left to right), y_min "
    "and y_max its first and last row (y, top to bottom)."
)


def box_target_name(question: Question) -> str:
    """What the box of a question encloses, in words (``"femur medial central subregion"``)."""
    codes = question.box_regions
    if not codes:
        return ""
    if question.feature in (Feature.MENISCAL_CYST, Feature.MENISCAL_HYPERTROPHY):
        return f"whole {question.site_name}"
    if len(codes) == 1:
        r = region(codes[0])
        suffix = " subregion" if r.kind.value == "bone" else ""
        return f"{r.name}{suffix}"
    if set(codes) == {"PM", "PL"}:
        return "whole patella"
    if question.feature is Feature.OSTEOPHYTE:
        return f"{question.site_name} plateau (its anterior, central and posterior subregions together)"
    return " and ".join(region(c).name for c in codes)


def json_template(question: Question) -> str:
    """The MOAKS JSON the answer must end with, placeholders for the grades.

    >>> from moaks_schema import question
    >>> json_template(question(44))
    '{"MOAKS_scores": {"medial meniscus anterior extrusion": <integer 0-3>}}'
    """

    def slot(a) -> str:
        return f"<integer 0-{len(a.grades.meanings) - 1}>"

    if question.answer_shape is AnswerShape.BARE_INT:
        value = slot(question.attributes[0])
    else:
        value = "{" + ", ".join(f'"{a.name}": {slot(a)}' for a in question.attributes) + "}"
    return f'{{"MOAKS_scores": {{"{question.answer_key}": {value}}}}}'


def answer_shape(question: Question) -> str:
    """The closing instruction: the exact shape of the answer (box, reasoning, MOAKS JSON)."""
    if question.has_box:
        box_line = "Box: [start_slice, end_slice, x_min, x_max, y_min, y_max]"
        convention = BOX_CONVENTION.format(target=box_target_name(question))
    else:
        box_line = "Box: none"
        convention = (
            "This finding is graded over the whole knee, so write the box line as `Box: none`."
        )
    return (
        "Answer in exactly this format:\n"
        f"{box_line}\n"
        "Reasoning:\n1. <first step>\n2. <next step>\n...\n"
        f"MOAKS: {json_template(question)}\n"
        f"{convention} Replace each <integer ...> with the grade; the MOAKS line must be valid JSON."
    )


def grading_schema(question: Question) -> str:
    """The MOAKS grading schema of a question, from its grade spaces."""
    parts = []
    for a in question.attributes:
        grades = ", ".join(f"Grade {g}: {m}" for g, m in enumerate(a.grades.meanings))
        parts.append(f'"{a.name}": {grades}.')
    return "MOAKS grading: " + " ".join(parts)


def _site_words(question: Question) -> str:
    if question.feature is Feature.PERIARTICULAR:
        return question.site_name
    if question.feature is Feature.EFFUSION:
        return "knee joint"
    return question.site_name


def prompt(question: Question, setting: PromptSetting) -> str:
    """The prompt text of one question in one setting."""
    if setting not in SETTINGS:
        raise QuintupleBuilderError(
            f"unknown prompt setting {setting!r}: expected one of {', '.join(SETTINGS)}"
        )
    text = FEATURE_TEXT[question.feature]
    lines = [f"In this DESS MRI of the knee, {text.task.format(site=_site_words(question))}."]
    if setting != "zero-shot":
        definition = text.definition
        if question.feature is Feature.PERIARTICULAR and question.site in PERIARTICULAR_SITE:
            definition += f" Here: {question.site_name} is {PERIARTICULAR_SITE[question.site]}."
        lines.append(f"{definition} {grading_schema(question)} {text.grading_notes}")
    if setting == "gt-region":
        if question.has_box:
            lines.append(
                f"The volume shown is cropped to the {box_target_name(question)}, so the region of interest "
                "fills the view; the box refers to this cropped view."
            )
        else:
            lines.append("This finding has no single region, so the whole volume is shown.")
    lines.append("Provide the box, your reasoning and the MOAKS grades.")
    lines.append(answer_shape(question))
    return "\n".join(lines)


def prompt_table(questions: tuple[Question, ...] = QUESTIONS) -> dict[int, dict[str, str]]:
    """``{question_id: {setting: prompt}}`` for the given questions."""
    return {q.id: {s: prompt(q, s) for s in SETTINGS} for q in questions}
