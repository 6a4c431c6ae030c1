"""What the specialist predicts: one crop group per distinct question box, one head per attribute.

Group 0 is the whole volume (questions without a box: effusion, periarticular);
groups 1.. are the distinct ``box_regions`` of the boxed questions, in question
order. Every attribute has a head (a slice of the grader's output) fed by the
crop of its question's group. Plain Python: no torch.
"""

from __future__ import annotations

from dataclasses import dataclass

from vlm_adapters.errors import AdapterError

__all__ = ["HeadLayout", "side_of"]


@dataclass(frozen=True, slots=True)
class HeadLayout:
    """The groups and attribute heads of a specialist (stored in its ``config.json``)."""

    groups: tuple[tuple[str, ...], ...]
    attributes: tuple[str, ...]
    n_grades: tuple[int, ...]
    attr_group: tuple[int, ...]

    @classmethod
    def default(cls) -> HeadLayout:
        """All 69 questions and 118 attributes of the schema.

        >>> lay = HeadLayout.default()
        >>> lay.groups[0], len(lay.attributes), lay.group_of(4) == lay.group_of(19)
        ((), 118, True)
        """
        from moaks_schema import QUESTIONS

        groups: list[tuple[str, ...]] = [()]
        for q in QUESTIONS:
            if q.has_box and q.box_regions not in groups:
                groups.append(tuple(q.box_regions))
        attrs, n_grades, attr_group = [], [], []
        for q in QUESTIONS:
            for a in q.attributes:
                attrs.append(a.key)
                n_grades.append(len(a.grades.values))
                attr_group.append(groups.index(tuple(q.box_regions)) if q.has_box else 0)
        return cls(tuple(groups), tuple(attrs), tuple(n_grades), tuple(attr_group))

    @property
    def offsets(self) -> tuple[int, ...]:
        """Start of each attribute's logits in the grader's output."""
        out, pos = [], 0
        for n in self.n_grades:
            out.append(pos)
            pos += n
        return tuple(out)

    @property
    def total_grades(self) -> int:
        return sum(self.n_grades)

    def group_of(self, question_id: int) -> int:
        """The crop group answering a question (0 = whole volume)."""
        from moaks_schema import question

        q = question(question_id)
        return self.groups.index(tuple(q.box_regions)) if q.has_box else 0

    def to_dict(self) -> dict:
        return {
            "groups": [list(g) for g in self.groups],
            "attributes": list(self.attributes),
            "n_grades": list(self.n_grades),
            "attr_group": list(self.attr_group),
        }

    @classmethod
    def from_dict(cls, d: dict, *, where: str) -> HeadLayout:
        try:
            lay = cls(
                tuple(tuple(str(r) for r in g) for g in d["groups"]),
                tuple(str(a) for a in d["attributes"]),
                tuple(int(n) for n in d["n_grades"]),
                tuple(int(g) for g in d["attr_group"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise AdapterError(f"{where}: field 'layout' is malformed: {exc}") from exc
        if lay != cls.default():
            raise AdapterError(
                f"{where}: field 'layout' does not match this version's questions "
                "(retrain the specialist)"
            )
        return lay


def side_of(scan_id: str) -> int:
    """The knee side (1 = right, 2 = left) from a scan id ``patient_visit_side``.

    >>> side_of("9000099_00M_2")
    2
    """
    tail = scan_id.rsplit("_", 1)[-1]
    if tail not in ("1", "2"):
        raise AdapterError(
            f"scan {scan_id!r}: expected a scan id ending in _1 (right) or _2 (left) "
            "(docs/formats.md); the specialist needs the side"
        )
    return int(tail)
