"""`reasonknee train specialist`: the supervised 3D model (:func:`vlm_adapters.specialist.train_specialist`).

Registered in the ``train`` group by :mod:`reasonknee_train.cli`; torch is
imported only when the command runs.
"""

from __future__ import annotations

from pathlib import Path

import click

__all__ = ["specialist"]

_DIR = click.Path(file_okay=False, path_type=Path)
_EXISTING_DIR = click.Path(exists=True, file_okay=False, path_type=Path)
_DATASET_HELP = "Dataset folder written by `reasonknee build` (trains on train, selects on val)."
_OUT_HELP = "Model folder to write (config.json, weights.safetensors, metrics.json)."


@click.command("specialist", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--dataset", type=_EXISTING_DIR, required=True, help=_DATASET_HELP)
@click.option("--out", "out_dir", type=_DIR, required=True, help=_OUT_HELP)
@click.option("--epochs", type=click.IntRange(min=1), default=20, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--device", default="auto", show_default=True, help="auto (CUDA when present), cpu, cuda."
)
@click.option(
    "--threads",
    type=click.IntRange(min=1),
    help="CPU threads for torch (default 1: small 3D convolutions); recorded in config.json.",
)
@click.option("--overwrite", is_flag=True, help="Replace OUT if it exists.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
def specialist(
    dataset: Path,
    out_dir: Path,
    epochs: int,
    seed: int,
    device: str,
    threads: int | None,
    overwrite: bool,
    quiet: bool,
) -> None:
    """Train the specialist: a 3D CNN that boxes every region and grades all 69 questions.

    Run it with `reasonknee baseline --model specialist:OUT` in any setting.
    See docs/baselines.md.
    """
    from vlm_adapters import AdapterError
    from vlm_adapters.specialist import train_specialist

    try:
        result = train_specialist(
            dataset,
            out_dir,
            seed=seed,
            epochs=epochs,
            device=device,
            threads=threads,
            overwrite=overwrite,
            progress=not quiet,
        )
    except AdapterError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(
        f"specialist: {result.path} (val accuracy {result.val_accuracy:.3f} at epoch "
        f"{result.best_grader_epoch}, val box IoU {result.val_iou:.3f} at epoch "
        f"{result.best_localiser_epoch}; {result.device}, {result.threads} CPU thread(s), "
        f"{result.seconds:.1f} s)"
    )
