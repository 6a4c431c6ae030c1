"""Time `reasonknee demo` end to end, as a user runs it (a fresh process each run).

Baseline: the budget of 3 minutes on a 2-core machine (all four references: majority, atlas,
specialist, second reader); the script prints
the median wall time of N runs and its ratio to that budget. The first run also
pays Python's import and bytecode-compilation cost, as on a fresh clone.

    uv run python benchmarks/demo_bench.py [--runs 3] [--extra-args "--train-segmenter"]
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BUDGET_S = 180.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--extra-args", default="", help="more `reasonknee demo` options")
    args = ap.parse_args()
    exe = Path(sys.executable).parent / "reasonknee"
    times = []
    for i in range(args.runs):
        out = Path(tempfile.mkdtemp(prefix="rk-demo-bench-"))
        cmd = [str(exe), "demo", "--out", str(out), "--quiet", *shlex.split(args.extra_args)]
        t = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - t)
        shutil.rmtree(out, ignore_errors=True)
        print(f"run {i + 1}: {times[-1]:.1f} s")
    med = statistics.median(times)
    print(
        f"reasonknee demo {args.extra_args or '(defaults)'}: median {med:.1f} s over {len(times)} runs "
        f"(min {min(times):.1f}, max {max(times):.1f}); budget {BUDGET_S:.0f} s -> {med / BUDGET_S:.2f}× of budget"
    )


if __name__ == "__main__":
    main()
