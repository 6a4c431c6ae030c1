"""Assemble the quintuples table from scans, per-question boxes and MOAKS readings.

Vectorised with polars: reasoning chains and MOAKS JSON are generated once per
distinct (question, grades, wording variant, box state) and joined back, and
the box text is substituted per row, so 8,000 scans x 69 questions assemble in
seconds (benchmarks/build_bench.py).

The result has the columns of docs/formats.md (``QUINTUPLE_COLUMNS``) plus
``complete`` (every attribute graded). Rows with a missing grade keep their
null grades, and have null ``reasoning``, ``answer`` and ``answer_no_cot``: no
target is ever written for an ungraded item.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import polars as pl
from moaks_schema import QUESTIONS, Question, question

from quintuple_builder.answers import moaks_json
from quintuple_builder.errors import QuintupleBuilderError
from quintuple_builder.prompts import prompt_table
from quintuple_builder.reasoning import BOX_PLACEHOLDER, N_VARIANTS, reasoning_chain
from quintuple_builder.splits import assign_splits

__all__ = ["BOX_COLUMNS", "QUINTUPLE_COLUMNS", "assemble_quintuples", "box_text_expr"]

#: Columns of quintuples.parquet (docs/formats.md), in order; ``complete`` follows.
QUINTUPLE_COLUMNS: tuple[str, ...] = (
    "quintuple_id",
    "scan_id",
    "patient_id",
    "visit",
    "side",
    "split",
    "question_id",
    "prompt_zero_shot",
    "prompt_instruction",
    "prompt_gt_region",
    "box_public",
    "box_source",
    "reasoning",
    "grades",
    "grade_source",
    "answer",
    "answer_no_cot",
)
#: Columns of the per-question boxes table the assembler takes.
BOX_COLUMNS: tuple[str, ...] = ("scan_id", "question_id", "box_public", "box_source")

_GRADES_DTYPE = pl.List(pl.Struct({"attribute": pl.String, "grade": pl.Int64}))


def box_text_expr(col: str = "box_public") -> pl.Expr:
    """Polars expression: the public box list as ``"[a, b, c, d, e, f]"``, ``"none"`` when null."""
    box = pl.col(col)
    text = pl.format("[{}, {}, {}, {}, {}, {}]", *[box.list.get(i) for i in range(6)])
    return pl.when(box.is_null()).then(pl.lit("none")).otherwise(text)


def _scan_variant(seed: int, scan_id: str) -> int:
    return (
        int.from_bytes(hashlib.sha256(f"{seed}:{scan_id}".encode()).digest()[:4], "big")
        % N_VARIANTS
    )


def _require(df: pl.DataFrame, cols: Sequence[str], what: str) -> None:
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise QuintupleBuilderError(f"{what}: column(s) {missing} missing: expected {list(cols)}")


def _chain_table(keys: pl.DataFrame, seed: int) -> pl.DataFrame:
    rows = []
    for qid, gkey, variant, state in keys.iter_rows():
        q = question(qid)
        grades = {a.key: int(g) for a, g in zip(q.attributes, gkey.split(","), strict=True)}
        steps = reasoning_chain(
            q, grades, box=BOX_PLACEHOLDER if state == "box" else None, variant=variant, seed=seed
        )
        rows.append(
            (
                qid,
                gkey,
                variant,
                state,
                steps[0],
                steps[1:],
                "\n".join(f"{i}. {s}" for i, s in enumerate(steps[1:], start=2)),
                moaks_json(q, grades),
            )
        )
    return pl.DataFrame(
        rows,
        orient="row",
        schema={
            "question_id": pl.Int64,
            "grades_key": pl.String,
            "variant": pl.Int64,
            "box_state": pl.String,
            "step0": pl.String,
            "rest": pl.List(pl.String),
            "rest_numbered": pl.String,
            "moaks": pl.String,
        },
    )


def _scan_keys(scans: pl.DataFrame, seed: int) -> pl.DataFrame:
    """``scan_id, patient_id, visit, side, split, scan_variant`` of each scan (split assigned if absent)."""
    if "split" not in scans.columns:
        splits = assign_splits(scans["patient_id"].to_list())
        scans = scans.with_columns(pl.col("patient_id").replace_strict(splits).alias("split"))
    keys = scans.select(
        pl.col("scan_id").cast(pl.String),
        pl.col("patient_id").cast(pl.String),
        pl.col("visit").cast(pl.String),
        pl.col("side").cast(pl.Int64),
        pl.col("split").cast(pl.String),
    )
    if keys["scan_id"].is_duplicated().any():
        raise QuintupleBuilderError(
            "scans: column 'scan_id' has duplicates: expected one row per scan"
        )
    keys = keys.with_columns(
        pl.col("scan_id")
        .map_elements(lambda s: _scan_variant(seed, s), return_dtype=pl.Int64)
        .alias("scan_variant")
    )
    return keys


def _graded(keys: pl.DataFrame, readings: pl.DataFrame, qs: Sequence[Question]) -> pl.DataFrame:
    """The grades of every (knee, question), in attribute order, with completeness and source."""
    attrs = pl.DataFrame(
        [(q.id, a.key, i) for q in qs for i, a in enumerate(q.attributes)],
        orient="row",
        schema={"question_id": pl.Int64, "attribute": pl.String, "attr_pos": pl.Int64},
    )
    reads = readings.select(
        pl.col("patient_id").cast(pl.String),
        pl.col("visit").cast(pl.String),
        pl.col("side").cast(pl.Int64),
        pl.col("attribute").cast(pl.String),
        pl.col("grade").cast(pl.Int64),
        pl.col("source").cast(pl.String),
    )
    rkey = ["patient_id", "visit", "side", "attribute"]
    if reads.select(rkey).is_duplicated().any():
        raise QuintupleBuilderError(
            "readings: several grades for one (patient_id, visit, side, attribute): expected one "
            "(resolve READPRJ duplicates with load_moaks_readings)"
        )
    knees = keys.select("patient_id", "visit", "side").unique()
    return (
        knees.join(attrs, how="cross")
        .join(reads, on=rkey, how="left")
        .sort("patient_id", "visit", "side", "question_id", "attr_pos")
        .group_by("patient_id", "visit", "side", "question_id", maintain_order=True)
        .agg(
            pl.struct("attribute", "grade").alias("grades"),
            pl.col("grade").is_not_null().all().alias("complete"),
            pl.col("grade").cast(pl.String).fill_null("x").str.join(",").alias("grades_key"),
            pl.col("source").drop_nulls().first().alias("grade_source"),
        )
    )


def _with_answers(df: pl.DataFrame) -> pl.DataFrame:
    """``reasoning``, ``answer``, ``answer_no_cot`` (complete rows only) and ``quintuple_id``."""
    step0 = pl.col("step0").str.replace(BOX_PLACEHOLDER, pl.col("box_txt"), literal=True)
    complete = pl.col("complete")
    return df.with_columns(
        pl.when(complete).then(pl.concat_list(step0, pl.col("rest"))).alias("reasoning"),
        pl.when(complete)
        .then(
            pl.concat_str(
                pl.lit("Box: "),
                pl.col("box_txt"),
                pl.lit("\nReasoning:\n1. "),
                step0,
                pl.lit("\n"),
                pl.col("rest_numbered"),
                pl.lit("\nMOAKS: "),
                pl.col("moaks"),
            )
        )
        .alias("answer"),
        pl.when(complete)
        .then(
            pl.concat_str(pl.lit("Box: "), pl.col("box_txt"), pl.lit("\nMOAKS: "), pl.col("moaks"))
        )
        .alias("answer_no_cot"),
        pl.concat_str(pl.col("scan_id"), pl.lit("_"), pl.col("question_id").cast(pl.String)).alias(
            "quintuple_id"
        ),
    )


def _prompt_frame(qs: Sequence[Question]) -> pl.DataFrame:
    """The three prompts of every question."""
    prompts = prompt_table(tuple(qs))
    return pl.DataFrame(
        {
            "question_id": [q.id for q in qs],
            "prompt_zero_shot": [prompts[q.id]["zero-shot"] for q in qs],
            "prompt_instruction": [prompts[q.id]["instruction"] for q in qs],
            "prompt_gt_region": [prompts[q.id]["gt-region"] for q in qs],
        },
        schema={
            "question_id": pl.Int64,
            "prompt_zero_shot": pl.String,
            "prompt_instruction": pl.String,
            "prompt_gt_region": pl.String,
        },
    )


def assemble_quintuples(
    scans: pl.DataFrame,
    boxes: pl.DataFrame,
    readings: pl.DataFrame,
    *,
    seed: int = 0,
    question_ids: Sequence[int] | None = None,
) -> pl.DataFrame:
    """One row per (scan, question).

    ``scans``: ``scan_id, patient_id, visit, side`` (+ ``split``; assigned from the
    patient ids when absent). ``boxes``: ``BOX_COLUMNS`` (``box_public`` a list of
    6 ints or null). ``readings``: ``moaks_schema.READING_COLUMNS``.
    """
    _require(scans, ("scan_id", "patient_id", "visit", "side"), "scans")
    _require(boxes, BOX_COLUMNS, "boxes")
    _require(readings, ("patient_id", "visit", "side", "attribute", "grade", "source"), "readings")
    qs = [question(i) for i in question_ids] if question_ids is not None else list(QUESTIONS)
    keys = _scan_keys(scans, seed)
    graded = _graded(keys, readings, qs)
    qids = pl.DataFrame(
        {"question_id": [q.id for q in qs], "q_has_box": [q.has_box for q in qs]},
        schema={"question_id": pl.Int64, "q_has_box": pl.Boolean},
    )
    bx = boxes.select(
        pl.col("scan_id").cast(pl.String),
        pl.col("question_id").cast(pl.Int64),
        pl.col("box_public").cast(pl.List(pl.Int64)),
        pl.col("box_source").cast(pl.String),
    )
    df = (
        keys.join(qids, how="cross")
        .join(graded, on=["patient_id", "visit", "side", "question_id"], how="left")
        .join(bx, on=["scan_id", "question_id"], how="left")
        .with_columns(
            ((pl.col("scan_variant") + pl.col("question_id")) % N_VARIANTS).alias("variant"),
            pl.when(pl.col("box_public").is_not_null())
            .then(pl.lit("box"))
            .when(pl.col("q_has_box"))
            .then(pl.lit("absent"))
            .otherwise(pl.lit("none"))
            .alias("box_state"),
            pl.when(pl.col("box_public").is_not_null())
            .then(pl.col("box_source"))
            .alias("box_source"),
        )
    )
    ckeys = ["question_id", "grades_key", "variant", "box_state"]
    uniq = df.filter(pl.col("complete")).select(ckeys).unique().sort(ckeys)
    chains = _chain_table(uniq, seed)
    df = df.join(chains, on=ckeys, how="left").with_columns(box_text_expr().alias("box_txt"))
    df = _with_answers(df)
    ptab = _prompt_frame(qs)
    df = df.join(ptab, on="question_id", how="left")
    return (
        df.select(*QUINTUPLE_COLUMNS, "complete")
        .with_columns(pl.col("grades").cast(_GRADES_DTYPE))
        .sort("scan_id", "question_id")
    )
