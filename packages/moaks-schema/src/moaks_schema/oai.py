"""OAI naming facts: visits, release folders, knee sides and MOAKS variable names (docs/oai-data.md, "MOAKS files").

The variable map is extensible: items without a publicly confirmed OAI
variable name (meniscal cyst and hypertrophy, PCL, patellar tendon, most
periarticular features) are left unmapped by default, and a user adds names
from their own codebook with :meth:`OaiVariableMap.extended` or a CSV file
(:meth:`OaiVariableMap.with_codebook`), without editing this package.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from moaks_schema.errors import MoaksSchemaError
from moaks_schema.questions import ATTRIBUTES, attribute
from moaks_schema.regions import BONE_SUBREGIONS, CARTILAGE_SUBREGIONS, OSTEOPHYTE_LOCATIONS

__all__ = [
    "ASSUMED",
    "CONFIRMED_IN",
    "READING_COLUMNS",
    "SIDES",
    "VISITS",
    "Decoder",
    "OaiVariable",
    "OaiVariableMap",
    "Visit",
    "default_variable_map",
    "side_code",
    "split_prefix",
    "visit",
]

#: Columns of the long MOAKS readings table that the OAI loader and the phantom both produce.
READING_COLUMNS: tuple[str, ...] = (
    "patient_id",  # str, 7 digits
    "visit",  # "00M", "12M", ...
    "side",  # int, 1 = right, 2 = left
    "question_id",  # int 1..69
    "attribute",  # Attribute.key
    "grade",  # int in the attribute's grade space, null when missing
    "source",  # reading project (READPRJ) or "phantom"
)

#: Knee side codes of OAI's SIDE column.
SIDES: dict[int, str] = {1: "right", 2: "left"}


@dataclass(frozen=True, slots=True)
class Visit:
    """One OAI visit: its label in file names, its variable prefix and its image releases."""

    label: str
    prefix: str
    months: int
    releases: tuple[str, ...]


VISITS: tuple[Visit, ...] = (
    Visit("00M", "V00", 0, ("0.C.2", "0.E.1")),
    Visit("12M", "V01", 12, ("1.C.2", "1.E.1")),
    Visit("24M", "V03", 24, ("3.C.2", "3.E.1")),
    Visit("36M", "V05", 36, ("5.C.1", "5.E.1")),
    Visit("48M", "V06", 48, ("6.C.1", "6.E.1")),
)


def visit(key: str | int) -> Visit:
    """A visit by label (``"12M"``), variable prefix (``"V01"``), release folder (``"1.C.2"``) or months (12)."""
    for v in VISITS:
        if key in (v.label, v.prefix, v.months) or key in v.releases:
            return v
    raise MoaksSchemaError(
        f"unknown visit {key!r}: expected a label ({', '.join(v.label for v in VISITS)}), "
        f"a prefix (V00, V01, ...), a release folder (0.C.2, ...) or months"
    )


def side_code(value: str | int) -> int:
    """OAI SIDE as 1 (right) or 2 (left), from ``1``, ``"1: Right"``, ``"right"``, ``"R"`` ...

    >>> side_code("2: Left"), side_code("R")
    (2, 1)
    """
    s = str(value).strip().lower()
    if s in ("1", "1.0", "r", "right") or s.startswith("1:"):
        return 1
    if s in ("2", "2.0", "l", "left") or s.startswith("2:"):
        return 2
    raise MoaksSchemaError(f"unknown knee side {value!r}: expected 1/'1: Right' or 2/'2: Left'")


_PREFIX = re.compile(r"^[Vv](\d\d)(.+)$")


def split_prefix(column: str) -> tuple[str | None, str]:
    """Split an OAI column into (visit prefix, stem): ``"V01MBMSFMC"`` -> ``("V01", "MBMSFMC")``.

    Columns without a visit prefix (``ID``, ``SIDE``, ``READPRJ``) give ``(None, column)``.
    """
    m = _PREFIX.match(column.strip())
    if not m:
        return None, column.strip().upper()
    return f"V{m.group(1)}", m.group(2).upper()


class Decoder(StrEnum):
    """How a variable's numeric code becomes grades."""

    PLAIN = "plain"  # the code is the grade
    CARTILAGE_SIZE = "cartilage_size"  # "a.f": a
    CARTILAGE_DEPTH = "cartilage_depth"  # "a.f": f


