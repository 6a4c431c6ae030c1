"""Model input for one full-size DESS scan: prepared once for its 69 questions vs the public scripts' way.

Baseline ("public way"): for every question, window the 160 sagittal slices to
0–400, scale to 8 bits and write them as 160 PNG files (what the public
zero-shot scripts do before calling the model), again for each question.
Ours: ``knee_volumes.prepare_frames`` once per scan (window 0–400, all 160
slices, uint8 RGB frames in memory with their box geometry), then reused for
all 69 questions; a second variant also writes the PNGs once (for API models
that take image files), with the same PNG settings as the baseline.

Both run in this process on the same synthetic 160×384×384 uint16 scan (seeded).
The baseline is timed on ``--timed-questions`` questions and extrapolated
linearly to 69 (each question repeats identical work); ours is timed in full.

    uv run --frozen python benchmarks/frames_bench.py [--timed-questions 3] [--repeats 3]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from knee_volumes import Volume, prepare_frames
from PIL import Image

N_QUESTIONS = 69
SHAPE = (160, 384, 384)


def make_scan(seed: int = 0) -> Volume:
    """A full-size uint16 scan with DESS-like intensities (0–~600) and some structure."""
    rng = np.random.default_rng(seed)
    s, r, c = np.meshgrid(
        *(np.linspace(-1, 1, n, dtype=np.float32) for n in SHAPE), indexing="ij", sparse=True
    )
    base = np.where(s**2 + (r / 0.8) ** 2 + (c / 0.6) ** 2 < 0.5, 260.0, 60.0).astype(np.float32)
    noise = rng.normal(0, 40, SHAPE).astype(np.float32)
    arr = np.clip(base + noise, 0, 1000).astype(np.uint16)
    return Volume(arr, spacing=(0.7, 0.365, 0.365))


def public_way_one_question(volume: Volume, folder: Path) -> None:
    """What the public scripts do per question: clip 0–400, 8-bit, write every slice as PNG."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, sl in enumerate(volume.array):
        img8 = (np.clip(sl.astype(np.float32), 0, 400) / 400.0 * 255.0).astype(np.uint8)
        Image.fromarray(img8).convert("RGB").save(folder / f"slice_{i:03d}.png")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--timed-questions",
        type=int,
        default=3,
        help="baseline questions timed (then extrapolated to 69)",
    )
    ap.add_argument("--repeats", type=int, default=3, help="repeats of our whole 69-question run")
    args = ap.parse_args()

    vol = make_scan()
    print(f"scan {vol.shape} {vol.array.dtype}, {N_QUESTIONS} questions")
    tmp = Path(tempfile.mkdtemp(prefix="frames_bench_"))
    try:
        # warm-up (imports, PNG encoder, page cache)
        public_way_one_question(vol, tmp / "warm")
        prepare_frames(vol, slices=(0, 8))

        base = []
        for q in range(args.timed_questions):
            t0 = time.perf_counter()
            public_way_one_question(vol, tmp / f"q{q}")
            base.append(time.perf_counter() - t0)
        base_q = statistics.median(base)
        base_total = base_q * N_QUESTIONS

        ours, ours_png = [], []
        for rep in range(args.repeats):
            t0 = time.perf_counter()
            frames = prepare_frames(vol, window=(0, 400), slices="all")
            for _ in range(N_QUESTIONS):  # every question reuses the same frames and geometry
                batch = frames.array
                _ = frames.view.to_dict()
                assert batch.shape == (160, 384, 384, 3)
            ours.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            frames = prepare_frames(vol, window=(0, 400), slices="all")
            frames.write_pngs(
                tmp / f"ours{rep}", compress_level=6
            )  # Pillow's default, as the baseline
            ours_png.append(time.perf_counter() - t0)
        ours_total, ours_png_total = statistics.median(ours), statistics.median(ours_png)

        print(f"public way, per question (median of {len(base)}): {base_q:.3f} s")
        print(
            f"public way, {N_QUESTIONS} questions (extrapolated from {len(base)} timed): {base_total:.1f} s"
        )
        print(
            f"ours: prepare_frames once + reuse for {N_QUESTIONS} questions (median of {len(ours)}): {ours_total:.3f} s"
        )
        print(f"ours + write the 160 PNGs once (median of {len(ours_png)}): {ours_png_total:.3f} s")
        print(f"ratio public / ours (in memory):  {base_total / ours_total:.0f}x")
        print(f"ratio public / ours (PNGs once):  {base_total / ours_png_total:.0f}x")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
