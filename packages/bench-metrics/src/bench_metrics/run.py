"""One call from files to a report: what ``reasonknee score`` runs.

:func:`score_run` reads a dataset folder's truth (refusing a dataset that puts a
patient in two splits), reads one or two predictions files, scores them
(refusing runs that miss the split) and writes the report folder.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from bench_metrics.errors import BenchMetricsError
from bench_metrics.inputs import read_predictions_file
from bench_metrics.reader_agreement import second_reader_scores
from bench_metrics.report import write_report
from bench_metrics.scores import Scores
from bench_metrics.scoring import MIN_COVERAGE, score_predictions
from bench_metrics.truth import load_truth, load_truth_scans

__all__ = ["RunProgress", "ScoredRun", "score_run"]

#: Progress of :func:`score_run`: ``(file name, done, total)`` while a file's replies are parsed.
RunProgress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class ScoredRun:
    """What :func:`score_run` scored and wrote."""

    scores: Scores
    #: the ``compare`` run, scored on the same split
    compared: Scores | None
    report: Path
    #: the split the majority reference came from
    reference_split: str
    #: the dataset's second MOAKS reads scored against the kept ones (``None``: no knee read twice)
    second_reader: Scores | None = None


def score_run(
    predictions: str | Path,
    dataset: str | Path,
    out: str | Path,
    *,
    split: str = "test",
    compare: str | Path | None = None,
    reference_split: str = "train",
    questions: Iterable[int] | None = None,
    model: str | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    min_coverage: float = MIN_COVERAGE,
    include_low_quality_boxes: bool = False,
    progress: RunProgress | None = None,
    second_reader: bool = True,
) -> ScoredRun:
    """Score ``predictions`` (and ``compare``) on ``split`` of the dataset folder ``dataset``
    and write the report folder ``out`` (:func:`~bench_metrics.report.write_report`).

    The majority reference comes from ``reference_split``, or from ``split`` itself when the
    dataset has no such split (``ScoredRun.reference_split`` says which). Every doubtful input
    raises :class:`~bench_metrics.errors.BenchMetricsError` naming the file and what was
    expected; nothing is written then. With ``second_reader``, the split's knees read twice
    (``reader_pairs.parquet``) are scored one read against the other with the same metrics
    (:func:`~bench_metrics.reader_agreement.second_reader_scores`), reported in
    ``OUT/second_reader``.
    """
    dataset = Path(dataset)
    scans = load_truth_scans(dataset) if (dataset / "scans.parquet").is_file() else None
    truth = load_truth(dataset, split)
    try:
        reference, ref_split = load_truth(dataset, reference_split), reference_split
    except BenchMetricsError:
        reference, ref_split = None, split
    qids = None if questions is None else list(questions)

    def one(path: str | Path) -> Scores:
        read = read_predictions_file(path, scans=scans, model=model)
        name = read.path.name
        return score_predictions(
            read,
            truth,
            reference=reference,
            questions=qids,
            n_boot=n_boot,
            seed=seed,
            min_coverage=min_coverage,
            include_low_quality_boxes=include_low_quality_boxes,
            progress=None if progress is None else lambda d, t: progress(name, d, t),
        )

    scores = one(predictions)
    other = one(compare) if compare is not None else None
    report = write_report(
        scores, out, compare=other, n_boot=n_boot, seed=seed, min_coverage=min_coverage
    )
    ceiling = None
    if second_reader:
        ceiling = second_reader_scores(
            dataset, split, reference=reference, questions=qids, n_boot=n_boot, seed=seed
        )
        if ceiling is not None:
            write_report(ceiling, Path(out) / "second_reader", n_boot=n_boot, seed=seed)
    return ScoredRun(scores, other, report, ref_split, ceiling)
