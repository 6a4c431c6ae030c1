"""Training with nnU-Net v2 from Python, and the one-call ``train_segmenter``."""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from knee_volumes.atomic import atomic_folder

from knee_segmenter.errors import SegmenterError, needs_nnunet
from knee_segmenter.export import PairLike, export_dataset, find_dataset_dir
from knee_segmenter.folders import nnunet_folders, use_folders
from knee_segmenter.planning import PLANS_IDENTIFIER, plan_and_preprocess
from knee_segmenter.training_options import (
    AUGMENTATIONS,
    LOSSES,
    MIRRORING_MODES,
    OPTIMIZERS,
    PRECISIONS,
    check_choice,
)

__all__ = [
    "DEFAULT_DATASET_ID",
    "TRAINING_RECORD",
    "Fold",
    "ModelDir",
    "copy_model",
    "latest_checkpoint",
    "train",
    "train_segmenter",
]

#: Dataset id used by :func:`train_segmenter` unless told otherwise.
DEFAULT_DATASET_ID = 501
Fold = int | str  # an integer fold or "all"
#: What :func:`train_segmenter` writes beside ``plans.json``: the cases trained on, seed and schedule.
TRAINING_RECORD = "knee_segmenter_training.json"


@dataclass(frozen=True, slots=True)
class ModelDir:
    """A trained nnU-Net model folder: ``plans.json``, ``dataset.json`` and ``fold_<f>/checkpoint_final.pth``.

    This is nnU-Net's own layout (``<Trainer>__<plans>__<configuration>``), usable
    with ``nnUNetv2_predict -d`` style tools as well as :func:`knee_segmenter.predict`.
    """

    path: Path

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> ModelDir:
        """Check ``path`` holds a trained model and return it."""
        p = Path(path)
        for name in ("plans.json", "dataset.json"):
            if not (p / name).is_file():
                raise SegmenterError(
                    f"model folder {p}: missing {name} (expected an nnU-Net results folder)"
                )
        model = cls(p)
        if not model.folds:
            raise SegmenterError(
                f"model folder {p}: no fold_*/checkpoint_final.pth (training not finished?)"
            )
        return model

    @property
    def plans(self) -> Path:
        return self.path / "plans.json"

    @property
    def dataset_json(self) -> Path:
        return self.path / "dataset.json"

    @property
    def folds(self) -> tuple[Fold, ...]:
        """The folds with a final checkpoint, e.g. ``(0,)`` or ``("all",)``."""
        out: list[Fold] = []
        for d in sorted(self.path.glob("fold_*")):
            if (d / "checkpoint_final.pth").is_file():
                f = d.name.removeprefix("fold_")
                out.append(f if f == "all" else int(f))
        return tuple(out)

    @property
    def configuration(self) -> str:
        """The nnU-Net configuration, from the folder name (``…__3d_fullres``)."""
        parts = self.path.name.split("__")
        return parts[-1] if len(parts) == 3 else "3d_fullres"

    @property
    def training_record(self) -> dict | None:
        """:data:`TRAINING_RECORD` (cases trained on, seed, schedule), or None for other models."""
        path = self.path / TRAINING_RECORD
        if not path.is_file():
            return None
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except ValueError as e:
            raise SegmenterError(f"{path}: not valid JSON ({e})") from None

    @property
    def training_cases(self) -> tuple[str, ...] | None:
        """The case ids the model was trained on (from :data:`TRAINING_RECORD`), or None when unknown."""
        record = self.training_record
        return None if record is None else tuple(record["training_cases"])

    def checkpoint(self, fold: Fold) -> Path:
        """``fold_<fold>/checkpoint_final.pth``."""
        return self.path / f"fold_{fold}" / "checkpoint_final.pth"


def _check_fold(fold: Fold) -> Fold:
    if fold == "all":
        return "all"
    if isinstance(fold, int) and not isinstance(fold, bool) and fold >= 0:
        return fold
    raise SegmenterError(f"fold: expected an integer >= 0 or 'all', got {fold!r}")


@contextlib.contextmanager
def _env(**values: str | None) -> Iterator[None]:
    old = {k: os.environ.get(k) for k in values}
    try:
        for k, v in values.items():
            if v is not None:
                os.environ[k] = v
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _preprocessed_dir(dataset_id: int, *, root: str | os.PathLike[str] | None, fold: Fold) -> Path:
    """The preprocessed folder of a dataset, checked to be ready for training ``fold``."""
    folders = use_folders(root)
    raw_dir = find_dataset_dir(dataset_id, root=folders.root)
    prep_dir = folders.preprocessed / raw_dir.name
    if not (prep_dir / f"{PLANS_IDENTIFIER}.json").is_file():
        raise SegmenterError(
            f"{prep_dir}: no {PLANS_IDENTIFIER}.json (run plan_and_preprocess first)"
        )
    if fold != "all" and not (prep_dir / "splits_final.json").is_file():
        n = len(list((raw_dir / "labelsTr").glob("*.nii.gz")))
        if n < 5:
            raise SegmenterError(
                f"fold {fold}: nnU-Net's 5-fold split needs at least 5 cases, {raw_dir} has {n} "
                "(use fold='all' or add splits_final.json)"
            )
    return prep_dir


