"""`reasonknee train`: nnU-Net training of the region segmenter, LoRA fine-tuning of Qwen2.5-VL.

Both subcommands parse arguments and call one library function
(:func:`knee_segmenter.train_segmenter`, :func:`vlm_adapters.sft.train_lora`,
the latter with bench-metrics' scorer as its evaluator,
:func:`reasonknee_train.evaluation.bench_evaluator`); torch, nnunetv2 and
transformers are imported only when a subcommand runs.
"""

from __future__ import annotations

from pathlib import Path

import click

__all__ = ["segmenter", "train", "vlm"]

_DIR = click.Path(file_okay=False, path_type=Path)
_EXISTING_DIR = click.Path(exists=True, file_okay=False, path_type=Path)


@click.group(name="train", context_settings={"help_option_names": ["-h", "--help"]})
def train() -> None:
    """Train the segmenter (nnU-Net) or fine-tune a VLM (LoRA)."""


# --------------------------------------------------------------------------- segmenter
def _parse_fold(value: str) -> int | str:
    return "all" if value == "all" else int(value)


def _manual_pairs(folder: Path) -> list:
    """The scans of ``images/`` and their label maps in ``labels/``, matched by case name."""
    from knee_segmenter import SegmenterError, pairs_from_folder

    images, labels = folder / "images", folder / "labels"
    if not images.is_dir() or not labels.is_dir():
        raise click.BadParameter(
            f"{folder}: expected images/ and labels/ sub-folders (label maps named as their scans)",
            param_hint="--manual",
        )
    try:
        return pairs_from_folder(images, labels)
    except SegmenterError as exc:
        raise click.BadParameter(str(exc), param_hint="--manual") from None


def _dataset_pairs(folder: Path) -> list:
    """Manually labelled (or phantom-truth) scans of a dataset folder."""
    import polars as pl
    from knee_segmenter import pairs_from_manifest

    path = folder / "scans.parquet"
    if not path.is_file():
        raise click.BadParameter(
            f"{path}: not found; expected a dataset folder", param_hint="--dataset"
        )
    scans = pl.read_parquet(path)
    if "label_source" in scans.columns:
        scans = scans.filter(pl.col("label_source").is_in(["manual", "phantom"]))
    pairs = pairs_from_manifest(scans, base_dir=folder)
    if not pairs:
        raise click.BadParameter(
            f"{path}: no scan with a manual (or phantom) label map; nnU-Net labels are not trained on",
            param_hint="--dataset",
        )
    return pairs


