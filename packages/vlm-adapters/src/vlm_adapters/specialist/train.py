"""Training the specialist: fit on the train split, select on val, write a model folder.

Deterministic in ``seed`` on one device and thread count (both recorded in
``config.json``): torch's deterministic algorithms are switched on for the
run (on CUDA, an op without a deterministic kernel warns rather than
fails), every shuffle and crop jitter comes from one numpy generator, and
the work is bounded by ``epochs``, never by wall-clock time.
"""

from __future__ import annotations

import copy
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from vlm_adapters.errors import AdapterError
from vlm_adapters.specialist.data import IGNORE, LabelledScan, load_split_scans
from vlm_adapters.specialist.layout import HeadLayout
from vlm_adapters.specialist.model import SpecialistConfig, SpecialistModel, resolve_device

__all__ = ["EpochRecord", "SpecialistResult", "train_specialist"]


@dataclass(frozen=True, slots=True)
class EpochRecord:
    """One epoch: train losses, then val loss, accuracy and box IoU (epoch 0 = before training)."""

    epoch: int
    train_grade_loss: float | None
    train_box_loss: float | None
    val_grade_loss: float
    val_accuracy: float
    val_iou: float


@dataclass
class SpecialistResult:
    """What :func:`train_specialist` wrote and how training went."""

    path: Path
    best_grader_epoch: int
    best_localiser_epoch: int
    val_accuracy: float
    val_iou: float
    device: str
    threads: int
    seconds: float
    history: list[EpochRecord] = field(default_factory=list)


def _require_torch() -> Any:
    try:
        import safetensors  # noqa: F401
        import torch
    except ImportError as exc:
        raise AdapterError(
            f"the specialist needs torch and safetensors ({exc.name} is missing): "
            "install vlm-adapters[specialist]"
        ) from exc
    return torch