def train(
    dataset_id: int,
    *,
    root: str | os.PathLike[str] | None = None,
    configuration: str = "3d_fullres",
    fold: Fold = "all",
    device: str = "auto",
    epochs: int = 1000,
    iterations_per_epoch: int = 250,
    val_iterations: int = 50,
    max_seconds: float | None = None,
    final_validation: bool = False,
    save_best: bool = False,
    mirroring: str = "left-right",
    optimizer: str = "sgd",
    learning_rate: float | None = None,
    augmentation: str = "nnunet",
    precision: str = "fp32",
    plot_every: int = 1,
    deep_supervision: bool = True,
    loss: str = "dice+ce",
    num_workers: int | None = None,
    continue_training: bool = False,
    seed: int | None = 0,
    threads: int | None = None,
    verbose: bool = False,
    progress: bool | None = None,
) -> ModelDir:
    """Train ``KneeSegmenterTrainer`` on a preprocessed dataset; return the model folder.

    ``fold``: a cross-validation fold (needs >= 5 cases) or ``"all"`` (train on
    every case). ``epochs`` × ``iterations_per_epoch`` sets the schedule (nnU-Net's
    default is 1000 × 250); ``max_seconds`` stops earlier, after the last epoch
    that fits, and fits the learning-rate schedule to it. ``final_validation``
    runs nnU-Net's sliding-window validation of the fold afterwards; ``save_best``
    also writes nnU-Net's ``checkpoint_best.pth`` (prediction uses the final one).
    ``mirroring``: the augmentation's (and test-time) mirror axes, ``"left-right"``
    (default: only along the patient's left-right axis, see
    :mod:`knee_segmenter.trainer`), ``"none"`` or ``"all"`` (nnU-Net's default).
    ``optimizer``: ``"sgd"`` (nnU-Net's) or ``"adam"`` (AdamW, for short
    schedules); ``learning_rate`` defaults to 1e-2 and 1e-3 respectively.
    ``augmentation``: ``"nnunet"`` (nnU-Net's) or ``"none"`` (nnU-Net's
    ``nnUNetTrainerNoDA``; see :mod:`knee_segmenter.training_options`).
    ``precision``: ``"fp32"`` or ``"bf16"`` (CPU bfloat16 autocast of the forward pass).
    ``plot_every``: draw nnU-Net's ``progress.png`` every this many epochs (and after the last).
    ``deep_supervision``: nnU-Net's loss on the decoder's lower resolutions too (default, as
    nnU-Net); ``False`` is its ``nnUNetTrainerNoDeepSupervision``. ``loss``: ``"dice+ce"``
    (nnU-Net's), ``"dice"`` (its ``nnUNetTrainerDiceLoss``) or ``"dice+balanced-ce"``
    (its cross-entropy weighted up for small regions; see :mod:`knee_segmenter.training_options`).
    ``num_workers``: data-augmentation processes (default 0 = in-process on a
    CPU, nnU-Net's choice otherwise). ``threads``: torch CPU threads during
    training (default: torch's). ``seed`` seeds torch, numpy and random and asks
    torch for deterministic kernels (:func:`knee_segmenter.reproducibility.seeded`):
    with ``num_workers=0`` the same seed, schedule and thread count give the
    same weights; augmentation worker processes (``num_workers > 0``) are
    nnU-Net's and unseeded. ``progress``: the epochs' progress bar (default: when standard
    error is a terminal).
    """
    fold = _check_fold(fold)
    try:
        check_choice("mirroring", mirroring, MIRRORING_MODES)
        check_choice("optimizer", optimizer, OPTIMIZERS)
        check_choice("augmentation", augmentation, AUGMENTATIONS)
        check_choice("precision", precision, PRECISIONS)
        check_choice("loss", loss, LOSSES)
    except ValueError as e:
        raise SegmenterError(str(e)) from None
    prep_dir = _preprocessed_dir(dataset_id, root=root, fold=fold)

    from knee_segmenter.devices import resolve_device, torch_threads
    from knee_segmenter.reproducibility import seeded
    from knee_segmenter.trainer import KneeSegmenterTrainer

    dev = resolve_device(device)
    if num_workers is None and dev.type == "cpu":
        num_workers = 0

    quiet = contextlib.nullcontext() if verbose else contextlib.redirect_stdout(io.StringIO())
    n_da = str(int(num_workers)) if num_workers is not None else None
    with _env(nnUNet_n_proc_DA=n_da), quiet, torch_threads(threads), seeded(seed):
        # the class directly: nnU-Net's lookup by name imports every trainer module it ships first
        plans = json.loads((prep_dir / f"{PLANS_IDENTIFIER}.json").read_text())
        plans["continue_training"] = continue_training
        trainer = KneeSegmenterTrainer(
            plans=plans,
            configuration=configuration,
            fold=fold,  # type: ignore[arg-type]  (nnU-Net takes "all" too)
            dataset_json=json.loads((prep_dir / "dataset.json").read_text()),
            device=dev,
        )
        trainer.set_schedule(
            epochs=epochs,
            iterations_per_epoch=iterations_per_epoch,
            val_iterations=val_iterations,
            max_seconds=max_seconds,
            skip_final_validation=not final_validation,
            save_best=save_best,
            mirroring=mirroring,
            optimizer=optimizer,
            learning_rate=learning_rate,
            augmentation=augmentation,
            precision=precision,
            plot_every=plot_every,
            deep_supervision=deep_supervision,
            loss=loss,
        )
        trainer.print_to_log_file(
            f"seed: {seed} ({'augmentation in this process' if num_workers == 0 else 'augmentation workers unseeded'})"
        )
        _run(
            trainer,
            continue_training=continue_training,
            final_validation=final_validation,
            progress=progress,
        )
    if trainer.output_folder_base is None:
        raise SegmenterError("nnU-Net's results folder is not set (nnUNet_results)")
    return ModelDir.open(trainer.output_folder_base)


