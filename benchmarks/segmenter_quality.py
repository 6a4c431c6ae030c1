"""Segmenter quality: nnU-Net trained for E epochs x I iterations on phantoms, Dice per region vs truth.

Builds a phantom cohort (knee_phantom: training and held-out test
knees), trains ``KneeSegmenterTrainer`` for a seeded schedule bounded by
iterations (``--epochs`` x ``--iterations``; so the quality numbers do not
depend on the machine's speed or load) with :func:`knee_segmenter.train_segmenter`,
predicts the test knees and reports Dice per region against the phantom truth,
next to a named baseline measured in the same run: a voxel-wise majority-vote
atlas of the training label maps (what a model that ignores the image would
get). Also reports seconds of training and per scan of inference (these do
depend on the machine). ``--minutes`` adds a wall-clock stop on top.

    uv run --frozen python benchmarks/segmenter_quality.py --epochs 54 --threads 2
    uv run --frozen python benchmarks/segmenter_quality.py --epochs 54 --threads 2 --optimizer sgd
    # the demo's schedule (docs/segmentation.md): 48x96x96 phantoms on a grid 2x coarser
    uv run --frozen python benchmarks/segmenter_quality.py --shape 48 96 96 --train 8 --test 8 \\
        --spacing-factor 2 --epochs 24 --iterations 25 --lr 3e-3 --seed 0
    uv run --frozen python benchmarks/segmenter_quality.py --shape 160 384 384 --train 16 --test 4 \\
        --epochs 40 --iterations 50 --device cuda --full-width --num-processes 8      # a GPU machine

Writes ``dice.parquet``, ``dice_atlas.parquet``, ``dice.png`` and ``summary.json`` to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path


def _write_phantom(args: tuple[int, tuple[int, int, int], str]) -> tuple[str, str, str]:
    from knee_phantom import make_phantom
    from knee_volumes import write_nifti

    seed, shape, folder = args
    p = make_phantom(seed, shape=shape, side=1 + seed % 2)
    case = f"phantom{seed:04d}"
    ip = write_nifti(p.volume, Path(folder) / "nifti" / f"{case}.nii.gz")
    lp = write_nifti(p.labels, Path(folder) / "labels" / f"{case}.nii.gz", affine=p.volume.affine)
    return case, str(ip), str(lp)


def build_cohort(
    folder: Path, n: int, shape: tuple[int, int, int], workers: int
) -> list[tuple[str, Path, Path]]:
    jobs = [(seed, shape, str(folder)) for seed in range(n)]
    if workers > 1:
        with ProcessPoolExecutor(workers) as pool:
            done = list(pool.map(_write_phantom, jobs))
    else:
        done = [_write_phantom(j) for j in jobs]
    return [(c, Path(i), Path(lab)) for c, i, lab in done]


def atlas_predictions(train_labels: list[Path], test_images: list[Path], out: Path) -> list[Path]:
    """Baseline: the voxel-wise majority label of the training maps, written on each test grid."""
    import nibabel as nib
    import numpy as np

    stack = np.stack([np.asanyarray(nib.load(p).dataobj).astype(np.uint8) for p in train_labels])
    counts = np.stack([(stack == k).sum(0, dtype=np.uint16) for k in range(26)])
    atlas = counts.argmax(0).astype(np.uint8)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for img in test_images:
        ref = nib.load(img)
        if ref.shape != atlas.shape:
            raise SystemExit(
                f"atlas baseline needs one shape; {img} has {ref.shape}, atlas {atlas.shape}"
            )
        path = out / Path(img).name
        nib.save(nib.Nifti1Image(atlas, ref.affine), path)
        paths.append(path)
    return paths


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--epochs", type=int, default=54, help="training epochs (the schedule's bound)")
    ap.add_argument(
        "--minutes", type=float, default=None, help="optional wall-clock stop on top of --epochs"
    )
    ap.add_argument("--seed", type=int, default=0, help="training seed")
    ap.add_argument("--lr", type=float, default=None, help="initial learning rate")
    ap.add_argument(
        "--spacing-factor", type=float, default=1.0, help="grid this many times coarser"
    )
    ap.add_argument("--train", type=int, default=12, help="training phantoms")
    ap.add_argument("--test", type=int, default=4, help="held-out test phantoms")
    ap.add_argument("--shape", type=int, nargs=3, default=(32, 48, 48), metavar=("S", "R", "C"))
    ap.add_argument("--iterations", type=int, default=25, help="iterations per epoch")
    ap.add_argument("--device", default="auto")
    ap.add_argument(
        "--threads", type=int, default=None, help="torch CPU threads (1 is fastest on a busy CPU)"
    )
    ap.add_argument("--num-processes", type=int, default=None, help="nnU-Net worker processes")
    ap.add_argument("--cohort-workers", type=int, default=1, help="processes writing phantoms")
    ap.add_argument(
        "--full-width", action="store_true", help="nnU-Net's default U-Net width (32..320)"
    )
    ap.add_argument("--base-features", type=int, default=16)
    ap.add_argument("--max-features", type=int, default=128)
    ap.add_argument("--mirroring", action="store_true", help="test-time mirroring when predicting")
    ap.add_argument(
        "--train-mirroring",
        default="left-right",
        choices=("left-right", "none", "all"),
        help="augmentation mirror axes (all = nnU-Net's default)",
    )
    ap.add_argument(
        "--optimizer",
        default="adam",
        choices=("sgd", "adam"),
        help="sgd = nnU-Net's default; adam = AdamW (nnUNetTrainerAdam1en3)",
    )
    ap.add_argument("--out", type=Path, default=Path("runs/segmenter_quality"))
    a = ap.parse_args()

    import knee_segmenter as ks
    import polars as pl

    out = a.out.absolute()
    out.mkdir(parents=True, exist_ok=True)
    shape = tuple(a.shape)
    t0 = time.monotonic()
    cases = build_cohort(out / "cohort", a.train + a.test, shape, a.cohort_workers)
    t_cohort = time.monotonic() - t0
    train, test = cases[: a.train], cases[a.train :]
    if a.num_processes is not None:
        ks.configure_nnunet(num_processes=a.num_processes)

    t0 = time.monotonic()
    model = ks.train_segmenter(
        train,
        out / "model",
        epochs=a.epochs,
        iterations=a.iterations,
        val_iterations=2,
        max_seconds=None if a.minutes is None else a.minutes * 60,
        seed=a.seed,
        learning_rate=a.lr,
        spacing_factor=a.spacing_factor,
        device=a.device,
        fold="all",
        dataset_id=950,
        name="PhantomBench",
        root=out / "nnunet",
        base_features=None if a.full_width else a.base_features,
        max_features=None if a.full_width else a.max_features,
        threads=a.threads,
        mirroring=a.train_mirroring,
        optimizer=a.optimizer,
    )
    t_total_train = time.monotonic() - t0
    ckpt_epochs = _epochs(model)

    images, refs = [c[1] for c in test], [c[2] for c in test]
    # warm-up on the first test scan, then the others in one batched call (throughput per scan)
    kw = dict(
        model_dir=model,
        device=a.device,
        mirroring=a.mirroring,
        overwrite=True,
        threads=a.threads,
        progress=False,
    )
    t = time.monotonic()
    preds = ks.predict(images[:1], out / "pred", **kw)
    first = time.monotonic() - t
    t = time.monotonic()
    preds += ks.predict(images[1:], out / "pred", batch=2, **kw) if len(images) > 1 else []
    per_scan = (time.monotonic() - t) / (len(images) - 1) if len(images) > 1 else first
    table = ks.dice_table(preds, refs)
    atlas = ks.dice_table(atlas_predictions([c[2] for c in train], images, out / "atlas"), refs)
    table.write_parquet(out / "dice.parquet")
    atlas.write_parquet(out / "dice_atlas.parquet")
    ks.dice_barplot(
        table,
        out / "dice.png",
        title=f"nnU-Net, {ckpt_epochs} x {a.iterations} iterations, {a.train} phantoms",
    )

    def medians(t: pl.DataFrame) -> pl.DataFrame:
        return (
            t.group_by("label", "region").agg(pl.col("dice").median().alias("median")).sort("label")
        )

    m, b = medians(table), medians(atlas)
    joined = m.join(b, on=["label", "region"], suffix="_atlas")
    print(f"\ncohort {a.train}+{a.test} phantoms {shape}: built in {t_cohort:.1f} s")
    print(
        f"train_segmenter (export+plan+train): {t_total_train:.1f} s, {ckpt_epochs} epochs x "
        f"{a.iterations} iterations, seed {a.seed}, spacing factor {a.spacing_factor:g}, "
        f"mirroring {a.train_mirroring}, optimizer {a.optimizer}, lr {a.lr or 'default'}"
    )
    print(
        f"\n{'region':8s} {'nnU-Net':>8s} {'atlas':>8s} {'ratio':>7s}   (median Dice over {a.test} test phantoms)"
    )
    for r in joined.iter_rows(named=True):
        ratio = r["median"] / r["median_atlas"] if r["median_atlas"] else float("nan")
        print(f"{r['region']:8s} {_f(r['median'])} {_f(r['median_atlas'])} {ratio:7.2f}")
    med = statistics.median([x for x in table["dice"].drop_nulls().to_list()])
    med_b = statistics.median([x for x in atlas["dice"].drop_nulls().to_list()])
    mean = table["dice"].mean()
    mean_b = atlas["dice"].mean()
    print(
        f"\nall regions: median Dice {med:.3f} vs atlas baseline {med_b:.3f} (ratio {med / med_b:.2f}); "
        f"mean {mean:.3f} vs {mean_b:.3f}"
    )
    region_means = ks.dice_summary(table)
    worst = region_means.sort("mean_dice").row(0, named=True)
    verdict = "meets" if med >= 0.7 and (worst["mean_dice"] or 0.0) >= 0.3 else "misses"
    print(
        f"per region (mean over test scans): lowest {worst['region']} {worst['mean_dice']:.3f}; "
        f"{verdict} the demo's target (median >= 0.7, every region >= 0.3)"
    )
    print(
        f"inference: {per_scan:.2f} s/scan over {max(1, len(images) - 1)} scans in one call, model load "
        f"included (first call, 1 scan: {first:.2f} s; mirroring={'on' if a.mirroring else 'off'}, "
        f"device={a.device})"
    )
    summary = {
        "shape": shape,
        "train": a.train,
        "test": a.test,
        "minutes": a.minutes,
        "seed": a.seed,
        "learning_rate": a.lr,
        "spacing_factor": a.spacing_factor,
        "epochs": ckpt_epochs,
        "iterations_per_epoch": a.iterations,
        "train_mirroring": a.train_mirroring,
        "optimizer": a.optimizer,
        "median_dice": med,
        "median_dice_atlas": med_b,
        "mean_dice": mean,
        "mean_dice_atlas": mean_b,
        "seconds_per_scan": per_scan,
        "first_call_seconds": first,
        "train_segmenter_seconds": t_total_train,
        "device": a.device,
        "per_region_median": {r["region"]: r["median"] for r in joined.iter_rows(named=True)},
        "per_region_mean": {
            r["region"]: r["mean_dice"] for r in region_means.iter_rows(named=True)
        },
        "lowest_region_mean": worst["mean_dice"],
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"wrote {out}/dice.png, dice.parquet, summary.json")


def _f(x: float | None) -> str:
    return f"{x:8.3f}" if x is not None else f"{'-':>8s}"


def _epochs(model) -> int:
    import torch

    ckpt = torch.load(model.checkpoint(model.folds[0]), map_location="cpu", weights_only=False)
    return int(ckpt["current_epoch"])


if __name__ == "__main__":  # nnU-Net starts spawn workers, which re-import this file
    main()
