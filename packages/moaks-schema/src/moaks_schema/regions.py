"""Anatomical sites: MOAKS subregions, osteophyte locations, meniscal segments and the
25 labelled box regions of the segmenter (docs/dataset.md, "Boxes").

Label values of the segmenter's label map are fixed here and nowhere else:
0 is background, 1-15 the bone subregions, 16-21 the meniscal segments,
22 ACL, 23 PCL, 24 patellar tendon, 25 Hoffa's fat pad.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from moaks_schema.errors import MoaksSchemaError

__all__ = [
    "BONE_SUBREGIONS",
    "CARTILAGE_SUBREGIONS",
    "MENISCAL_SEGMENTS",
    "OSTEOPHYTE_LOCATIONS",
    "REGIONS",
    "Region",
    "RegionKind",
    "Structure",
    "region",
    "region_by_label",
    "site_name",
]

#: Bone subregions (BML) in the public question order, with the names used in prompts and answer keys.
BONE_SUBREGIONS: dict[str, str] = {
    "PM": "patella medial",
    "PL": "patella lateral",
    "FMA": "femur medial trochlea",
    "FMC": "femur medial central",
    "FMP": "femur medial posterior",
    "FLA": "femur lateral trochlea",
    "FLC": "femur lateral central",
    "FLP": "femur lateral posterior",
    "TMA": "tibia medial anterior",
    "TMC": "tibia medial central",
    "TMP": "tibia medial posterior",
    "TLA": "tibia lateral anterior",
    "TLC": "tibia lateral central",
    "TLP": "tibia lateral posterior",
    "SS": "tibia subspinous",
}

#: Cartilage subregions: the bone subregions without SS (14).
CARTILAGE_SUBREGIONS: dict[str, str] = {k: v for k, v in BONE_SUBREGIONS.items() if k != "SS"}

#: Osteophyte locations of the public question set (12), in question order.
OSTEOPHYTE_LOCATIONS: dict[str, str] = {
    "PS": "patella superior",
    "PI": "patella inferior",
    "PM": "patella medial",
    "PL": "patella lateral",
    "FMA": "femur medial anterior",
    "FMC": "femur medial central",
    "FMP": "femur medial posterior",
    "FLA": "femur lateral anterior",
    "FLC": "femur lateral central",
    "FLP": "femur lateral posterior",
    "TM": "tibia medial",
    "TL": "tibia lateral",
}

#: Meniscal segments (6).
MENISCAL_SEGMENTS: dict[str, str] = {
    "MMA": "medial meniscus anterior horn",
    "MMB": "medial meniscus body",
    "MMP": "medial meniscus posterior horn",
    "LMA": "lateral meniscus anterior horn",
    "LMB": "lateral meniscus body",
    "LMP": "lateral meniscus posterior horn",
}


class RegionKind(StrEnum):
    """What kind of tissue a labelled region is."""

    BONE = "bone"
    MENISCUS = "meniscus"
    LIGAMENT = "ligament"
    TENDON = "tendon"
    FAT_PAD = "fat pad"


class Structure(StrEnum):
    """The structures of the paper's Table 3 (mean IoU), plus the patellar tendon."""

    PATELLA = "Patella"
    FEMUR = "Femur"
    TIBIA = "Tibia"
    MENISCUS = "Meniscus"
    ACL = "ACL"
    PCL = "PCL"
    SYNOVITIS = "Synovitis"
    PATELLAR_TENDON = "Patellar tendon"


@dataclass(frozen=True, slots=True)
class Region:
    """One labelled region of the segmenter's label map.

    >>> region("FMC").label, region("FMC").name
    (4, 'femur medial central')
    """

    code: str
    name: str
    label: int
    kind: RegionKind
    structure: Structure


def _bone_structure(code: str) -> Structure:
    return {"P": Structure.PATELLA, "F": Structure.FEMUR}.get(code[0], Structure.TIBIA)


def _build_regions() -> tuple[Region, ...]:
    out: list[Region] = []
    for code, name in BONE_SUBREGIONS.items():
        out.append(Region(code, name, len(out) + 1, RegionKind.BONE, _bone_structure(code)))
    for code, name in MENISCAL_SEGMENTS.items():
        out.append(Region(code, name, len(out) + 1, RegionKind.MENISCUS, Structure.MENISCUS))
    out.append(Region("ACL", "anterior cruciate ligament", 22, RegionKind.LIGAMENT, Structure.ACL))
    out.append(Region("PCL", "posterior cruciate ligament", 23, RegionKind.LIGAMENT, Structure.PCL))
    out.append(Region("PT", "patellar tendon", 24, RegionKind.TENDON, Structure.PATELLAR_TENDON))
    out.append(Region("HFP", "Hoffa's fat pad", 25, RegionKind.FAT_PAD, Structure.SYNOVITIS))
    return tuple(out)


#: The 25 labelled regions, in label order (label = index + 1).
REGIONS: tuple[Region, ...] = _build_regions()
_BY_CODE = {r.code: r for r in REGIONS}


def region(code: str) -> Region:
    """The region with this code (e.g. ``"FMC"``, ``"MMP"``, ``"HFP"``)."""
    try:
        return _BY_CODE[code]
    except KeyError:
        raise MoaksSchemaError(
            f"unknown region code {code!r}: expected one of {', '.join(_BY_CODE)}"
        ) from None


def region_by_label(label: int) -> Region:
    """The region with this label value (1-25)."""
    if not 1 <= int(label) <= len(REGIONS):
        raise MoaksSchemaError(f"unknown region label {label!r}: expected 1..{len(REGIONS)}")
    return REGIONS[int(label) - 1]


def site_name(code: str) -> str:
    """Human name of any site code (subregion, osteophyte location, segment or region)."""
    for table in (BONE_SUBREGIONS, OSTEOPHYTE_LOCATIONS, MENISCAL_SEGMENTS):
        if code in table:
            return table[code]
    return region(code).name