def _run(
    trainer: Any, *, continue_training: bool, final_validation: bool, progress: bool | None
) -> None:
    """Load the checkpoint to continue from (if asked), train with a progress bar, validate."""
    with needs_nnunet():
        from nnunetv2.run.run_training import maybe_load_checkpoint
    from tqdm.auto import tqdm

    try:
        maybe_load_checkpoint(trainer, continue_training, False)
    except ValueError as e:
        raise SegmenterError(str(e)) from e
    bar = tqdm(total=trainer.num_epochs, initial=trainer.current_epoch, desc="nnU-Net training",
               unit="epoch", disable=None if progress is None else not progress)  # fmt: skip
    with bar:
        trainer.progress = bar
        if trainer.current_epoch < trainer.num_epochs:
            trainer.run_training()
        trainer.progress = None
    if final_validation:
        trainer.perform_actual_validation(False)


def latest_checkpoint(
    dataset_id: int = DEFAULT_DATASET_ID,
    *,
    root: str | os.PathLike[str] | None = None,
    fold: Fold = "all",
    configuration: str = "3d_fullres",
) -> Path | None:
    """nnU-Net's newest checkpoint of a training under ``root`` (latest, else final), or ``None``.

    What :func:`train` with ``continue_training=True`` (and :func:`train_segmenter`
    with ``continue_training=True``) would continue from.
    """
    from knee_segmenter import TRAINER_NAME  # the name only: the trainer module imports torch

    fold = _check_fold(fold)
    folders = nnunet_folders(root)
    datasets = (
        sorted(folders.raw.glob(f"Dataset{int(dataset_id):03d}_*")) if folders.raw.is_dir() else []
    )
    if len(datasets) != 1:
        return None
    run = (
        folders.results / datasets[0].name / f"{TRAINER_NAME}__{PLANS_IDENTIFIER}__{configuration}"
    )
    for name in ("checkpoint_latest.pth", "checkpoint_final.pth"):
        path = run / f"fold_{fold}" / name
        if path.is_file():
            return path
    return None


def copy_model(model: ModelDir, dest: str | os.PathLike[str]) -> ModelDir:
    """Copy what prediction needs (plans, dataset.json, final checkpoints, logs) to ``dest``.

    Checkpoints are copied without their optimizer state (half the size; prediction
    does not need it, continuing the training does). ``dest`` is replaced as a
    whole, through a temporary sibling folder.
    """
    with needs_nnunet():
        import torch

    dest = Path(dest).absolute()
    with atomic_folder(dest, overwrite=True) as tmp:
        out = tmp / model.path.name
        out.mkdir(parents=True)
        for name in ("plans.json", "dataset.json", "dataset_fingerprint.json"):
            if (model.path / name).is_file():
                shutil.copy2(model.path / name, out / name)
        for fold in model.folds:
            src = model.path / f"fold_{fold}"
            (out / src.name).mkdir()
            for f in src.iterdir():
                if f.name == "checkpoint_final.pth":
                    ckpt = torch.load(f, map_location="cpu", weights_only=False)
                    ckpt["optimizer_state"] = None
                    ckpt["grad_scaler_state"] = None
                    torch.save(ckpt, out / src.name / f.name)
                elif f.is_file() and (
                    f.name in ("progress.png", "debug.json") or f.name.startswith("training_log")
                ):
                    shutil.copy2(f, out / src.name / f.name)
    return ModelDir.open(dest / model.path.name)


