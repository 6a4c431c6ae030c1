"""Phantom generation speed: median seconds per phantom at the test size and the full OAI size.

Run: ``uv run --frozen python benchmarks/phantom_bench.py [--repeats 5]``.
Targets: 48×96×96 ≤ 0.5 s, 160×384×384 ≤ 5 s. The baseline measured in the
same run is the cost of the unavoidable part, allocating the full-size image
and drawing its noise (``numpy`` only), so ratios stay comparable across machines.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from knee_phantom import make_phantom


def _median(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    full = (160, 384, 384)
    base = _median(
        lambda: np.random.default_rng(0).standard_normal(full, dtype=np.float32), args.repeats
    )
    print(f"baseline  numpy standard_normal {full}: {base:.3f} s (median of {args.repeats})")
    for shape, target in (((48, 96, 96), 0.5), (full, 5.0)):
        for prior in ("realistic", "uniform"):
            seeds = iter(range(1000))

            def one(seeds=seeds, shape=shape, prior=prior) -> None:
                make_phantom(next(seeds), shape=shape, prior=prior)

            med = _median(one, args.repeats)
            ok = "ok" if med <= target else "SLOW"
            print(
                f"phantom {shape} prior={prior:9s}: {med:.3f} s  ({med / base:.2f}x baseline, target {target} s: {ok})"
            )


if __name__ == "__main__":
    main()
