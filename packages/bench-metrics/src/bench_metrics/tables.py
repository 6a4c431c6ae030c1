"""Tables: the paper's Table 2 and Table 3 layouts and the full tables, as Markdown, CSV and JSON."""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import polars as pl

from bench_metrics.paper import TABLE2_COLUMNS, TABLE3_COLUMNS, paper_table2, paper_table3
from bench_metrics.scores import OVERALL_MICRO, Scores
from bench_metrics.values import finite_or_none

__all__ = ["table2", "table3", "to_markdown", "write_atomic", "write_table", "write_tables"]

_T2_SOURCE = dict(
    zip(
        TABLE2_COLUMNS,
        ("BML", "Cartilage", "Osteophyte", "Meniscus", "Others", OVERALL_MICRO),
        strict=True,
    )
)


def _split_label(label: str) -> tuple[str, str]:
    model, _, setting = label.partition(" / ")
    return model, setting


def _with_bounds(columns: Sequence[str], intervals: bool) -> list[str]:
    """``columns``, each followed by ``<c>_low`` and ``<c>_high`` when ``intervals``."""
    return [x for c in columns for x in ((c, f"{c}_low", f"{c}_high") if intervals else (c,))]


def table2(
    runs: Scores | Sequence[Scores], *, with_paper: bool = True, intervals: bool = False
) -> pl.DataFrame:
    """Accuracy in the paper's Table 2 layout (BML, Cart., Ost., Men., Others, Overall = micro).

    One row per run (``source`` = ``"this run"``), then the paper's rows
    (``source`` = ``"paper"``) when ``with_paper``. ``intervals`` adds each column's
    bootstrap bounds as ``<column>_low`` / ``<column>_high`` (null for the paper's rows).
    """
    runs = [runs] if isinstance(runs, Scores) else list(runs)
    rows = []
    for s in runs:
        model, setting = _split_label(s.label)
        row: dict[str, Any] = {"model": model, "setting": setting}
        for out, group in _T2_SOURCE.items():
            row[out] = s.accuracy(group)
            if intervals:
                row[f"{out}_low"], row[f"{out}_high"] = s.accuracy_interval(group)
        row["source"] = "this run"
        rows.append(row)
    ours = pl.DataFrame(
        rows,
        schema={
            "model": pl.String,
            "setting": pl.String,
            **{c: pl.Float64 for c in _with_bounds(TABLE2_COLUMNS, intervals)},
            "source": pl.String,
        },
    )
    return pl.concat([ours, paper_table2()], how="diagonal_relaxed") if with_paper else ours


def table3(
    runs: Scores | Sequence[Scores],
    *,
    with_paper: bool = True,
    patellar_tendon: bool = False,
    intervals: bool = False,
) -> pl.DataFrame:
    """Mean IoU in the paper's Table 3 layout (Patella … Synovitis), optionally plus the patellar
    tendon; ``intervals`` adds each column's bootstrap bounds (``<column>_low`` / ``_high``)."""
    runs = [runs] if isinstance(runs, Scores) else list(runs)
    cols = list(TABLE3_COLUMNS) + (["Patellar tendon"] if patellar_tendon else [])
    rows = []
    for s in runs:
        row: dict[str, Any] = {"model": s.label}
        for c in cols:
            row[c] = s.mean_iou(c)
            if intervals:
                row[f"{c}_low"], row[f"{c}_high"] = s.iou_interval(c)
        row["source"] = "this run"
        rows.append(row)
    ours = pl.DataFrame(
        rows,
        schema={
            "model": pl.String,
            **{c: pl.Float64 for c in _with_bounds(cols, intervals)},
            "source": pl.String,
        },
    )
    return pl.concat([ours, paper_table3()], how="diagonal_relaxed") if with_paper else ours


def _fmt(v: Any, digits: int) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return "–" if math.isnan(v) else f"{v:.{digits}f}"
    return str(v).replace("|", "\\|")


def to_markdown(frame: pl.DataFrame, *, digits: int = 3) -> str:
    """A GitHub-flavoured Markdown table (floats to ``digits`` places, missing as ``–``).

    >>> print(to_markdown(pl.DataFrame({"a": ["x"], "b": [0.12345]})))
    | a | b |
    |---|---|
    | x | 0.123 |
    """
    head = "| " + " | ".join(frame.columns) + " |"
    sep = "|" + "|".join("---" for _ in frame.columns) + "|"
    body = ["| " + " | ".join(_fmt(v, digits) for v in row) + " |" for row in frame.iter_rows()]
    return "\n".join([head, sep, *body])


def write_atomic(path: Path, data: str | bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename (never half-written)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data.encode("utf-8") if isinstance(data, str) else data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _json_safe(v: Any) -> Any:
    return finite_or_none(v) if isinstance(v, float) else v


def write_table(frame: pl.DataFrame, stem: Path, *, digits: int = 3) -> list[Path]:
    """``stem.md``, ``stem.csv`` and ``stem.json`` (a list of row objects) for one table."""
    out = []
    md, csv, js = stem.with_suffix(".md"), stem.with_suffix(".csv"), stem.with_suffix(".json")
    write_atomic(md, to_markdown(frame, digits=digits) + "\n")
    write_atomic(csv, frame.write_csv())
    rows = [{k: _json_safe(v) for k, v in r.items()} for r in frame.iter_rows(named=True)]
    write_atomic(js, json.dumps(rows, indent=1, ensure_ascii=False) + "\n")
    out += [md, csv, js]
    return out


def write_tables(
    scores: Scores, out_dir: str | Path, *, comparison: pl.DataFrame | None = None
) -> list[Path]:
    """Every table of ``scores`` under ``out_dir/tables/`` in three formats, plus ``scores.json``."""
    tdir = Path(out_dir) / "tables"
    written: list[Path] = []
    tables = {
        "table2": table2(scores),
        "table3": table3(scores),
        "table3_full": table3(scores, with_paper=False, patellar_tendon=True),
        "groups": scores.groups,
        "attributes": scores.attributes,
        "questions": scores.questions,
        "structures": scores.structures,
        "correlation": scores.correlation,
        "failures": scores.failures,
    }
    if comparison is not None:
        tables["comparison"] = comparison
    for name, frame in tables.items():
        written += write_table(frame, tdir / name)
    summary = {
        "label": scores.label,
        "meta": scores.meta,
        "groups": [
            {k: _json_safe(v) for k, v in r.items()} for r in scores.groups.iter_rows(named=True)
        ],
        "structures": [
            {k: _json_safe(v) for k, v in r.items()}
            for r in scores.structures.iter_rows(named=True)
        ],
    }
    path = Path(out_dir) / "scores.json"
    write_atomic(path, json.dumps(summary, indent=1, ensure_ascii=False) + "\n")
    return [*written, path]
