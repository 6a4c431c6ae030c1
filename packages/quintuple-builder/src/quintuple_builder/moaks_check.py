"""Check MOAKS files against the variable map before any scan is touched.

:func:`check_moaks` reads only the MOAKS files and says which catalogue
attributes they provide and which they lack (unmapped, or mapped to a column no
file has), which columns nothing reads, which codes fall outside a variable's
known codes, and how many knee-visits and reads each visit has.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import polars as pl
from moaks_schema import ATTRIBUTES, OaiVariableMap, default_variable_map, split_prefix

from quintuple_builder.errors import QuintupleBuilderError
from quintuple_builder.moaks_readings import MoaksReadings, load_moaks_readings
from quintuple_builder.moaks_tables import LINE_COLUMN, find_moaks_files, read_moaks_file

__all__ = ["MoaksCheck", "check_moaks"]

_ID_COLUMNS = {"ID", "SIDE", "READPRJ", "VERSION", LINE_COLUMN}
_ABSENT = ("unmapped", "column_absent")


@dataclass(frozen=True)
class MoaksCheck:
    """What a set of MOAKS files holds for the catalogue (see :func:`check_moaks`).

    - ``provided``: attribute keys some file grades;
    - ``lacking``: ``attribute, reason`` (``unmapped``: no variable in the map;
      ``column_absent``: the map's column is in no file);
    - ``unused_columns``: columns no attribute reads (besides ID, SIDE, READPRJ, VERSION);
    - ``unknown_codes``: ``variable, attribute, reason, n, values``: cells outside a
      variable's known codes or not a code at all, over every row (chosen or not);
    - ``per_visit``: ``visit, knee_visits, reads`` (a knee read twice counts two reads);
    - ``malformed``: rows that would stop a build (``file, line, reason``).
    """

    files: tuple[str, ...]
    provided: tuple[str, ...]
    lacking: pl.DataFrame
    unused_columns: tuple[str, ...]
    unknown_codes: pl.DataFrame
    per_visit: pl.DataFrame
    malformed: pl.DataFrame

    def summary(self) -> str:
        """A printable report."""
        lines = [f"MOAKS files: {', '.join(self.files)}"]
        lines.append(f"catalogue attributes provided: {len(self.provided)} of {len(ATTRIBUTES)}")
        for reason, label in (
            ("unmapped", "no variable in the map"),
            ("column_absent", "column in no file"),
        ):
            keys = self.lacking.filter(pl.col("reason") == reason)["attribute"].to_list()
            if keys:
                lines.append(f"lacking ({label}): {len(keys)}: {', '.join(keys)}")
        if self.unused_columns:
            lines.append(
                f"unused columns: {len(self.unused_columns)}: {', '.join(self.unused_columns)}"
            )
        for r in self.unknown_codes.iter_rows(named=True):
            lines.append(
                f"codes not in the codebook: {r['variable']} ({r['attribute']}, {r['reason']}): "
                f"{r['n']} cell(s), values {', '.join(r['values'])}"
            )
        for r in self.per_visit.iter_rows(named=True):
            lines.append(f"visit {r['visit']}: {r['knee_visits']} knee-visits, {r['reads']} reads")
        if self.malformed.height:
            first = self.malformed.row(0, named=True)
            lines.append(
                f"malformed rows: {self.malformed.height} (first: {first['file']}, line "
                f"{first['line']}: {first['reason']})"
            )
        return "\n".join(lines)


def _columns(files: list[Path]) -> list[str]:
    seen: dict[str, None] = {}
    for f in files:
        for c in read_moaks_file(f, keep_going=True).table.columns:
            if c not in _ID_COLUMNS:
                seen.setdefault(c, None)
    return list(seen)


def _readings(files: list[Path], vmap: OaiVariableMap) -> MoaksReadings | None:
    try:
        return load_moaks_readings(files, variable_map=vmap, keep_going=True)
    except QuintupleBuilderError as exc:
        if "no MOAKS variable of the map found" in str(exc):
            return None
        raise


def _per_visit(result: MoaksReadings) -> pl.DataFrame:
    knees = result.readings.select("patient_id", "visit", "side").unique()
    extra = result.conflicts.group_by("visit").agg((pl.col("n_rows") - 1).sum().alias("extra"))
    return (
        knees.group_by("visit")
        .agg(pl.len().alias("knee_visits"))
        .join(extra, on="visit", how="left")
        .with_columns(
            (pl.col("knee_visits") + pl.col("extra").fill_null(0)).cast(pl.Int64).alias("reads"),
            pl.col("knee_visits").cast(pl.Int64),
        )
        .select("visit", "knee_visits", "reads")
        .sort("visit")
    )


def check_moaks(
    paths: str | Path | Iterable[str | Path], *, variable_map: OaiVariableMap | None = None
) -> MoaksCheck:
    """Read only the MOAKS files (files or folders) and report what they hold for the catalogue.

    Damaged files raise :class:`QuintupleBuilderError` as in a build; malformed
    rows are listed, not raised.
    """
    vmap = variable_map or default_variable_map()
    files = [
        f
        for p in ([paths] if isinstance(paths, str | Path) else paths)
        for f in find_moaks_files(p)
    ]
    if not files:
        raise QuintupleBuilderError("no MOAKS files given")
    columns = _columns(files)
    result = _readings(files, vmap)
    mapped_stems = {e.stem.upper() for e in vmap.entries}
    unused = tuple(c for c in columns if split_prefix(c)[1] not in mapped_stems)
    if result is None:
        provided: set[str] = set()
        lacking = pl.DataFrame(
            {
                "attribute": [a.key for a in ATTRIBUTES],
                "reason": [
                    "column_absent" if vmap.stems_for(a.key) else "unmapped" for a in ATTRIBUTES
                ],
            }
        )
        empty = pl.DataFrame(
            schema={"visit": pl.String, "knee_visits": pl.Int64, "reads": pl.Int64}
        )
        malformed = pl.concat([read_moaks_file(f, keep_going=True).malformed for f in files])
        codes = MoaksReadings(pl.DataFrame(), pl.DataFrame(), pl.DataFrame()).unknown_codes
        return MoaksCheck(tuple(map(str, files)), (), lacking, unused, codes, empty, malformed)
    notes = result.readings.group_by("attribute").agg(
        pl.col("grade_note").fill_null("").is_in(list(_ABSENT)).not_().any().alias("read"),
        pl.col("grade_note").filter(pl.col("grade_note").is_in(list(_ABSENT))).first().alias("why"),
    )
    provided = set(notes.filter(pl.col("read"))["attribute"].to_list())
    order = [a.key for a in ATTRIBUTES]
    lacking = (
        notes.filter(~pl.col("read"))
        .select("attribute", pl.col("why").alias("reason"))
        .sort(pl.col("attribute").replace_strict({k: i for i, k in enumerate(order)}))
    )
    codes = result.unknown_codes
    return MoaksCheck(
        files=tuple(map(str, files)),
        provided=tuple(k for k in order if k in provided),
        lacking=lacking,
        unused_columns=unused,
        unknown_codes=codes,
        per_visit=_per_visit(result),
        malformed=result.malformed,
    )
