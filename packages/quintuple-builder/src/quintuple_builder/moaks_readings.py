"""Load OAI MOAKS reading files into the long readings table (docs/oai-data.md, "MOAKS files").

Input: the pipe-delimited ``kMRI_SQ_MOAKS_BICL*.txt`` / ``kMRI_FNIH_SQ_MOAKS_BICL*.txt``
files (and their ``.sas7bdat`` copies when pandas is installed). Output: the
long table of :data:`moaks_schema.READING_COLUMNS` (one row per knee, visit and
attribute; all 118 attributes for every knee and visit read), followed by the
extra columns ``raw_value`` (the cell as written, null when there was no cell),
``grade_note`` (why a grade is null, or ``"half_step"``) and ``file``.

Decoding rules (documented in docs/dataset.md):

- ``"code: label"`` keeps ``code``; blank cells, single spaces and codes starting
  with ``"."`` (``".: Missing Form/Incomplete Workbook"``, ``".A: Not Expected"``)
  are missing (``grade_note = "missing_code"``).
- Within-grade half steps of follow-up reads (``0.5``, ``1.5``, ``2.5``) keep the
  grade they lie within (the floor; ``grade_note = "half_step"``); negative
  change codes (``-0.5``, ``-1``) are not grades: null, ``"change_code"``.
- Cartilage ``a.f`` gives size ``a`` and depth ``f`` (``"2"`` = ``"2.0"``).
- A value outside the attribute's grade space is null (``"out_of_range"``);
  text that is not a number is null (``"unparseable"``).
- Attributes with no OAI variable in the map are null (``"unmapped"``); mapped
  variables absent from the files of that visit are null (``"column_absent"``).
  Nothing is ever invented.

Several rows for one knee and visit (different ``READPRJ``): the row with the
most non-null grades wins; ties go to the lowest ``READPRJ`` in natural order
(numeric part, then suffix: ``15 < 22 < 63A < 63B``), then the earlier file and
row. Every such knee is listed in the conflicts table with the number of
attributes on which its rows disagree.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
from moaks_schema import (
    ATTRIBUTES,
    READING_COLUMNS,
    VISITS,
    Decoder,
    MoaksSchemaError,
    OaiVariableMap,
    default_variable_map,
    side_code,
    split_prefix,
    visit,
)

from quintuple_builder.errors import QuintupleBuilderError
from quintuple_builder.moaks_tables import (
    LINE_COLUMN,
    MALFORMED_COLUMNS,
    find_moaks_files,
    read_moaks_file,
    read_moaks_table,
)

__all__ = [
    "EXTRA_READING_COLUMNS",
    "MoaksReadings",
    "find_moaks_files",
    "load_moaks_readings",
    "read_moaks_table",
    "readprj_sort_key",
]

#: Columns the loader adds after ``READING_COLUMNS``.
EXTRA_READING_COLUMNS: tuple[str, ...] = ("raw_value", "grade_note", "file")

_ID_COLUMNS = ("ID", "SIDE", "READPRJ", "VERSION", LINE_COLUMN)
_CODES_SCHEMA = {
    "variable": pl.String,
    "attribute": pl.String,
    "reason": pl.String,
    "n": pl.UInt32,
    "values": pl.List(pl.String),
}
_READPRJ = re.compile(r"^\s*(\d+)\s*(.*?)\s*$")


@dataclass(frozen=True)
class MoaksReadings:
    """The loader's result; unpacks as ``readings, conflicts, missing``.

    - ``readings``: ``READING_COLUMNS`` + ``raw_value, grade_note, file``.
    - ``conflicts``: one row per knee and visit read more than once:
      ``patient_id, visit, side, n_rows, chosen_source, other_sources,
      n_disagreements, disagreeing_attributes``.
    - ``missing``: one row per null grade: ``patient_id, visit, side,
      question_id, attribute, reason, variable, raw_value`` (``variable``: the OAI
      column behind it, null when unmapped).
    - ``unknown_codes``: over every row read (chosen or not), per variable, attribute and
      reason (``out_of_range``: outside the variable's known codes; ``unparseable``): ``n``
      cells and their ``values``.
    - ``malformed``: rows left out with ``keep_going=True`` (:data:`MALFORMED_COLUMNS`:
      ``file, line, reason``); empty otherwise, since a malformed row then raises.
    - ``reads``: every read of every knee, kept or not: ``patient_id, visit,
      side, rank, source, attribute, grade`` (``rank`` 0 is the read the
      priority rule keeps; the others are the second readers of
      :func:`quintuple_builder.reader_pairs.reader_pairs`).
    """

    readings: pl.DataFrame
    conflicts: pl.DataFrame
    missing: pl.DataFrame
    malformed: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=MALFORMED_COLUMNS))
    unknown_codes: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=_CODES_SCHEMA))
    reads: pl.DataFrame | None = None

    def __iter__(self) -> Iterator[pl.DataFrame]:
        return iter((self.readings, self.conflicts, self.missing))

    def missing_summary(self) -> pl.DataFrame:
        """Null grades counted per attribute, variable and reason; ``values`` lists the codes
        read for codes outside a variable's known codes (``out_of_range``), text that is no
        code (``unparseable``) and change codes."""
        code = pl.col("raw_value").str.split(":").list.first().str.strip_chars()
        shown = pl.col("reason").is_in(["out_of_range", "unparseable", "change_code"])
        return (
            self.missing.group_by("attribute", "variable", "reason")
            .agg(
                pl.len().alias("len"),
                code.filter(shown).drop_nulls().unique().sort().alias("values"),
            )
            .sort("attribute", "variable", "reason", nulls_last=True)
        )


def readprj_sort_key(value: str | None) -> tuple[int, str]:
    """Natural order of reading projects: numeric part, then suffix.

    >>> sorted(["63A", "22", "9", "63"], key=readprj_sort_key)
    ['9', '22', '63', '63A']
    """
    if value is None:
        return (1 << 30, "")
    m = _READPRJ.match(str(value))
    if not m:
        return (1 << 30, str(value).strip())
    return (int(m.group(1)), m.group(2))


def _side_codes(values: pl.Series) -> dict[str, int]:
    return {v: side_code(v) for v in values.unique().to_list()}  # checked by read_moaks_file


def _variable_table(variable_map: OaiVariableMap) -> pl.DataFrame:
    rows = [
        (e.stem.upper(), e.attribute, e.decoder.value, bool(e.codes)) for e in variable_map.entries
    ]
    schema = {
        "stem": pl.String,
        "attribute": pl.String,
        "decoder": pl.String,
        "has_codes": pl.Boolean,
    }
    return pl.DataFrame(rows, schema=schema, orient="row")


def _code_table(variable_map: OaiVariableMap) -> pl.DataFrame:
    """``stem, attribute, code, mapped``: the code tables of variables whose codes are not grades."""
    rows = [
        (e.stem.upper(), e.attribute, code, grade)
        for e in variable_map.entries
        for code, grade in e.codes
    ]
    schema = {"stem": pl.String, "attribute": pl.String, "code": pl.Int64, "mapped": pl.Int64}
    return pl.DataFrame(rows, schema=schema, orient="row")


def _attribute_table() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "attribute": [a.key for a in ATTRIBUTES],
            "question_id": [a.question_id for a in ATTRIBUTES],
            "n_grades": [len(a.grades.meanings) for a in ATTRIBUTES],
            "attr_order": list(range(len(ATTRIBUTES))),
        },
        schema={
            "attribute": pl.String,
            "question_id": pl.Int64,
            "n_grades": pl.Int64,
            "attr_order": pl.Int64,
        },
    )


def _long_rows(
    path: Path, file_index: int, table: pl.DataFrame, variables: pl.DataFrame
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(cells, knees) for one file: one row per (row, mapped column), one row per (row, visit)."""
    n = table.height
    sides = _side_codes(table["SIDE"].str.strip_chars())
    base = pl.DataFrame(
        {
            "patient_id": table["ID"].str.strip_chars(),
            "side": table["SIDE"].str.strip_chars().replace_strict(sides, return_dtype=pl.Int64),
            "source": (
                table["READPRJ"].str.strip_chars()
                if "READPRJ" in table.columns
                else pl.Series([path.stem] * n, dtype=pl.String)
            ),
            "row": pl.Series(range(n), dtype=pl.Int64),
        }
    ).with_columns(
        pl.col("patient_id").str.zfill(7),
        pl.lit(file_index, pl.Int64).alias("file_index"),
        pl.lit(path.name).alias("file"),
    )
    known_stems = set(variables["stem"].to_list())
    by_prefix: dict[str, list[tuple[str, str]]] = {}
    for col in table.columns:
        if col in _ID_COLUMNS:
            continue
        prefix, stem = split_prefix(col)
        if prefix is None or stem not in known_stems:
            continue
        by_prefix.setdefault(prefix, []).append((col, stem))
    cells: list[pl.DataFrame] = []
    knees: list[pl.DataFrame] = []
    for prefix, cols in sorted(by_prefix.items()):
        try:
            label = visit(prefix).label
        except MoaksSchemaError:
            continue  # a visit this project does not know (reported nowhere: no attribute to fill)
        wide = base.with_columns(pl.lit(label).alias("visit")).hstack(
            table.select([pl.col(c).alias(s) for c, s in cols])
        )
        knees.append(
            wide.select("patient_id", "visit", "side", "source", "row", "file_index", "file")
        )
        cells.append(
            wide.unpivot(
                index=["patient_id", "visit", "side", "source", "row", "file_index", "file"],
                on=[s for _, s in cols],
                variable_name="stem",
                value_name="raw_value",
            )
        )
    return (
        pl.concat(cells) if cells else pl.DataFrame(),
        pl.concat(knees) if knees else pl.DataFrame(),
    )


def _decode(
    cells: pl.DataFrame, variables: pl.DataFrame, attrs: pl.DataFrame, codes: pl.DataFrame
) -> pl.DataFrame:
    """Per (row, attribute): grade (null when missing) and grade_note."""
    df = cells.join(variables, on="stem", how="inner").join(
        attrs.select("attribute", "n_grades"), on="attribute", how="inner"
    )
    code = pl.col("raw_value").str.split_exact(":", 1).struct.field("field_0").str.strip_chars()
    df = df.with_columns(code.alias("code"))
    missing = (
        pl.col("code").is_null() | (pl.col("code") == "") | pl.col("code").str.starts_with(".")
    )
    num = pl.col("code").cast(pl.Float64, strict=False)
    floor = num.floor()
    cart = pl.col("code").str.extract_groups(r"^(\d+)(?:\.(\d+))?$")
    size = cart.struct.field("1").cast(pl.Int64, strict=False)
    depth = (
        pl.col("code")
        .str.extract(r"^\d+\.(\d+)$", 1)
        .cast(pl.Int64, strict=False)
        .fill_null(pl.when(cart.struct.field("1").is_not_null()).then(0))
    )
    is_cart = pl.col("decoder") != Decoder.PLAIN.value
    cart_ok = size.is_not_null() & (size < 4) & (depth < 4)
    plain_grade = (
        pl.when(num.is_not_null() & (num >= 0) & ((num - floor) == 0))
        .then(floor)
        .when(num.is_not_null() & (num >= 0) & ((num - floor) == 0.5))
        .then(floor)
        .otherwise(None)
        .cast(pl.Int64)
    )
    cart_grade = (
        pl.when(~cart_ok)
        .then(None)
        .when(pl.col("decoder") == Decoder.CARTILAGE_SIZE.value)
        .then(size)
        .otherwise(depth)
    )
    raw_grade = pl.when(missing).then(None).when(is_cart).then(cart_grade).otherwise(plain_grade)
    df = df.with_columns(raw_grade.alias("g_raw")).join(
        codes,
        left_on=["stem", "attribute", "g_raw"],
        right_on=["stem", "attribute", "code"],
        how="left",
    )
    df = df.with_columns(
        pl.when(pl.col("has_codes")).then(pl.col("mapped")).otherwise(pl.col("g_raw")).alias("g0")
    )
    unknown_code = pl.col("has_codes") & pl.col("g_raw").is_not_null() & pl.col("mapped").is_null()
    note = (
        pl.when(missing)
        .then(pl.lit("missing_code"))
        .when(num.is_not_null() & (num < 0))
        .then(pl.lit("change_code"))
        .when(is_cart & size.is_null())
        .then(pl.lit("unparseable"))
        .when(is_cart & ~cart_ok)
        .then(pl.lit("out_of_range"))
        .when(~is_cart & num.is_null())
        .then(pl.lit("unparseable"))
        .when(~is_cart & ((num - floor) != 0) & ((num - floor) != 0.5))
        .then(pl.lit("unparseable"))
        .when(unknown_code | (pl.col("g0") >= pl.col("n_grades")))
        .then(pl.lit("out_of_range"))
        .when(~is_cart & ((num - floor) == 0.5))
        .then(pl.lit("half_step"))
        .otherwise(None)
    )
    df = df.with_columns(note.alias("grade_note"))
    df = df.with_columns(
        pl.when(pl.col("grade_note").is_null() | (pl.col("grade_note") == "half_step"))
        .then(pl.col("g0"))
        .otherwise(None)
        .alias("grade")
    )
    out = df.select(
        "patient_id",
        "visit",
        "side",
        "source",
        "row",
        "file_index",
        "file",
        "stem",
        "attribute",
        "grade",
        "grade_note",
        "raw_value",
    )
    return _one_cell_per_attribute(out)


def _one_cell_per_attribute(cells: pl.DataFrame) -> pl.DataFrame:
    """Where several variables grade one attribute (a codebook may map two), the highest grade
    read wins; the attribute is null only when none gives a grade (with the first reason)."""
    key = ["patient_id", "visit", "side", "source", "row", "file_index", "file", "attribute"]
    if not cells.select(pl.struct(key).is_duplicated().any()).item():
        return cells
    return (
        cells.sort("stem")
        .group_by(key, maintain_order=True)
        .agg(
            pl.col("stem").str.join("+"),
            pl.col("grade").max(),
            pl.col("grade_note").filter(pl.col("grade").is_null()).first().alias("null_note"),
            pl.col("grade_note").filter(pl.col("grade").is_not_null()).first().alias("kept_note"),
            pl.col("raw_value").drop_nulls().str.join("; "),
        )
        .with_columns(
            pl.when(pl.col("grade").is_null())
            .then(pl.col("null_note"))
            .otherwise(pl.col("kept_note"))
            .alias("grade_note")
        )
        .select(*key[:7], "stem", "attribute", "grade", "grade_note", "raw_value")
    )


def _variable_name(vmap: OaiVariableMap) -> pl.Expr:
    """The OAI column behind a reading (visit prefix + stem), from the cell or else the map."""
    stems = {a.key: "+".join(vmap.stems_for(a.key)) or None for a in ATTRIBUTES}
    prefix = pl.col("visit").replace_strict({v.label: v.prefix for v in VISITS}, default=None)
    stem = pl.col("stem").fill_null(pl.col("attribute").replace_strict(stems, default=None))
    return pl.when(stem.is_null()).then(None).otherwise(prefix + stem)


def _ranked_rows(decoded: pl.DataFrame, knees: pl.DataFrame) -> pl.DataFrame:
    """Every reading row of every knee with its ``rank`` (0 = the one kept)."""
    key = ["patient_id", "visit", "side"]
    rowkey = [*key, "file_index", "row"]

    # Priority: most non-null grades, then READPRJ natural order, then file and row order.
    counts = decoded.group_by(rowkey).agg(pl.col("grade").is_not_null().sum().alias("n_valid"))
    prj = knees.select("source").unique()
    prj = prj.with_columns(
        pl.col("source")
        .map_elements(lambda s: readprj_sort_key(s)[0], return_dtype=pl.Int64)
        .alias("prj_num"),
        pl.col("source")
        .map_elements(lambda s: readprj_sort_key(s)[1], return_dtype=pl.String)
        .alias("prj_suffix"),
    )
    return (
        knees.join(counts, on=rowkey, how="left")
        .with_columns(pl.col("n_valid").fill_null(0))
        .join(prj, on="source", how="left")
        .sort(
            [*key, "n_valid", "prj_num", "prj_suffix", "file_index", "row"],
            descending=[False, False, False, True, False, False, False, False],
        )
        .with_columns(pl.int_range(pl.len()).over(key).alias("rank"))
    )


def _conflicts(ranked: pl.DataFrame, decoded: pl.DataFrame) -> pl.DataFrame:
    """Knees read more than once: the sources and the attributes on which they disagree."""
    key = ["patient_id", "visit", "side"]
    multi = (
        ranked.group_by(key)
        .agg(
            pl.len().alias("n_rows"),
            pl.col("source").filter(pl.col("rank") == 0).first().alias("chosen_source"),
            pl.col("source").filter(pl.col("rank") > 0).alias("other_sources"),
        )
        .filter(pl.col("n_rows") > 1)
    )
    if multi.height:
        dis = (
            decoded.join(multi.select(key), on=key, how="semi")
            .group_by([*key, "attribute"])
            .agg(pl.col("grade").drop_nulls().n_unique().alias("nu"))
            .filter(pl.col("nu") > 1)
            .group_by(key)
            .agg(
                pl.len().alias("n_disagreements"),
                pl.col("attribute").sort().alias("disagreeing_attributes"),
            )
        )
        conflicts = multi.join(dis, on=key, how="left").with_columns(
            pl.col("n_disagreements").fill_null(0),
            pl.col("disagreeing_attributes").fill_null(pl.lit([], pl.List(pl.String))),
        )
    else:
        conflicts = pl.DataFrame(
            schema={
                "patient_id": pl.String,
                "visit": pl.String,
                "side": pl.Int64,
                "n_rows": pl.UInt32,
                "chosen_source": pl.String,
                "other_sources": pl.List(pl.String),
                "n_disagreements": pl.UInt32,
                "disagreeing_attributes": pl.List(pl.String),
            }
        )
    return conflicts.select(
        "patient_id",
        "visit",
        "side",
        "n_rows",
        "chosen_source",
        "other_sources",
        "n_disagreements",
        "disagreeing_attributes",
    ).sort(key)


def _chosen_readings(
    chosen: pl.DataFrame, decoded: pl.DataFrame, variables: pl.DataFrame, attrs: pl.DataFrame
) -> pl.DataFrame:
    """The long readings table of the kept rows (plus ``stem``): every attribute, a grade or a reason."""
    key = ["patient_id", "visit", "side"]
    rowkey = [*key, "file_index", "row"]
    mapped = set(variables["attribute"].to_list())
    chosen_cells = decoded.join(chosen.select(rowkey), on=rowkey, how="semi")
    frame = chosen.select(*key, "source", "file").join(attrs, how="cross")
    frame = frame.join(
        chosen_cells.select(*key, "attribute", "stem", "grade", "grade_note", "raw_value"),
        on=[*key, "attribute"],
        how="left",
    )
    absent_note = (
        pl.when(~pl.col("attribute").is_in(list(mapped)))
        .then(pl.lit("unmapped"))
        .otherwise(pl.lit("column_absent"))
    )
    readings = (
        frame.with_columns(
            pl.when(pl.col("raw_value").is_null() & pl.col("grade").is_null())
            .then(absent_note)
            .otherwise(pl.col("grade_note"))
            .alias("grade_note")
        )
        .sort([*key, "attr_order"])
        .select(*READING_COLUMNS, *EXTRA_READING_COLUMNS, "stem")
    )
    return readings.with_columns(
        pl.col("side").cast(pl.Int64),
        pl.col("question_id").cast(pl.Int64),
        pl.col("grade").cast(pl.Int64),
    )


def load_moaks_readings(
    paths: str | Path | Iterable[str | Path],
    *,
    variable_map: OaiVariableMap | None = None,
    keep_going: bool = False,
) -> MoaksReadings:
    """Read OAI MOAKS files (or folders of them) into the long readings table.

    ``variable_map`` defaults to :func:`moaks_schema.default_variable_map`; extend it
    with a codebook (``default_variable_map().with_codebook(csv)``) to map more items.
    A damaged file (empty, binary, not ``|``-separated, header only, a column
    twice, no ``ID``/``SIDE``) raises :class:`QuintupleBuilderError` naming it; a
    malformed row (wrong number of fields, an ``ID`` that is no participant
    number, an unknown ``SIDE``) raises naming the file and line, or with
    ``keep_going`` is left out and listed in ``MoaksReadings.malformed``.
    """
    if isinstance(paths, str | Path):
        paths = [paths]
    files: list[Path] = []
    for p in paths:
        files += find_moaks_files(p) if Path(p).is_dir() else [Path(p)]
    if not files:
        raise QuintupleBuilderError("no MOAKS files given")
    vmap = variable_map or default_variable_map()
    variables = _variable_table(vmap)
    codes = _code_table(vmap)
    attrs = _attribute_table()
    cells_all: list[pl.DataFrame] = []
    knees_all: list[pl.DataFrame] = []
    malformed: list[pl.DataFrame] = []
    n_whole = 0
    for i, path in enumerate(files):
        checked = read_moaks_file(path, keep_going=keep_going)
        malformed.append(checked.malformed)
        n_whole += checked.table.height
        cells, knees = _long_rows(path, i, checked.table, variables)
        if cells.height:
            cells_all.append(cells)
            knees_all.append(knees)
    if not cells_all:
        n_bad = sum(m.height for m in malformed)
        if n_bad and not n_whole:
            raise QuintupleBuilderError(
                f"{', '.join(str(f) for f in files)}: no whole row left: all {n_bad} row(s) are "
                "malformed (see MoaksReadings.malformed with keep_going)"
            )
        raise QuintupleBuilderError(
            f"{', '.join(str(f) for f in files)}: no MOAKS variable of the map found: expected columns "
            "such as V00MBMSFMC (visit prefix + OAI stem)"
        )
    decoded = _decode(pl.concat(cells_all), variables, attrs, codes)
    knees = pl.concat(knees_all)
    ranked = _ranked_rows(decoded, knees)
    conflicts = _conflicts(ranked, decoded)
    readings = _chosen_readings(ranked.filter(pl.col("rank") == 0), decoded, variables, attrs)
    missing = readings.filter(pl.col("grade").is_null()).select(
        "patient_id",
        "visit",
        "side",
        "question_id",
        "attribute",
        pl.col("grade_note").alias("reason"),
        _variable_name(vmap).alias("variable"),
        "raw_value",
    )
    readings = readings.drop("stem")
    return MoaksReadings(
        readings=readings,
        conflicts=conflicts,
        missing=missing,
        malformed=pl.concat(malformed),
        unknown_codes=_unknown_codes(decoded),
        reads=_every_read(decoded, ranked),
    )


def _every_read(decoded: pl.DataFrame, ranked: pl.DataFrame) -> pl.DataFrame:
    """Every read of every knee, kept or not, with its priority ``rank`` (0: the kept one)."""
    key = ["patient_id", "visit", "side"]
    rowkey = [*key, "file_index", "row"]
    return decoded.join(ranked.select(*rowkey, "rank"), on=rowkey, how="inner").select(
        *key, pl.col("rank").cast(pl.Int64), "source", "attribute", pl.col("grade").cast(pl.Int64)
    )


def _unknown_codes(decoded: pl.DataFrame) -> pl.DataFrame:
    """Cells outside a variable's known codes, or no code at all, over every row read."""
    prefix = pl.col("visit").replace_strict({v.label: v.prefix for v in VISITS}, default="")
    code = pl.col("raw_value").str.split(":").list.first().str.strip_chars()
    return (
        decoded.filter(pl.col("grade_note").is_in(["out_of_range", "unparseable"]))
        .group_by(
            (prefix + pl.col("stem")).alias("variable"),
            "attribute",
            pl.col("grade_note").alias("reason"),
        )
        .agg(pl.len().alias("n"), code.unique().sort().alias("values"))
        .sort("variable", "attribute", "reason")
        .cast(_CODES_SCHEMA)  # type: ignore[arg-type]
    )
