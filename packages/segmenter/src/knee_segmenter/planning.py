"""nnU-Net v2 experiment planning and preprocessing, from Python."""

from __future__ import annotations

import contextlib
import io
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from knee_segmenter.errors import SegmenterError, needs_nnunet
from knee_segmenter.export import find_dataset_dir
from knee_segmenter.folders import configure_nnunet, use_folders
from knee_segmenter.patching import replaced

__all__ = ["EXPORT_RESAMPLINGS", "PLANS_IDENTIFIER", "plan_and_preprocess"]

#: The plans nnU-Net's default planner writes (``nnUNetPlans.json``).
PLANS_IDENTIFIER = "nnUNetPlans"
#: how predictions are resampled to the scan's grid (:func:`plan_and_preprocess`)
EXPORT_RESAMPLINGS = ("nnunet", "torch")


def plan_and_preprocess(
    dataset_id: int,
    *,
    root: str | os.PathLike[str] | None = None,
    configurations: Sequence[str] = ("3d_fullres",),
    num_processes: int | None = None,
    foreground_voxels: int = 100_000,
    gpu_memory_target_gb: float | None = None,
    base_features: int | None = None,
    max_features: int | None = None,
    spacing_factor: float = 1.0,
    export_resampling: str = "nnunet",
    verbose: bool = False,
    progress: bool | None = None,
) -> Path:
    """Fingerprint, plan and preprocess an exported dataset; return the plans file.

    Runs nnU-Net's fingerprint extraction (sampling ``foreground_voxels`` for the
    intensity statistics), its default ``ExperimentPlanner`` and the preprocessing
    of ``configurations``. ``num_processes``: worker processes (default: see
    :func:`knee_segmenter.folders.use_folders`). ``base_features`` /
    ``max_features`` override the planner's U-Net width (32 / 320 features per
    stage): narrower networks train much faster on a CPU, for smoke tests and
    demos. ``spacing_factor``: train and predict on a grid this many times
    coarser than nnU-Net's target spacing (2 = 1/8 of the voxels); nnU-Net
    resamples each scan to it and the predictions back to the scan's grid.
    ``export_resampling``: how predicted probabilities go back to the scan's
    grid, ``"nnunet"`` (its default scipy resampling) or ``"torch"`` (nnU-Net's
    own ``resample_torch_fornnunet``, as its ``_torchres`` planners use, about
    8x faster on a CPU for 26 classes; training data and labels are resampled
    as by default either way).
    ``progress``: nnU-Net's fingerprinting and preprocessing bars (default: when
    standard error is a terminal, as the training bar).
    Rerunning redoes all three steps (the raw dataset may have changed).
    """
    if export_resampling not in EXPORT_RESAMPLINGS:
        raise SegmenterError(
            f"export_resampling: expected one of {', '.join(EXPORT_RESAMPLINGS)}, got {export_resampling!r}"
        )
    if not float(spacing_factor) > 0:
        raise SegmenterError(f"spacing_factor: expected a positive number, got {spacing_factor!r}")
    folders = use_folders(root)
    n = configure_nnunet(num_processes=num_processes)
    raw_dir = find_dataset_dir(dataset_id, root=folders.root)
    if not (raw_dir / "dataset.json").is_file():
        raise SegmenterError(f"{raw_dir}: missing dataset.json (run export_dataset first)")

    with needs_nnunet():
        import nnunetv2.experiment_planning.dataset_fingerprint.fingerprint_extractor as fingerprint_module
        import nnunetv2.preprocessing.preprocessors.default_preprocessor as preprocessor_module
        from nnunetv2.experiment_planning.experiment_planners.default_experiment_planner import (
            ExperimentPlanner,
        )
        from nnunetv2.experiment_planning.plan_and_preprocess_api import (
            extract_fingerprint_dataset,
            plan_experiment_dataset,
            preprocess_dataset,
        )

    from knee_segmenter.fingerprint import SampledFingerprintExtractor

    quiet = contextlib.nullcontext() if verbose else contextlib.redirect_stdout(io.StringIO())
    in_process = (
        _threads_for_spawn_pools(fingerprint_module, preprocessor_module)
        if n == 1
        else contextlib.nullcontext()
    )
    show = sys.stderr.isatty() if progress is None else bool(progress)
    with quiet, in_process:
        extract_fingerprint_dataset(
            int(dataset_id),
            SampledFingerprintExtractor.with_voxels(foreground_voxels),
            num_processes=n,
            check_dataset_integrity=False,
            clean=True,
            verbose=verbose,
            show_progress_bar=show,
        )
        _, plans_identifier = plan_experiment_dataset(
            int(dataset_id),
            _planner_class(
                ExperimentPlanner,
                base_features,
                max_features,
                float(spacing_factor),
                torch_export=export_resampling == "torch",
            ),
            gpu_memory_target_in_gb=gpu_memory_target_gb,  # type: ignore[arg-type]  (None = nnU-Net's default)
        )
        preprocess_dataset(
            int(dataset_id),
            plans_identifier,
            configurations=list(configurations),
            num_processes=[n] * len(configurations),
            verbose=verbose,
            show_progress_bar=show,
        )
    plans = folders.preprocessed / raw_dir.name / f"{plans_identifier}.json"
    if not plans.is_file():
        raise SegmenterError(f"nnU-Net planning wrote no plans file {plans}")
    return plans