@train.command("segmenter")
@click.option(
    "--manual",
    type=_EXISTING_DIR,
    help="Folder with images/ and labels/ (a label map per scan, same file name).",
)
@click.option("--dataset", type=_EXISTING_DIR, help="Dataset folder: its manually labelled scans.")
@click.option(
    "--out", "out_dir", type=_DIR, required=True, help="Where the trained model folder goes."
)
@click.option("--epochs", type=click.IntRange(min=1), default=1000, show_default=True)
@click.option(
    "--iterations", type=click.IntRange(min=1), default=250, show_default=True, help="Per epoch."
)
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda, cuda:1, mps.")
@click.option(
    "--fold", default="all", show_default=True, help="A cross-validation fold (0-4) or 'all'."
)
@click.option(
    "--max-seconds", type=float, default=None, help="Stop after the last epoch that fits."
)
@click.option(
    "--work-dir",
    type=_DIR,
    default=None,
    help="nnU-Net raw/preprocessed/results folders [default: OUT.nnunet beside OUT]. Keep it to resume.",
)
@click.option(
    "--optimizer",
    type=click.Choice(["sgd", "adam"]),
    default="sgd",
    show_default=True,
    help="sgd: nnU-Net's, for its full schedule; adam: AdamW, for short schedules (it learns the "
    "regions in hundreds of iterations where SGD needs thousands; docs/segmentation.md).",
)
@click.option(
    "--mirroring",
    type=click.Choice(["left-right", "none", "all"]),
    default="left-right",
    show_default=True,
    help="Augmentation mirror axes; all = nnU-Net's default (flips knees upside down).",
)
@click.option("--seed", type=int, default=0, show_default=True)
def segmenter(
    manual: Path | None,
    dataset: Path | None,
    out_dir: Path,
    epochs: int,
    iterations: int,
    device: str,
    fold: str,
    max_seconds: float | None,
    work_dir: Path | None,
    optimizer: str,
    mirroring: str,
    seed: int,
) -> None:
    """Train the 25-region nnU-Net on manually labelled scans (resumes from nnU-Net's checkpoints)."""
    from rich.console import Console

    if (manual is None) == (dataset is None):
        raise click.UsageError("give exactly one of --manual DIR or --dataset DIR")
    fold_v = _parse_fold(fold)
    # beside OUT, not inside it: the finished model replaces OUT as a whole
    work = work_dir or out_dir.with_name(out_dir.name + ".nnunet")
    console = Console(stderr=True)
    import knee_segmenter as ks

    pairs = _manual_pairs(manual) if manual is not None else _dataset_pairs(dataset)  # type: ignore[arg-type]
    checkpoint = ks.latest_checkpoint(ks.DEFAULT_DATASET_ID, root=work, fold=fold_v)
    if checkpoint is not None:
        console.print(f"[bold]resuming[/] from {checkpoint}")
    else:
        console.print(
            f"training nnU-Net on {len(pairs)} labelled scans, {epochs} x {iterations} iterations, "
            f"optimizer {optimizer}, mirroring {mirroring}"
        )
    try:
        model = ks.train_segmenter(
            pairs,
            out_dir,
            epochs=epochs,
            iterations=iterations,
            device=device,
            fold=fold_v,
            root=work,
            max_seconds=max_seconds,
            seed=seed,
            optimizer=optimizer,
            mirroring=mirroring,
            continue_training=True,
        )
    except ks.SegmenterError as exc:  # e.g. resuming with another optimizer than the checkpoint's
        raise click.ClickException(str(exc)) from None
    console.print(f"[green]model[/] {model.path}")
    click.echo(str(model.path))


# --------------------------------------------------------------------------- vlm
def _size(value: str | None) -> tuple[int, int] | None:
    from knee_volumes import VolumeError, parse_size

    if value is None or value == "native":
        return None
    try:
        return parse_size(value, n=2)  # type: ignore[return-value]
    except VolumeError:
        raise click.BadParameter(
            f"{value!r}: expected HxW (e.g. 384x384), one number, or 'native'",
            param_hint="--frame-size",
        ) from None