def _atlas(scans: list[LabelledScan], n_boxed: int) -> np.ndarray:
    """Mean canonical train box per group; the whole volume where no train scan has one."""
    stack = np.stack([s.boxes for s in scans]) if scans else np.full((1, n_boxed, 6), np.nan)
    atlas = np.tile(np.array([0.0, 1.0, 0.0, 1.0, 0.0, 1.0]), (n_boxed, 1))
    seen = ~np.isnan(stack[:, :, 0])
    for g in range(n_boxed):
        if seen[:, g].any():
            atlas[g] = stack[seen[:, g], g].mean(axis=0)
    return atlas


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of fractional boxes ``(..., 6)``."""
    lo = np.maximum(a[..., 0::2], b[..., 0::2])
    hi = np.minimum(a[..., 1::2], b[..., 1::2])
    inter = np.clip(hi - lo, 0, None).prod(-1)
    va = np.clip(a[..., 1::2] - a[..., 0::2], 0, None).prod(-1)
    vb = np.clip(b[..., 1::2] - b[..., 0::2], 0, None).prod(-1)
    return inter / np.maximum(va + vb - inter, 1e-12)


class _Trainer:
    """One training run's state (tensors on the device, the generator, the optimizer)."""

    def __init__(self, model: SpecialistModel, train: list[LabelledScan], val: list[LabelledScan]):
        import torch

        self.torch = torch
        self.model, self.train, self.val = model, train, val
        self.rng = np.random.default_rng(model.config.seed)
        self.n_val_items = 0
        dev = model.device
        self.vols = {s.scan_id: torch.as_tensor(s.volume, device=dev) for s in train + val}
        self.loc_in = {k: model.localiser_input(v) for k, v in self.vols.items()}
        params = list(model.localiser.parameters()) + list(model.grader.parameters())
        self.opt = torch.optim.AdamW(
            params, lr=model.config.lr, weight_decay=model.config.weight_decay, foreach=True
        )
        self.schedule = torch.optim.lr_scheduler.CosineAnnealingLR(
            self.opt, T_max=model.config.epochs
        )

    def _grade_targets(self, scans: list[LabelledScan], groups: list[int]) -> Any:
        attrs = self.model.group_attrs[groups]  # (N, K)
        grades = np.stack([s.grades for s in scans])
        rows = np.repeat(np.arange(len(scans))[:, None], attrs.shape[1], axis=1)
        t = np.where(attrs >= 0, grades[rows, np.maximum(attrs, 0)], IGNORE)
        return self.torch.as_tensor(t, device=self.model.device)

    def _crops(self, scans: list[LabelledScan], boxes: np.ndarray, jitter: float) -> tuple:
        """All groups' crops of ``scans`` at ``boxes`` (canonical fractions, NaN = atlas)."""
        torch, m = self.torch, self.model
        crops, groups, owners = [], [], []
        for i, s in enumerate(scans):
            for g in range(len(m.layout.groups)):
                norm = None
                if g:
                    norm = boxes[i, g - 1]
                    if np.isnan(norm[0]):
                        norm = m.atlas[g - 1]
                    if jitter:
                        ext = np.repeat(norm[1::2] - norm[0::2], 2)
                        norm = norm + self.rng.uniform(-jitter, jitter, 6) * ext
                crops.append(m.crop(self.vols[s.scan_id], norm))
                groups.append(g)
                owners.append(s)
        g_t = torch.as_tensor(groups, device=m.device)
        return torch.stack(crops), g_t, self._grade_targets(owners, groups)

    def _grade_loss(self, crops: Any, groups: Any, targets: Any) -> Any:
        import torch.nn.functional as F

        logits = self.model.group_logits(crops, groups)
        return F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=IGNORE)

    def _loc_loss(self, scans: list[LabelledScan]) -> Any:
        torch = self.torch
        x = torch.stack([self.loc_in[s.scan_id] for s in scans])
        truth = torch.as_tensor(np.stack([s.boxes for s in scans]), device=self.model.device)
        pred = self.model.localiser(x)
        ok = ~torch.isnan(truth)
        return (pred[ok] - truth[ok].float()).abs().mean()

    def epoch(self) -> tuple[float, float]:
        """One pass: localiser over the train scans, grader over every train crop (jittered)."""
        m, cfg = self.model, self.model.config
        m.localiser.train()
        m.grader.train()
        order = self.rng.permutation(len(self.train))
        box_losses = []
        for i in range(0, len(order), cfg.loc_batch):
            loss = self._loc_loss([self.train[j] for j in order[i : i + cfg.loc_batch]])
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            self.opt.step()
            box_losses.append(loss.item())
        crops, groups, targets = self._crops(
            self.train, np.stack([s.boxes for s in self.train]), cfg.jitter
        )
        perm = self.torch.as_tensor(self.rng.permutation(crops.shape[0]), device=m.device)
        grade_losses = []
        for i in range(0, crops.shape[0], cfg.batch):
            b = perm[i : i + cfg.batch]
            loss = self._grade_loss(crops[b], groups[b], targets[b])
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            self.opt.step()
            grade_losses.append(loss.item())
        self.schedule.step()
        return float(np.mean(grade_losses)), float(np.mean(box_losses))

    def evaluate(self) -> tuple[float, float, float]:
        """Val grade loss and accuracy on crops at the localiser's boxes, and mean box IoU."""
        torch, m = self.torch, self.model
        m.localiser.eval()
        m.grader.eval()
        with torch.no_grad():
            x = torch.stack([self.loc_in[s.scan_id] for s in self.val])
            pred = m.localiser(x).double().cpu().numpy()
            crops, groups, targets = self._crops(self.val, pred, 0.0)
            logits = m.group_logits(crops, groups)
            import torch.nn.functional as F

            loss = float(
                F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=IGNORE)
            )
            ok = targets != IGNORE
            self.n_val_items = int(ok.sum())
            acc = float((logits.argmax(-1)[ok] == targets[ok]).float().mean())
        truth = np.stack([s.boxes for s in self.val])
        has = ~np.isnan(truth[..., 0])
        iou = float(_iou(pred, np.nan_to_num(truth))[has].mean()) if has.any() else float("nan")
        return loss, acc, iou


def _pick_grader(history: list[EpochRecord], n_items: int) -> int:
    """The latest epoch whose val accuracy is within one standard error of the best.

    A small val split cannot tell epochs closer than that apart; among those,
    the latest has trained longest (the learning rate has decayed).
    """
    best = max(h.val_accuracy for h in history)
    se = float(np.sqrt(best * (1.0 - best) / max(n_items, 1)))
    return max(h.epoch for h in history if h.val_accuracy >= best - se)


def _fit(
    trainer: _Trainer, epochs: int, on_epoch: Callable[[EpochRecord], None] | None
) -> tuple[list[EpochRecord], int, int]:
    """Epoch loop; keeps the grader of :func:`_pick_grader` and the localiser of the best val IoU."""
    m = trainer.model
    history: list[EpochRecord] = []
    graders: list[dict] = []
    best_loc: tuple[float, int, dict | None] = (-np.inf, 0, None)
    for epoch in range(epochs + 1):
        tg, tb = trainer.epoch() if epoch else (None, None)
        vl, va, vi = trainer.evaluate()
        rec = EpochRecord(epoch, tg, tb, vl, va, vi)
        history.append(rec)
        graders.append(copy.deepcopy(m.grader.state_dict()))
        if vi > best_loc[0]:
            best_loc = (vi, epoch, copy.deepcopy(m.localiser.state_dict()))
        if on_epoch is not None:
            on_epoch(rec)
    best_g = _pick_grader(history, trainer.n_val_items)
    m.grader.load_state_dict(graders[best_g])
    m.localiser.load_state_dict(best_loc[2])
    m.grader.eval()
    m.localiser.eval()
    return history, best_g, best_loc[1]


