"""The quality gate of a build's label maps: Dice per region against held-out manual maps.

A segmenter's pseudo-labels are measured (e.g. by
``knee_segmenter.pseudo_label_quality``) on scans that have a manual map the
segmenter was not trained on. :func:`gate_labels` turns that measurement into
a :class:`QualityGate`: a region whose mean Dice is below ``min_dice`` (or
cannot be measured: no held-out scan has it in either map) is *low quality*.
Every question whose box encloses a low-quality region keeps its box, marked
``box_source = "<source>:low_quality"`` (:func:`flag_boxes`); scoring leaves
such boxes out of localisation by default and counts them. A build with low-quality
regions is refused unless accepted explicitly. Where nothing is held out the
quality is ``unmeasured``; manual and phantom label maps need no gate
(``not_applicable``).

>>> gate_labels(None, label_source="manual").status
'not_applicable'
>>> gate_labels(None, label_source="nnunet").status
'unmeasured'
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

import polars as pl
from moaks_schema import QUESTIONS

from quintuple_builder.errors import QuintupleBuilderError

__all__ = [
    "DEFAULT_MIN_DICE",
    "LOW_QUALITY",
    "LabelQuality",
    "QualityGate",
    "QualityMeasure",
    "flag_boxes",
    "gate_labels",
    "low_quality_questions",
]

#: Mean Dice per region (over the held-out scans) below which a region's boxes are low quality.
DEFAULT_MIN_DICE = 0.5
#: Suffix of ``box_source`` for boxes that enclose a low-quality region (``nnunet:low_quality``).
LOW_QUALITY = "low_quality"
#: Label sources whose maps are references themselves: nothing to measure them against.
_REFERENCE_SOURCES = ("manual", "phantom")


class LabelQuality(Protocol):
    """A measurement of label maps against held-out manual maps (``knee_segmenter.PseudoLabelQuality``).

    ``per_region`` has ``region`` and ``mean_dice`` (mean over the held-out
    scans; null when no scan has the region in either map) and ``n``;
    ``per_scan`` one row per (scan, region) with ``dice``.
    """

    @property
    def held_out_ids(self) -> tuple[str, ...]: ...

    @property
    def per_region(self) -> pl.DataFrame: ...

    @property
    def per_scan(self) -> pl.DataFrame: ...

    @property
    def note(self) -> str: ...


#: Measures the labelled scan table (``scan_id``, ``label_path``, ...) of a build.
QualityMeasure = Callable[[pl.DataFrame], LabelQuality]


@dataclass(frozen=True)
class QualityGate:
    """The verdict on a build's label maps.

    ``status``: ``passed``, ``low_quality`` (some region below ``min_dice``),
    ``unmeasured`` (pseudo-labels, no held-out manual map) or
    ``not_applicable`` (manual or phantom maps). ``regions``: ``region,
    mean_dice, n, low_quality`` (empty unless measured). ``accepted``: the user
    accepted low-quality regions; :attr:`refused` when not.
    """

    status: str
    min_dice: float
    regions: pl.DataFrame
    held_out_ids: tuple[str, ...]
    note: str
    accepted: bool = False

    @property
    def low_quality_regions(self) -> tuple[str, ...]:
        """Region codes below the threshold, in label order."""
        if self.regions.height == 0:
            return ()
        return tuple(self.regions.filter(pl.col("low_quality"))["region"].to_list())

    @property
    def refused(self) -> bool:
        """True when low-quality regions were found and not accepted (nothing is written)."""
        return self.status == "low_quality" and not self.accepted

    def manifest_entry(self) -> dict[str, Any]:
        """What the dataset's ``manifest.json`` records under ``label_quality``."""
        return {
            "status": self.status,
            "min_dice": self.min_dice,
            "note": self.note,
            "held_out_scans": list(self.held_out_ids),
            "low_quality_regions": list(self.low_quality_regions),
            "accepted_low_quality": self.accepted and self.status == "low_quality",
            "regions": [
                {
                    "region": r["region"],
                    "mean_dice": None if r["mean_dice"] is None else round(r["mean_dice"], 4),
                    "n": r["n"],
                    "low_quality": r["low_quality"],
                }
                for r in self.regions.iter_rows(named=True)
            ],
        }


def _region_table(quality: LabelQuality, min_dice: float) -> pl.DataFrame:
    table = quality.per_region
    missing = [c for c in ("region", "mean_dice", "n") if c not in table.columns]
    if missing:
        raise QuintupleBuilderError(
            f"label quality: per_region table lacks column(s) {missing}: expected region, mean_dice, n"
        )
    return table.select(
        pl.col("region").cast(pl.String),
        pl.col("mean_dice").cast(pl.Float64),
        pl.col("n").cast(pl.Int64),
        (pl.col("mean_dice").is_null() | (pl.col("mean_dice") < min_dice)).alias("low_quality"),
    )


def gate_labels(
    quality: LabelQuality | None,
    *,
    label_source: str,
    min_dice: float = DEFAULT_MIN_DICE,
    accept_low_quality: bool = False,
) -> QualityGate:
    """Judge a build's label maps: see the module docstring."""
    if not 0.0 <= float(min_dice) <= 1.0:
        raise QuintupleBuilderError(f"min_dice: expected a Dice in 0..1, got {min_dice!r}")
    empty = pl.DataFrame(
        schema={
            "region": pl.String,
            "mean_dice": pl.Float64,
            "n": pl.Int64,
            "low_quality": pl.Boolean,
        }
    )
    if label_source in _REFERENCE_SOURCES:
        note = f"{label_source} label maps are the reference: no quality gate"
        return QualityGate("not_applicable", min_dice, empty, (), note, accept_low_quality)
    if quality is None or not quality.held_out_ids:
        note = quality.note if quality is not None else "no manual map held out: quality unmeasured"
        return QualityGate("unmeasured", min_dice, empty, (), note, accept_low_quality)
    regions = _region_table(quality, float(min_dice))
    status = "low_quality" if regions["low_quality"].any() else "passed"
    return QualityGate(
        status, float(min_dice), regions, tuple(quality.held_out_ids), quality.note,
        accept_low_quality,
    )  # fmt: skip


def low_quality_questions(regions: Iterable[str]) -> tuple[int, ...]:
    """Ids of the questions whose box encloses any of ``regions``.

    >>> low_quality_questions(["ACL", "HFP"])
    (42, 60)
    """
    low = set(regions)
    return tuple(q.id for q in QUESTIONS if low.intersection(q.box_regions))


def flag_boxes(boxes: pl.DataFrame, regions: Iterable[str]) -> pl.DataFrame:
    """``boxes`` (``question_id``, ``box_source``) with the boxes of low-quality ``regions`` marked.

    A box stays; its ``box_source`` becomes ``<source>:low_quality``.
    """
    qids = low_quality_questions(regions)
    if not qids:
        return boxes
    flagged = pl.col("question_id").is_in(qids) & pl.col("box_source").is_not_null()
    return boxes.with_columns(
        pl.when(flagged)
        .then(pl.col("box_source") + f":{LOW_QUALITY}")
        .otherwise(pl.col("box_source"))
        .alias("box_source")
    )
