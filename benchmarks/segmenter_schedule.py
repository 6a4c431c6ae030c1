"""The demo segmenter's schedule on phantom cohorts: when each region is learnt, and held-out Dice, per loss.

For each cohort seed, writes the demo's phantom cohort (40 patients, 48×96×96,
10 "manual" maps), trains nnU-Net on 8 of the manual maps with the demo's
settings (``reasonknee.demo_pipeline.segmenter_options()``, 12 × 50 iterations,
training seed = cohort seed) once per ``--losses`` entry, predicts ``--test``
held-out scans (the 2 held-out manual ones first) and prints, per run:

- the median Dice over (scan, region) pairs and the lowest region's mean Dice,
  against the phantom truth;
- the iteration by which every region is learnt: from the end of that epoch on,
  each region's pseudo Dice in nnU-Net's per-epoch validation (its checkpoint's
  ``dice_per_class_or_region``) stays above 0.3; ``never`` when one is still
  below at the end;
- the seconds of training (these depend on the machine; the rest does not, on
  one kind of CPU).

Baseline: the first loss (nnU-Net's ``dice+ce`` by default), trained in the
same run on the same cohort with the same seed; the last line gives each
loss's lowest-region Dice and learnt-by iteration against it.

    uv run python benchmarks/segmenter_schedule.py --cohorts 1,2,3,4
    uv run python benchmarks/segmenter_schedule.py --cohorts 0,5 --losses dice+balanced-ce
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path

#: a region counts as learnt once its per-epoch pseudo Dice stays above this
LEARNT = 0.3


def _learnt_by(model_dir: Path, iterations: int) -> int | None:
    """The iteration after which every region's pseudo Dice stays above ``LEARNT`` (None: never)."""
    import torch

    ckpt = next(model_dir.glob("fold_*/checkpoint_final.pth"))
    per_epoch = torch.load(ckpt, map_location="cpu", weights_only=False)["logging"][
        "dice_per_class_or_region"
    ]
    last = len(per_epoch)
    for epoch in range(len(per_epoch) - 1, -1, -1):
        if min(per_epoch[epoch]) <= LEARNT:
            break
        last = epoch
    return None if last == len(per_epoch) else (last + 1) * iterations


def run_one(cohort_seed: int, loss: str, work: Path, n_test: int) -> dict:
    import knee_segmenter as ks
    from knee_phantom import CohortLayout, write_cohort
    from reasonknee.demo_pipeline import DemoConfig, segmenter_options

    config = DemoConfig(seed=cohort_seed)
    root = work / f"cohort{cohort_seed}"
    if not (root / "cohort.json").is_file():
        write_cohort(
            root,
            n_patients=config.patients,
            sides=(1, 2),
            seed=cohort_seed,
            shape=config.shape,
            n_manual=config.manual_maps,
            second_reads=config.second_reads,
            progress=False,
            workers=2,
        )
    cohort = CohortLayout.open(root)
    options = {**segmenter_options(), "loss": loss}
    manual = cohort.manual_ids
    train_ids = manual[: len(manual) - config.held_out_manual]
    run = work / f"cohort{cohort_seed}-{loss}"
    shutil.rmtree(run, ignore_errors=True)
    t = time.perf_counter()
    model = ks.train_segmenter(
        [(cohort.nifti_path(s), cohort.manual_path(s)) for s in train_ids],
        run / "model",
        root=run / "nnunet",
        epochs=config.segmenter_epochs,
        iterations=config.segmenter_iterations,
        val_iterations=2,
        seed=cohort_seed,
        device="cpu",
        plot_every=config.segmenter_epochs,
        **options,
    )
    train_s = time.perf_counter() - t
    held_manual = [s for s in manual if s not in train_ids]
    others = [s for s in cohort.scan_ids if s not in manual]
    test = (held_manual + others)[:n_test]
    preds = ks.predict(
        [cohort.nifti_path(s) for s in test],
        run / "pred",
        model_dir=model.path,
        device="cpu",
        mirroring=False,
        threads=options["threads"],
        progress=False,
    )
    table = ks.dice_table(preds, [cohort.label_path(s) for s in test], scan_ids=test)
    summary = ks.dice_summary(table).sort("mean_dice", nulls_last=False)
    worst = summary.row(0, named=True)
    return {
        "cohort": cohort_seed,
        "loss": loss,
        "median_dice": float(table["dice"].median()),
        "lowest_region": worst["region"],
        "lowest_dice": float(worst["mean_dice"] or 0.0),
        "learnt_by": _learnt_by(model.path, config.segmenter_iterations),
        "train_s": round(train_s, 1),
        "test_scans": len(test),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cohorts", default="1,2", help="comma-separated cohort (and training) seeds")
    ap.add_argument(
        "--losses", default="dice+ce,dice+balanced-ce", help="the first is the baseline"
    )
    ap.add_argument("--test", type=int, default=16, help="held-out scans scored per run")
    ap.add_argument("--work", type=Path, default=None, help="keep cohorts and models here")
    ap.add_argument("--json", type=Path, default=None, help="also write the rows as JSON lines")
    args = ap.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="rk-segmenter-schedule-"))
    losses = [s.strip() for s in args.losses.split(",")]
    rows = []
    for cohort in (int(c) for c in args.cohorts.split(",")):
        for loss in losses:
            row = run_one(cohort, loss, work, args.test)
            rows.append(row)
            by = (
                "a region never learnt"
                if row["learnt_by"] is None
                else f"every region learnt by iteration {row['learnt_by']}"
            )
            print(
                f"cohort {cohort}, {loss}: median Dice {row['median_dice']:.3f}, lowest "
                f"{row['lowest_region']} {row['lowest_dice']:.3f} ({row['test_scans']} held-out "
                f"scans); {by}; training {row['train_s']:.0f} s",
                flush=True,
            )
            if args.json:
                with args.json.open("a", encoding="utf-8") as f:
                    f.write(json.dumps(row) + "\n")
    base = losses[0]
    for loss in losses[1:]:
        pairs = [
            (b, r)
            for b in rows
            if b["loss"] == base
            for r in rows
            if r["loss"] == loss and r["cohort"] == b["cohort"]
        ]
        if not pairs:
            continue
        gain = statistics.median(r["lowest_dice"] - b["lowest_dice"] for b, r in pairs)
        ratio = statistics.median(r["median_dice"] / b["median_dice"] for b, r in pairs)
        never = lambda rs: sum(x["learnt_by"] is None for x in rs)  # noqa: E731
        print(
            f"{loss} vs {base} over {len(pairs)} cohorts: median Dice {ratio:.3f}× the baseline's, "
            f"lowest-region Dice median gain {gain:+.3f}; "
            f"a region never learnt in {never([r for _, r in pairs])} vs {never([b for b, _ in pairs])} runs; "
            f"learnt-by median {_median_by([r for _, r in pairs])} vs {_median_by([b for b, _ in pairs])}"
        )
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)


def _median_by(rows: list[dict]) -> str:
    """Median learnt-by iteration, a run that never learnt one region counting as after all others."""
    values = [r["learnt_by"] if r["learnt_by"] is not None else float("inf") for r in rows]
    med = statistics.median(values)
    return "never" if med == float("inf") else f"{med:.0f}"


if __name__ == "__main__":
    main()
