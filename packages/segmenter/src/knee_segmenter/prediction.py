"""Resumable, batched prediction of 25-region label maps with a trained nnU-Net model.

Each scan ``<scan_id>`` gets ``<out_dir>/<scan_id>.nii.gz``, a uint8 label map
with the input's shape and affine (checked after writing). Scans whose output
already exists and is valid (readable, same shape and affine as the input,
labels within 0..25) are skipped, so an interrupted run picks up where it
stopped. Outputs are written to a temporary name and renamed.
"""

from __future__ import annotations

import contextlib
import io
import os
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from knee_volumes.atomic import atomic_file

from knee_segmenter.errors import SegmenterError, needs_nnunet
from knee_segmenter.export import case_id_from_path
from knee_segmenter.folders import configure_nnunet
from knee_segmenter.patching import replaced
from knee_segmenter.training import Fold, ModelDir

if TYPE_CHECKING:
    import polars as pl

__all__ = [
    "SegmentationCase",
    "check_aligned",
    "is_valid_prediction",
    "predict",
    "segmentation_cases",
]


@dataclass(frozen=True, slots=True)
class SegmentationCase:
    """One scan to segment: its id (the output's file name) and its NIfTI volume."""

    scan_id: str
    image: Path


def segmentation_cases(
    images: Sequence[str | os.PathLike[str] | SegmentationCase] | pl.DataFrame,
    *,
    base_dir: str | os.PathLike[str] | None = None,
) -> list[SegmentationCase]:
    """Normalise a list of NIfTI paths or a scan manifest to :class:`SegmentationCase` items.

    A manifest needs ``scan_id`` and ``image_path``; rows whose ``status`` is not
    ``"ok"`` are left out. Relative paths are taken relative to ``base_dir``.
    """
    base = Path(base_dir) if base_dir is not None else None

    def resolve(p: str | os.PathLike[str]) -> Path:
        q = Path(p)
        return base / q if base is not None and not q.is_absolute() else q

    out: list[SegmentationCase] = []
    if hasattr(images, "columns") and hasattr(images, "iter_rows"):
        manifest: Any = images
        for col in ("scan_id", "image_path"):
            if col not in manifest.columns:
                raise SegmenterError(
                    f"scan manifest: missing column {col!r} (expected scan_id, image_path)"
                )
        for row in manifest.iter_rows(named=True):
            if row.get("status", "ok") != "ok":
                continue
            out.append(SegmentationCase(str(row["scan_id"]), resolve(row["image_path"])))
    else:
        items: Any = images
        for item in items:
            if isinstance(item, SegmentationCase):
                out.append(SegmentationCase(item.scan_id, resolve(item.image)))
            else:
                out.append(SegmentationCase(case_id_from_path(item), resolve(item)))
    seen: dict[str, Path] = {}
    for s in out:
        if s.scan_id in seen:
            raise SegmenterError(
                f"scan {s.scan_id!r}: listed twice ({seen[s.scan_id]} and {s.image})"
            )
        seen[s.scan_id] = s.image
    return out


def check_aligned(pred: str | os.PathLike[str], image: str | os.PathLike[str]) -> None:
    """Raise :class:`SegmenterError` unless ``pred`` covers ``image``'s voxel grid.

    The one space check of :func:`knee_volumes.check_same_space` (same grid
    after reorientation, within ``knee_volumes.SPACE_ATOL_MM``).
    """
    import nibabel as nib
    from knee_volumes import VolumeError, check_same_space

    grids: list[Any] = [nib.load(str(image)), nib.load(str(pred))]  # headers: shape, affine
    try:
        check_same_space(grids[0], grids[1], label_path=pred)
    except VolumeError as exc:
        raise SegmenterError(f"prediction {exc} ({image})") from exc


def is_valid_prediction(
    pred: str | os.PathLike[str], image: str | os.PathLike[str], *, max_label: int = 25
) -> bool:
    """Whether ``pred`` is a finished prediction for ``image`` (aligned, integer labels 0..``max_label``)."""
    import nibabel as nib

    if not Path(pred).is_file():
        return False
    try:
        check_aligned(pred, image)
        img: Any = nib.load(str(pred))
        data = np.asanyarray(img.dataobj)
    except Exception:
        return False
    return bool(
        np.issubdtype(data.dtype, np.integer)
        and data.size
        and data.min() >= 0
        and data.max() <= max_label
    )