def train_segmenter(
    manual_pairs: Iterable[PairLike],
    out_model_dir: str | os.PathLike[str],
    *,
    epochs: int = 1000,
    iterations: int = 250,
    val_iterations: int | None = None,
    max_seconds: float | None = None,
    device: str = "auto",
    fold: Fold = "all",
    configuration: str = "3d_fullres",
    dataset_id: int = DEFAULT_DATASET_ID,
    name: str = "KneeRegions",
    root: str | os.PathLike[str] | None = None,
    seed: int | None = 0,
    base_features: int | None = None,
    max_features: int | None = None,
    spacing_factor: float = 1.0,
    threads: int | None = None,
    mirroring: str = "left-right",
    optimizer: str = "sgd",
    learning_rate: float | None = None,
    augmentation: str = "nnunet",
    precision: str = "fp32",
    plot_every: int = 1,
    deep_supervision: bool = True,
    loss: str = "dice+ce",
    export_resampling: str = "nnunet",
    continue_training: bool = False,
    verbose: bool = False,
    progress: bool | None = None,
) -> ModelDir:
    """Export ``manual_pairs``, plan, preprocess and train; copy the model to ``out_model_dir``.

    The one call the build and train apps use. ``continue_training``: when
    ``root`` holds a checkpoint of this dataset, fold and configuration
    (:func:`latest_checkpoint`), training continues from it on the data it was
    preprocessed from (``manual_pairs`` are not exported or planned again);
    without one, training starts from scratch. ``iterations`` is per epoch;
    ``val_iterations`` defaults to a fifth of it. Returns the model folder inside
    ``out_model_dir`` (``KneeSegmenterTrainer__nnUNetPlans__<configuration>``),
    ready for :func:`knee_segmenter.predict`. ``base_features`` / ``max_features`` /
    ``spacing_factor`` / ``export_resampling``: see :func:`knee_segmenter.plan_and_preprocess`;
    ``threads``, ``mirroring``, ``optimizer``, ``learning_rate``, ``augmentation``, ``precision``,
    ``plot_every``, ``deep_supervision``, ``loss``: see :func:`train`. ``progress``: nnU-Net's
    planning bars and the training bar (default: when standard error is a terminal).
    """
    folders = use_folders(root)
    resume = (
        continue_training
        and latest_checkpoint(dataset_id, root=folders.root, fold=fold, configuration=configuration)
        is not None
    )
    if not resume:
        export_dataset(manual_pairs, dataset_id=dataset_id, name=name, root=folders.root)
        plan_and_preprocess(
            dataset_id,
            root=folders.root,
            configurations=(configuration,),
            base_features=base_features,
            max_features=max_features,
            spacing_factor=spacing_factor,
            export_resampling=export_resampling,
            verbose=verbose,
            progress=progress,
        )
    model = train(
        dataset_id,
        root=folders.root,
        configuration=configuration,
        fold=fold,
        device=device,
        epochs=epochs,
        iterations_per_epoch=iterations,
        val_iterations=val_iterations if val_iterations is not None else max(1, iterations // 5),
        max_seconds=max_seconds,
        seed=seed,
        threads=threads,
        mirroring=mirroring,
        optimizer=optimizer,
        learning_rate=learning_rate,
        augmentation=augmentation,
        precision=precision,
        plot_every=plot_every,
        deep_supervision=deep_supervision,
        loss=loss,
        continue_training=resume,
        verbose=verbose,
        progress=progress,
    )
    copied = copy_model(model, out_model_dir)
    raw = find_dataset_dir(dataset_id, root=folders.root)
    record = {
        "training_cases": sorted(
            p.name[: -len(".nii.gz")] for p in (raw / "labelsTr").glob("*.nii.gz")
        ),
        "fold": fold,
        "seed": seed,
        "epochs": epochs,
        "iterations_per_epoch": iterations,
        "max_seconds": max_seconds,
        "optimizer": optimizer,
        "learning_rate": learning_rate,
        "augmentation": augmentation,
        "precision": precision,
        "deep_supervision": deep_supervision,
        "loss": loss,
        "threads": threads,
        "spacing_factor": spacing_factor,
        "export_resampling": export_resampling,
        "base_features": base_features,
        "max_features": max_features,
    }
    from knee_volumes.atomic import atomic_file

    with atomic_file(copied.path / TRAINING_RECORD) as tmp:
        tmp.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return copied
