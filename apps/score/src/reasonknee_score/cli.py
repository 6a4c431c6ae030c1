"""``reasonknee score``: score predictions against a ReasonKnee dataset split.

Only argument parsing and printing live here; everything else is
:mod:`bench_metrics` (``load_truth``, ``read_predictions``,
``score_predictions``, ``write_report``).
"""

from __future__ import annotations

import math
from pathlib import Path

import click

__all__ = ["score"]


def _pct(v: float | None) -> str:
    return "–" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.3f}"


def _headline(scores: object, console: object) -> None:
    import polars as pl
    from bench_metrics import Scores
    from rich.table import Table

    assert isinstance(scores, Scores)
    t = Table(title=f"ReasonKnee-Bench: {scores.label}", title_justify="left")
    for name in ("group", "items", "accuracy", "95% CI", "majority", "kappa", "failures"):
        t.add_column(name, justify="left" if name == "group" else "right", no_wrap=True)
    rows = scores.groups.filter(pl.col("level").is_in(["category", "overall"]))
    for r in rows.iter_rows(named=True):
        if r["n_items"] == 0:
            continue
        t.add_row(
            r["group"],
            str(r["n_items"]),
            _pct(r["accuracy"]),
            f"{_pct(r['ci_low'])}–{_pct(r['ci_high'])}",
            _pct(r["majority"]),
            _pct(r["kappa"]),
            _pct(r["failure_rate"]),
        )
    console.print(t)  # type: ignore[attr-defined]
    s = scores.structures.filter(pl.col("n_boxes") > 0)
    if s.height:
        ti = Table(title="Localisation (mean IoU)", title_justify="left")
        for name in (
            "structure",
            "boxes",
            "mean IoU",
            "95% CI",
            "Acc@0.25",
            "Acc@0.5",
            "box failures",
        ):
            ti.add_column(name, justify="left" if name == "structure" else "right", no_wrap=True)
        for r in s.iter_rows(named=True):
            ti.add_row(
                r["structure"],
                str(r["n_boxes"]),
                _pct(r["mean_iou"]),
                f"{_pct(r['ci_low'])}–{_pct(r['ci_high'])}",
                _pct(r["acc_025"]),
                _pct(r["acc_050"]),
                _pct(r["box_failure_rate"]),
            )
        console.print(ti)  # type: ignore[attr-defined]


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
    second_reader: bool,
) -> None:
    """Score PREDICTIONS (predictions JSONL, or a public results JSON) on a dataset split."""
    import bench_metrics as bm
    import moaks_schema as ms
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    console = Console()
    if not console.is_terminal:  # files and pipes: do not wrap the tables at 80 columns
        console = Console(width=120)
    try:
        qids = ms.parse_question_ids(questions) if questions else None
    except ms.MoaksSchemaError as exc:
        raise click.BadParameter(str(exc), param_hint="--questions") from None
    try:
        truth = bm.load_truth(dataset, split)
        try:
            reference = bm.load_truth(dataset, reference_split)
        except bm.BenchMetricsError:
            reference = None
            console.print(
                f"[yellow]no {reference_split!r} split in {dataset}: majority reference from {split!r}[/]"
            )
        scans = bm.load_scans(dataset) if (dataset / "scans.parquet").is_file() else None

        def run(path: Path, what: str) -> bm.Scores:
            preds = bm.read_predictions(path, scans=scans, model=model)
            with Progress(
                TextColumn(f"parsing {what}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                console=console,
                transient=True,
            ) as bar:
                task = bar.add_task("parse", total=None)

                def tick(done: int, total: int) -> None:
                    bar.update(task, completed=done, total=total)

                return bm.score_predictions(
                    preds,
                    truth,
                    reference=reference,
                    questions=qids,
                    n_boot=n_boot,
                    seed=seed,
                    progress=tick,
                )

        scores = run(predictions, predictions.name)
        other = run(compare_path, compare_path.name) if compare_path is not None else None
        report = bm.write_report(scores, out, compare=other, n_boot=n_boot, seed=seed)
        # --- second reader (the human ceiling): an additive row, docs/benchmark-protocol.md
        ceiling = None
        if second_reader:
            ceiling = bm.second_reader_scores(
                dataset, split, reference=reference, questions=qids, n_boot=n_boot, seed=seed
            )
            if ceiling is not None:
                bm.write_report(ceiling, out / "second_reader", n_boot=n_boot, seed=seed)
    except bm.BenchMetricsError as exc:
        raise click.ClickException(str(exc)) from None
    _headline(scores, console)
    if other is not None:
        _headline(other, console)
    if ceiling is not None:
        _headline(ceiling, console)
        console.print(
            f"second reader: one MOAKS read scored against the other on {ceiling.meta['n_knees']} "
            f"knee(s) of {ceiling.meta['n_patients']} patient(s) read twice in {split!r}"
        )
    m = scores.meta
    console.print(
        f"{m['n_missing_predictions']} records without a prediction, {m['n_unmatched_predictions']} unmatched, "
        f"{m['n_repaired']} repaired. Overall is micro over (scan, attribute) pairs; macro = mean of categories."
    )
    console.print(f"report: {report}")