#: Where the default map's confirmed names were seen: third-party code that reads the real
#: ``kMRI_(FNIH_)SQ_MOAKS_BICL`` files (docs/oai-data.md lists each name with its source).
CONFIRMED_IN = "third-party readers of kMRI_(FNIH_)SQ_MOAKS_BICL files (docs/oai-data.md)"
#: Names built on the pattern of confirmed ones but not seen in any public code.
ASSUMED = "assumed: follows the pattern of the confirmed names; not seen in public code"


@dataclass(frozen=True, slots=True)
class OaiVariable:
    """One OAI variable stem (visit prefix removed) and the attribute it grades.

    ``codes`` maps the variable's integer codes to the attribute's grades when they differ
    (``((0, 0), (1, 1), (2, 0))``); empty means the code is the grade. A code outside
    ``codes`` (or outside the grade range) is reported, never graded. ``source`` says where
    the name is known from (``confirmed`` names) or why it is assumed.
    """

    stem: str
    attribute: str
    decoder: Decoder = Decoder.PLAIN
    confirmed: bool = True  # False for names taken from a user's or phantom codebook, or assumed
    codes: tuple[tuple[int, int], ...] = ()
    source: str = ""


#: BML subregions whose percent (MBMP) name was seen in public code (MBMS and MBMN: all 15).
_BML_PERCENT_SEEN = ("FMA", "FMC", "FMP", "TMA", "TMC", "TMP", "PM", "PL")
#: ACL tear codes (the code meanings are assumed, see docs/oai-data.md): 0 normal, 1 complete
#: tear (MOAKS scores cruciate ligaments normal / complete tear), 2 a further state readers count
#: as abnormal (taken as reconstructed, so no complete tear is present).
_ACL_TEAR = ((0, 0), (1, 1), (2, 0))


def _entry(
    stem: str,
    key: str,
    decoder: Decoder = Decoder.PLAIN,
    *,
    seen: bool = True,
    codes: tuple[tuple[int, int], ...] = (),
) -> OaiVariable:
    return OaiVariable(
        stem, key, decoder, confirmed=seen, codes=codes, source=CONFIRMED_IN if seen else ASSUMED
    )


def _default_entries() -> list[OaiVariable]:
    out: list[OaiVariable] = []
    for sr in BONE_SUBREGIONS:
        out += [
            _entry(f"MBMS{sr}", f"bml.{sr}.size"),
            _entry(f"MBMN{sr}", f"bml.{sr}.number"),
            _entry(f"MBMP{sr}", f"bml.{sr}.percent", seen=sr in _BML_PERCENT_SEEN),
        ]
    for sr in CARTILAGE_SUBREGIONS:
        out += [
            _entry(f"MCM{sr}", f"cartilage.{sr}.size", Decoder.CARTILAGE_SIZE),
            _entry(f"MCM{sr}", f"cartilage.{sr}.depth", Decoder.CARTILAGE_DEPTH),
        ]
    out += [
        _entry(f"MOS{loc}", f"osteophyte.{loc}.grade", seen=loc == "FLP")
        for loc in OSTEOPHYTE_LOCATIONS
    ]
    out += [_entry("MSYIC", "hoffa.grade"), _entry("MEFFWK", "effusion.grade")]
    for m in ("M", "L"):
        for part in ("A", "B", "P"):
            out.append(_entry(f"MMT{m}{part}", f"morphology.{m}M{part}.code"))
    out += [
        _entry("MMXMA", "extrusion.MMA.grade"),
        _entry("MMXMM", "extrusion.MMM.grade"),
        _entry("MMXLA", "extrusion.LMA.grade"),
        _entry("MMXLL", "extrusion.LML.grade"),
        _entry("MMRTM", "root_tear.medial.presence"),
        _entry("MMRTL", "root_tear.lateral.presence"),
        _entry("MACLTR", "acl.complete_tear", codes=_ACL_TEAR),
        _entry("MPOPCYS", "periarticular.popliteal_cyst.presence", seen=False),
    ]
    return out


def _parse_codes(text: str) -> tuple[tuple[int, int], ...]:
    """``"0->0 1->0 2->1"`` as ``((0, 0), (1, 0), (2, 1))``."""
    out = []
    for part in text.split():
        code, sep, grade = part.partition("->")
        if not sep:
            raise MoaksSchemaError(f"codes {text!r}: expected pairs like '0->0 1->0 2->1'")
        out.append((int(code), int(grade)))
    return tuple(out)


