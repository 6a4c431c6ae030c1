"""Builds ReasonKnee quintuples {I, Q, B, C, D}: MOAKS readings, boxes, prompts, reasoning chains,
splits, exports, statistics, and whole dataset folders.

>>> from moaks_schema import question
>>> from quintuple_builder import prompt, reasoning_chain, grades_from_chain
>>> steps = reasoning_chain(question(42), {"hoffa.grade": 1}, box="[1, 4, 2, 9, 3, 7]")
>>> grades_from_chain(question(42), steps)
{'hoffa.grade': 1}
"""

from quintuple_builder.answers import box_text, format_answer, moaks_json
from quintuple_builder.assemble import BOX_COLUMNS, QUINTUPLE_COLUMNS, assemble_quintuples
from quintuple_builder.build import FAILURE_COLUMNS, LABEL_SOURCES, BuildResult, build_dataset
from quintuple_builder.dataset import Dataset
from quintuple_builder.errors import QuintupleBuilderError
from quintuple_builder.executors import EXECUTORS, run_scans
from quintuple_builder.exports import SCAN_COLUMNS
from quintuple_builder.label_quality import (
    DEFAULT_MIN_DICE,
    LOW_QUALITY,
    LabelQuality,
    QualityGate,
    QualityMeasure,
    flag_boxes,
    gate_labels,
    low_quality_questions,
)
from quintuple_builder.manifest import FORMAT_VERSION, content_hash
from quintuple_builder.moaks_check import MoaksCheck, check_moaks
from quintuple_builder.moaks_readings import (
    EXTRA_READING_COLUMNS,
    MoaksReadings,
    find_moaks_files,
    load_moaks_readings,
    read_moaks_table,
)
from quintuple_builder.moaks_tables import MALFORMED_COLUMNS, MoaksTable, read_moaks_file
from quintuple_builder.prompts import SETTINGS, answer_shape, json_template, prompt, prompt_table
from quintuple_builder.ray_session import ray_session
from quintuple_builder.reader_pairs import READER_PAIR_COLUMNS, reader_pairs
from quintuple_builder.reasoning import grades_from_chain, reasoning_chain
from quintuple_builder.region_boxes import boxes_for_scan, question_boxes, region_boxes
from quintuple_builder.release import (
    LabelProvider,
    ReleaseBuild,
    ReleaseInputs,
    build_from_release,
    labels_from_folder,
)
from quintuple_builder.scan_work import ScanResult, ScanTask, process_scan
from quintuple_builder.splits import SPLITS, assign_splits, check_leakage, split_for_patient
from quintuple_builder.statistics import (
    counts_per_split,
    grade_distribution,
    plot_grade_distribution,
)

__version__ = "0.1.0"

__all__ = [
    "BOX_COLUMNS",
    "DEFAULT_MIN_DICE",
    "EXECUTORS",
    "EXTRA_READING_COLUMNS",
    "FAILURE_COLUMNS",
    "FORMAT_VERSION",
    "LABEL_SOURCES",
    "LOW_QUALITY",
    "MALFORMED_COLUMNS",
    "QUINTUPLE_COLUMNS",
    "READER_PAIR_COLUMNS",
    "SCAN_COLUMNS",
    "SETTINGS",
    "SPLITS",
    "BuildResult",
    "Dataset",
    "LabelProvider",
    "LabelQuality",
    "MoaksCheck",
    "MoaksReadings",
    "MoaksTable",
    "QualityGate",
    "QualityMeasure",
    "QuintupleBuilderError",
    "ReleaseBuild",
    "ReleaseInputs",
    "ScanResult",
    "ScanTask",
    "__version__",
    "answer_shape",
    "assemble_quintuples",
    "assign_splits",
    "box_text",
    "boxes_for_scan",
    "build_dataset",
    "build_from_release",
    "check_leakage",
    "check_moaks",
    "content_hash",
    "counts_per_split",
    "find_moaks_files",
    "flag_boxes",
    "format_answer",
    "gate_labels",
    "grade_distribution",
    "grades_from_chain",
    "json_template",
    "labels_from_folder",
    "load_moaks_readings",
    "low_quality_questions",
    "moaks_json",
    "plot_grade_distribution",
    "process_scan",
    "prompt",
    "prompt_table",
    "question_boxes",
    "ray_session",
    "read_moaks_file",
    "read_moaks_table",
    "reader_pairs",
    "reasoning_chain",
    "region_boxes",
    "run_scans",
    "split_for_patient",
]
