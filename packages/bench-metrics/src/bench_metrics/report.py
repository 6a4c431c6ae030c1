"""The report folder: Markdown with PNG figures, plus every table (see :mod:`bench_metrics.tables`).

Figures are drawn with matplotlib's Agg canvas directly (no pyplot, no global
backend change): per-category accuracy with interval whiskers and the majority
line, mean IoU per structure, IoU vs accuracy per question, and confusion
matrices per feature family.
"""

from __future__ import annotations

import io
import math
import shutil
import tempfile
from pathlib import Path
from typing import Any

import moaks_schema as ms
import numpy as np
import polars as pl

from bench_metrics.compare import compare_runs
from bench_metrics.scores import OVERALL_MACRO, OVERALL_MICRO, Scores
from bench_metrics.scoring import MIN_COVERAGE
from bench_metrics.tables import table2, table3, to_markdown, write_atomic, write_tables

__all__ = ["feature_families", "low_quality_note", "torn_note", "write_report"]


def feature_families() -> dict[str, tuple[str, ...]]:
    """Feature family -> attribute keys pooled in one confusion matrix (one grade space each).

    >>> fam = feature_families()
    >>> fam["ACL"], len(fam["BML size"])
    (('acl.complete_tear', 'acl.bml_cyst', 'acl.repair'), 15)
    """
    out: dict[str, list[str]] = {}
    for feature in ms.Feature:
        attrs = [a for q in ms.questions_for(feature=feature) for a in q.attributes]
        spaces = {a.grades for a in attrs}
        title = {"bml": "BML", "acl": "ACL", "pcl": "PCL"}.get(
            feature.value, feature.value.replace("_", " ").capitalize()
        )
        for a in attrs:
            name = (
                title
                if len(spaces) == 1
                else f"{title} {a.key.rsplit('.', 1)[1].replace('_', ' ')}"
            )
            out.setdefault(name, []).append(a.key)
    return {k: tuple(v) for k, v in out.items()}


def _figure(width: float, height: float) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=110, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Any, path: Path) -> None:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    write_atomic(path, buf.getvalue())


def _num(v: Any) -> float:
    return math.nan if v is None else float(v)


def _plot_categories(scores: Scores, path: Path) -> None:
    g = scores.groups.filter(pl.col("level").is_in(["category", "overall"]))
    names = g["group"].to_list()
    acc = np.array([_num(v) for v in g["accuracy"]])
    lo = np.array([_num(v) for v in g["ci_low"]])
    hi = np.array([_num(v) for v in g["ci_high"]])
    maj = np.array([_num(v) for v in g["majority"]])
    fig = _figure(9, 4)
    ax = fig.add_subplot(1, 1, 1)
    x = np.arange(len(names))
    ax.bar(x, np.nan_to_num(acc), color="#4C72B0", label="accuracy")
    err = np.vstack([np.nan_to_num(acc - lo), np.nan_to_num(hi - acc)])
    ax.errorbar(
        x,
        np.nan_to_num(acc),
        yerr=np.clip(err, 0, None),
        fmt="none",
        ecolor="black",
        capsize=3,
        label=f"{int(scores.meta['confidence'] * 100)}% bootstrap interval (by patient)",
    )
    ax.hlines(
        maj, x - 0.4, x + 0.4, colors="#C44E52", linestyles="--", label="majority-class reference"
    )
    ax.set_xticks(x, [n.replace(" & ", " &\n") for n in names], fontsize=8, rotation=25, ha="right")
    ax.set_ylim(0, 1)
    ax.set_ylabel("accuracy")
    ax.set_title(f"Accuracy per category: {scores.label}")
    ax.legend(fontsize=7, loc="upper right")
    _save(fig, path)


def _plot_structures(scores: Scores, path: Path) -> None:
    s = scores.structures.filter(pl.col("n_boxes") > 0)
    fig = _figure(8, 3.6)
    ax = fig.add_subplot(1, 1, 1)
    if s.height:
        names = s["structure"].to_list()
        m = np.array([_num(v) for v in s["mean_iou"]])
        lo = np.array([_num(v) for v in s["ci_low"]])
        hi = np.array([_num(v) for v in s["ci_high"]])
        x = np.arange(len(names))
        ax.bar(x, m, color="#55A868", label="mean IoU")
        ax.errorbar(
            x,
            m,
            yerr=np.clip(np.vstack([np.nan_to_num(m - lo), np.nan_to_num(hi - m)]), 0, None),
            fmt="none",
            ecolor="black",
            capsize=3,
        )
        ax.plot(x, [_num(v) for v in s["acc_025"]], "o", color="#8172B2", label="Acc@0.25")
        ax.plot(x, [_num(v) for v in s["acc_050"]], "s", color="#CCB974", label="Acc@0.5")
        ax.set_xticks(x, names, fontsize=8)
        ax.legend(fontsize=7)
    else:
        ax.text(0.5, 0.5, "no boxes scored", ha="center", va="center")
    ax.set_ylim(0, 1.05)
    ax.set_title(f"Localisation per structure: {scores.label}")
    _save(fig, path)