def predict(
    images: Sequence[str | os.PathLike[str] | SegmentationCase] | pl.DataFrame,
    out_dir: str | os.PathLike[str],
    *,
    model_dir: str | os.PathLike[str] | ModelDir,
    device: str = "auto",
    mirroring: bool = True,
    batch: int = 2,
    folds: Sequence[Fold] | None = None,
    tile_step_size: float = 0.5,
    base_dir: str | os.PathLike[str] | None = None,
    names: Sequence[str] | None = None,
    overwrite: bool = False,
    threads: int | None = None,
    progress: bool = True,
) -> list[Path]:
    """Segment ``images`` (NIfTI paths or a scan manifest) into ``out_dir``; return the outputs in input order.

    ``batch`` scans are read and preprocessed ahead of the network (in threads)
    and up to ``batch`` outputs are written behind it. ``mirroring``: nnU-Net's
    test-time mirroring (about 4-8× slower, slightly better). ``folds``: which
    trained folds to ensemble (default: all with a final checkpoint). ``names``:
    output paths relative to ``out_dir``, one per scan (default
    ``<scan_id>.nii.gz``), e.g. the dataset layout's
    ``<patient>/<visit>/<date>_<series>_<side>.nii.gz``. Existing
    valid outputs are kept unless ``overwrite``. ``threads``: torch CPU threads of the
    network (default: torch's, capped by nnU-Net at its worker count, see
    :func:`knee_segmenter.configure_nnunet`; a number given here is not capped).
    """
    model = model_dir if isinstance(model_dir, ModelDir) else ModelDir.open(model_dir)
    scans = segmentation_cases(images, base_dir=base_dir)
    for s in scans:
        if not s.image.is_file():
            raise SegmenterError(f"scan {s.scan_id!r}: image {s.image} does not exist")
    targets = _targets(scans, Path(out_dir), names)
    max_label = _max_label(model)
    todo = [
        (s, t)
        for s, t in zip(scans, targets, strict=True)
        if overwrite or not is_valid_prediction(t, s.image, max_label=max_label)
    ]
    if todo:
        # before nnunetv2 is imported: it must find KneeSegmenterTrainer (nnUNet_extTrainer)
        n_proc = configure_nnunet()
        net = _Network.load(model, device=device, mirroring=mirroring, folds=folds,
                            tile_step_size=tile_step_size)  # fmt: skip
        export_threads = max(1, int(threads)) if threads is not None else n_proc
        with _network_threads(threads):
            _run_pipelined(todo, net, batch=max(1, int(batch)), threads=threads,
                           export_threads=export_threads, progress=progress)  # fmt: skip
    return targets


def _targets(scans: list[SegmentationCase], out: Path, names: Sequence[str] | None) -> list[Path]:
    """The output path of each scan (``<scan_id>.nii.gz`` or ``names``), checked; creates ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    if names is None:
        return [out / f"{s.scan_id}.nii.gz" for s in scans]
    if len(names) != len(scans):
        raise SegmenterError(f"names: {len(names)} output names for {len(scans)} scans")
    targets = []
    for s, name in zip(scans, names, strict=True):
        rel = Path(name)
        if rel.is_absolute() or ".." in rel.parts or not rel.name.endswith(".nii.gz"):
            raise SegmenterError(
                f"scan {s.scan_id!r}: output name {name!r} must be a relative path ending in .nii.gz"
            )
        targets.append(out / rel)
    if len(set(targets)) != len(targets):
        raise SegmenterError("names: two scans share an output name")
    return targets


@dataclass(frozen=True)
class _Network:
    """An initialised nnU-Net predictor with its plans: preprocess, predict, export, write."""

    predictor: Any
    plans: Any
    configuration: Any
    labels: Any
    dataset_json: dict

    @classmethod
    def load(cls, model: ModelDir, *, device: str, mirroring: bool,
             folds: Sequence[Fold] | None, tile_step_size: float) -> _Network:  # fmt: skip
        """nnU-Net's predictor for ``model``'s ``folds`` (all with a final checkpoint by default)."""
        with needs_nnunet():
            from nnunetv2.inference.predict_from_raw_data import nnUNetPredictor

        from knee_segmenter.devices import resolve_device

        dev = resolve_device(device)
        use = tuple(folds) if folds is not None else model.folds
        missing = [f for f in use if not model.checkpoint(f).is_file()]
        if missing:
            raise SegmenterError(
                f"model folder {model.path}: no checkpoint_final.pth for folds {missing}"
            )
        # nnU-Net narrates its trainer lookup
        with contextlib.redirect_stdout(io.StringIO()), _direct_trainer_lookup():
            predictor = nnUNetPredictor(
                tile_step_size=tile_step_size, use_gaussian=True, use_mirroring=mirroring,
                perform_everything_on_device=dev.type == "cuda", device=dev, verbose=False,
                verbose_preprocessing=False, allow_tqdm=False,
            )  # fmt: skip
            predictor.initialize_from_trained_model_folder(
                str(model.path),
                use_folds=use,  # type: ignore[arg-type]
                checkpoint_name="checkpoint_final.pth",
            )
        pm, cm, lm = (
            predictor.plans_manager,
            predictor.configuration_manager,
            predictor.label_manager,
        )
        if pm is None or cm is None or lm is None or predictor.dataset_json is None:
            raise SegmenterError(
                f"model folder {model.path}: nnU-Net could not load its plans and dataset.json"
            )
        return cls(predictor, pm, cm, lm, predictor.dataset_json)

    def prepare(self, scan: SegmentationCase) -> tuple[np.ndarray, dict]:
        """The scan read and preprocessed as the model was trained (runs in a thread)."""
        preprocessor = self.configuration.preprocessor_class(verbose=False)
        data, _, props = preprocessor.run_case(
            [str(scan.image)], None, self.plans, self.configuration, self.dataset_json
        )
        return data, props

    def segment(self, data: np.ndarray, props: dict, *, export_threads: int) -> np.ndarray:
        """The label map of one preprocessed scan, in the scan's own grid."""
        import torch
        from nnunetv2.inference.export_prediction import (
            convert_predicted_logits_to_segmentation_with_correct_shape as to_segmentation,
        )

        with torch.inference_mode():
            logits = self.predictor.predict_logits_from_preprocessed_data(
                torch.from_numpy(data)
            ).cpu()
        seg = to_segmentation(logits, self.plans, self.configuration, self.labels, props,
                              num_threads_torch=export_threads)  # fmt: skip
        return np.asarray(seg)

    def write(self, scan: SegmentationCase, target: Path, seg: np.ndarray, props: dict) -> Path:
        """Write ``seg`` to ``target`` via a temporary file, checked against the scan's grid."""
        with atomic_file(target, suffix=".nii.gz") as tmp:
            self.plans.image_reader_writer_class().write_seg(seg, str(tmp), props)
            check_aligned(tmp, scan.image)
        return target


