"""A report comparing several runs on one split: Table 2 and Table 3 with intervals, one row per
model (plus optional agreement rows, e.g. a second reader), ``summary.json`` with the headline
numbers per model, and each model's full report.

>>> cell(0.5, 0.4, 0.6), cell(0.5), cell(float("nan"))
('0.500 [0.400, 0.600]', '0.500', '–')
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import polars as pl

from bench_metrics.paper import TABLE2_COLUMNS, TABLE3_COLUMNS, paper_table2
from bench_metrics.report import write_report
from bench_metrics.scores import OVERALL_MACRO, OVERALL_MICRO, Scores
from bench_metrics.tables import table2, table3, to_markdown, write_atomic, write_table
from bench_metrics.values import finite_or_none

__all__ = [
    "AgreementRow",
    "ReportPaths",
    "cell",
    "comparison_table2",
    "comparison_table3",
    "headline",
    "write_comparison_report",
]


@dataclass(frozen=True)
class AgreementRow:
    """A Table-2 row that is not a model: one reading scored against another.

    E.g. a second MOAKS reader scored against the first (``scores`` from
    :func:`~bench_metrics.scoring.score_predictions` with the second read as the
    predictions). The row shows how many knees it rests on; a row resting on no
    knee is left out.
    """

    label: str
    scores: Scores | None
    note: str = ""

    @property
    def n_knees(self) -> int:
        """Knees (scans) with at least one scored item."""
        return 0 if self.scores is None else int(self.scores.items["scan_id"].n_unique())


@dataclass(frozen=True)
class ReportPaths:
    """What :func:`write_comparison_report` wrote."""

    folder: Path
    readme: Path
    summary: Path
    tables: list[Path] = field(default_factory=list)
    #: model -> its report.md
    models: dict[str, Path] = field(default_factory=dict)


def cell(value: Any, low: Any = None, high: Any = None) -> str:
    """``"0.512 [0.480, 0.550]"``, ``"0.512"`` without bounds, ``"–"`` when missing."""
    v, lo, hi = finite_or_none(value), finite_or_none(low), finite_or_none(high)
    if v is None:
        return "–"
    return f"{v:.3f}" if lo is None or hi is None else f"{v:.3f} [{lo:.3f}, {hi:.3f}]"


def headline(scores: Scores) -> dict[str, Any]:
    """The headline numbers of one run (JSON-ready; ``None`` where undefined)."""
    micro_low, micro_high = scores.accuracy_interval(OVERALL_MICRO)
    g = scores.groups.filter(pl.col("group") == OVERALL_MICRO).row(0, named=True)
    return {
        "overall_micro": finite_or_none(scores.overall_micro),
        "ci_low": finite_or_none(micro_low),
        "ci_high": finite_or_none(micro_high),
        "overall_macro": finite_or_none(scores.overall_macro),
        "majority_reference": finite_or_none(g["majority"]),
        "kappa": finite_or_none(g["kappa"]),
        "mean_iou": finite_or_none(scores.mean_iou("All")),
        "failure_rate": finite_or_none(g["failure_rate"]),
        "items": int(g["n_items"]),
    }


def _named(runs: Sequence[tuple[str, Scores]]) -> list[Scores]:
    return [replace(s, label=name) for name, s in runs]


def comparison_table2(
    runs: Mapping[str, Scores], *, extra_rows: Sequence[AgreementRow] = ()
) -> pl.DataFrame:
    """Table 2 (text cells with intervals): one row per model, then each agreement row with knees.

    Columns: ``model``, ``knees``, ``majority ref. (overall)``, the paper's five columns and
    Overall (micro), then ``Overall (macro)``.
    """
    rows_with = list(runs.items())
    rows_with += [(r.label, r.scores) for r in extra_rows if r.n_knees and r.scores is not None]
    t2 = table2(_named(rows_with), with_paper=False, intervals=True)
    out = []
    for (name, s), r in zip(rows_with, t2.iter_rows(named=True), strict=True):
        row = {
            "model": name,
            "knees": str(s.items["scan_id"].n_unique()),
            "majority ref. (overall)": cell(headline(s)["majority_reference"]),
        }
        for c in TABLE2_COLUMNS:
            title = OVERALL_MICRO if c == "Overall" else c
            row[title] = cell(r[c], r[f"{c}_low"], r[f"{c}_high"])
        row[OVERALL_MACRO] = cell(s.overall_macro, *s.accuracy_interval(OVERALL_MACRO))
        out.append(row)
    return pl.DataFrame(out)


def comparison_table3(runs: Mapping[str, Scores]) -> pl.DataFrame:
    """Table 3 plus the patellar tendon (text cells with intervals), and Acc@0.25 / Acc@0.5 (all)."""
    t3 = table3(_named(list(runs.items())), with_paper=False, patellar_tendon=True, intervals=True)
    out = []
    for s, r in zip(runs.values(), t3.iter_rows(named=True), strict=True):
        row = {"model": r["model"]}
        for c in (*TABLE3_COLUMNS, "Patellar tendon"):
            row[c] = cell(r[c], r[f"{c}_low"], r[f"{c}_high"])
        everything = s.structures.filter(pl.col("structure") == "All").row(0, named=True)
        row["Acc@0.25 (all)"] = cell(everything["acc_025"])
        row["Acc@0.5 (all)"] = cell(everything["acc_050"])
        out.append(row)
    return pl.DataFrame(out)


def _folder_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_")[:80] or "run"


def _readme(
    title: str,
    note: str,
    intro: str,
    t2: pl.DataFrame,
    t3: pl.DataFrame,
    extra_rows: Sequence[AgreementRow],
    sections: Sequence[str],
) -> str:
    notes = [f"- {r.label}: {r.note}" for r in extra_rows if r.n_knees and r.note]
    lines = [f"# {title}", ""]
    lines += [f"> {note}", ""] if note else []
    lines += [intro, ""] if intro else []
    lines += [
        "## Accuracy (Table 2 layout), 95 % bootstrap intervals resampled by patient",
        "",
        "Overall (micro) averages over every (scan, attribute) pair; Overall (macro) is the mean "
        "of the seven category accuracies (docs/benchmark-protocol.md).",
        "",
        to_markdown(t2),
        "",
        *([*notes, ""] if notes else []),
        "## Mean IoU per structure (Table 3 layout, plus the patellar tendon)",
        "",
        to_markdown(t3),
        "",
        "## The paper's Table 2, for orientation only (not measured here)",
        "",
        to_markdown(paper_table2()),
        "",
    ]
    return "\n".join([*lines, *sections, ""])


def write_comparison_report(
    runs: Mapping[str, Scores],
    out_dir: str | Path,
    *,
    title: str,
    note: str = "",
    intro: str = "",
    extra_rows: Sequence[AgreementRow] = (),
    sections: Sequence[str] = (),
    summary: Mapping[str, Any] | None = None,
    model_folders: Mapping[str, str] | None = None,
    n_boot: int = 1000,
    seed: int = 0,
) -> ReportPaths:
    """Write the comparison of ``runs`` (model name -> scores, any number) into ``out_dir``.

    ``out_dir/README.md``: ``title``, ``note`` (quoted first), ``intro``, Table 2 (one row per
    model, then each agreement row of ``extra_rows`` with the knees it rests on) and Table 3
    with intervals, the paper's Table 2 for orientation, then ``sections`` (Markdown).
    ``out_dir/tables/``: both tables (Markdown, CSV, JSON). ``out_dir/summary.json``:
    ``summary`` plus ``title``, ``note`` and ``headline.<model>`` (:func:`headline`).
    ``out_dir/models/<folder>/``: each model's (and agreement row's) full report (:func:`write_report`; the folder
    is ``model_folders[model]`` or the model name made file-safe). Other files in ``out_dir``
    are left alone; each file is written atomically.
    """
    out = Path(out_dir)
    folders = {name: (model_folders or {}).get(name) or _folder_name(name) for name in runs}
    models = {
        name: write_report(s, out / "models" / folders[name], n_boot=n_boot, seed=seed)
        for name, s in runs.items()
    }
    for row in extra_rows:  # an agreement row's own report, like a model's
        if row.scores is not None and row.n_knees:
            folder = out / "models" / _folder_name(row.label)
            models[row.label] = write_report(row.scores, folder, n_boot=n_boot, seed=seed)
    t2 = comparison_table2(runs, extra_rows=extra_rows)
    t3 = comparison_table3(runs)
    tables = write_table(t2, out / "tables" / "comparison_table2")
    tables += write_table(t3, out / "tables" / "comparison_table3")
    readme = out / "README.md"
    write_atomic(readme, _readme(title, note, intro, t2, t3, extra_rows, sections))
    body = {
        **(summary or {}),
        "title": title,
        "note": note,
        "headline": {
            **{name: headline(s) for name, s in runs.items()},
            **{
                r.label: {**headline(r.scores), "n_knees": r.n_knees}
                for r in extra_rows
                if r.scores is not None and r.n_knees
            },
        },
    }
    summary_path = out / "summary.json"
    write_atomic(summary_path, json.dumps(body, indent=2, ensure_ascii=False) + "\n")
    return ReportPaths(out, readme, summary_path, tables, models)
