"""The 69 public questions, their 118 attributes, categories and answer shapes (docs/dataset.md, "Questions").

Public ids are the integers 1..69 (the release spells them as strings "1".."69").
Every answer key and attribute key below is spelled exactly as the public
release spells it; ``Attribute.key`` is this project's own stable identifier.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, NamedTuple

from moaks_schema import grades as G
from moaks_schema.errors import MoaksSchemaError
from moaks_schema.regions import (
    BONE_SUBREGIONS,
    CARTILAGE_SUBREGIONS,
    MENISCAL_SEGMENTS,
    OSTEOPHYTE_LOCATIONS,
    Structure,
    region,
)

__all__ = [
    "ATTRIBUTES",
    "QUESTIONS",
    "AnswerShape",
    "Attribute",
    "Category",
    "Column",
    "Feature",
    "Question",
    "attribute",
    "is_valid_grade",
    "question",
    "questions_for",
]


class Feature(StrEnum):
    """A MOAKS feature family (one question template each)."""

    BML = "bml"
    CARTILAGE = "cartilage"
    OSTEOPHYTE = "osteophyte"
    HOFFA = "hoffa"
    EFFUSION = "effusion"
    EXTRUSION = "extrusion"
    MORPHOLOGY = "morphology"
    MENISCAL_CYST = "meniscal_cyst"
    MENISCAL_HYPERTROPHY = "meniscal_hypertrophy"
    ROOT_TEAR = "root_tear"
    ACL = "acl"
    PCL = "pcl"
    PATELLAR_TENDON = "patellar_tendon"
    PERIARTICULAR = "periarticular"


class Category(StrEnum):
    """The paper's seven benchmark categories."""

    BML = "BML"
    CARTILAGE = "Cartilage"
    OSTEOPHYTES = "Osteophytes"
    MENISCI = "Menisci"
    LIGAMENTS_TENDONS = "Ligaments & Tendons"
    SYNOVITIS_EFFUSION = "Synovitis & Effusion"
    PERIARTICULAR = "Periarticular"


class Column(StrEnum):
    """The five columns of the paper's Table 2 ("Others" = the last three categories)."""

    BML = "BML"
    CARTILAGE = "Cartilage"
    OSTEOPHYTE = "Osteophyte"
    MENISCUS = "Meniscus"
    OTHERS = "Others"


_COLUMN_OF = {
    Category.BML: Column.BML,
    Category.CARTILAGE: Column.CARTILAGE,
    Category.OSTEOPHYTES: Column.OSTEOPHYTE,
    Category.MENISCI: Column.MENISCUS,
    Category.LIGAMENTS_TENDONS: Column.OTHERS,
    Category.SYNOVITIS_EFFUSION: Column.OTHERS,
    Category.PERIARTICULAR: Column.OTHERS,
}


class AnswerShape(StrEnum):
    """How the public release shapes a question's answer value."""

    OBJECT = "object"  # {"<answer key>": {"<attribute key>": n, ...}}
    BARE_INT = "bare_int"  # {"<answer key>": n}  (questions 44-45)


@dataclass(frozen=True, slots=True)
class Attribute:
    """One graded attribute of one question.

    ``key`` is this project's identifier (``"bml.FMC.size"``); ``name`` the public
    attribute key (``"Size of BML (including cyst)"``).
    """

    key: str
    name: str
    question_id: int
    grades: G.GradeSpace

    def is_valid(self, grade: object) -> bool:
        """Whether ``grade`` is a valid grade of this attribute."""
        return grade in self.grades