def _plot_scatter(scores: Scores, path: Path) -> None:
    q = scores.questions.filter(pl.col("mean_iou").is_not_null() & pl.col("accuracy").is_not_null())
    fig = _figure(5.5, 4.5)
    ax = fig.add_subplot(1, 1, 1)
    ax.scatter(q["mean_iou"].to_numpy(), q["accuracy"].to_numpy(), s=18, color="#4C72B0")
    for qid, xi, yi in zip(q["question_id"], q["mean_iou"], q["accuracy"], strict=True):
        ax.annotate(str(qid), (xi, yi), fontsize=6, xytext=(2, 2), textcoords="offset points")
    c = scores.correlation.filter(pl.col("level") == "question")
    if c.height:
        ax.set_title(
            f"IoU vs accuracy per question (Pearson {_num(c['pearson'][0]):.2f}, "
            f"Spearman {_num(c['spearman'][0]):.2f}, n={c['n'][0]})",
            fontsize=9,
        )
    ax.set_xlabel("mean IoU")
    ax.set_ylabel("accuracy")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    _save(fig, path)


def _plot_confusions(scores: Scores, path: Path) -> None:
    fams = feature_families()
    items = scores.items.select("attribute", "truth", "pred")
    present = set(items["attribute"].unique().to_list())
    fams = {k: v for k, v in fams.items() if present & set(v)}
    n = max(len(fams), 1)
    cols = 4
    rows = math.ceil(n / cols)
    fig = _figure(3.2 * cols, 3.0 * rows)
    for i, (name, keys) in enumerate(fams.items()):
        ax = fig.add_subplot(rows, cols, i + 1)
        k = len(ms.attribute(keys[0]).grades.meanings)
        sub = items.filter(pl.col("attribute").is_in(list(keys)))
        t = sub["truth"].to_numpy()
        p = sub["pred"].fill_null(-1).to_numpy()
        p = np.where(p < 0, k, p)
        conf = np.bincount(t * (k + 1) + p, minlength=k * (k + 1)).reshape(k, k + 1)
        rows_n = conf.sum(axis=1, keepdims=True)
        frac = np.divide(conf, rows_n, out=np.zeros_like(conf, dtype=float), where=rows_n > 0)
        ax.imshow(frac, cmap="Blues", vmin=0, vmax=1, aspect="auto")
        for (r, c), v in np.ndenumerate(conf):
            if v:
                ax.text(
                    c,
                    r,
                    str(v),
                    ha="center",
                    va="center",
                    fontsize=6,
                    color="white" if frac[r, c] > 0.6 else "black",
                )
        ax.set_xticks(range(k + 1), [str(j) for j in range(k)] + ["fail"], fontsize=6)
        ax.set_yticks(range(k), [str(j) for j in range(k)], fontsize=6)
        ax.set_title(name, fontsize=8)
        ax.set_xlabel("predicted", fontsize=6)
        ax.set_ylabel("true", fontsize=6)
    fig.suptitle(
        f"Confusion per feature family (row-normalised colour, counts): {scores.label}", fontsize=9
    )
    _save(fig, path)


def low_quality_note(meta: dict[str, Any]) -> str:
    """``"; N boxes flagged low quality, excluded"`` (or ``included``), or ``""`` when none is flagged."""
    excluded, flagged = (
        meta.get("n_boxes_low_quality_excluded", 0),
        meta.get("n_boxes_low_quality", 0),
    )
    if excluded:
        return f"; {excluded} boxes flagged low quality, excluded (docs/benchmark-protocol.md)"
    return f"; {flagged} boxes flagged low quality, included" if flagged else ""


def torn_note(meta: dict[str, Any]) -> str:
    """``"; 1 torn last line not read (a run cut mid-write)"``, or ``""``."""
    n = meta.get("n_torn_lines", 0)
    return f"; {n} torn last line not read (a run cut mid-write)" if n else ""


