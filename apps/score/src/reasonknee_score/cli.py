"""``reasonknee score``: score predictions against a ReasonKnee dataset split.

Only argument parsing and printing live here; the work is one call,
:func:`bench_metrics.score_run`. Every project error becomes a one-line message
and an exit code (2: a bad option, 1: a failure), never a traceback.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

__all__ = ["score"]


def _pct(v: float | None) -> str:
    from bench_metrics import finite_or_none

    x = finite_or_none(v)
    return "–" if x is None else f"{x:.3f}"


def _table(title: str, columns: tuple[str, ...], rows: list[list[str]]) -> Any:
    from rich.table import Table

    t = Table(title=title, title_justify="left")
    for i, name in enumerate(columns):
        t.add_column(name, justify="left" if i == 0 else "right", no_wrap=True)
    for r in rows:
        t.add_row(*r)
    return t


def _headline(scores: Any, console: Any) -> None:
    import polars as pl

    groups = scores.groups.filter(pl.col("level").is_in(["category", "overall"]))
    rows = [
        [
            r["group"],
            str(r["n_items"]),
            _pct(r["accuracy"]),
            f"{_pct(r['ci_low'])}–{_pct(r['ci_high'])}",
            _pct(r["majority"]),
            _pct(r["kappa"]),
            _pct(r["failure_rate"]),
        ]
        for r in groups.iter_rows(named=True)
        if r["n_items"]
    ]
    columns = ("group", "items", "accuracy", "95% CI", "majority", "kappa", "failures")
    console.print(_table(f"ReasonKnee-Bench: {scores.label}", columns, rows))
    s = scores.structures.filter(pl.col("n_boxes") > 0)
    if s.height:
        rows = [
            [
                r["structure"],
                str(r["n_boxes"]),
                _pct(r["mean_iou"]),
                f"{_pct(r['ci_low'])}–{_pct(r['ci_high'])}",
                _pct(r["acc_025"]),
                _pct(r["acc_050"]),
                _pct(r["box_failure_rate"]),
            ]
            for r in s.iter_rows(named=True)
        ]
        columns = (
            "structure",
            "boxes",
            "mean IoU",
            "95% CI",
            "Acc@0.25",
            "Acc@0.5",
            "box failures",
        )
        console.print(_table("Localisation (mean IoU)", columns, rows))


def _summary(scores: Any) -> str:
    from bench_metrics.report import low_quality_note, torn_note

    m = scores.meta
    return (
        f"{m['n_missing_predictions']} records without a prediction, "
        f"{m['n_unmatched_predictions']} unmatched, {m['n_repaired']} repaired"
        f"{torn_note(m)}{low_quality_note(m)}. Coverage {m['coverage']:.1%}. Overall is micro "
        "over (scan, attribute) pairs; macro = mean of categories."
    )


@click.command("score", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("predictions", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--dataset",
    required=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="ReasonKnee dataset folder (quintuples.parquet, scans.parquet).",
)
@click.option("--split", default="test", show_default=True, help="Split to score.")
@click.option(
    "--compare",
    "compare_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A second run on the same split: shown beside this one, with a paired bootstrap.",
)
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Report folder (report.md, figures/, tables/, scores.json).",
)
@click.option(
    "--bootstrap",
    "n_boot",
    default=1000,
    show_default=True,
    type=click.IntRange(min=0),
    help="Bootstrap replicates (resampling patients); 0 = no intervals.",
)
@click.option("--seed", default=0, show_default=True, type=int, help="Bootstrap seed.")
@click.option("--questions", default=None, help="Score only these question ids, e.g. '1-15,42'.")
@click.option(
    "--reference-split",
    default="train",
    show_default=True,
    help="Split whose majority grades give the reference line (falls back to the scored split).",
)
@click.option(
    "--model", default=None, help="Model to read from a public results JSON holding several."
)
@click.option(
    "--allow-partial",
    is_flag=True,
    help="Score a run that answers under 90% of the split's pairs (refused by default).",
)
@click.option(
    "--include-low-quality-boxes",
    is_flag=True,
    help="Also score true boxes flagged low quality (box_source '<source>:low_quality').",
)
@click.option(
    "--second-reader/--no-second-reader",
    default=True,
    show_default=True,
    help="Also score the dataset's second MOAKS reads against the kept ones (the human ceiling; "
    "shown when the split has knees read twice, report in OUT/second_reader).",
)
def score(
    predictions: Path,
    dataset: Path,
    split: str,
    compare_path: Path | None,
    out: Path,
    n_boot: int,
    seed: int,
    questions: str | None,
    reference_split: str,
    model: str | None,
    allow_partial: bool,
    include_low_quality_boxes: bool,
    second_reader: bool,
) -> None:
    """Score PREDICTIONS (predictions JSONL, or a public results JSON) on a dataset split."""
    import bench_metrics as bm
    import moaks_schema as ms
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    console = Console()
    if not console.is_terminal:  # files and pipes: do not wrap the tables at 80 columns
        console = Console(width=120)
    try:
        qids = ms.parse_question_ids(questions) if questions else None
    except ms.MoaksSchemaError as exc:
        raise click.BadParameter(str(exc), param_hint="--questions") from None
    bar = Progress(
        TextColumn("parsing {task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=console,
        transient=True,
    )
    tasks: dict[str, Any] = {}

    def tick(name: str, done: int, total: int) -> None:
        if name not in tasks:
            tasks[name] = bar.add_task(name, total=total)
        bar.update(tasks[name], completed=done, total=total)

    try:
        with bar:
            run = bm.score_run(
                predictions,
                dataset,
                out,
                split=split,
                compare=compare_path,
                reference_split=reference_split,
                questions=qids,
                model=model,
                n_boot=n_boot,
                seed=seed,
                min_coverage=0.0 if allow_partial else bm.MIN_COVERAGE,
                include_low_quality_boxes=include_low_quality_boxes,
                progress=tick,
                second_reader=second_reader,
            )
    except bm.BenchMetricsError as exc:
        raise click.ClickException(str(exc)) from None
    except OSError as exc:  # the report folder cannot be written
        raise click.ClickException(f"{exc.filename or out}: {exc.strerror or exc}") from None
    if run.reference_split != reference_split:
        console.print(
            f"[yellow]no {reference_split!r} split in {dataset}: majority reference from {split!r}[/]"
        )
    for s in (run.scores, run.compared, run.second_reader):
        if s is not None:
            _headline(s, console)
            console.print(_summary(s))
    if run.second_reader is not None:
        meta = run.second_reader.meta
        console.print(
            f"second reader: one MOAKS read scored against the other on {meta['n_knees']} "
            f"knee(s) of {meta['n_patients']} patient(s) read twice in {split!r}"
        )
    console.print(f"report: {run.report}")
