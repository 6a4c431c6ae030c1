"""Benchmark bbox3d: boxes from a full-size label map, and vectorised IoU.

Run on demand (not part of the test suite):

    uv run --frozen python benchmarks/bbox3d_bench.py [--repeats 7] [--seed 0]

Measures in one run, on a 160x384x384 uint8 map with 25 labels (0.1-5 % of the volume
each) and 2-5 spurious islands per label:

- ``bbox3d.boxes_from_labels`` (largest 26-connected component per label + box + counts),
- naive: per label ``skimage.measure.label`` + ``regionprops`` (baseline),
- one ``cc3d.connected_components`` pass (floor),
- ``cc3d`` + ``cc3d.statistics`` + picking the largest per label (the approach measured
  before the project started),

checks that all give the same boxes, and times ``bbox3d.iou_many`` on 10^6 pairs against
a Python loop. Prints medians and ratios; targets: boxes <= 150 ms, >= 30x naive,
<= 3x one labelling pass; IoU >= 25x the loop.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from bbox3d import Box, boxes_from_labels, iou_many


def synthetic_label_map(
    shape: tuple[int, int, int] = (160, 384, 384), n_labels: int = 25, *, seed: int = 0
) -> np.ndarray:
    """uint8 map: one ellipsoid per label (0.1-5 % of the volume, log-uniform) plus 2-5 box islands."""
    rng = np.random.default_rng(seed)
    out = np.zeros(shape, dtype=np.uint8)
    sh = np.array(shape)
    total = float(np.prod(sh))
    for lab in range(1, n_labels + 1):
        frac = float(np.exp(rng.uniform(np.log(0.0011), np.log(0.05))))
        r = (frac * total * 3 / (4 * np.pi)) ** (1 / 3)
        radii = r * rng.uniform(0.7, 1.3, 3)
        radii = np.minimum(radii * r / np.prod(radii) ** (1 / 3), sh / 2 - 1)
        for _attempt in range(50):  # find a spot that is mostly free, so each label keeps its share
            center = rng.uniform(radii, sh - radii)
            lo = np.maximum(np.floor(center - radii).astype(int), 0)
            hi = np.minimum(np.ceil(center + radii).astype(int) + 1, sh)
            zz, yy, xx = np.ogrid[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]]
            inside = ((zz - center[0]) / radii[0]) ** 2 + ((yy - center[1]) / radii[1]) ** 2 + (
                (xx - center[2]) / radii[2]
            ) ** 2 <= 1
            crop = out[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]]
            if np.count_nonzero(inside & (crop != 0)) <= 0.05 * np.count_nonzero(inside):
                break
        crop[inside & (crop == 0)] = lab  # earlier regions keep their voxels
        for _ in range(int(rng.integers(2, 6))):
            c = rng.integers(0, sh - 4)
            e = rng.integers(1, 4, 3)
            island = out[c[0] : c[0] + e[0], c[1] : c[1] + e[1], c[2] : c[2] + e[2]]
            island[island == 0] = lab
    return out


def naive_skimage(label_map: np.ndarray) -> dict[int, Box]:
    """Per label: skimage.measure.label of the binary mask, regionprops, largest area's bbox."""
    from skimage.measure import label, regionprops

    out: dict[int, Box] = {}
    for lab in np.unique(label_map):
        if lab == 0:
            continue
        props = regionprops(label((label_map == lab), connectivity=3))
        best = max(props, key=lambda p: p.area)  # first of equals = first in C order
        s0, r0, c0, s1, r1, c1 = best.bbox
        out[int(lab)] = Box(s0, s1, r0, r1, c0, c1)
    return out


def cc3d_statistics_pick(label_map: np.ndarray) -> dict[int, Box]:
    """cc3d labelling + cc3d.statistics + largest component per label (label via a scatter)."""
    import cc3d

    cc, n = cc3d.connected_components(label_map, connectivity=26, return_N=True)
    stats = cc3d.statistics(cc, no_slice_conversion=True)
    lut = np.zeros(n + 1, dtype=label_map.dtype)
    lut[cc.reshape(-1)] = label_map.reshape(-1)
    counts = stats["voxel_counts"].astype(np.int64)
    out: dict[int, Box] = {}
    best: dict[int, int] = {}
    for k in range(1, n + 1):
        lab = int(lut[k])
        if lab not in best or counts[k] > counts[best[lab]]:
            best[lab] = k
    for lab, k in best.items():
        b = stats["bounding_boxes"][k]
        out[lab] = Box(int(b[0]), int(b[1]) + 1, int(b[2]), int(b[3]) + 1, int(b[4]), int(b[5]) + 1)
    return out