@dataclass(frozen=True, slots=True)
class Question:
    """One public question (id 1..69).

    ``box_regions`` are the region codes whose union box answers it (empty: no
    box, not scored for localisation).
    """

    id: int
    feature: Feature
    site: str | None
    site_name: str
    answer_key: str
    attributes: tuple[Attribute, ...]
    category: Category
    box_regions: tuple[str, ...]
    structure: Structure | None
    answer_shape: AnswerShape = AnswerShape.OBJECT

    @property
    def public_id(self) -> str:
        """The id as the public release spells it (``"1"``..``"69"``)."""
        return str(self.id)

    @property
    def column(self) -> Column:
        """The Table-2 column this question counts in."""
        return _COLUMN_OF[self.category]

    @property
    def slug(self) -> str:
        """Stable prefix of this question's attribute keys (``"bml.FMC"``)."""
        return self.attributes[0].key.rsplit(".", 1)[0]

    @property
    def has_box(self) -> bool:
        return bool(self.box_regions)

    def answer_object(self, grades: Mapping[str, int]) -> dict[str, Any]:
        """The public answer object for these grades (keyed by ``Attribute.key``).

        >>> question(44).answer_object({"extrusion.MMA.grade": 2})
        {'MOAKS_scores': {'medial meniscus anterior extrusion': 2}}
        """
        missing = [a.key for a in self.attributes if a.key not in grades]
        if missing:
            raise MoaksSchemaError(f"question {self.id}: no grade given for {', '.join(missing)}")
        if self.answer_shape is AnswerShape.BARE_INT:
            value: Any = int(grades[self.attributes[0].key])
        else:
            value = {a.name: int(grades[a.key]) for a in self.attributes}
        return {"MOAKS_scores": {self.answer_key: value}}


def _attrs(qid: int, slug: str, spec: list[tuple[str, str, G.GradeSpace]]) -> tuple[Attribute, ...]:
    return tuple(Attribute(f"{slug}.{short}", name, qid, space) for short, name, space in spec)


def _osteophyte_regions(loc: str) -> tuple[str, ...]:
    if loc in ("PS", "PI"):
        return ("PM", "PL")
    if loc == "TM":
        return ("TMA", "TMC", "TMP")
    if loc == "TL":
        return ("TLA", "TLC", "TLP")
    return (loc,)


class _Spec(NamedTuple):
    """One question before it is numbered (its id is its place in the list)."""

    feature: Feature
    site: str | None
    site_name: str
    answer_key: str
    slug: str
    spec: list[tuple[str, str, G.GradeSpace]]
    category: Category
    box: tuple[str, ...]
    structure: Structure | None
    shape: AnswerShape = AnswerShape.OBJECT


def _bone_and_cartilage() -> list[_Spec]:
    """Questions 1-29: bone marrow lesions and cartilage, one per subregion."""
    out: list[_Spec] = []
    bml = [
        ("size", "Size of BML (including cyst)", G.BML_SIZE),
        ("number", "Number of BML within subregion", G.BML_NUMBER),
        ("percent", "% of lesion that is BML (excluding cyst)", G.BML_PERCENT),
    ]
    for code, name in BONE_SUBREGIONS.items():  # 1-15
        out.append(
            _Spec(
                Feature.BML,
                code,
                name,
                f"{name} BML",
                f"bml.{code}",
                bml,
                Category.BML,
                (code,),
                region(code).structure,
            )
        )
    cart = [
        ("size", "Size of lesion", G.CARTILAGE_SIZE),
        ("depth", "Depth of lesion", G.CARTILAGE_DEPTH),
    ]
    for code, name in CARTILAGE_SUBREGIONS.items():  # 16-29
        out.append(
            _Spec(
                Feature.CARTILAGE,
                code,
                name,
                f"{name} cartilage lesion",
                f"cartilage.{code}",
                cart,
                Category.CARTILAGE,
                (code,),
                region(code).structure,
            )
        )
    return out


def _osteophytes_and_synovitis() -> list[_Spec]:
    """Questions 30-43: osteophytes, Hoffa-synovitis, effusion-synovitis."""
    out: list[_Spec] = []
    for code, name in OSTEOPHYTE_LOCATIONS.items():  # 30-41
        box = _osteophyte_regions(code)
        out.append(
            _Spec(
                Feature.OSTEOPHYTE,
                code,
                name,
                f"{name} osteophyte",
                f"osteophyte.{code}",
                [("grade", "grade", G.OSTEOPHYTE)],
                Category.OSTEOPHYTES,
                box,
                region(box[0]).structure,
            )
        )
    out.append(
        _Spec(
            Feature.HOFFA,
            None,
            "Hoffa's fat pad",
            "Hoffa-Synovitis",
            "hoffa",
            [("grade", "grade", G.HOFFA)],
            Category.SYNOVITIS_EFFUSION,
            ("HFP",),
            Structure.SYNOVITIS,
        )
    )  # 42
    out.append(
        _Spec(
            Feature.EFFUSION,
            None,
            "joint",
            "effusion-synovitis",
            "effusion",
            [("grade", "grade", G.EFFUSION)],
            Category.SYNOVITIS_EFFUSION,
            (),
            None,
        )
    )  # 43
    return out


