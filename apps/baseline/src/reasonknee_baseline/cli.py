"""``reasonknee baseline``: run a model or a reference baseline on a dataset split, resumably.

Only argument parsing and progress display live here; the work is
:func:`vlm_adapters.run_baseline`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from moaks_schema import PROMPT_SETTINGS, PromptSetting
from moaks_schema.app_errors import ProjectErrorsAsMessages

if TYPE_CHECKING:
    from rich.console import Console
    from vlm_adapters import RunSummary

__all__ = ["baseline", "parse_options"]


class _Command(ProjectErrorsAsMessages, click.Command):
    """The baseline command: the project's errors end in a one-line message and exit 1."""


def parse_options(items: tuple[str, ...]) -> dict[str, object]:
    """``--option KEY=VALUE`` items -> typed options (:func:`vlm_adapters.spec.parse_options`)."""
    from vlm_adapters import AdapterError
    from vlm_adapters.spec import parse_options as parse

    try:
        return parse(items)
    except AdapterError as exc:
        raise click.BadParameter(str(exc), param_hint="--option") from None


def _parse_shard(text: str | None) -> tuple[int, int] | None:
    if not text:
        return None
    try:
        i, n = (int(v) for v in text.split("/", 1))
    except ValueError:
        raise click.BadParameter(
            f"{text!r}: expected I/N, e.g. 0/4", param_hint="--shard"
        ) from None
    if not 0 <= i < n:
        raise click.BadParameter(f"{text!r}: expected 0 <= I < N", param_hint="--shard")
    return i, n


@click.command("baseline", cls=_Command, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--dataset",
    required=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Dataset folder written by `reasonknee build`.",
)
@click.option("--split", default="test", show_default=True, help="Split to run on.")
@click.option(
    "--model",
    "model",
    required=True,
    help="qwen2.5-vl:PATH[+lora:DIR] | med3dvlm:PATH[+lora:DIR] | openai:MODEL[@BASE_URL] | majority | atlas | random",
)
@click.option(
    "--setting",
    type=click.Choice(PROMPT_SETTINGS),
    required=True,
    help="Prompt setting (docs/benchmark-protocol.md).",
)
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Predictions JSONL; an existing file is resumed (done records are skipped).",
)
@click.option("--questions", default=None, help="Question ids, e.g. '1-15,42' (default: all 69).")
@click.option(
    "--limit", type=click.IntRange(min=1), default=None, help="Only the first N scans of the split."
)
@click.option("--shard", default=None, help="Run shard I of N (scans I, I+N, ...), e.g. 0/4.")
@click.option(
    "--shards",
    type=click.IntRange(min=1),
    default=None,
    help="Split the run into N shards run in parallel (see --executor), merged into --out.",
)
@click.option(
    "--executor",
    type=click.Choice(["ray", "local"]),
    default="ray",
    show_default=True,
    help="Where --shards run: Ray tasks ($RAY_ADDRESS or a local instance) or one after another here.",
)
@click.option(
    "--gpus-per-shard",
    type=float,
    default=0.0,
    show_default=True,
    help="GPUs each Ray shard asks for.",
)
@click.option(
    "--max-concurrency",
    type=click.IntRange(min=1),
    default=None,
    help="Requests in flight (OpenAI-compatible endpoints).",
)
@click.option(
    "--seed", type=int, default=0, show_default=True, help="Seed (random baseline, sampling)."
)
@click.option(
    "--option",
    "options",
    multiple=True,
    metavar="KEY=VALUE",
    help="Adapter option, repeatable (e.g. slices=32, fps=4, max_pixels=50176, prefix_reuse=false).",
)
@click.option("--retry-errors", is_flag=True, help="Redo records that ended with an error.")
def baseline(
    dataset: Path,
    split: str,
    model: str,
    setting: PromptSetting,
    out: Path,
    questions: str | None,
    limit: int | None,
    shard: str | None,
    shards: int | None,
    executor: str,
    gpus_per_shard: float,
    max_concurrency: int | None,
    seed: int,
    options: tuple[str, ...],
    retry_errors: bool,
) -> None:
    """Run a model or reference baseline on a dataset split, writing predictions JSONL (resumable)."""
    from moaks_schema import MoaksSchemaError, parse_question_ids
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        ProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from rich.text import Text
    from vlm_adapters import run_baseline, run_sharded

    class _Rate(ProgressColumn):
        def render(self, task) -> Text:
            speed = task.finished_speed or task.speed
            return Text("–" if speed is None else f"{speed:.2f} q/s")

    console = Console(stderr=True)
    try:
        qids = parse_question_ids(questions) if questions else None
    except MoaksSchemaError as exc:
        raise click.BadParameter(str(exc), param_hint="--questions") from None
    opts = parse_options(options)
    common: dict[str, Any] = dict(
        dataset=dataset,
        split=split,
        model=model,
        setting=setting,
        questions=qids,
        limit=limit,
        max_concurrency=max_concurrency,
        seed=seed,
        options=opts,
        retry_errors=retry_errors,
    )
    if shards is not None:
        if shard is not None:
            raise click.BadParameter("give either --shard or --shards", param_hint="--shards")
        with console.status(f"{model} · {setting}: {shards} shards on {executor}"):
            summary = run_sharded(
                shards=shards, out=out, executor=executor, num_gpus=gpus_per_shard, **common
            )
        _report(console, summary)
        return
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        _Rate(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
    ) as bar:
        task = bar.add_task(f"{model} · {setting}", total=None)

        def progress(done: int, total: int) -> None:
            if bar.tasks[0].total is None:
                bar.reset(task, total=total, completed=done)  # rate and ETA count this run only
            else:
                bar.update(task, completed=done)

        summary = run_baseline(out=out, shard=_parse_shard(shard), progress=progress, **common)
    _report(console, summary)


def _report(console: Console, summary: RunSummary) -> None:
    ratio = ""
    if summary.prefill_tokens is not None and summary.prompt_tokens:
        ratio = f", prefill {summary.prefill_tokens}/{summary.prompt_tokens} prompt tokens"
    console.print(
        f"{summary.out}: {summary.written} written, {summary.skipped} already done, "
        f"{summary.errors} errors of {summary.total} in {summary.wall_s:.1f} s{ratio}"
        + (
            " (records in the file with an error; --retry-errors redoes them)"
            if summary.errors
            else ""
        )
    )
    if summary.errors:
        raise SystemExit(1)