def train_specialist(
    dataset_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    seed: int = 0,
    epochs: int = 20,
    device: str = "auto",
    threads: int | None = None,
    config: SpecialistConfig | None = None,
    overwrite: bool = False,
    progress: bool = True,
    on_epoch: Callable[[EpochRecord], None] | None = None,
) -> SpecialistResult:
    """Train the specialist on ``dataset_dir``'s train split, select on val, write ``out_dir``.

    ``config`` gives the remaining settings (:class:`SpecialistConfig`); ``seed``,
    ``epochs`` and ``threads`` (default: the config's, 1) override it. ``out_dir`` is written atomically; an existing one only with
    ``overwrite``. Load the result with ``--model specialist:OUT_DIR``.
    """
    torch = _require_torch()
    from knee_volumes.atomic import atomic_folder

    t0 = time.perf_counter()
    out = Path(out_dir)
    if out.exists() and not overwrite:
        raise AdapterError(f"{out}: exists (pass overwrite=True to replace it)")
    base = config or SpecialistConfig()
    cfg = replace(base, seed=seed, epochs=epochs, threads=threads or base.threads)
    dev = resolve_device(device)
    layout = HeadLayout.default()
    train = _load(dataset_dir, "train", layout, progress)
    val = _load(dataset_dir, "val", layout, progress)
    if not train or not val:
        raise AdapterError(f"{dataset_dir}: the specialist needs train and val scans")
    old_threads, old_det = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    if dev.startswith("cuda"):
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    try:
        torch.set_num_threads(cfg.threads)
        # CUDA: ops without a deterministic kernel warn instead of stopping the run
        torch.use_deterministic_algorithms(True, warn_only=dev.startswith("cuda"))
        torch.manual_seed(cfg.seed)
        model = SpecialistModel.create(cfg, layout, _atlas(train, len(layout.groups) - 1), dev)
        trainer = _Trainer(model, train, val)
        history, best_g, best_l = _fit(
            trainer, cfg.epochs, _progress(cfg.epochs, progress, on_epoch)
        )
    finally:
        torch.set_num_threads(old_threads)
        torch.use_deterministic_algorithms(old_det)
    model.extra = {"device": dev, "train_scans": len(train), "val_scans": len(val)}
    seconds = time.perf_counter() - t0
    metrics = {
        "best_grader_epoch": best_g,
        "best_localiser_epoch": best_l,
        "val_accuracy": history[best_g].val_accuracy,
        "val_iou": history[best_l].val_iou,
        "history": [asdict(h) for h in history],
        "seconds": round(seconds, 3),
    }
    with atomic_folder(out, overwrite=overwrite) as tmp:
        model.save(tmp, metrics)
    return SpecialistResult(
        out,
        best_g,
        best_l,
        history[best_g].val_accuracy,
        history[best_l].val_iou,
        dev,
        cfg.threads,
        seconds,
        history,
    )


def _load(dataset: Any, split: str, layout: HeadLayout, progress: bool) -> list[LabelledScan]:
    if not progress:
        return load_split_scans(dataset, split, layout)
    from tqdm.auto import tqdm

    with tqdm(desc=f"specialist: reading {split}", unit="scan", dynamic_ncols=True) as bar:

        def tick(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        return load_split_scans(dataset, split, layout, on_scan=tick)


def _progress(
    epochs: int, progress: bool, on_epoch: Callable[[EpochRecord], None] | None
) -> Callable[[EpochRecord], None] | None:
    if not progress:
        return on_epoch
    from tqdm.auto import tqdm

    bar = tqdm(total=epochs + 1, desc="specialist: epochs", unit="epoch", dynamic_ncols=True)

    def tick(rec: EpochRecord) -> None:
        bar.update(1)
        bar.set_postfix(val_acc=f"{rec.val_accuracy:.3f}", val_iou=f"{rec.val_iou:.3f}")
        if rec.epoch == epochs:
            bar.close()
        if on_epoch is not None:
            on_epoch(rec)

    return tick
