"""Benchmark: assembling 8,000 scans x 69 questions from precomputed boxes and grades.

Target (issue 7): <= 60 s and <= 4 GB peak on a 2-core machine.

Measured: ``quintuple_builder.assemble_quintuples`` (vectorised with polars,
chains generated once per distinct (question, grades, wording, box state))
against the baseline "per-row Python": one ``reasoning_chain`` +
``format_answer`` + prompt lookup per (scan, question), timed on a subset and
scaled to the same number of rows. Each vectorised run happens in a fresh
process so its peak RSS is the run's own. Optionally (``--exports``) the
dataset tables are also written (Parquet, JSONL, public JSON, SFT, hf/).

    uv run --frozen python benchmarks/build_bench.py [--scans 8000] [--repeats 3] [--exports]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import statistics
import tempfile
import time
from pathlib import Path


def make_inputs(n_scans: int, seed: int = 0):
    """Synthetic precomputed inputs: scans, per-question boxes, MOAKS readings (prior dominated by 0)."""
    import numpy as np
    import polars as pl
    from knee_volumes import scan_id_of
    from moaks_schema import ATTRIBUTES, QUESTIONS

    rng = np.random.default_rng(seed)
    pids = [f"{9000000 + i // 4:07d}" for i in range(n_scans)]
    visits = [("00M", "12M")[(i // 2) % 2] for i in range(n_scans)]
    sides = [1 + i % 2 for i in range(n_scans)]
    scans = pl.DataFrame(
        {
            "scan_id": [scan_id_of(p, v, s) for p, v, s in zip(pids, visits, sides, strict=True)],
            "patient_id": pids,
            "visit": visits,
            "side": sides,
        }
    )
    n_attr = len(ATTRIBUTES)
    top = np.array([len(a.grades.meanings) - 1 for a in ATTRIBUTES])
    grades = np.minimum(rng.geometric(0.7, size=(n_scans, n_attr)) - 1, top)
    readings = pl.DataFrame(
        {
            "patient_id": np.repeat(pids, n_attr),
            "visit": np.repeat(visits, n_attr),
            "side": np.repeat(sides, n_attr),
            "question_id": np.tile([a.question_id for a in ATTRIBUTES], n_scans),
            "attribute": np.tile([a.key for a in ATTRIBUTES], n_scans),
            "grade": grades.ravel(),
            "source": "22",
        }
    )
    boxed = [q.id for q in QUESTIONS if q.has_box]
    lo = rng.integers(0, 150, size=(n_scans * len(boxed), 3))
    hi = lo + rng.integers(5, 100, size=lo.shape)
    box = np.stack([lo[:, 0], hi[:, 0], lo[:, 1], hi[:, 1], lo[:, 2], hi[:, 2]], axis=1)
    boxes = pl.DataFrame(
        {
            "scan_id": np.repeat(scans["scan_id"].to_numpy(), len(boxed)),
            "question_id": np.tile(boxed, n_scans),
            "box_public": box,
            "box_source": "nnunet",
        }
    ).with_columns(pl.col("box_public").arr.to_list())
    return scans, boxes, readings


def _vectorised(n_scans: int, exports: bool, queue: mp.Queue) -> None:  # type: ignore[type-arg]
    import polars as pl
    from quintuple_builder import assemble_quintuples
    from quintuple_builder.exports import write_core, write_hf, write_public, write_sft

    scans, boxes, readings = make_inputs(n_scans)
    t0 = time.perf_counter()
    q = assemble_quintuples(scans, boxes, readings, seed=0)
    t_assemble = time.perf_counter() - t0
    t_exports = None
    if exports:
        scan_table = scans.with_columns(
            pl.lit("20050101").alias("study_folder"),
            pl.lit("10000000").alias("series_folder"),
            q.select("scan_id", "split").unique().sort("scan_id")["split"].alias("split"),
            pl.concat_str(pl.lit("images/"), pl.col("scan_id"), pl.lit(".nii.gz")).alias(
                "image_path"
            ),
            pl.concat_str(pl.lit("labels/"), pl.col("scan_id"), pl.lit(".nii.gz")).alias(
                "label_path"
            ),
            pl.lit([160, 384, 384]).alias("shape"),
            pl.lit([0.7, 0.365, 0.365]).alias("spacing"),
            pl.lit("nnunet").alias("label_source"),
            pl.col("scan_id").alias("source_path"),
        )
        with tempfile.TemporaryDirectory() as d:
            t1 = time.perf_counter()
            for writer in (write_core, write_public, write_sft, write_hf):
                writer(Path(d), scan_table, q)
            t_exports = time.perf_counter() - t1
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6  # KiB on Linux
    queue.put((t_assemble, t_exports, peak_gb, q.height, int(q["complete"].sum())))


def _per_row_python(n_scans: int) -> tuple[float, int]:
    """Baseline: one chain, answer and prompt lookup per (scan, question) in a Python loop."""
    from moaks_schema import QUESTIONS
    from quintuple_builder import format_answer, prompt_table, reasoning_chain

    scans, boxes, readings = make_inputs(n_scans)
    t0 = time.perf_counter()
    prompts = prompt_table()
    grade = {
        (p, v, s, a): g
        for p, v, s, a, g in readings.select(
            "patient_id", "visit", "side", "attribute", "grade"
        ).iter_rows()
    }
    box = {
        (s, q): b for s, q, b in boxes.select("scan_id", "question_id", "box_public").iter_rows()
    }
    rows = []
    for i, (sid, pid, visit, side) in enumerate(scans.iter_rows()):
        for q in QUESTIONS:
            g = {a.key: grade[(pid, visit, side, a.key)] for a in q.attributes}
            b = box.get((sid, q.id))
            text = None if b is None else "[" + ", ".join(map(str, b)) + "]"
            steps = reasoning_chain(q, g, box=text, variant=(i + q.id) % 8, seed=0)
            rows.append(
                (
                    sid,
                    q.id,
                    prompts[q.id]["instruction"],
                    steps,
                    format_answer(q, g, box=b, steps=steps),
                    format_answer(q, g, box=b, steps=None),
                )
            )
    return time.perf_counter() - t0, len(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scans", type=int, default=8000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--baseline-scans", type=int, default=400)
    ap.add_argument("--exports", action="store_true", help="also time writing the dataset tables")
    args = ap.parse_args()
    ctx = mp.get_context("spawn")
    runs = []
    for _ in range(args.repeats):
        queue = ctx.Queue()
        p = ctx.Process(target=_vectorised, args=(args.scans, args.exports, queue))
        p.start()
        runs.append(queue.get())
        p.join()
    t_base, n_base = _per_row_python(args.baseline_scans)
    rows = runs[0][3]
    med = statistics.median(r[0] for r in runs)
    peak = max(r[2] for r in runs)
    base_scaled = t_base / n_base * rows
    print(f"quintuples: {rows:,} ({args.scans:,} scans x 69 questions), complete: {runs[0][4]:,}")
    print(
        f"assemble (polars, vectorised): median {med:.2f} s over {args.repeats} runs "
        f"[{', '.join(f'{r[0]:.2f}' for r in runs)}]; {rows / med:,.0f} rows/s"
    )
    print(
        f"peak RSS per run (inputs + assembly{' + exports' if args.exports else ''}): max {peak:.2f} GB"
    )
    print(
        f"baseline per-row Python: {t_base:.2f} s for {n_base:,} rows -> {base_scaled:.1f} s scaled to "
        f"{rows:,} rows; speed-up {base_scaled / med:.1f}x"
    )
    if args.exports:
        exp = statistics.median(r[1] for r in runs)
        print(f"exports (parquet + jsonl + public + sft + hf): median {exp:.2f} s")
    print(f"target <= 60 s and <= 4 GB: {'met' if med <= 60 and peak <= 4 else 'NOT met'}")


if __name__ == "__main__":
    main()