def _menisci() -> list[_Spec]:
    """Questions 44-59: extrusion, morphology, cysts, hypertrophy, root tears."""
    out: list[_Spec] = []
    extrusions = [
        ("MMA", "medial meniscus anterior", "MMA", AnswerShape.BARE_INT),
        ("MMM", "medial meniscus medial", "MMB", AnswerShape.BARE_INT),
        ("LMA", "lateral meniscus anterior", "LMA", AnswerShape.OBJECT),
        ("LML", "lateral meniscus lateral", "LMB", AnswerShape.OBJECT),
    ]
    for code, name, box, shape in extrusions:  # 44-47
        out.append(
            _Spec(
                Feature.EXTRUSION,
                code,
                name,
                f"{name} extrusion",
                f"extrusion.{code}",
                [("grade", "grade", G.EXTRUSION)],
                Category.MENISCI,
                (box,),
                Structure.MENISCUS,
                shape,
            )
        )
    for code, name in MENISCAL_SEGMENTS.items():  # 48-53
        short = name.replace(" horn", "")
        out.append(
            _Spec(
                Feature.MORPHOLOGY,
                code,
                name,
                f"{short} morphology",
                f"morphology.{code}",
                [("code", "morphology", G.MORPHOLOGY)],
                Category.MENISCI,
                (code,),
                Structure.MENISCUS,
            )
        )
    presence = [("presence", "presence", G.PRESENCE)]
    cyst = [*presence, ("tear_location", "tear_location", G.TEAR_LOCATION)]
    sides = (("medial", ("MMA", "MMB", "MMP")), ("lateral", ("LMA", "LMB", "LMP")))
    per_side = (  # 54-55, 56-57, 58-59: (feature, site words, answer key, slug, attributes)
        (Feature.MENISCAL_CYST, "meniscus", "meniscal_cyst", "meniscal_cyst", cyst),
        (
            Feature.MENISCAL_HYPERTROPHY,
            "meniscus",
            "meniscal_hypertrophy",
            "meniscal_hypertrophy",
            presence,
        ),
        (Feature.ROOT_TEAR, "meniscal root", "meniscal_root_tear", "root_tear", presence),
    )
    for feature, words, key, slug, spec in per_side:
        for side, segs in sides:
            box = (segs[2],) if feature is Feature.ROOT_TEAR else segs  # a root: the posterior horn
            out.append(
                _Spec(
                    feature,
                    side[0].upper(),
                    f"{side} {words}",
                    f"{side}_{key}",
                    f"{slug}.{side}",
                    spec,
                    Category.MENISCI,
                    box,
                    Structure.MENISCUS,
                )
            )
    return out