def iou_loop(a: list[tuple[int, ...]], b: list[tuple[int, ...]]) -> list[float]:
    """Plain-Python IoU over pairs of (s0, s1, r0, r1, c0, c1) tuples."""
    out = []
    for (as0, as1, ar0, ar1, ac0, ac1), (bs0, bs1, br0, br1, bc0, bc1) in zip(a, b, strict=True):
        ds = min(as1, bs1) - max(as0, bs0)
        dr = min(ar1, br1) - max(ar0, br0)
        dc = min(ac1, bc1) - max(ac0, bc0)
        inter = ds * dr * dc if ds > 0 and dr > 0 and dc > 0 else 0
        va = (as1 - as0) * (ar1 - ar0) * (ac1 - ac0)
        vb = (bs1 - bs0) * (br1 - br0) * (bc1 - bc0)
        out.append(inter / (va + vb - inter))
    return out


def median_ms(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    fn()  # warm-up (imports, page faults)
    times = []
    result = None
    for _ in range(repeats):
        t = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - t) * 1000.0)
    return statistics.median(times), result


def random_box_pairs(n: int, *, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)

    def boxes() -> np.ndarray:
        lo = rng.integers(0, 300, size=(n, 3))
        ext = rng.integers(1, 100, size=(n, 3))
        return np.stack(
            [
                lo[:, 0],
                lo[:, 0] + ext[:, 0],
                lo[:, 1],
                lo[:, 1] + ext[:, 1],
                lo[:, 2],
                lo[:, 2] + ext[:, 2],
            ],
            1,
        )

    return boxes(), boxes()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--repeats", type=int, default=7, help="timed runs per fast method (median reported)"
    )
    ap.add_argument("--naive-repeats", type=int, default=3, help="timed runs of the slow baselines")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    import cc3d

    print(f"load average at start: {os.getloadavg()[0]:.2f} ({os.cpu_count()} CPUs)")
    m = synthetic_label_map(seed=args.seed)
    fracs = np.bincount(m.ravel(), minlength=26)[1:] / m.size
    print(
        f"map {m.shape} {m.dtype}, 25 labels, {100 * fracs.min():.2f}-{100 * fracs.max():.2f} % of the volume each"
    )

    t_ours, ours = median_ms(lambda: boxes_from_labels(m), args.repeats)
    t_cc, (_, n_cc) = median_ms(
        lambda: cc3d.connected_components(m, connectivity=26, return_N=True), args.repeats
    )
    t_stats, stats_boxes = median_ms(lambda: cc3d_statistics_pick(m), args.naive_repeats)
    t_naive, naive = median_ms(lambda: naive_skimage(m), args.naive_repeats)
    ours_boxes = ours.boxes()
    if not (ours_boxes == naive == stats_boxes):
        raise SystemExit("MISMATCH: boxes_from_labels disagrees with a baseline")
    print(
        f"components: {n_cc}; all three methods give identical boxes for {len(ours_boxes)} labels"
    )
    print()
    print(f"{'method':58s} {'median ms':>10s} {'vs ours':>9s}")
    rows = [
        ("bbox3d.boxes_from_labels", t_ours),
        ("naive skimage label + regionprops per label (baseline)", t_naive),
        ("cc3d + cc3d.statistics + pick largest", t_stats),
        ("one cc3d.connected_components pass (floor)", t_cc),
    ]
    for name, t in rows:
        print(f"{name:58s} {t:10.1f} {t / t_ours:8.2f}x")
    print()
    print(f"boxes: {t_ours:.1f} ms (target <= 150)  {'OK' if t_ours <= 150 else 'MISSED'}")
    print(
        f"speed-up over naive: {t_naive / t_ours:.1f}x (target >= 30)  {'OK' if t_naive / t_ours >= 30 else 'MISSED'}"
    )
    print(
        f"cost vs one labelling pass: {t_ours / t_cc:.2f}x (target <= 3)  {'OK' if t_ours / t_cc <= 3 else 'MISSED'}"
    )

    a, b = random_box_pairs(1_000_000, seed=args.seed)
    a_t, b_t = [tuple(r) for r in a.tolist()], [tuple(r) for r in b.tolist()]
    t_many, v_many = median_ms(lambda: iou_many(a, b), args.repeats)
    t_loop, v_loop = median_ms(lambda: iou_loop(a_t, b_t), args.naive_repeats)
    if not np.array_equal(v_many, np.array(v_loop)):
        raise SystemExit("MISMATCH: iou_many disagrees with the Python loop")
    print()
    print(f"iou_many, 10^6 pairs: {t_many:.1f} ms; Python loop: {t_loop:.1f} ms; "
          f"{t_loop / t_many:.1f}x (target >= 25)  {'OK' if t_loop / t_many >= 25 else 'MISSED'}")  # fmt: skip
    print(f"load average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
