"""`reasonknee train`: nnU-Net training of the region segmenter, LoRA fine-tuning of a VLM
(Qwen2.5-VL or Med3DVLM, one trainer).

Both subcommands parse arguments and call one library function
(:func:`knee_segmenter.train_segmenter`, :func:`vlm_adapters.sft.train_lora`,
the latter with bench-metrics' scorer as its evaluator,
:func:`reasonknee_train.evaluation.bench_evaluator`); torch, nnunetv2 and
transformers are imported only when a subcommand runs.
"""

from __future__ import annotations

from pathlib import Path

import click
from moaks_schema import PROMPT_SETTINGS, PromptSetting
from moaks_schema.app_errors import ProjectErrorsAsMessages

__all__ = ["segmenter", "train", "vlm"]

_DIR = click.Path(file_okay=False, path_type=Path)
_EXISTING_DIR = click.Path(exists=True, file_okay=False, path_type=Path)


class _Group(ProjectErrorsAsMessages, click.Group):
    """The train commands: the project's errors end in a one-line message and exit 1."""


@click.group(name="train", cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
def train() -> None:
    """Train the segmenter (nnU-Net) or fine-tune a VLM (LoRA)."""


# --------------------------------------------------------------------------- segmenter
def _parse_fold(value: str) -> int | str:
    if value == "all" or value in {"0", "1", "2", "3", "4"}:
        return "all" if value == "all" else int(value)
    raise click.BadParameter(f"{value!r}: expected a fold 0-4 or 'all'", param_hint="--fold")


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
    from knee_segmenter import pairs_from_manifest
    from quintuple_builder import Dataset, QuintupleBuilderError

    try:
        ds = Dataset.open(folder)
        scans = ds.scans(label_sources=("manual", "phantom"))  # never nnU-Net's own labels
    except QuintupleBuilderError as exc:
        raise click.BadParameter(str(exc), param_hint="--dataset") from None
    pairs = pairs_from_manifest(scans, base_dir=ds.root)
    if not pairs:
        raise click.BadParameter(
            f"{ds.root / 'scans.parquet'}: no scan with a manual (or phantom) label map; "
            "nnU-Net labels are not trained on",
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
@click.option(
    "--augmentation",
    type=click.Choice(["nnunet", "none"]),
    default="nnunet",
    show_default=True,
    help="nnunet: nnU-Net's training augmentation; none: only the --mirroring flips (for scans "
    "of one protocol and grid, such as phantoms; docs/segmentation.md).",
)
@click.option(
    "--precision",
    type=click.Choice(["fp32", "bf16"]),
    default="fp32",
    show_default=True,
    help="bf16: the forward pass under CPU bfloat16 autocast (faster on CPUs with AVX-512 BF16).",
)
@click.option(
    "--loss",
    type=click.Choice(["dice+ce", "dice", "dice+balanced-ce"]),
    default="dice+ce",
    show_default=True,
    help="dice+ce: nnU-Net's; dice+balanced-ce: its cross-entropy weighted up for regions smaller "
    "than the median region (they are learnt sooner in short schedules; docs/segmentation.md).",
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
    augmentation: str,
    precision: str,
    loss: str,
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
            f"optimizer {optimizer}, mirroring {mirroring}, augmentation {augmentation}, "
            f"precision {precision}, loss {loss}"
        )
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
        augmentation=augmentation,
        precision=precision,
        loss=loss,
        continue_training=True,
    )
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


def _names(text: str | None) -> tuple[str, ...] | None:
    """``"a, b"`` -> ``("a", "b")``; ``"none"`` -> ``()``; ``None`` (the family's default) stays."""
    if text is None:
        return None
    if text.strip().lower() == "none":
        return ()
    return tuple(m.strip() for m in text.split(",") if m.strip())


def _base_model(spec: str | None, base: Path | None) -> tuple[str, Path]:
    """(family, base folder) from ``--model KIND:PATH`` or ``--base PATH`` (Qwen2.5-VL)."""
    from vlm_adapters import AdapterError, parse_model_spec
    from vlm_adapters.sft import FAMILIES

    if (spec is None) == (base is None):
        raise click.UsageError("give exactly one of --model KIND:PATH or --base PATH")
    if spec is None:
        return "qwen2.5-vl", base  # type: ignore[return-value]
    try:
        ms = parse_model_spec(spec)
    except AdapterError as exc:
        raise click.BadParameter(str(exc), param_hint="--model") from None
    if ms.kind not in FAMILIES or ms.lora:
        raise click.BadParameter(
            f"{spec!r}: expected one of {', '.join(k + ':PATH' for k in FAMILIES)} (no +lora)",
            param_hint="--model",
        )
    path = Path(ms.path or "")
    if not path.is_dir():
        raise click.BadParameter(f"{path}: expected an existing model folder", param_hint="--model")
    return ms.kind, path


@train.command("vlm")
@click.option(
    "--dataset", type=_EXISTING_DIR, required=True, help="Dataset folder (reasonknee build)."
)
@click.option(
    "--model",
    "model_spec",
    default=None,
    help="Base model: qwen2.5-vl:PATH or med3dvlm:PATH (a local folder; no hub downloads).",
)
@click.option(
    "--base",
    type=_EXISTING_DIR,
    default=None,
    help="Local Qwen2.5-VL folder (same as --model qwen2.5-vl:PATH).",
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
    type=click.Choice(PROMPT_SETTINGS),
    default="instruction",
    show_default=True,
    help="Which prompt the model is trained on.",
)
@click.option("--lora-r", type=click.IntRange(min=1), default=16, show_default=True)
@click.option("--lora-alpha", type=click.IntRange(min=1), default=32, show_default=True)
@click.option("--lora-dropout", type=float, default=0.05, show_default=True)
@click.option(
    "--target-modules",
    default=None,
    help="Comma-separated linear layers that get LoRA [default: the family's, docs/fine-tuning.md].",
)
@click.option(
    "--modules-to-save",
    default=None,
    help="Comma-separated modules trained in full [default: the family's; 'none' for none].",
)
@click.option(
    "--epochs", type=click.IntRange(min=1), default=None, help="[default: qwen2.5-vl 3, med3dvlm 5]"
)
@click.option("--lr", type=float, default=None, help="[default: qwen2.5-vl 1e-4, med3dvlm 5e-5]")
@click.option(
    "--lr-schedule",
    type=click.Choice(["linear", "cosine"]),
    default=None,
    help="Decay after warm-up [default: qwen2.5-vl linear, med3dvlm cosine].",
)
@click.option(
    "--batch", type=click.IntRange(min=1), default=None, help="[default: qwen2.5-vl 1, med3dvlm 8]"
)
@click.option(
    "--grad-accum",
    type=click.IntRange(min=1),
    default=None,
    help="[default: qwen2.5-vl 8, med3dvlm 1]",
)
@click.option(
    "--max-length",
    type=click.IntRange(min=2),
    default=None,
    help="Longest example in tokens; longer ones are refused [default: med3dvlm 4096, qwen none].",
)
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
    model_spec: str | None,
    base: Path | None,
    out_dir: Path,
    cot: bool,
    setting: PromptSetting,
    lora_r: int,
    lora_alpha: int,
    lora_dropout: float,
    target_modules: str | None,
    modules_to_save: str | None,
    epochs: int | None,
    lr: float | None,
    lr_schedule: str | None,
    batch: int | None,
    grad_accum: int | None,
    max_length: int | None,
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
    """LoRA fine-tuning of Qwen2.5-VL or Med3DVLM on the train split (loss on the answer only).

    After each epoch the val split is answered and scored; the best adapter is
    kept in OUT/best, loadable as `--model KIND:BASE+lora:OUT/best`.
    Rerunning the same command resumes from OUT/checkpoint.
    """
    from rich.console import Console
    from rich.table import Table
    from vlm_adapters import AdapterError
    from vlm_adapters.sft import SftConfig, train_lora

    console = Console(stderr=True)
    family, base = _base_model(model_spec, base)
    try:
        config = SftConfig(
            family=family,
            dataset=dataset,
            base=base,
            out=out_dir,
            cot=cot,
            setting=setting,
            lora_r=lora_r,
            lora_alpha=lora_alpha,
            lora_dropout=lora_dropout,
            target_modules=_names(target_modules),
            modules_to_save=_names(modules_to_save),
            epochs=epochs,
            lr=lr,
            lr_schedule=lr_schedule,
            max_length=-1 if max_length is None else max_length,
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

    try:
        result = train_lora(config, evaluate=bench_evaluator, on_epoch=on_epoch)
    except AdapterError as exc:  # e.g. another run's options in OUT, unknown target modules
        raise click.ClickException(str(exc)) from None
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
        f"[green]adapter[/] {result.best_dir}  (use --model {family}:{base}+lora:{result.best_dir})"
    )
    click.echo(str(result.best_dir))


# --------------------------------------------------------------------------- specialist
from reasonknee_train.specialist import specialist as _specialist  # noqa: E402

train.add_command(_specialist)
