"""Load OAI MOAKS reading files into the long readings table (moaks.md §5).

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

import io
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
from moaks_schema import (
    ATTRIBUTES,
    READING_COLUMNS,
    Decoder,
    MoaksSchemaError,
    OaiVariableMap,
    default_variable_map,
    side_code,
    split_prefix,
    visit,
)

from quintuple_builder.errors import QuintupleBuilderError

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

_ID_COLUMNS = ("ID", "SIDE", "READPRJ", "VERSION")
_READPRJ = re.compile(r"^\s*(\d+)\s*(.*?)\s*$")


@dataclass(frozen=True)
class MoaksReadings:
    """The loader's result; unpacks as ``readings, conflicts, missing``.

    - ``readings``: ``READING_COLUMNS`` + ``raw_value, grade_note, file``.
    - ``conflicts``: one row per knee and visit read more than once:
      ``patient_id, visit, side, n_rows, chosen_source, other_sources,
      n_disagreements, disagreeing_attributes``.
    - ``missing``: one row per null grade: ``patient_id, visit, side,
      question_id, attribute, reason``.
    - ``reads``: every read of every knee, kept or not: ``patient_id, visit,
      side, rank, source, attribute, grade`` (``rank`` 0 is the read the
      priority rule keeps; the others are the second readers of
      :func:`quintuple_builder.reader_pairs.reader_pairs`).
    """

    readings: pl.DataFrame
    conflicts: pl.DataFrame
    missing: pl.DataFrame
    reads: pl.DataFrame | None = None

    def __iter__(self) -> Iterator[pl.DataFrame]:
        return iter((self.readings, self.conflicts, self.missing))

    def missing_summary(self) -> pl.DataFrame:
        """Null grades counted per attribute and reason."""
        return self.missing.group_by("attribute", "reason").len().sort("attribute", "reason")


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


def find_moaks_files(root: str | Path) -> list[Path]:
    """The MOAKS files in a folder (``*MOAKS*.txt``, else ``*MOAKS*.sas7bdat``), sorted.

    A text file shadows its SAS copy of the same name.
    """
    root = Path(root)
    if root.is_file():
        return [root]
    if not root.is_dir():
        raise QuintupleBuilderError(f"{root}: MOAKS folder not found")
    txt = sorted(
        p
        for p in root.iterdir()
        if p.is_file() and "MOAKS" in p.name.upper() and p.suffix.lower() == ".txt"
    )
    stems = {p.stem.upper() for p in txt}
    sas = sorted(
        p
        for p in root.iterdir()
        if p.is_file()
        and "MOAKS" in p.name.upper()
        and p.suffix.lower() == ".sas7bdat"
        and p.stem.upper() not in stems
    )
    files = txt + sas
    if not files:
        raise QuintupleBuilderError(
            f"{root}: no MOAKS files found: expected kMRI_SQ_MOAKS_BICL*.txt (or .sas7bdat)"
        )
    return files


def _decode_text(raw: bytes) -> str:
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _read_sas(path: Path) -> pl.DataFrame:
    try:
        import pandas as pd
    except ImportError as exc:  # pragma: no cover - pandas is usually present
        raise QuintupleBuilderError(
            f"{path}: reading SAS files needs pandas (pip install pandas), or use the .txt copy"
        ) from exc
    try:
        frame: Any = pd.read_sas(path, format="sas7bdat", encoding="latin-1")
    except Exception as exc:
        raise QuintupleBuilderError(f"{path}: cannot read SAS file: {exc}") from exc

    def cell(v: object) -> str:
        if v is None or (isinstance(v, float) and v != v):
            return ""
        if isinstance(v, bytes):
            return v.decode("latin-1")
        if isinstance(v, float):
            return str(int(v)) if v.is_integer() else repr(v)
        return str(v)

    return pl.DataFrame(
        {str(c).upper(): [cell(v) for v in frame[c].tolist()] for c in frame.columns},
        schema={str(c).upper(): pl.String for c in frame.columns},
    )


def read_moaks_table(path: str | Path) -> pl.DataFrame:
    """One MOAKS file as an all-string table with upper-case column names.

    Text files: ``|``-separated with a header, UTF-8 (falling back to latin-1),
    CRLF or LF line ends. SAS files (``.sas7bdat``) need pandas.
    """
    path = Path(path)
    if path.suffix.lower() == ".sas7bdat":
        table = _read_sas(path)
    else:
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise QuintupleBuilderError(f"{path}: cannot read MOAKS file: {exc}") from exc
        text = _decode_text(raw)
        if not text.strip():
            raise QuintupleBuilderError(
                f"{path}: empty MOAKS file: expected a '|'-separated header row"
            )
        try:
            table = pl.read_csv(
                io.BytesIO(text.encode("utf-8")),
                separator="|",
                infer_schema=False,
                quote_char=None,
                truncate_ragged_lines=True,
            ).with_columns(pl.all().fill_null(""))
        except Exception as exc:
            raise QuintupleBuilderError(f"{path}: not a '|'-separated table: {exc}") from exc
        table = table.rename({c: c.strip().upper() for c in table.columns})
    for col in ("ID", "SIDE"):
        if col not in table.columns:
            raise QuintupleBuilderError(
                f"{path}: column {col!r} missing: expected the OAI identifier columns ID, SIDE, READPRJ"
            )
    return table


def _side_codes(path: Path, values: pl.Series) -> dict[str, int]:
    out: dict[str, int] = {}
    for v in values.unique().to_list():
        try:
            out[v] = side_code(v)
        except MoaksSchemaError as exc:
            raise QuintupleBuilderError(f"{path}, column SIDE: {exc}") from None
    return out


def _variable_table(variable_map: OaiVariableMap) -> pl.DataFrame:
    rows = [(e.stem.upper(), e.attribute, e.decoder.value) for e in variable_map.entries]
    return pl.DataFrame(
        rows, schema={"stem": pl.String, "attribute": pl.String, "decoder": pl.String}, orient="row"
    )


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
    sides = _side_codes(path, table["SIDE"].str.strip_chars())
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


def _decode(cells: pl.DataFrame, variables: pl.DataFrame, attrs: pl.DataFrame) -> pl.DataFrame:
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
    df = df.with_columns(raw_grade.alias("g0"))
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
        .when(pl.col("g0") >= pl.col("n_grades"))
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
    return df.select(
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


def load_moaks_readings(
    paths: str | Path | Iterable[str | Path],
    *,
    variable_map: OaiVariableMap | None = None,
) -> MoaksReadings:
    """Read OAI MOAKS files (or folders of them) into the long readings table.

    ``variable_map`` defaults to :func:`moaks_schema.default_variable_map`; extend it
    with a codebook (``default_variable_map().with_codebook(csv)``) to map more items.
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
    attrs = _attribute_table()
    cells_all: list[pl.DataFrame] = []
    knees_all: list[pl.DataFrame] = []
    for i, path in enumerate(files):
        cells, knees = _long_rows(path, i, read_moaks_table(path), variables)
        if cells.height:
            cells_all.append(cells)
            knees_all.append(knees)
    if not cells_all:
        raise QuintupleBuilderError(
            f"{', '.join(str(f) for f in files)}: no MOAKS variable of the map found: expected columns "
            "such as V00MBMSFMC (visit prefix + OAI stem)"
        )
    decoded = _decode(pl.concat(cells_all), variables, attrs)
    knees = pl.concat(knees_all)
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
    ranked = (
        knees.join(counts, on=rowkey, how="left")
        .with_columns(pl.col("n_valid").fill_null(0))
        .join(prj, on="source", how="left")
        .sort(
            [*key, "n_valid", "prj_num", "prj_suffix", "file_index", "row"],
            descending=[False, False, False, True, False, False, False, False],
        )
        .with_columns(pl.int_range(pl.len()).over(key).alias("rank"))
    )
    chosen = ranked.filter(pl.col("rank") == 0)

    # Conflicts: knees read more than once, and how many attributes disagree.
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
    conflicts = conflicts.select(
        "patient_id",
        "visit",
        "side",
        "n_rows",
        "chosen_source",
        "other_sources",
        "n_disagreements",
        "disagreeing_attributes",
    ).sort(key)

    # Every attribute for every chosen knee: grades where read, a reason where not.
    mapped = set(variables["attribute"].to_list())
    chosen_cells = decoded.join(chosen.select(rowkey), on=rowkey, how="semi")
    frame = chosen.select(*key, "source", "file").join(attrs, how="cross")
    frame = frame.join(
        chosen_cells.select(*key, "attribute", "grade", "grade_note", "raw_value"),
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
        .select(*READING_COLUMNS, *EXTRA_READING_COLUMNS)
    )
    readings = readings.with_columns(
        pl.col("side").cast(pl.Int64),
        pl.col("question_id").cast(pl.Int64),
        pl.col("grade").cast(pl.Int64),
    )
    missing = readings.filter(pl.col("grade").is_null()).select(
        "patient_id",
        "visit",
        "side",
        "question_id",
        "attribute",
        pl.col("grade_note").alias("reason"),
    )
    reads = decoded.join(ranked.select(*rowkey, "rank"), on=rowkey, how="inner").select(
        *key, pl.col("rank").cast(pl.Int64), "source", "attribute", pl.col("grade").cast(pl.Int64)
    )
    return MoaksReadings(readings=readings, conflicts=conflicts, missing=missing, reads=reads)
