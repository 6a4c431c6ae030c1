"""OAI MOAKS files as checked all-string tables: one row per line, nothing read as whole that is not.

A text file is ``|``-separated with one header row (UTF-8, else latin-1; CRLF
or LF). Refused, naming the file: an empty, binary or comma-separated file, a
header without rows, a header naming a column twice, no ``ID`` or ``SIDE``
column. A row with more or fewer fields than the header, an ``ID`` that is
not a participant number, or an unknown ``SIDE`` is a malformed row: an error
naming the file and line, or (``keep_going=True``) listed in
:data:`MALFORMED_COLUMNS` form and left out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
from moaks_schema import MoaksSchemaError, side_code

from quintuple_builder.errors import QuintupleBuilderError

__all__ = [
    "MALFORMED_COLUMNS",
    "MoaksTable",
    "find_moaks_files",
    "read_moaks_file",
    "read_moaks_table",
]

#: Columns of the malformed-rows table: the file, its line (SAS: row) and what is wrong.
MALFORMED_COLUMNS: dict[str, pl.DataType] = {
    "file": pl.String(),
    "line": pl.Int64(),
    "reason": pl.String(),
}
#: Column added to every table: the line of the file a row came from.
LINE_COLUMN = "_LINE"
_ID = re.compile(r"^\d{1,7}$")


@dataclass(frozen=True)
class MoaksTable:
    """One file's rows that are whole (all-string, upper-case columns, plus ``_LINE``) and the
    malformed rows left out (``file, line, reason``)."""

    table: pl.DataFrame
    malformed: pl.DataFrame


def find_moaks_files(root: str | Path) -> list[Path]:
    """The MOAKS files in a folder (``*MOAKS*.txt``, else ``*MOAKS*.sas7bdat``), sorted.

    A text file shadows its SAS copy of the same name.
    """
    root = Path(root)
    if root.is_file():
        return [root]
    if not root.is_dir():
        raise QuintupleBuilderError(f"{root}: MOAKS folder not found")

    def moaks(suffix: str) -> list[Path]:
        return sorted(
            p
            for p in root.iterdir()
            if p.is_file() and "MOAKS" in p.name.upper() and p.suffix.lower() == suffix
        )

    txt = moaks(".txt")
    stems = {p.stem.upper() for p in txt}
    files = txt + [p for p in moaks(".sas7bdat") if p.stem.upper() not in stems]
    if not files:
        raise QuintupleBuilderError(
            f"{root}: no MOAKS files found: expected kMRI_SQ_MOAKS_BICL*.txt (or .sas7bdat)"
        )
    return files


def _decode_text(path: Path, raw: bytes) -> str:
    if b"\x00" in raw[:65536]:
        raise QuintupleBuilderError(
            f"{path}: binary content (NUL bytes): expected a '|'-separated MOAKS text file"
        )
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _header(path: Path, line: str) -> list[str]:
    if "|" not in line:
        sep = next(
            (
                name
                for ch, name in ((",", "commas"), ("\t", "tabs"), (";", "semicolons"))
                if ch in line
            ),
            None,
        )
        found = f"separated by {sep}" if sep else "a single column"
        raise QuintupleBuilderError(
            f"{path}, line 1: the header is {found}: expected '|'-separated columns "
            "(ID|SIDE|READPRJ|VERSION|V00MBMSFMA|...)"
        )
    names = [h.strip().upper() for h in line.split("|")]
    seen: dict[str, int] = {}
    for i, name in enumerate(names, start=1):
        if name in seen and name:
            raise QuintupleBuilderError(
                f"{path}, line 1: column {name!r} appears twice (fields {seen[name]} and {i}): "
                "expected each column once"
            )
        seen[name] = i
    return names


def _read_text(path: Path) -> tuple[pl.DataFrame, list[tuple[int, str]]]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise QuintupleBuilderError(f"{path}: cannot read MOAKS file: {exc}") from exc
    text = _decode_text(path, raw)
    if not text.strip():
        raise QuintupleBuilderError(
            f"{path}: empty MOAKS file: expected a '|'-separated header row"
        )
    lines = text.split("\n")
    names = _header(path, lines[0])
    rows: list[list[str]] = []
    numbers: list[int] = []
    bad: list[tuple[int, str]] = []
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        fields = line.split("|")
        if len(fields) != len(names):
            bad.append((number, f"{len(fields)} fields, the header has {len(names)}"))
            continue
        rows.append(fields)
        numbers.append(number)
    if not rows and not bad:
        raise QuintupleBuilderError(
            f"{path}: header only, no rows: expected one row per knee and reading"
        )
    table = pl.DataFrame(
        rows or None, schema={n: pl.String for n in names}, orient="row"
    ).with_columns(pl.Series(LINE_COLUMN, numbers, dtype=pl.Int64))
    return table, bad


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

    names = [str(c).strip().upper() for c in frame.columns]
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise QuintupleBuilderError(f"{path}: column {dup!r} appears twice: expected each once")
    table = pl.DataFrame(
        {
            n: [cell(v) for v in frame[c].tolist()]
            for n, c in zip(names, frame.columns, strict=True)
        },
        schema={n: pl.String for n in names},
    )
    return table.with_columns(pl.int_range(1, table.height + 1, dtype=pl.Int64).alias(LINE_COLUMN))


def _bad_rows(table: pl.DataFrame) -> list[tuple[int, str]]:
    """Rows whose ID is not a participant number or whose SIDE is unknown."""
    bad = []
    sides: dict[str, str | None] = {}
    for line, pid, side in zip(
        table[LINE_COLUMN].to_list(), table["ID"].to_list(), table["SIDE"].to_list(), strict=True
    ):
        if not _ID.match((pid or "").strip()):
            bad.append((line, f"ID {pid!r} is not a participant number (up to 7 digits)"))
            continue
        if side not in sides:
            try:
                side_code(side)
                sides[side] = None
            except MoaksSchemaError as exc:
                sides[side] = f"SIDE: {exc}"
        if sides[side]:
            bad.append((line, str(sides[side])))
    return bad


def read_moaks_file(path: str | Path, *, keep_going: bool = False) -> MoaksTable:
    """One MOAKS file (text or ``.sas7bdat``, which needs pandas) as a checked table.

    Raises :class:`QuintupleBuilderError` naming the file (and the line) for
    anything damaged; with ``keep_going`` malformed rows are listed instead.
    """
    path = Path(path)
    if path.suffix.lower() == ".sas7bdat":
        table, bad = _read_sas(path), []
    else:
        table, bad = _read_text(path)
    for col in ("ID", "SIDE"):
        if col not in table.columns:
            raise QuintupleBuilderError(
                f"{path}: column {col!r} missing: expected the OAI identifier columns ID, SIDE, READPRJ"
            )
    bad = sorted(bad + _bad_rows(table))
    if bad and not keep_going:
        line, reason = bad[0]
        more = f" ({len(bad) - 1} more malformed row(s))" if len(bad) > 1 else ""
        raise QuintupleBuilderError(
            f"{path}, line {line}: malformed row: {reason}{more}; "
            "fix the file or pass keep_going to list and skip such rows"
        )
    skip = {line for line, _ in bad}
    malformed = pl.DataFrame(
        [(path.name, line, reason) for line, reason in bad], schema=MALFORMED_COLUMNS, orient="row"
    )
    return MoaksTable(
        table=table.filter(~pl.col(LINE_COLUMN).is_in(list(skip))), malformed=malformed
    )


def read_moaks_table(path: str | Path) -> pl.DataFrame:
    """One MOAKS file as an all-string table with upper-case column names (and ``_LINE``).

    Raises :class:`QuintupleBuilderError` for a damaged file or a malformed row
    (see :func:`read_moaks_file`, which can list and skip malformed rows).
    """
    return read_moaks_file(path).table
