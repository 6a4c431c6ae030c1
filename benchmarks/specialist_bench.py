"""Time and score the specialist on a dataset folder (phantom numbers on phantom data).

Trains the specialist on the train split (selecting on val), answers every
test question (instruction setting), and scores both it and the `majority`
baseline (run in the same process, the named baseline) with bench-metrics'
95 % patient-bootstrap intervals. Prints the median of N runs of training +
inference (wall and CPU seconds) and its ratio to the 60 s budget the demo
allows the specialist, and the ratio of its inference time to majority's.

    uv run reasonknee build --phantom 40 --shape 48,96,96 --labels phantom --out /tmp/spec-ds
    uv run python benchmarks/specialist_bench.py --dataset /tmp/spec-ds [--runs 1] [--epochs 6]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

BUDGET_S = 60.0


def _timed(fn):
    t, c = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - t, time.process_time() - c


def _score(dataset: Path, predictions: Path):
    from bench_metrics import score_predictions
    from quintuple_builder.dataset import Dataset

    ds = Dataset.open(dataset)
    preds = [json.loads(x) for x in predictions.read_text().splitlines()]
    return score_predictions(
        preds, ds.quintuples(split="test"), reference=ds.quintuples(split="train"), n_boot=1000
    )


def _table(scores: dict) -> None:
    import polars as pl

    print("| group | " + " | ".join(scores) + " |")
    print("|---|" + "---|" * len(scores))
    first = next(iter(scores.values())).groups
    for row in first.filter(pl.col("level").is_in(["category", "overall"])).iter_rows(named=True):
        cells = []
        for s in scores.values():
            r = s.groups.filter(pl.col("group") == row["group"]).row(0, named=True)
            cells.append(f"{r['accuracy']:.3f} [{r['ci_low']:.3f}, {r['ci_high']:.3f}]")
        print(f"| {row['group']} | " + " | ".join(cells) + " |")
    for name, s in scores.items():
        allrow = s.structures.filter(pl.col("structure") == "All")
        if allrow.height:
            r = allrow.row(0, named=True)
            print(f"{name}: mean IoU {r['mean_iou']:.3f} [{r['ci_low']:.3f}, {r['ci_high']:.3f}]")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", type=Path, required=True)
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--epochs", type=int, default=None, help="default: the library's")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    from vlm_adapters import run_baseline
    from vlm_adapters.specialist import train_specialist

    kw = {} if args.epochs is None else {"epochs": args.epochs}
    work = Path(tempfile.mkdtemp(prefix="rk-specialist-bench-"))
    wall, cpu, infer = [], [], []
    for i in range(args.runs):
        model, tw, tc = _timed(
            lambda i=i: train_specialist(
                args.dataset, work / f"model{i}", seed=args.seed, progress=False, **kw
            )
        )
        out = work / f"specialist{i}.jsonl"
        _, iw, ic = _timed(
            lambda model=model, out=out: run_baseline(
                dataset=args.dataset,
                split="test",
                model=f"specialist:{model.path}",
                setting="instruction",
                out=out,
                progress=False,
            )
        )
        wall.append(tw + iw)
        cpu.append(tc + ic)
        infer.append(iw)
        print(f"run {i + 1}: train {tw:.1f} s ({tc:.1f} s CPU), test inference {iw:.1f} s")
    maj = work / "majority.jsonl"
    _, mw, _ = _timed(
        lambda: run_baseline(
            dataset=args.dataset,
            split="test",
            model="majority",
            setting="instruction",
            out=maj,
            progress=False,
        )
    )
    med = statistics.median(wall)
    print(
        f"specialist train + test inference: median {med:.1f} s wall, "
        f"{statistics.median(cpu):.1f} s CPU over {len(wall)} run(s); budget {BUDGET_S:.0f} s -> "
        f"{med / BUDGET_S:.2f}x; inference {statistics.median(infer):.1f} s vs majority "
        f"{mw:.2f} s (baseline) -> {statistics.median(infer) / max(mw, 1e-9):.0f}x"
    )
    _table({"majority": _score(args.dataset, maj), "specialist": _score(args.dataset, out)})


if __name__ == "__main__":
    main()
