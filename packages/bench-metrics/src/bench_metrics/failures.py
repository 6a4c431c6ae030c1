"""The named ways an answer can fail to give a grade or a box."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["BOX_FAILURES", "GRADE_FAILURES", "FailureKind"]


class FailureKind(StrEnum):
    """Why an attribute (or the box) of one answer could not be read.

    A failure scores as wrong and is counted; nothing is ever filled in.
    """

    #: No prediction record for this (scan, question), or the record holds an error and no text.
    NO_PREDICTION = "no_prediction"
    #: The text holds no JSON object at all (prose only, empty, or garbage).
    NO_ANSWER_OBJECT = "no_answer_object"
    #: The answer objects found are all about another question's region.
    WRONG_REGION = "wrong_region"
    #: An answer object was found, but not this attribute (or not the asked question's key).
    KEY_MISSING = "key_missing"
    #: The value is not readable as one integer grade (words, null, a boolean, a list...).
    NOT_A_NUMBER = "not_a_number"
    #: A hedge or a contradiction: the value names two grades ("2 or 3", "1-2", "2 (possibly 3)"),
    #: hedges its grade ("possibly 2", "2?"), or two keys or places of one object give different values.
    AMBIGUOUS = "ambiguous"
    #: A number outside the attribute's grade space (including non-integral numbers).
    OUT_OF_RANGE = "out_of_range"
    #: The question is scored for localisation, and no box was found.
    BOX_MISSING = "box_missing"
    #: A box was found but is not six integers forming a valid non-empty box (or cannot be mapped).
    BOX_MALFORMED = "box_malformed"


#: Failures that can end an attribute's reading.
GRADE_FAILURES: tuple[FailureKind, ...] = (
    FailureKind.NO_PREDICTION,
    FailureKind.NO_ANSWER_OBJECT,
    FailureKind.WRONG_REGION,
    FailureKind.KEY_MISSING,
    FailureKind.NOT_A_NUMBER,
    FailureKind.AMBIGUOUS,
    FailureKind.OUT_OF_RANGE,
)
#: Failures that can end a box's reading.
BOX_FAILURES: tuple[FailureKind, ...] = (
    FailureKind.NO_PREDICTION,
    FailureKind.BOX_MISSING,
    FailureKind.BOX_MALFORMED,
)
