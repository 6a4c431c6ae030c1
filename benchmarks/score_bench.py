"""Benchmark: parse and score 550,000 predictions with bootstrap intervals, and fuzz the parser.

Run on demand (not part of the test suite):

    uv run --frozen python benchmarks/score_bench.py [--n 550000] [--boot 1000] [--repeats 3] [--fuzz 100000]

Generates a test split (about 7,970 scans x 69 questions, 4 scans per patient)
and one reply per (scan, question): about 80 % clean JSON, 15 % messy (fences,
prose, thinking blocks, trailing commas, single quotes, labelled grades,
truncation, several objects, other regions) and 5 % garbage. Measures, in the
same run, the median of ``--repeats`` runs of
``bench_metrics.score_predictions`` (parse + score + patient bootstrap) and
of a bare ``json.loads`` over the same texts (the baseline), and reports the
throughput and the ratio. Then feeds ``--fuzz`` mutated and random texts to
``parse_answer`` and counts exceptions (must be 0). Target: parse + score
with intervals <= 60 s for 550,000 predictions.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import statistics
import time

import moaks_schema as ms
import polars as pl
from bench_metrics import parse_answer, score_predictions, truth_from_rows


def _grades(rng: random.Random, q: ms.Question) -> dict[str, int]:
    out = {}
    for a in q.attributes:
        k = len(a.grades.meanings)
        out[a.key] = 0 if rng.random() < 0.6 else rng.randrange(k)
    return out


def _box(rng: random.Random) -> list[int]:
    s0, x0, y0 = rng.randrange(0, 120), rng.randrange(0, 300), rng.randrange(0, 300)
    return [
        s0,
        s0 + rng.randrange(5, 40),
        x0,
        x0 + rng.randrange(10, 80),
        y0,
        y0 + rng.randrange(10, 80),
    ]


def _messy(rng: random.Random, q: ms.Question, grades: dict[str, int], box: list[int]) -> str:
    obj = q.answer_object(grades)
    body = json.dumps(obj)
    kind = rng.randrange(9)
    if kind == 0:
        return (
            f"Bounding box: {box}\nReasoning: the region looks unremarkable.\n```json\n{body}\n```"
        )
    if kind == 1:
        return f"<think>Let me look at slice {box[0]}.</think>\nThe answer is {body} as requested. bbox {box}"
    if kind == 2:
        return re.sub(r"(\d)(\s*})", r"\1,\2", body).replace("}}", "},}")  # trailing commas
    if kind == 3:
        return body.replace('"', "'")  # single quotes
    if kind == 4:
        inner = {
            a.name: f"Grade {grades[a.key]} ({a.grades.meaning(grades[a.key])})"
            for a in q.attributes
        }
        return json.dumps(
            {"MOAKS_grade": {q.answer_key.upper().replace(" ", "_"): inner}, "bbox": box}
        )
    if kind == 5:
        return body[: rng.randrange(len(body) // 2, len(body))]  # truncated
    if kind == 6:
        other = ms.question(rng.randrange(1, 70))
        return json.dumps(other.answer_object(_grades(rng, other))) + "\nCorrected: " + body
    if kind == 7:
        other = ms.question(q.id % 69 + 1)
        return json.dumps(other.answer_object(_grades(rng, other)))  # about another region
    return (
        "Here is my structured answer:\n"
        + json.dumps({**obj, "bbox": box}, indent=2)
        + "\nHope this helps."
    )


def _garbage(rng: random.Random) -> str:
    kind = rng.randrange(4)
    if kind == 0:
        return ""
    if kind == 1:
        return "I cannot determine the MOAKS grade from this image. " * rng.randrange(1, 4)
    if kind == 2:
        return "".join(rng.choice("{}[]:,\"' abc123\n") for _ in range(rng.randrange(5, 200)))
    return "{" * rng.randrange(1, 50) + " grade: maybe " + "]" * rng.randrange(0, 10)


def generate(n: int, seed: int) -> tuple[pl.DataFrame, list[dict]]:
    rng = random.Random(seed)
    n_scans = -(-n // len(ms.QUESTIONS))
    truth_rows: list[dict] = []
    preds: list[dict] = []
    for s in range(n_scans):
        pid = f"{9000000 + s // 4}"
        scan = f"{pid}_{('00M', '12M', '24M', '48M')[s % 4]}_1"
        for q in ms.QUESTIONS:
            if len(preds) >= n:
                break
            g = _grades(rng, q)
            tbox = _box(rng) if q.box_regions else None
            truth_rows.append(
                {
                    "scan_id": scan,
                    "patient_id": pid,
                    "question_id": q.id,
                    "split": "test",
                    "grades": g,
                    "box_public": tbox,
                }
            )
            guess = g if rng.random() < 0.5 else _grades(rng, q)
            pbox = _box(rng)
            r = rng.random()
            if r < 0.80:
                text = json.dumps({"bbox": pbox, **q.answer_object(guess)})
            elif r < 0.95:
                text = _messy(rng, q, guess, pbox)
            else:
                text = _garbage(rng)
            preds.append(
                {
                    "scan_id": scan,
                    "question_id": q.id,
                    "raw_text": text,
                    "model": "bench",
                    "setting": "instruction",
                }
            )
    return truth_from_rows(truth_rows), preds


_ALPHABET = (
    list("{}[]\":,'`\\ \n\t0123456789-.+eE")
    + list("abcdefgMOAKS_scoresgradebbox<think>/")
    + [
        "\u201c",
        "\u201d",
        "\u2018",
        "\u2019",
        "\u00e9",
        "\u4e2d",
        "\x00",
        "\ud7ff",
        "```",
        "```json",
        "NaN",
        "Infinity",
    ]
)


def fuzz(texts: list[str], n: int, seed: int) -> tuple[int, int, float]:
    """Feed ``n`` mutated / random texts to parse_answer; returns (examples, exceptions, seconds)."""
    rng = random.Random(seed)
    errors = 0
    t0 = time.perf_counter()
    for i in range(n):
        base = rng.choice(texts)
        op = i % 6
        if op == 0:
            text = base[: rng.randrange(len(base) + 1)]
        elif op == 1:
            p = rng.randrange(len(base) + 1)
            text = (
                base[:p]
                + "".join(rng.choice(_ALPHABET) for _ in range(rng.randrange(1, 12)))
                + base[p:]
            )
        elif op == 2:
            a, b = sorted(rng.randrange(len(base) + 1) for _ in range(2))
            text = base[:a] + base[b:]
        elif op == 3:
            a, b = sorted(rng.randrange(len(base) + 1) for _ in range(2))
            text = base[:b] + base[a:b] * rng.randrange(1, 4) + base[b:]
        elif op == 4:
            text = "".join(rng.choice(_ALPHABET) for _ in range(rng.randrange(0, 300)))
        else:
            chars = list(base)
            for _ in range(rng.randrange(1, 8)):
                if chars:
                    chars[rng.randrange(len(chars))] = rng.choice(_ALPHABET)
            text = "".join(chars)
        try:
            parse_answer(text, rng.randrange(1, 70))
        except Exception:  # counted, never expected
            errors += 1
    return n, errors, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--n", type=int, default=550_000)
    ap.add_argument("--boot", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--fuzz", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    t0 = time.perf_counter()
    truth, preds = generate(args.n, args.seed)
    frame = pl.DataFrame(preds)
    texts = frame["raw_text"].to_list()
    print(
        f"generated {len(preds):,} predictions for {truth['scan_id'].n_unique():,} scans, "
        f"{truth['patient_id'].n_unique():,} patients in {time.perf_counter() - t0:.1f} s"
    )

    base_times, run_times = [], []
    scores = None
    for r in range(args.repeats):
        t = time.perf_counter()
        ok = 0
        for text in texts:
            try:
                json.loads(text)
                ok += 1
            except ValueError:
                pass
        base_times.append(time.perf_counter() - t)
        t = time.perf_counter()
        scores = score_predictions(frame, truth, n_boot=args.boot, seed=args.seed)
        run_times.append(time.perf_counter() - t)
        print(
            f"  repeat {r + 1}: json.loads {base_times[-1]:.2f} s ({ok:,} parsed strictly); "
            f"parse + score + {args.boot} bootstrap replicates {run_times[-1]:.2f} s"
        )
    assert scores is not None
    base, run = statistics.median(base_times), statistics.median(run_times)
    print(f"baseline bare json.loads: median {base:.2f} s = {len(texts) / base:,.0f} texts/s")
    print(
        f"bench_metrics parse + score + intervals: median {run:.2f} s = {len(texts) / run:,.0f} predictions/s"
    )
    print(
        f"ratio (ours / json.loads): {run / base:.1f}x; target <= 60 s: {'met' if run <= 60 else 'NOT met'}"
    )
    m = scores.meta
    print(
        f"overall micro {scores.overall_micro:.3f}, macro {scores.overall_macro:.3f}, mean IoU {scores.mean_iou():.3f}; "
        f"{m['n_repaired']:,} answers repaired"
    )
    print(scores.failures)

    n, errors, secs = fuzz(texts[:20000] or ["{}"], args.fuzz, args.seed + 1)
    print(
        f"fuzz: {n:,} mutated/random texts in {secs:.1f} s ({n / secs:,.0f}/s), exceptions: {errors}"
    )
    if errors:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
