"""``reasonknee demo``: the whole pipeline on a phantom cohort, in one command."""

from __future__ import annotations

from pathlib import Path

import click
from moaks_schema import PROMPT_SETTINGS

from reasonknee.demo_pipeline import DemoConfig

__all__ = ["demo"]


def _options(ctx: click.Context, param: click.Parameter, items: tuple[str, ...]) -> dict:
    """``--option KEY=VALUE`` items as adapter options (:func:`vlm_adapters.spec.parse_options`)."""
    from vlm_adapters import AdapterError
    from vlm_adapters.spec import parse_options

    try:
        return parse_options(items)
    except AdapterError as exc:
        raise click.BadParameter(str(exc), ctx=ctx, param=param) from None


@click.command("demo", context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("reasonknee-demo"),
    show_default=True,
    help="Folder for the cohort, dataset, predictions and report.",
)
@click.option(
    "--patients",
    type=click.IntRange(min=3),
    default=40,
    show_default=True,
    help="Phantom patients (two knees each).",
)
@click.option(
    "--shape", default="48,96,96", show_default=True, help="Phantom volume size: slices,rows,cols."
)
@click.option(
    "--train-segmenter",
    is_flag=True,
    help="Train nnU-Net briefly on the manual subset and label every scan with it (adds minutes).",
)
@click.option(
    "--segmenter-epochs",
    type=click.IntRange(min=1),
    default=DemoConfig.segmenter_epochs,
    show_default=True,
    help="Epochs of --train-segmenter's seeded schedule (epochs x iterations; docs/segmentation.md).",
)
@click.option(
    "--segmenter-iterations",
    type=click.IntRange(min=1),
    default=DemoConfig.segmenter_iterations,
    show_default=True,
    help="Iterations per epoch of --train-segmenter.",
)
@click.option(
    "--max-seconds",
    "segmenter_max_seconds",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Also stop --train-segmenter after this many seconds of training (the model then depends "
    "on the machine's speed).",
)
@click.option(
    "--model",
    "models",
    multiple=True,
    help="Also run this model: qwen2.5-vl:PATH, qwen2.5-vl:BASE+lora:DIR, openai:MODEL[@BASE_URL].",
)
@click.option(
    "--option",
    "options",
    multiple=True,
    metavar="KEY=VALUE",
    callback=_options,
    help="Option of the --model adapters, repeatable (e.g. slices=32, max_tokens=256), as for "
    "`reasonknee baseline`.",
)
@click.option(
    "--setting",
    type=click.Choice(PROMPT_SETTINGS),
    default="instruction",
    show_default=True,
)
@click.option("--bootstrap", "n_boot", type=click.IntRange(min=0), default=1000, show_default=True)
@click.option(
    "--specialist/--no-specialist",
    default=True,
    show_default=True,
    help="Train and run the supervised specialist (the row that reads the voxels).",
)
@click.option(
    "--second-reads",
    type=click.FloatRange(0.0, 1.0),
    default=0.5,
    show_default=True,
    help="Share of phantom knees a second MOAKS reader also grades (the second-reader row).",
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--device", default="auto", show_default=True, help="cpu, cuda, mps or auto (segmenter)."
)
@click.option("--quiet", is_flag=True, help="No progress bars.")
def demo(
    *,
    out: Path,
    patients: int,
    shape: str,
    train_segmenter: bool,
    segmenter_epochs: int,
    segmenter_iterations: int,
    segmenter_max_seconds: float | None,
    models: tuple[str, ...],
    options: dict,
    setting: str,
    n_boot: int,
    specialist: bool,
    second_reads: float,
    seed: int,
    device: str,
    quiet: bool,
) -> None:
    """Phantom cohort → build → baselines → scores → report, with nothing to set up."""
    from knee_volumes import VolumeError, parse_size
    from rich.console import Console
    from rich.table import Table

    from reasonknee.demo_pipeline import run_demo

    try:
        dims = parse_size(shape, n=3, minimum=16)
    except VolumeError:
        raise click.BadParameter(
            "expected three integers >= 16, e.g. 32,64,64", param_hint="--shape"
        ) from None
    from vlm_adapters import AdapterError, parse_model_spec

    for spec in models:
        try:
            parse_model_spec(spec)
        except AdapterError as exc:
            raise click.BadParameter(str(exc), param_hint="--model") from None
    console = Console()
    config = DemoConfig(
        out=out,
        patients=patients,
        shape=dims,
        seed=seed,
        setting=setting,
        models=models,  # type: ignore[arg-type]
        options=options,
        train_segmenter=train_segmenter,
        segmenter_epochs=segmenter_epochs,
        segmenter_iterations=segmenter_iterations,
        segmenter_max_seconds=segmenter_max_seconds,
        n_boot=n_boot,
        specialist=specialist,
        second_reads=second_reads,
        device=device,
        progress=not quiet,
    )
    try:
        result = run_demo(config, console=console)
    except RuntimeError as exc:
        raise click.ClickException(str(exc)) from None
    table = Table(title="ReasonKnee demo (phantom cohort: software check, not clinical numbers)")
    for col in (
        "model",
        "overall accuracy (micro)",
        "95% CI",
        "majority ref.",
        "mean IoU",
        "parse failures",
    ):
        table.add_column(col, justify="left" if col == "model" else "right")
    for name, h in result.headline.items():

        def f(v: float | None) -> str:
            return "–" if v is None else f"{v:.3f}"

        table.add_row(
            name,
            f(h["overall_micro"]),
            f"{f(h['ci_low'])}–{f(h['ci_high'])}",
            f(h["majority_reference"]),
            f(h["mean_iou"]),
            f(h["failure_rate"]),
        )
    console.print(table)
    console.print(f"done in {result.seconds['total']:.0f} s. Report: {result.report / 'README.md'}")