def _ligaments_and_periarticular() -> list[_Spec]:
    """Questions 60-69: cruciate ligaments, patellar tendon, periarticular findings."""
    out: list[_Spec] = []
    cruciate = [
        ("complete_tear", "Complete Tear", G.PRESENCE),
        ("bml_cyst", "Associated with BML/cyst at site of insertion or origin", G.PRESENCE),
    ]
    out.append(
        _Spec(
            Feature.ACL,
            "ACL",
            "anterior cruciate ligament",
            "ACL",
            "acl",
            [*cruciate, ("repair", "ACL Repair", G.PRESENCE)],
            Category.LIGAMENTS_TENDONS,
            ("ACL",),
            Structure.ACL,
        )
    )  # 60
    out.append(
        _Spec(
            Feature.PCL,
            "PCL",
            "posterior cruciate ligament",
            "PCL",
            "pcl",
            cruciate,
            Category.LIGAMENTS_TENDONS,
            ("PCL",),
            Structure.PCL,
        )
    )  # 61
    out.append(
        _Spec(
            Feature.PATELLAR_TENDON,
            "PT",
            "patellar tendon",
            "Patellar_Tendon",
            "patellar_tendon",
            [("signal", "Signal Abnormality", G.PRESENCE)],
            Category.LIGAMENTS_TENDONS,
            ("PT",),
            Structure.PATELLAR_TENDON,
        )
    )  # 62
    periarticular = [
        ("pes_anserine_bursitis", "pes anserine bursitis"),
        ("iliotibial_band_signal", "iliotibial band signal"),
        ("popliteal_cyst", "popliteal (Baker's) cyst"),
        ("infrapatellar_bursitis", "infrapatellar bursitis"),
        ("prepatellar_bursitis", "prepatellar bursitis"),
        ("ganglion_cyst", "ganglion cyst"),
        ("loose_bodies", "loose bodies"),
    ]
    for code, name in periarticular:  # 63-69
        out.append(
            _Spec(
                Feature.PERIARTICULAR,
                code,
                name,
                f"{code}_presence",
                f"periarticular.{code}",
                [("presence", "presence", G.PRESENCE)],
                Category.PERIARTICULAR,
                (),
                None,
            )
        )
    return out


def _build() -> tuple[Question, ...]:
    specs = [
        *_bone_and_cartilage(),
        *_osteophytes_and_synovitis(),
        *_menisci(),
        *_ligaments_and_periarticular(),
    ]
    return tuple(
        Question(
            qid,
            s.feature,
            s.site,
            s.site_name,
            s.answer_key,
            _attrs(qid, s.slug, s.spec),
            s.category,
            s.box,
            s.structure,
            s.shape,
        )
        for qid, s in enumerate(specs, start=1)
    )


#: The 69 public questions, ``QUESTIONS[i].id == i + 1``.
QUESTIONS: tuple[Question, ...] = _build()
#: The 118 graded attributes, in question order.
ATTRIBUTES: tuple[Attribute, ...] = tuple(a for q in QUESTIONS for a in q.attributes)
_ATTR_BY_KEY = {a.key: a for a in ATTRIBUTES}


def question(qid: int | str) -> Question:
    """The question with public id ``qid`` (``12`` or ``"12"``)."""
    try:
        n = int(qid)
    except (TypeError, ValueError):
        raise MoaksSchemaError(f"question id {qid!r} is not an integer 1..69") from None
    if not 1 <= n <= len(QUESTIONS):
        raise MoaksSchemaError(f"question id {qid!r} out of range: expected 1..{len(QUESTIONS)}")
    return QUESTIONS[n - 1]


def attribute(key: str) -> Attribute:
    """The attribute with this project key (e.g. ``"cartilage.FMC.depth"``)."""
    try:
        return _ATTR_BY_KEY[key]
    except KeyError:
        raise MoaksSchemaError(
            f"unknown attribute key {key!r}: expected e.g. 'bml.FMC.size' (see moaks_schema.ATTRIBUTES)"
        ) from None


def is_valid_grade(key: str, grade: object) -> bool:
    """Whether ``grade`` is valid for attribute ``key``.

    >>> is_valid_grade("bml.FMC.size", 3), is_valid_grade("bml.FMC.size", 4)
    (True, False)
    """
    return attribute(key).is_valid(grade)


def questions_for(
    *,
    feature: Feature | str | None = None,
    category: Category | str | None = None,
    region_code: str | None = None,
) -> tuple[Question, ...]:
    """Questions filtered by feature, category and/or a region code they are boxed by."""
    out = QUESTIONS
    if feature is not None:
        out = tuple(q for q in out if q.feature == Feature(feature))
    if category is not None:
        out = tuple(q for q in out if q.category == Category(category))
    if region_code is not None:
        region(region_code)
        out = tuple(q for q in out if region_code in q.box_regions)
    return out