@train.command("vlm")
@click.option(
    "--dataset", type=_EXISTING_DIR, required=True, help="Dataset folder (reasonknee build)."
)
@click.option(
    "--base", type=_EXISTING_DIR, required=True, help="Local Qwen2.5-VL folder (no hub downloads)."
)
@click.option(
    "--out", "out_dir", type=_DIR, required=True, help="Run folder: best/, checkpoint/, eval/."
)
@click.option(
    "--cot/--no-cot",
    default=True,
    show_default=True,
    help="Target with or without the reasoning chain.",
)
@click.option(
    "--setting",
    type=click.Choice(["zero-shot", "instruction", "gt-region"]),
    default="instruction",
    show_default=True,
    help="Which prompt the model is trained on.",
)
@click.option("--lora-r", type=click.IntRange(min=1), default=16, show_default=True)
@click.option("--lora-alpha", type=click.IntRange(min=1), default=32, show_default=True)
@click.option("--lora-dropout", type=float, default=0.05, show_default=True)
@click.option(
    "--target-modules",
    default="q_proj,k_proj,v_proj,o_proj",
    show_default=True,
    help="Comma-separated linear layers that get LoRA.",
)
@click.option("--epochs", type=click.IntRange(min=1), default=3, show_default=True)
@click.option("--lr", type=float, default=1e-4, show_default=True)
@click.option("--batch", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--grad-accum", type=click.IntRange(min=1), default=8, show_default=True)
@click.option(
    "--max-frames",
    type=click.IntRange(min=1),
    default=None,
    help="Evenly spaced slices shown [default: all, as the paper].",
)
@click.option(
    "--frame-size", default=None, help="HxW per frame [default: native, 384x384 for OAI DESS]."
)
@click.option(
    "--gradient-checkpointing/--no-gradient-checkpointing", default=False, show_default=True
)
@click.option(
    "--dtype",
    type=click.Choice(["auto", "bf16", "fp32"]),
    default="auto",
    show_default=True,
    help="auto = bf16 where the device supports it.",
)
@click.option("--device", default="auto", show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--eval-limit",
    type=click.IntRange(min=0),
    default=None,
    help="Answer at most N val questions per epoch (0 = no evaluation; best = last epoch).",
)
@click.option("--max-new-tokens", type=click.IntRange(min=1), default=1024, show_default=True)
@click.option(
    "--max-steps", type=click.IntRange(min=1), default=None, help="Stop after N optimizer steps."
)
@click.option(
    "--checkpoint-every",
    type=click.IntRange(min=1),
    default=50,
    show_default=True,
    help="Optimizer steps between resumable checkpoints (and after every epoch).",
)
def vlm(
    dataset: Path,
    base: Path,
    out_dir: Path,
    cot: bool,
    setting: str,
    lora_r: int,
    lora_alpha: int,
    lora_dropout: float,
    target_modules: str,
    epochs: int,
    lr: float,
    batch: int,
    grad_accum: int,
    max_frames: int | None,
    frame_size: str | None,
    gradient_checkpointing: bool,
    dtype: str,
    device: str,
    seed: int,
    eval_limit: int | None,
    max_new_tokens: int,
    max_steps: int | None,
    checkpoint_every: int,
) -> None:
    """LoRA fine-tuning of Qwen2.5-VL on the train split (loss on the answer only).

    After each epoch the val split is answered and scored; the best adapter is
    kept in OUT/best, loadable as `--model qwen2.5-vl:BASE+lora:OUT/best`.
    Rerunning the same command resumes from OUT/checkpoint.
    """
    from rich.console import Console
    from rich.table import Table
    from vlm_adapters.sft import SftConfig, train_lora

    console = Console(stderr=True)
    try:
        config = SftConfig(
            dataset=dataset,
            base=base,
            out=out_dir,
            cot=cot,
            setting=setting,
            lora_r=lora_r,
            lora_alpha=lora_alpha,
            lora_dropout=lora_dropout,
            target_modules=tuple(m.strip() for m in target_modules.split(",") if m.strip()),
            epochs=epochs,
            lr=lr,
            batch=batch,
            grad_accum=grad_accum,
            max_frames=max_frames,
            frame_size=_size(frame_size),
            gradient_checkpointing=gradient_checkpointing,
            dtype=dtype,  # type: ignore[arg-type]
            device=device,
            seed=seed,
            eval_limit=eval_limit,
            max_new_tokens=max_new_tokens,
            max_steps=max_steps,
            checkpoint_every=checkpoint_every,
        )
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc

    def on_epoch(record) -> None:
        acc = "-" if record.val_accuracy is None else f"{record.val_accuracy:.3f}"
        loss = "-" if record.train_loss is None else f"{record.train_loss:.4f}"
        console.print(
            f"epoch {record.epoch}: step {record.global_step}, train loss {loss}, val accuracy {acc}"
        )

    from reasonknee_train.evaluation import bench_evaluator

    result = train_lora(config, evaluate=bench_evaluator, on_epoch=on_epoch)
    table = Table(title="LoRA fine-tuning" + (" (resumed)" if result.resumed else ""))
    for col in ("epoch", "steps", "train loss", "val accuracy", "kept"):
        table.add_column(col, justify="right")
    for h in result.history:
        table.add_row(
            str(h.epoch),
            str(h.global_step),
            "-" if h.train_loss is None else f"{h.train_loss:.4f}",
            "-" if h.val_accuracy is None else f"{h.val_accuracy:.3f}",
            "best" if h.epoch == result.best_epoch else "",
        )
    console.print(table)
    console.print(
        f"[green]adapter[/] {result.best_dir}  (use --model qwen2.5-vl:{base}+lora:{result.best_dir})"
    )
    click.echo(str(result.best_dir))


# --------------------------------------------------------------------------- specialist
from reasonknee_train.specialist import specialist as _specialist  # noqa: E402

train.add_command(_specialist)
