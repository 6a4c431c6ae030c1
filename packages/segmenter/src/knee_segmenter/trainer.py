"""``KneeSegmenterTrainer``: nnU-Net's trainer with a schedule you can set.

nnU-Net's own short trainers only cut epochs (an epoch stays 250 + 50
iterations). This one takes epochs, iterations per epoch, validation
iterations, a wall-clock budget and whether to run the final validation, as
attributes (set by :func:`knee_segmenter.train`) or, for ``nnUNetv2_train -tr
KneeSegmenterTrainer``, from environment variables:

``KNEE_SEGMENTER_EPOCHS``, ``KNEE_SEGMENTER_ITERATIONS``,
``KNEE_SEGMENTER_VAL_ITERATIONS``, ``KNEE_SEGMENTER_MAX_SECONDS``,
``KNEE_SEGMENTER_SKIP_VALIDATION`` (1/0), ``KNEE_SEGMENTER_SAVE_BEST`` (1/0),
``KNEE_SEGMENTER_MIRRORING`` (left-right/none/all), ``KNEE_SEGMENTER_OPTIMIZER``
(sgd/adam), ``KNEE_SEGMENTER_LR``, ``KNEE_SEGMENTER_AUGMENTATION`` (nnunet/none),
``KNEE_SEGMENTER_PRECISION`` (fp32/bf16), ``KNEE_SEGMENTER_PLOT_EVERY`` (epochs),
``KNEE_SEGMENTER_DEEP_SUPERVISION`` (1/0), ``KNEE_SEGMENTER_LOSS``
(dice+ce/dice/dice+balanced-ce).

Mirroring: nnU-Net mirrors training patches along every axis; this trainer
mirrors only along the patient's left-right axis by default, and offers AdamW
beside nnU-Net's SGD (:mod:`knee_segmenter.training_options` says why). The
axis comes from the export's ``dataset.json``
(:data:`knee_segmenter.export.DATASET_JSON_KEY`); where it is unknown, nothing
is mirrored. The axes are stored in the checkpoint, so test-time mirroring
uses the same ones.

nnU-Net finds the class by name through ``nnUNet_extTrainer``
(:func:`knee_segmenter.folders.trainer_search_path`), for training and for
prediction. Importing this module imports nnunetv2 and torch.
"""

from __future__ import annotations

import contextlib
import os
import time
from typing import Any

import numpy as np
import torch
from nnunetv2.training.lr_scheduler.polylr import PolyLRScheduler
from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer

from knee_segmenter.export import DATASET_JSON_KEY
from knee_segmenter.patching import replaced
from knee_segmenter.training_options import (
    AUGMENTATIONS,
    LOSSES,
    MIRRORING_MODES,
    OPTIMIZERS,
    PRECISIONS,
    balanced_class_weights,
    check_choice,
    mirror_axes_for,
)

__all__ = ["TRAINER_NAME", "KneeSegmenterTrainer"]

#: The class name nnU-Net stores in checkpoints and results folder names.
TRAINER_NAME = "KneeSegmenterTrainer"


def _env(name: str) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else None


def _bfloat16_forward(network: torch.nn.Module) -> tuple[Any, Any]:
    """Run ``network``'s forward pass under CPU bfloat16 autocast, its outputs back in float32.

    Hooks, not a wrapper: the state dict (the checkpoint) keeps its keys. Returns the hook handles.
    """
    active: list[Any] = []

    def enter(module: torch.nn.Module, args: Any) -> None:
        ctx = torch.autocast("cpu", dtype=torch.bfloat16)
        ctx.__enter__()
        active.append(ctx)

    def leave(module: torch.nn.Module, args: Any, output: Any) -> Any:
        active.pop().__exit__(None, None, None)
        if isinstance(output, (list, tuple)):
            return type(output)(o.float() for o in output)
        return output.float()

    return network.register_forward_pre_hook(enter), network.register_forward_hook(leave)


class _TimeBudgetReached(Exception):
    """Raised at the end of an epoch when the wall-clock budget is spent."""


