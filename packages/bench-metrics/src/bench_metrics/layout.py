"""Index arrays of the MOAKS catalogue that the scoring stages share.

Attributes, categories, Table-2 columns, Table-3 structures and failure kinds
become small integers so that every sum over items is one ``np.bincount``.
"""

from __future__ import annotations

import moaks_schema as ms
import numpy as np

from bench_metrics.failures import FailureKind

__all__ = [
    "ATTRIBUTES",
    "ATTR_CATEGORY",
    "ATTR_COLUMN",
    "ATTR_INDEX",
    "ATTR_N_GRADES",
    "ATTR_QUESTION",
    "CATEGORIES",
    "COLUMNS",
    "FAILURES",
    "FAILURE_CODE",
    "FAILURE_NAMES",
    "QUESTION_SLOTS",
    "QUESTION_STRUCTURE",
    "SLOTS",
    "STRUCTURES",
    "GroupSlots",
]

CATEGORIES: tuple[ms.Category, ...] = tuple(ms.Category)
COLUMNS: tuple[ms.Column, ...] = tuple(ms.Column)
#: Table 3 order, then the patellar tendon.
STRUCTURES: tuple[ms.Structure, ...] = tuple(ms.Structure)

ATTRIBUTES = ms.ATTRIBUTES
ATTR_INDEX: dict[str, int] = {a.key: i for i, a in enumerate(ATTRIBUTES)}
ATTR_QUESTION = np.array([a.question_id for a in ATTRIBUTES], dtype=np.int64)
ATTR_CATEGORY = np.array(
    [CATEGORIES.index(ms.question(a.question_id).category) for a in ATTRIBUTES], dtype=np.int64
)
ATTR_COLUMN = np.array(
    [COLUMNS.index(ms.question(a.question_id).column) for a in ATTRIBUTES], dtype=np.int64
)
ATTR_N_GRADES = np.array([len(a.grades.meanings) for a in ATTRIBUTES], dtype=np.int64)

#: Length of arrays indexed by public question id (ids start at 1; slot 0 is unused).
QUESTION_SLOTS = len(ms.QUESTIONS) + 1
#: Question id -> index into :data:`STRUCTURES`, or -1 (no box region, or slot 0).
QUESTION_STRUCTURE = np.array(
    [-1]
    + [
        STRUCTURES.index(q.structure) if q.box_regions and q.structure else -1 for q in ms.QUESTIONS
    ],
    dtype=np.int64,
)

FAILURES: tuple[FailureKind, ...] = tuple(FailureKind)
#: Failure kind -> code; code 0 means "read" (no failure).
FAILURE_CODE: dict[FailureKind, int] = {k: i + 1 for i, k in enumerate(FAILURES)}
#: Code -> failure name (``None`` for code 0).
FAILURE_NAMES = np.array([None] + [k.value for k in FAILURES], dtype=object)


class GroupSlots:
    """Where each accuracy group sits in one flat array: categories, columns, Overall, attributes."""

    n_categories = len(CATEGORIES)
    n_columns = len(COLUMNS)
    category = 0
    column = n_categories
    overall = n_categories + n_columns
    attribute = n_categories + n_columns + 1
    total = attribute + len(ATTRIBUTES)

    def categories(self, values: np.ndarray) -> np.ndarray:
        """The category slots of a per-group array."""
        return values[..., self.category : self.category + self.n_categories]


#: The one group layout.
SLOTS = GroupSlots()
