"""Grade spaces: the allowed values of each MOAKS attribute and what each value means."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "BML_NUMBER",
    "BML_PERCENT",
    "BML_SIZE",
    "CARTILAGE_DEPTH",
    "CARTILAGE_SIZE",
    "EFFUSION",
    "EXTRUSION",
    "HOFFA",
    "MORPHOLOGY",
    "OSTEOPHYTE",
    "PRESENCE",
    "TEAR_LOCATION",
    "GradeSpace",
]


@dataclass(frozen=True, slots=True)
class GradeSpace:
    """The ordered grades of one attribute, each with its meaning.

    >>> OSTEOPHYTE.values
    (0, 1, 2, 3)
    >>> OSTEOPHYTE.meaning(2)
    'medium'
    """

    name: str
    meanings: tuple[str, ...]
    ordinal: bool = True

    @property
    def values(self) -> tuple[int, ...]:
        """The valid grades, 0..n-1."""
        return tuple(range(len(self.meanings)))

    def __contains__(self, grade: object) -> bool:
        return (
            isinstance(grade, int)
            and not isinstance(grade, bool)
            and 0 <= grade < len(self.meanings)
        )

    def meaning(self, grade: int) -> str:
        """What ``grade`` means (raises ``IndexError`` outside the space)."""
        if grade not in self:
            raise IndexError(f"grade {grade!r} not in {self.name} (0..{len(self.meanings) - 1})")
        return self.meanings[grade]

    def describe(self) -> str:
        """One line listing every grade, e.g. ``0 = none, 1 = small, ...``."""
        return ", ".join(f"{g} = {m}" for g, m in enumerate(self.meanings))


BML_SIZE = GradeSpace(
    "BML size",
    (
        "none",
        "<33% of the subregion volume",
        "33-66% of the subregion volume",
        ">66% of the subregion volume",
    ),
)
BML_NUMBER = GradeSpace(
    "BML number", ("none", "one lesion", "two lesions", "three or more lesions")
)
BML_PERCENT = GradeSpace(
    "BML percent",
    (
        "none",
        "<33% of the lesion is BML",
        "33-66% of the lesion is BML",
        ">66% of the lesion is BML",
    ),
)
CARTILAGE_SIZE = GradeSpace(
    "cartilage size",
    (
        "none",
        "<10% of the subregion surface",
        "10-75% of the subregion surface",
        ">75% of the subregion surface",
    ),
)
CARTILAGE_DEPTH = GradeSpace(
    "cartilage depth",
    (
        "none",
        "<10% of the defect is full-thickness",
        "10-75% of the defect is full-thickness",
        ">75% of the defect is full-thickness",
    ),
)
OSTEOPHYTE = GradeSpace("osteophyte", ("none", "small", "medium", "large"))
HOFFA = GradeSpace("Hoffa-synovitis", ("normal", "mild", "moderate", "severe"))
EFFUSION = GradeSpace("effusion-synovitis", ("physiological", "small", "medium", "large"))
EXTRUSION = GradeSpace("meniscal extrusion", ("<2 mm", "2-2.9 mm", "3-4.9 mm", ">=5 mm"))
MORPHOLOGY = GradeSpace(
    "meniscal morphology",
    (
        "normal",
        "intrasubstance signal",
        "radial tear",
        "horizontal tear",
        "vertical tear",
        "complex tear",
        "partial maceration",
        "progressive partial maceration (follow-up only)",
        "complete maceration",
    ),
    ordinal=False,
)
PRESENCE = GradeSpace("presence", ("absent", "present"))
TEAR_LOCATION = GradeSpace(
    "tear location", ("anterior horn", "body", "posterior horn", "no tear"), ordinal=False
)