def _markdown(scores: Scores, comparison: pl.DataFrame | None, other: Scores | None) -> str:
    m = scores.meta
    conf = int(m["confidence"] * 100)
    g = scores.groups.select(
        "level",
        "group",
        "n_items",
        "accuracy",
        "ci_low",
        "ci_high",
        "majority",
        "kappa",
        "kappa_low",
        "kappa_high",
        "balanced_accuracy",
        "macro_f1",
        "failure_rate",
    )
    t2 = table2([scores] + ([other] if other is not None else []))
    t2 = t2.with_columns(
        pl.when(pl.col("source") == "paper")
        .then(pl.lit("paper (as published)"))
        .otherwise(pl.col("source"))
        .alias("source")
    )
    t3 = table3([scores] + ([other] if other is not None else []), patellar_tendon=True)
    t3 = t3.with_columns(
        pl.when(pl.col("source") == "paper")
        .then(pl.lit("paper (as published)"))
        .otherwise(pl.col("source"))
        .alias("source")
    )
    lines = [
        f"# ReasonKnee-Bench report: {scores.label}",
        "",
        f"Split(s): {', '.join(m['splits']) or 'unspecified'}; {m['n_truth_records']} (scan, question) records, "
        f"{m['n_items']} scored (scan, attribute) items from {m['n_patients']} patients; "
        f"{m['n_boxes_scored']} boxes scored{low_quality_note(m)}.",
        f"Predictions: {m['n_predictions']} read, {m['n_missing_predictions']} truth records without one, "
        f"{m['n_unmatched_predictions']} unmatched, {m['n_duplicate_predictions']} duplicates (last kept), "
        f"{m['n_repaired']} answers read after JSON repair{torn_note(m)}.",
        f"Intervals: {conf}% percentile bootstrap, {m['n_boot']} replicates resampling patients, seed {m['seed']}. "
        f"Majority-class reference from: {m['majority_reference']}.",
        "",
        f"**How Overall is averaged.** *{OVERALL_MICRO}* is the mean over every scored (scan, attribute) "
        f"pair; *{OVERALL_MACRO}* is the mean of the seven category accuracies. Table 2's Overall is the "
        "micro average. The paper does not say how its Overall averages; its rows are shown as published.",
        "",
        "## Table 2: accuracy (paper layout)",
        "",
        to_markdown(t2),
        "",
        "## Table 3: mean IoU (paper layout, plus the patellar tendon)",
        "",
        to_markdown(t3),
        "",
        "## Categories, columns and Overall",
        "",
        to_markdown(g),
        "",
        "![accuracy per category](figures/category_accuracy.png)",
        "",
        "## Localisation",
        "",
        to_markdown(
            scores.structures.select(
                "structure",
                "n_boxes",
                "mean_iou",
                "ci_low",
                "ci_high",
                "acc_025",
                "acc_050",
                "box_failure_rate",
                "n_low_quality_excluded",
            )
        ),
        "",
        "![IoU per structure](figures/iou_per_structure.png)",
        "",
        "## Grounding vs diagnosis",
        "",
        to_markdown(scores.correlation),
        "",
        "![IoU vs accuracy](figures/iou_vs_accuracy.png)",
        "",
        "## Parse failures",
        "",
        to_markdown(scores.failures),
        "",
        "## Confusion matrices",
        "",
        "![confusion matrices](figures/confusion_matrices.png)",
        "",
    ]
    if comparison is not None:
        lines += [
            f"## Paired comparison: {comparison['run_a'][0]} minus {comparison['run_b'][0]}",
            "",
            "Same items in both runs; intervals and two-sided p-values from a paired bootstrap over patients.",
            "",
            to_markdown(comparison.drop("run_a", "run_b")),
            "",
        ]
    lines += [
        "All tables: `tables/` (Markdown, CSV, JSON); per-attribute and per-question tables are there too.",
        "",
    ]
    return "\n".join(lines)


def write_report(
    scores: Scores,
    out_dir: str | Path,
    *,
    compare: Scores | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    min_coverage: float = MIN_COVERAGE,
) -> Path:
    """Write the report folder (``report.md``, ``figures/``, ``tables/``, ``scores.json``); returns report.md.

    The folder is assembled next to ``out_dir`` and renamed into place, so a
    failure never leaves a half-written report. ``compare``: a second run on
    the same items, shown beside this one with a paired bootstrap comparison (refused
    when the runs do not cover the same pairs, see :func:`~bench_metrics.compare.compare_runs`).
    """
    out = Path(out_dir).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.tmp-"))
    try:
        comparison = (
            compare_runs(
                scores,
                compare,
                n_boot=n_boot,
                seed=seed,
                confidence=scores.meta["confidence"],
                min_coverage=min_coverage,
            )
            if compare is not None
            else None
        )
        write_tables(scores, tmp, comparison=comparison)
        figs = tmp / "figures"
        figs.mkdir()
        _plot_categories(scores, figs / "category_accuracy.png")
        _plot_structures(scores, figs / "iou_per_structure.png")
        _plot_scatter(scores, figs / "iou_vs_accuracy.png")
        _plot_confusions(scores, figs / "confusion_matrices.png")
        write_atomic(tmp / "report.md", _markdown(scores, comparison, compare))
        if out.exists():
            old = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.old-"))
            out.rename(old / out.name)
            tmp.rename(out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out / "report.md"