@dataclass(frozen=True)
class OaiVariableMap:
    """Map between OAI MOAKS variable stems and attribute keys (both ways).

    >>> m = default_variable_map()
    >>> [v.attribute for v in m.variables_for_column("V01MCMFMC")]
    ['cartilage.FMC.size', 'cartilage.FMC.depth']
    >>> m.stems_for("acl.complete_tear")
    ('MACLTR',)
    """

    entries: tuple[OaiVariable, ...]
    _by_stem: Mapping[str, tuple[OaiVariable, ...]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by: dict[str, list[OaiVariable]] = {}
        for e in self.entries:
            attribute(e.attribute)  # validates the key
            by.setdefault(e.stem.upper(), []).append(e)
        object.__setattr__(self, "_by_stem", {k: tuple(v) for k, v in by.items()})

    def variables_for_column(self, column: str) -> tuple[OaiVariable, ...]:
        """The variables a (prefixed or bare) column name grades; empty when unknown."""
        _, stem = split_prefix(column)
        return self._by_stem.get(stem, ())

    def stems_for(self, attribute_key: str) -> tuple[str, ...]:
        """Variable stems that grade ``attribute_key`` (empty: unmapped)."""
        attribute(attribute_key)
        return tuple(e.stem for e in self.entries if e.attribute == attribute_key)

    def column_for(self, attribute_key: str, visit_key: str | int) -> str | None:
        """The full column name of an attribute at a visit (``"V03MBMSFMC"``), or None if unmapped."""
        stems = self.stems_for(attribute_key)
        return f"{visit(visit_key).prefix}{stems[0]}" if stems else None

    def unmapped_attributes(self) -> tuple[str, ...]:
        """Attribute keys with no variable in this map (reported missing, never invented)."""
        mapped = {e.attribute for e in self.entries}
        return tuple(a.key for a in ATTRIBUTES if a.key not in mapped)

    def extended(self, extra: Iterable[OaiVariable]) -> OaiVariableMap:
        """A new map with ``extra`` entries added (an extra stem replaces the same stem+attribute)."""
        extra = tuple(extra)
        keep = tuple(
            e
            for e in self.entries
            if not any(
                x.stem.upper() == e.stem.upper() and x.attribute == e.attribute for x in extra
            )
        )
        return OaiVariableMap(keep + extra)

    def with_codebook(self, path: str | Path) -> OaiVariableMap:
        """Add the entries of a codebook CSV with columns ``variable,attribute[,decoder][,codes]``.

        ``variable`` may carry a visit prefix (it is stripped); ``codes`` maps OAI codes to
        grades (``0->0 1->0 2->1``; empty: the code is the grade). Rows are marked
        ``confirmed=False``.
        """
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise MoaksSchemaError(f"{path}: cannot read codebook: {exc}") from exc
        rows = list(csv.DictReader(text.splitlines()))
        if not rows or not {"variable", "attribute"} <= set(rows[0]):
            raise MoaksSchemaError(
                f"{path}: expected a CSV header with columns 'variable,attribute[,decoder]'"
            )
        extra: list[OaiVariable] = []
        for i, row in enumerate(rows, start=2):
            _, stem = split_prefix(row["variable"])
            try:
                attribute(row["attribute"].strip())
                dec = Decoder((row.get("decoder") or "plain").strip() or "plain")
                codes = _parse_codes(row.get("codes") or "")
            except (MoaksSchemaError, ValueError) as exc:
                raise MoaksSchemaError(f"{path}, row {i}: {exc}") from None
            extra.append(
                OaiVariable(
                    stem,
                    row["attribute"].strip(),
                    dec,
                    confirmed=False,
                    codes=codes,
                    source=f"codebook {path}",
                )
            )
        return self.extended(extra)

    def to_rows(self) -> list[dict[str, str]]:
        """The map as rows (``variable``, ``attribute``, ``decoder``, ``confirmed``, ``codes``,
        ``source``) for CSV or display."""
        return [
            {
                "variable": e.stem,
                "attribute": e.attribute,
                "decoder": e.decoder.value,
                "confirmed": str(e.confirmed).lower(),
                "codes": " ".join(f"{c}->{g}" for c, g in e.codes),
                "source": e.source,
            }
            for e in self.entries
        ]


def default_variable_map() -> OaiVariableMap:
    """The publicly confirmed OAI MOAKS variable names (docs/oai-data.md, "MOAKS files")."""
    return OaiVariableMap(tuple(_default_entries()))
