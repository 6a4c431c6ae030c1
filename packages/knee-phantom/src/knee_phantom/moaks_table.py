"""The OAI-shaped MOAKS text table of a phantom cohort (docs/oai-data.md, "MOAKS files") and its phantom codebook.

Pipe-delimited, CRLF line ends, a header row, ``ID``, ``SIDE`` (``"1: Right"``),
``READPRJ``, ``VERSION`` and one ``V..``-prefixed column per variable, cells
``"code: label"``; cartilage cells hold the ``a.f`` code (size.depth). Items
without a public OAI variable get invented ``PH…`` names (phantom only),
listed in ``phantom_codebook.csv`` for ``OaiVariableMap.with_codebook``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from moaks_schema import Decoder, OaiVariable, OaiVariableMap, default_variable_map, visit

__all__ = ["MISSING", "PHANTOM_STEMS", "file_name", "phantom_variable_map", "table_lines"]

#: The OAI missing-value cell the phantom plants.
MISSING = ".: Missing Form/Incomplete Workbook"

#: Invented variable stems (phantom only, prefixed ``PH``) for attributes OAI names are not public for.
PHANTOM_STEMS: dict[str, str] = {
    "meniscal_cyst.medial.presence": "PHMCYSM",
    "meniscal_cyst.medial.tear_location": "PHMCYLM",
    "meniscal_cyst.lateral.presence": "PHMCYSL",
    "meniscal_cyst.lateral.tear_location": "PHMCYLL",
    "meniscal_hypertrophy.medial.presence": "PHMHYPM",
    "meniscal_hypertrophy.lateral.presence": "PHMHYPL",
    "acl.bml_cyst": "PHACLBC",
    "acl.repair": "PHACLRP",
    "pcl.complete_tear": "PHPCLTR",
    "pcl.bml_cyst": "PHPCLBC",
    "patellar_tendon.signal": "PHPTSIG",
    "periarticular.pes_anserine_bursitis.presence": "PHPESBU",
    "periarticular.iliotibial_band_signal.presence": "PHITBSG",
    "periarticular.infrapatellar_bursitis.presence": "PHIPBUR",
    "periarticular.prepatellar_bursitis.presence": "PHPPBUR",
    "periarticular.ganglion_cyst.presence": "PHGANGL",
    "periarticular.loose_bodies.presence": "PHLOOSE",
}

_FILES = {"00M": "BICL00", "12M": "BICL01", "24M": "BICL03", "36M": "BICL05", "48M": "BICL06"}


def file_name(visit_label: str) -> str:
    """``kMRI_SQ_MOAKS_BICL00.txt`` for ``"00M"``, …"""
    return f"kMRI_SQ_MOAKS_{_FILES[visit(visit_label).label]}.txt"


def phantom_variable_map() -> OaiVariableMap:
    """The default OAI map plus the phantom's invented names for the unmapped attributes."""
    base = default_variable_map()
    extra = [
        OaiVariable(PHANTOM_STEMS[k], k, Decoder.PLAIN, confirmed=False)
        for k in base.unmapped_attributes()
    ]
    return base.extended(extra)


def _stems(vmap: OaiVariableMap) -> list[tuple[str, list[OaiVariable]]]:
    out: dict[str, list[OaiVariable]] = {}
    for e in vmap.entries:
        out.setdefault(e.stem, []).append(e)
    return list(out.items())


def cell(entries: Sequence[OaiVariable], grades: Mapping[str, int]) -> str:
    """The ``code: label`` cell of one variable for these grades."""
    if entries[0].decoder is Decoder.PLAIN:
        g = grades[entries[0].attribute]
        return f"{g}: {g}"
    size = next(grades[e.attribute] for e in entries if e.decoder is Decoder.CARTILAGE_SIZE)
    depth = next(grades[e.attribute] for e in entries if e.decoder is Decoder.CARTILAGE_DEPTH)
    return f"{size}.{depth}: {size}.{depth}"


def table_lines(visit_label: str, rows: Sequence[dict]) -> list[str]:
    """Header and rows; each row dict has ``id, side, readprj, grades, missing`` (stems left empty-coded)."""
    vmap = phantom_variable_map()
    prefix = visit(visit_label).prefix
    stems = _stems(vmap)
    lines = ["|".join(["ID", "SIDE", "READPRJ", "VERSION"] + [f"{prefix}{s}" for s, _ in stems])]
    for r in rows:
        cells = [r["id"], "1: Right" if r["side"] == 1 else "2: Left", r["readprj"], "0.2.1"]
        for stem, entries in stems:
            cells.append(MISSING if stem in r["missing"] else cell(entries, r["grades"]))
        lines.append("|".join(cells))
    return lines


def stem_attributes() -> dict[str, list[str]]:
    """Attribute keys graded by each stem of the phantom table."""
    return {s: [e.attribute for e in es] for s, es in _stems(phantom_variable_map())}
