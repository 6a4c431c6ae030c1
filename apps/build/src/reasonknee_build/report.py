"""How ``reasonknee build`` shows a finished build on the console (presentation only)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from quintuple_builder.label_quality import QualityGate
    from quintuple_builder.release import ReleaseBuild
    from rich.console import Console

__all__ = ["print_build", "print_quality"]


def _table(title: str, frame, *, style: str | None = None, rows: int | None = None):
    from rich.table import Table

    table = Table(title=title, style=style)
    for col in frame.columns:
        table.add_column(
            col, justify="left" if col in ("split", "scan_id", "stage", "region") else "right"
        )
    for row in (frame if rows is None else frame.head(rows)).iter_rows():
        table.add_row(*(str(v) for v in row))
    return table


def print_quality(console: Console, gate: QualityGate) -> None:
    """The regions whose pseudo-labels fall below the Dice threshold, and what was done about them."""
    import polars as pl

    if gate.status != "low_quality":
        return
    low = gate.regions.filter(pl.col("low_quality")).select(
        "region", pl.col("mean_dice").round(3), pl.col("n").alias("held-out scans")
    )
    console.print(
        f"{low.height} region(s) with pseudo-label Dice < {gate.min_dice:g} "
        f"(mean over {len(gate.held_out_ids)} held-out manual map(s)):"
    )
    console.print(_table("", low, style="red" if gate.refused else "yellow"))
    if gate.refused:
        console.print(
            "[red]build refused[/red]: these regions' boxes would come from a segmenter that has not "
            "learnt them. Train it longer, or rerun with --accept-low-quality to keep their boxes "
            "marked nnunet:low_quality (left out of localisation scores)."
        )
    else:
        console.print("accepted: their boxes are marked nnunet:low_quality in the quintuples")


def print_build(console: Console, result: ReleaseBuild) -> None:
    """The label quality, the dataset's counts and hash, the MOAKS summary, skipped and failed scans."""
    print_quality(console, result.quality)
    if result.quality.refused:
        return
    build, readings = result.build, result.readings
    if build.written:
        console.print(_table(f"dataset {build.out_dir}", build.counts))
        console.print(f"content hash: {build.content_hash}")
    knees = readings.readings.select("patient_id", "visit", "side").unique().height
    console.print(
        f"MOAKS: {knees} knee-visits, {readings.conflicts.height} read more than once "
        f"(conflicts report), {readings.missing.height} grades missing "
        "(never invented; see reports/moaks_missing_summary)"
    )
    if build.skipped.height:
        console.print(f"{build.skipped.height} scan(s) skipped: no MOAKS reading")
    if build.failures.height:
        _print_failures(console, build.failures, rows=30)
        if build.failures_csv is not None:
            console.print(f"all failed scans: {build.failures_csv}", soft_wrap=True)
        if not build.written:
            console.print(
                "[red]nothing written[/red]: fix the failed scans, or rerun with --keep-going "
                "to write the dataset without them (when any scan succeeded)"
            )


def _print_failures(console: Console, failures, *, rows: int) -> None:
    """One line per failed scan, never cut or wrapped at the terminal width (paths in full)."""
    from rich.markup import escape

    console.print(f"[red]{failures.height} failed scan(s)[/red] (scan_id, stage: error)")
    for row in failures.head(rows).iter_rows(named=True):
        console.print(
            f"  {row['scan_id']}, {row['stage']}: {escape(str(row['error']))}",
            soft_wrap=True,
            highlight=False,
        )
    if failures.height > rows:
        console.print(f"  ... and {failures.height - rows} more")