def _planner_class(
    base: type,
    base_features: int | None,
    max_features: int | None,
    spacing_factor: float = 1.0,
    *,
    torch_export: bool = False,
) -> type:
    """``base`` (nnU-Net's ExperimentPlanner) with the U-Net width, target spacing and export overridden."""
    if (
        base_features is None
        and max_features is None
        and spacing_factor == 1.0
        and not torch_export
    ):
        return base
    for name, value in (("base_features", base_features), ("max_features", max_features)):
        if value is not None and int(value) < 1:
            raise SegmenterError(f"{name}: expected a positive number of features, got {value!r}")

    def __init__(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        base.__init__(self, *args, **kwargs)
        if base_features is not None:
            self.UNet_base_num_features = int(base_features)
        if max_features is not None:
            self.UNet_max_features_3d = int(max_features)
            self.UNet_max_features_2d = int(max_features)

    def determine_fullres_target_spacing(self):  # type: ignore[no-untyped-def]
        return base.determine_fullres_target_spacing(self) * spacing_factor

    def determine_segmentation_softmax_export_fn(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        if not torch_export:
            return base.determine_segmentation_softmax_export_fn(self, *args, **kwargs)
        from nnunetv2.preprocessing.resampling.resample_torch import resample_torch_fornnunet

        # the kwargs of nnU-Net's own torch-resampling planners
        return resample_torch_fornnunet, {
            "is_seg": False,
            "force_separate_z": False,
            "memefficient_seg_resampling": False,
        }

    return type(
        f"Knee{base.__name__}",
        (base,),
        {
            "__init__": __init__,
            "determine_fullres_target_spacing": determine_fullres_target_spacing,
            "determine_segmentation_softmax_export_fn": determine_segmentation_softmax_export_fn,
        },
    )


class _ThreadContext:
    """Stands in for ``multiprocessing.get_context("spawn")``: its ``Pool`` is a thread pool."""

    def __init__(self, real: Any) -> None:
        self._real = real

    def get_context(self, method: str | None = None) -> Any:
        return self

    def Pool(self, processes: int | None = None) -> Any:
        from multiprocessing.pool import ThreadPool

        return ThreadPool(processes)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


@contextlib.contextmanager
def _threads_for_spawn_pools(*modules: Any) -> Iterator[None]:
    """Run nnU-Net's one-worker ``spawn`` pools as in-process threads.

    nnU-Net's fingerprinting and preprocessing always start ``spawn`` worker
    processes, each of which imports torch and nnunetv2 again (5-20 s on a busy
    CPU) before handling a tiny dataset in a second. With one worker, a thread does
    the same work without that start-up.
    """
    with contextlib.ExitStack() as stack:
        for m in modules:
            stack.enter_context(replaced(m, "multiprocessing", _ThreadContext(m.multiprocessing)))
        yield
