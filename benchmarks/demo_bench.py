"""Time `reasonknee demo` end to end, as a user runs it (a fresh process each run).

Baseline: the budgets on a 2-core machine: 3 minutes for the defaults (all four
references: majority, atlas, specialist, second reader), 5 minutes with
``--train-segmenter``; the script prints the median and range of the wall time of
N runs and the median's ratio to that budget, with the machine's load average
(``/proc/loadavg``) before each run: on a shared machine the time says as much
about the others' work as about the demo. With ``--train-segmenter`` it also
prints, per run and as median and range, the segmenter's Dice on the held-out
scans (``report/segmentation/summary.json``). The first run also pays Python's
import and bytecode-compilation cost, as on a fresh clone.

    uv run python benchmarks/demo_bench.py [--runs 3] [--extra-args=--train-segmenter]
    uv run python benchmarks/demo_bench.py --runs 3 --seeds 0,1,2 --extra-args=--train-segmenter
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

#: seconds: the defaults, and with --train-segmenter
BUDGET_S = 180.0
BUDGET_SEGMENTER_S = 300.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--extra-args", default="", help="more `reasonknee demo` options")
    ap.add_argument(
        "--seeds", default=None, help="comma-separated --seed per run (default: the demo's seed)"
    )
    args = ap.parse_args()
    seeds = [s.strip() for s in args.seeds.split(",")] if args.seeds else [None] * args.runs
    if len(seeds) != args.runs:
        ap.error(f"--seeds has {len(seeds)} values for --runs {args.runs}")
    exe = Path(sys.executable).parent / "reasonknee"
    # a seeded segmenter repeats itself bitwise on one kind of CPU, not across kinds
    print(f"CPU: {_cpu()}", flush=True)
    times: list[float] = []
    dice: list[dict] = []
    for i, seed in enumerate(seeds):
        out = Path(tempfile.mkdtemp(prefix="rk-demo-bench-"))
        cmd = [str(exe), "demo", "--out", str(out), "--quiet", *shlex.split(args.extra_args)]
        cmd += [] if seed is None else ["--seed", seed]
        load = _load()
        t = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - t)
        seg = out / "report" / "segmentation" / "summary.json"
        line = f"run {i + 1}{'' if seed is None else f' (seed {seed})'}: {times[-1]:.1f} s"
        line += f"; load average before {load}, after {_load()}"
        if seg.is_file():
            d = json.loads(seg.read_text())
            # a region no held-out scan has in either map has no Dice: counted as 0 (not learnt)
            d = {k: (0.0 if v is None and k.endswith("dice") else v) for k, v in d.items()}
            dice.append(d)
            meets = d["median_dice"] >= 0.7 and d["lowest_region_mean_dice"] >= 0.3
            line += (
                f"; Dice median {d['median_dice']:.3f}, mean {d['mean_dice']:.3f}, lowest region "
                f"{d['lowest_region']} {d['lowest_region_mean_dice']:.3f} ({d['held_out_scans']} "
                f"held-out scans): {'meets' if meets else 'misses'} the target (median >= 0.7, "
                "every region >= 0.3)"
            )
        shutil.rmtree(out, ignore_errors=True)
        print(line, flush=True)
    med = statistics.median(times)
    budget = BUDGET_SEGMENTER_S if "--train-segmenter" in args.extra_args else BUDGET_S
    print(
        f"reasonknee demo {args.extra_args or '(defaults)'}: median {med:.1f} s over {len(times)} runs "
        f"(range {min(times):.1f}-{max(times):.1f}); budget {budget:.0f} s -> {med / budget:.2f}× of budget"
    )
    if dice:
        for key in ("median_dice", "lowest_region_mean_dice"):
            vals = [d[key] for d in dice]
            print(
                f"{key}: median {statistics.median(vals):.3f} over {len(vals)} runs "
                f"(range {min(vals):.3f}-{max(vals):.3f})"
            )


def _cpu() -> str:
    """The CPU's model name and whether it computes bfloat16 natively (the demo's segmenter uses it)."""
    from knee_segmenter import cpu_has_native_bf16

    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        info = ""
    name = next(
        (ln.split(":", 1)[1].strip() for ln in info.splitlines() if ln.startswith("model name")),
        "unknown",
    )
    return f"{name}; {'native' if cpu_has_native_bf16(info) else 'no native'} bfloat16"


def _load() -> str:
    """The 1-minute load average (what `uptime` shows first)."""
    try:
        return Path("/proc/loadavg").read_text().split()[0]
    except OSError:
        return "?"


if __name__ == "__main__":
    main()
