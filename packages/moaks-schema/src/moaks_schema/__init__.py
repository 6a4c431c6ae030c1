"""MOAKS catalogue for ReasonKnee: features, attributes, grade spaces, the 69 public
questions, the 25 labelled regions and OAI variable names. Standard library only.

>>> import moaks_schema as ms
>>> len(ms.QUESTIONS), len(ms.ATTRIBUTES), len(ms.REGIONS)
(69, 118, 25)
>>> ms.question(4).answer_key
'femur medial central BML'
"""

from moaks_schema.errors import MoaksSchemaError
from moaks_schema.grades import GradeSpace
from moaks_schema.oai import (
    ASSUMED,
    CONFIRMED_IN,
    READING_COLUMNS,
    SIDES,
    VISITS,
    Decoder,
    OaiVariable,
    OaiVariableMap,
    Visit,
    default_variable_map,
    side_code,
    split_prefix,
    visit,
)
from moaks_schema.question_ids import parse_question_ids
from moaks_schema.questions import (
    ATTRIBUTES,
    QUESTIONS,
    AnswerShape,
    Attribute,
    Category,
    Column,
    Feature,
    Question,
    attribute,
    is_valid_grade,
    question,
    questions_for,
)
from moaks_schema.regions import (
    BONE_SUBREGIONS,
    CARTILAGE_SUBREGIONS,
    MENISCAL_SEGMENTS,
    OSTEOPHYTE_LOCATIONS,
    REGIONS,
    Region,
    RegionKind,
    Structure,
    region,
    region_by_label,
    site_name,
)
from moaks_schema.settings import PROMPT_SETTINGS, PromptSetting
from moaks_schema.splits import SPLITS, check_split_leakage

__version__ = "0.1.0"

__all__ = [
    "ASSUMED",
    "ATTRIBUTES",
    "BONE_SUBREGIONS",
    "CARTILAGE_SUBREGIONS",
    "CONFIRMED_IN",
    "MENISCAL_SEGMENTS",
    "OSTEOPHYTE_LOCATIONS",
    "PROMPT_SETTINGS",
    "QUESTIONS",
    "READING_COLUMNS",
    "REGIONS",
    "SIDES",
    "SPLITS",
    "VISITS",
    "AnswerShape",
    "Attribute",
    "Category",
    "Column",
    "Decoder",
    "Feature",
    "GradeSpace",
    "MoaksSchemaError",
    "OaiVariable",
    "OaiVariableMap",
    "PromptSetting",
    "Question",
    "Region",
    "RegionKind",
    "Structure",
    "Visit",
    "__version__",
    "attribute",
    "catalogue",
    "check_split_leakage",
    "default_variable_map",
    "is_valid_grade",
    "parse_question_ids",
    "question",
    "questions_for",
    "region",
    "region_by_label",
    "side_code",
    "site_name",
    "split_prefix",
    "visit",
]


def catalogue() -> list[dict[str, object]]:
    """The whole question catalogue as plain rows (for JSON output and reports)."""
    return [
        {
            "id": q.public_id,
            "feature": q.feature.value,
            "site": q.site,
            "site_name": q.site_name,
            "answer_key": q.answer_key,
            "answer_shape": q.answer_shape.value,
            "category": q.category.value,
            "column": q.column.value,
            "box_regions": list(q.box_regions),
            "structure": q.structure.value if q.structure else None,
            "attributes": [
                {"key": a.key, "name": a.name, "grades": dict(enumerate(a.grades.meanings))}
                for a in q.attributes
            ],
        }
        for q in QUESTIONS
    ]