@contextlib.contextmanager
def _network_threads(threads: int | None) -> Iterator[None]:
    """Let nnU-Net's sliding window use ``threads`` torch threads (it caps them at its worker count)."""
    import nnunetv2.inference.predict_from_raw_data as module

    n = module.default_num_processes if threads is None else max(1, int(threads))
    with replaced(module, "default_num_processes", n):
        yield


@contextlib.contextmanager
def _direct_trainer_lookup() -> Iterator[None]:
    """Let nnU-Net's predictor find ``KneeSegmenterTrainer`` without importing every trainer it ships.

    nnU-Net finds a checkpoint's trainer class by importing each module under
    ``nnunetv2.training.nnUNetTrainer`` (10-20 s on a CPU, timm included) until
    one defines the name. For this package's trainer the class is known; other
    trainers' checkpoints are looked up as nnU-Net does.
    """
    import nnunetv2.inference.predict_from_raw_data as module

    from knee_segmenter.trainer import TRAINER_NAME, KneeSegmenterTrainer

    real = module.recursive_find_trainer_class_by_name

    def find(name: str, *args: Any, **kwargs: Any) -> Any:
        return KneeSegmenterTrainer if name == TRAINER_NAME else real(name, *args, **kwargs)

    with replaced(module, "recursive_find_trainer_class_by_name", find):
        yield


def _run_pipelined(todo: list[tuple[SegmentationCase, Path]], net: _Network, *, batch: int,
                   threads: int | None, export_threads: int, progress: bool) -> None:  # fmt: skip
    """Up to ``batch`` scans prepared ahead of the network and written behind it, in threads."""
    from tqdm.auto import tqdm

    from knee_segmenter.devices import torch_threads

    with (
        torch_threads(threads),
        ThreadPoolExecutor(max_workers=2) as pool,
        tqdm(total=len(todo), desc="nnU-Net prediction", unit="scan",
             disable=not progress or None) as bar,
    ):  # fmt: skip
        queue = iter(todo)
        ahead: deque[tuple[SegmentationCase, Path, Future]] = deque()
        behind: deque[Future] = deque()

        def fill() -> None:
            while len(ahead) < batch and (item := next(queue, None)) is not None:
                ahead.append((item[0], item[1], pool.submit(net.prepare, item[0])))

        fill()
        while ahead:
            scan, target, job = ahead.popleft()
            data, props = job.result()
            fill()
            seg = net.segment(data, props, export_threads=export_threads)
            del data
            behind.append(pool.submit(net.write, scan, target, seg, props))
            while len(behind) > batch or (behind and behind[0].done()):
                behind.popleft().result()
                bar.update(1)
        while behind:
            behind.popleft().result()
            bar.update(1)


def _max_label(model: ModelDir) -> int:
    import json

    labels = json.loads(model.dataset_json.read_text())["labels"]
    return max(int(v) if not isinstance(v, list) else max(v) for v in labels.values())