class KneeSegmenterTrainer(nnUNetTrainer):
    """nnUNetTrainer with settable ``num_epochs``, ``num_iterations_per_epoch``,
    ``num_val_iterations_per_epoch``, ``max_seconds``, ``skip_final_validation``, ``save_best``,
    ``mirroring``, ``augmentation``, ``precision`` and optimizer (``optimizer_name``, ``initial_lr``)."""

    def __init__(
        self,
        plans: dict,
        configuration: str,
        fold: int,
        dataset_json: dict,
        device: torch.device = torch.device("cuda"),  # noqa: B008 (nnU-Net's signature)
    ):
        super().__init__(plans, configuration, fold, dataset_json, device)
        if (v := _env("KNEE_SEGMENTER_EPOCHS")) is not None:
            self.num_epochs = int(v)
        if (v := _env("KNEE_SEGMENTER_ITERATIONS")) is not None:
            self.num_iterations_per_epoch = int(v)
        if (v := _env("KNEE_SEGMENTER_VAL_ITERATIONS")) is not None:
            self.num_val_iterations_per_epoch = int(v)
        v = _env("KNEE_SEGMENTER_MAX_SECONDS")
        self.max_seconds: float | None = float(v) if v is not None else None
        self.skip_final_validation: bool = _env("KNEE_SEGMENTER_SKIP_VALIDATION") in (
            "1",
            "true",
            "True",
        )
        #: write ``checkpoint_best.pth`` (by EMA pseudo Dice) as nnU-Net does; prediction uses the final one
        self.save_best: bool = _env("KNEE_SEGMENTER_SAVE_BEST") not in ("0", "false", "False")
        self.mirroring: str = _env("KNEE_SEGMENTER_MIRRORING") or "left-right"
        self.augmentation: str = check_choice(
            "augmentation", _env("KNEE_SEGMENTER_AUGMENTATION") or "nnunet", AUGMENTATIONS
        )
        self.precision: str = check_choice(
            "precision", _env("KNEE_SEGMENTER_PRECISION") or "fp32", PRECISIONS
        )
        self._autocast_hooks: tuple[Any, ...] = ()
        if _env("KNEE_SEGMENTER_DEEP_SUPERVISION") in ("0", "false", "False"):
            self.enable_deep_supervision = False
        self.loss_name: str = check_choice("loss", _env("KNEE_SEGMENTER_LOSS") or "dice+ce", LOSSES)
        #: draw nnU-Net's progress.png every this many epochs (and after the last)
        self.plot_every: int = max(1, int(_env("KNEE_SEGMENTER_PLOT_EVERY") or 1))
        self.optimizer_name: str = "sgd"
        self._set_optimizer(_env("KNEE_SEGMENTER_OPTIMIZER") or "sgd", _env("KNEE_SEGMENTER_LR"))
        self._started_at: float | None = None
        self._first_epoch = 0
        self._requested_epochs = self.num_epochs
        #: anything with ``update(n)`` (a tqdm bar), advanced once per epoch
        self.progress: Any = None

    def set_schedule(
        self,
        *,
        epochs: int | None = None,
        iterations_per_epoch: int | None = None,
        val_iterations: int | None = None,
        max_seconds: float | None = None,
        skip_final_validation: bool | None = None,
        save_best: bool | None = None,
        mirroring: str | None = None,
        optimizer: str | None = None,
        learning_rate: float | None = None,
        augmentation: str | None = None,
        precision: str | None = None,
        plot_every: int | None = None,
        deep_supervision: bool | None = None,
        loss: str | None = None,
    ) -> None:
        """Set the schedule; call before training starts (the LR schedule is built from ``epochs``)."""
        if epochs is not None:
            self.num_epochs = max(1, int(epochs))
        if iterations_per_epoch is not None:
            self.num_iterations_per_epoch = max(1, int(iterations_per_epoch))
        if val_iterations is not None:
            # nnU-Net averages the validation outputs of each epoch: at least one is needed
            self.num_val_iterations_per_epoch = max(1, int(val_iterations))
        if max_seconds is not None:
            self.max_seconds = float(max_seconds)
        if skip_final_validation is not None:
            self.skip_final_validation = bool(skip_final_validation)
        if save_best is not None:
            self.save_best = bool(save_best)
        if mirroring is not None:
            self.mirroring = check_choice("mirroring", mirroring, MIRRORING_MODES)
        if optimizer is not None or learning_rate is not None:
            self._set_optimizer(optimizer or self.optimizer_name, learning_rate)
        if augmentation is not None:
            self.augmentation = check_choice("augmentation", augmentation, AUGMENTATIONS)
        if precision is not None:
            self.precision = check_choice("precision", precision, PRECISIONS)
        if plot_every is not None:
            self.plot_every = max(1, int(plot_every))
        if deep_supervision is not None:  # read when the loss is built, at initialisation
            self.enable_deep_supervision = bool(deep_supervision)
        if loss is not None:
            self.loss_name = check_choice("loss", loss, LOSSES)

    def _set_optimizer(self, name: str, learning_rate: float | str | None) -> None:
        self.optimizer_name = check_choice("optimizer", name, OPTIMIZERS)
        self.initial_lr = float(learning_rate) if learning_rate is not None else OPTIMIZERS[name]

    def configure_optimizers(self):
        self.print_to_log_file(
            f"optimizer: {self.optimizer_name}, initial learning rate {self.initial_lr:g}"
        )
        if self.optimizer_name == "sgd":
            return super().configure_optimizers()
        optimizer = torch.optim.AdamW(
            self.network.parameters(),
            lr=self.initial_lr,
            weight_decay=self.weight_decay,
            amsgrad=True,
        )
        return optimizer, PolyLRScheduler(optimizer, self.initial_lr, self.num_epochs)

    def load_checkpoint(self, filename_or_checkpoint: dict | str) -> None:
        """nnU-Net's, after checking the checkpoint's optimizer is this trainer's (its state would not fit)."""
        ckpt = filename_or_checkpoint
        if isinstance(ckpt, str):  # memory-mapped: only the optimizer's small metadata is read here
            ckpt = torch.load(ckpt, map_location="cpu", weights_only=False, mmap=True)
        groups = (ckpt.get("optimizer_state") or {}).get("param_groups") or [{}]
        saved = "adam" if "betas" in groups[0] else "sgd" if "momentum" in groups[0] else None
        if saved is not None and saved != self.optimizer_name:
            raise ValueError(
                f"checkpoint {filename_or_checkpoint if isinstance(filename_or_checkpoint, str) else ''}: trained "
                f"with optimizer {saved!r}, asked to continue with {self.optimizer_name!r} (continue with "
                f"optimizer={saved!r}, or start afresh)"
            )
        super().load_checkpoint(filename_or_checkpoint)

    def configure_rotation_dummyDA_mirroring_and_inital_patch_size(self):
        rotation, dummy_2d, initial_patch_size, _ = (
            super().configure_rotation_dummyDA_mirroring_and_inital_patch_size()
        )
        lr_axis = (self.dataset_json.get(DATASET_JSON_KEY) or {}).get("left_right_axis")
        axes = mirror_axes_for(
            self.mirroring,
            lr_axis=lr_axis,
            transpose_forward=list(self.plans_manager.transpose_forward),
            dim=len(self.configuration_manager.patch_size),
        )
        self.print_to_log_file(
            f"mirroring: {self.mirroring} -> mirror axes {axes} (left-right voxel axis {lr_axis})"
        )
        self.inference_allowed_mirroring_axes = axes
        if self.augmentation == "none":  # as nnU-Net's nnUNetTrainerNoDA: patches as validated
            self.print_to_log_file("augmentation: none (mirroring only, as asked)")
            initial_patch_size = tuple(self.configuration_manager.patch_size)
        return rotation, dummy_2d, initial_patch_size, axes

    def _build_loss(self) -> Any:
        """nnU-Net's Dice + cross-entropy, with ``loss="dice"`` its ``nnUNetTrainerDiceLoss``'s, or
        with ``loss="dice+balanced-ce"`` Dice + cross-entropy weighted by :func:`balanced_class_weights`."""
        self.print_to_log_file(f"loss: {self.loss_name}")
        if self.loss_name == "dice":
            from nnunetv2.training.nnUNetTrainer.variants.loss.nnUNetTrainerDiceLoss import (
                nnUNetTrainerDiceLoss,
            )

            return nnUNetTrainerDiceLoss._build_loss(self)
        loss = super()._build_loss()
        if self.loss_name == "dice+balanced-ce":
            weights = balanced_class_weights(self._class_voxel_counts())
            self.print_to_log_file(f"cross-entropy class weights: {[round(w, 2) for w in weights]}")
            # nnU-Net's DC_and_CE_loss, inside its deep-supervision wrapper if any: the CE's weight buffer
            dc_and_ce = getattr(loss, "loss", loss)
            dc_and_ce.ce.weight = torch.tensor(weights, dtype=torch.float32, device=self.device)
        return loss

    def _class_voxel_counts(self) -> list[int]:
        """Voxels of each label in the preprocessed training cases (negative values: outside the crop)."""
        from nnunetv2.training.dataloading.nnunet_dataset import infer_dataset_class

        folder = self.preprocessed_dataset_folder
        dataset = infer_dataset_class(folder)(folder)
        n = len(self.label_manager.all_labels)
        counts = np.zeros(n, dtype=np.int64)
        for identifier in dataset.identifiers:
            seg = np.asarray(dataset.load_case(identifier)[1])
            counts += np.bincount(seg[seg >= 0].astype(np.int64).ravel(), minlength=n)[:n]
        return [int(c) for c in counts]

    def get_training_transforms(  # type: ignore[override]  (nnU-Net's is a staticmethod)
        self,
        patch_size: Any,
        rotation_for_DA: Any,
        deep_supervision_scales: Any,
        mirror_axes: Any,
        do_dummy_2d_data_aug: bool,
        use_mask_for_norm: Any = None,
        is_cascaded: bool = False,
        foreground_labels: Any = None,
        regions: Any = None,
        ignore_label: int | None = None,
    ) -> Any:
        """nnU-Net's training transforms; with ``augmentation="none"`` its validation transforms,
        after the mirroring ``mirroring`` asks for (nnU-Net's ``MirrorTransform``)."""
        if self.augmentation == "none":
            validation = nnUNetTrainer.get_validation_transforms(
                deep_supervision_scales, is_cascaded, foreground_labels, regions, ignore_label
            )
            if not mirror_axes:
                return validation
            from batchgeneratorsv2.transforms.spatial.mirroring import MirrorTransform
            from batchgeneratorsv2.transforms.utils.compose import ComposeTransforms

            mirror = MirrorTransform(allowed_axes=mirror_axes)
            return ComposeTransforms([mirror, *validation.transforms])
        return nnUNetTrainer.get_training_transforms(
            patch_size, rotation_for_DA, deep_supervision_scales, mirror_axes,
            do_dummy_2d_data_aug, use_mask_for_norm=use_mask_for_norm, is_cascaded=is_cascaded,
            foreground_labels=foreground_labels, regions=regions, ignore_label=ignore_label,
        )  # fmt: skip

    def save_checkpoint(self, filename: str) -> None:
        if not self.save_best and os.path.basename(filename) == "checkpoint_best.pth":
            return
        super().save_checkpoint(filename)

    def run_training(self) -> None:
        try:
            super().run_training()
        except _TimeBudgetReached:
            self.print_to_log_file(
                f"Stopped after {self.current_epoch} epochs (time budget {self.max_seconds:.0f} s)"
            )
            self.on_train_end()

    def on_train_start(self) -> None:
        super().on_train_start()
        if self.precision == "bf16" and self.device.type == "cpu" and not self._autocast_hooks:
            self._autocast_hooks = _bfloat16_forward(self.network)
            self.print_to_log_file("precision: bf16 (forward pass under CPU bfloat16 autocast)")
        # the budget counts training epochs, not the set-up before them
        self._started_at = time.monotonic()
        self._first_epoch = self.current_epoch
        self._requested_epochs = self.num_epochs

    def on_epoch_end(self) -> None:
        epoch = self.current_epoch
        plot = (epoch + 1) % self.plot_every == 0 or epoch + 1 >= self.num_epochs
        # nnU-Net draws the figure after every epoch: about 0.8 s on a CPU
        skip = replaced(self.logger, "plot_progress_png", lambda *args, **kwargs: None)
        with contextlib.nullcontext() if plot else skip:
            super().on_epoch_end()  # increments current_epoch
        if self.progress is not None:
            self.progress.update(1)
        if self.max_seconds is None or self._started_at is None:
            return
        elapsed = time.monotonic() - self._started_at
        per_epoch = elapsed / max(1, self.current_epoch - self._first_epoch)
        fit = self.current_epoch + int(max(0.0, self.max_seconds - elapsed) // max(per_epoch, 1e-6))
        # fit the learning-rate schedule to the epochs the budget allows
        self.num_epochs = max(self.current_epoch, min(self._requested_epochs, fit))
        if self.lr_scheduler is not None:
            self.lr_scheduler.max_steps = max(1, self.num_epochs)
        if self.progress is not None:
            self.progress.total = self.num_epochs
        # nnU-Net's epoch loop was sized from the requested epochs: leave it here
        if self.current_epoch >= self.num_epochs:
            raise _TimeBudgetReached

    def perform_actual_validation(self, save_probabilities: bool = False) -> None:
        if self.skip_final_validation:
            self.print_to_log_file("Final validation skipped (skip_final_validation)")
            return
        super().perform_actual_validation(save_probabilities)
