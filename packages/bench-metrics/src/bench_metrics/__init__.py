"""ReasonKnee-Bench scoring: robust answer parsing, accuracy, kappa, IoU, bootstrap intervals,
paper tables and reports. No torch: a user who only scores installs this package alone.

>>> from bench_metrics import parse_answer
>>> p = parse_answer('{"MOAKS_scores": {"Patellar_Tendon": {"Signal Abnormality": "1 (present)"}}}', 62)
>>> p.grades
{'patellar_tendon.signal': 1}
"""

from bench_metrics.agreement import (
    balanced_accuracy,
    balanced_accuracy_many,
    confusion,
    macro_f1,
    macro_f1_many,
    pearson,
    spearman,
    weighted_kappa,
    weighted_kappa_many,
)
from bench_metrics.bootstrap import interval, patient_weights
from bench_metrics.compare import check_same_pairs, compare_runs
from bench_metrics.comparison import (
    AgreementRow,
    ReportPaths,
    comparison_table2,
    comparison_table3,
    headline,
    write_comparison_report,
)
from bench_metrics.errors import BenchMetricsError, CoverageError
from bench_metrics.failures import BOX_FAILURES, GRADE_FAILURES, FailureKind
from bench_metrics.inputs import (
    PREDICTION_SCHEMA,
    PredictionsFile,
    load_predictions,
    load_public_results,
    predictions_frame,
    read_predictions,
    read_predictions_file,
)
from bench_metrics.keys import normalise_key
from bench_metrics.paper import PAPER_TABLE2, PAPER_TABLE3, paper_table2, paper_table3
from bench_metrics.parsing import ParsedAnswer, parse_answer, parse_many
from bench_metrics.reader_agreement import (
    READER_PAIRS_FILE,
    SECOND_READER,
    load_reader_pairs,
    score_reader_pairs,
    second_reader_scores,
)
from bench_metrics.report import feature_families, write_report
from bench_metrics.run import ScoredRun, score_run
from bench_metrics.scores import OVERALL_MACRO, OVERALL_MICRO, Scores
from bench_metrics.scoring import MIN_COVERAGE, score_predictions
from bench_metrics.tables import table2, table3, to_markdown, write_tables
from bench_metrics.truth import (
    TRUTH_SCHEMA,
    check_patient_splits,
    load_truth,
    load_truth_scans,
    majority_grades,
    truth_from_rows,
)
from bench_metrics.values import finite_or_none, read_grade

__version__ = "0.1.0"

__all__ = [
    "BOX_FAILURES",
    "GRADE_FAILURES",
    "MIN_COVERAGE",
    "OVERALL_MACRO",
    "OVERALL_MICRO",
    "PAPER_TABLE2",
    "PAPER_TABLE3",
    "PREDICTION_SCHEMA",
    "READER_PAIRS_FILE",
    "SECOND_READER",
    "TRUTH_SCHEMA",
    "AgreementRow",
    "BenchMetricsError",
    "CoverageError",
    "FailureKind",
    "ParsedAnswer",
    "PredictionsFile",
    "ReportPaths",
    "ScoredRun",
    "Scores",
    "__version__",
    "balanced_accuracy",
    "balanced_accuracy_many",
    "check_patient_splits",
    "check_same_pairs",
    "compare_runs",
    "comparison_table2",
    "comparison_table3",
    "confusion",
    "feature_families",
    "finite_or_none",
    "headline",
    "interval",
    "load_predictions",
    "load_public_results",
    "load_reader_pairs",
    "load_truth",
    "load_truth_scans",
    "macro_f1",
    "macro_f1_many",
    "majority_grades",
    "normalise_key",
    "paper_table2",
    "paper_table3",
    "parse_answer",
    "parse_many",
    "patient_weights",
    "pearson",
    "predictions_frame",
    "read_grade",
    "read_predictions",
    "read_predictions_file",
    "score_predictions",
    "score_reader_pairs",
    "score_run",
    "second_reader_scores",
    "spearman",
    "table2",
    "table3",
    "to_markdown",
    "truth_from_rows",
    "weighted_kappa",
    "weighted_kappa_many",
    "write_comparison_report",
    "write_report",
    "write_tables",
]
