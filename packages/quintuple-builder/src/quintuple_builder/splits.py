"""Patient-level splits: 75 / 10 / 15 %, derived from the patient id, stable when patients are added.

Each patient id is hashed (SHA-256 of ``"reasonknee-split:" + id``) to a number
``u`` in [0, 1); ``u < 0.75`` is train, ``u < 0.85`` val, the rest test. Adding
patients never moves an existing one. For tiny cohorts where a split would be
empty, :func:`assign_splits` (``ensure_nonempty=True``) moves the patient whose
``u`` lies nearest to the empty split's interval out of the largest split; with
a few dozen patients this never triggers.

>>> split_for_patient("9000099") in SPLITS
True
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import polars as pl
from moaks_schema import SPLITS, MoaksSchemaError, check_split_leakage

from quintuple_builder.errors import QuintupleBuilderError

__all__ = [
    "FRACTIONS",
    "SPLITS",
    "assign_splits",
    "check_leakage",
    "split_for_patient",
    "split_position",
]

FRACTIONS: tuple[float, float, float] = (0.75, 0.10, 0.15)


def split_position(patient_id: str) -> float:
    """The patient's stable position ``u`` in [0, 1)."""
    digest = hashlib.sha256(f"reasonknee-split:{patient_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def _split_of(u: float) -> str:
    if u < FRACTIONS[0]:
        return "train"
    if u < FRACTIONS[0] + FRACTIONS[1]:
        return "val"
    return "test"


def split_for_patient(patient_id: str) -> str:
    """``"train"``, ``"val"`` or ``"test"`` for one patient (hash rule, no rebalancing)."""
    return _split_of(split_position(str(patient_id)))


def assign_splits(patient_ids: Iterable[str], *, ensure_nonempty: bool = True) -> dict[str, str]:
    """``{patient_id: split}`` for a set of patients."""
    pos = {str(p): split_position(str(p)) for p in set(map(str, patient_ids))}
    out = {p: _split_of(u) for p, u in pos.items()}
    if ensure_nonempty and len(out) >= len(SPLITS):
        bounds = {
            "train": (0.0, FRACTIONS[0]),
            "val": (FRACTIONS[0], FRACTIONS[0] + FRACTIONS[1]),
            "test": (FRACTIONS[0] + FRACTIONS[1], 1.0),
        }
        for split in SPLITS:
            members = [p for p, s in out.items() if s == split]
            if members:
                continue
            lo, hi = bounds[split]
            counts = {s: sum(1 for v in out.values() if v == s) for s in SPLITS}
            donor = max(SPLITS, key=lambda s: (counts[s], -SPLITS.index(s)))
            candidates = sorted(
                (p for p, s in out.items() if s == donor),
                key=lambda p: (min(abs(pos[p] - lo), abs(pos[p] - hi)), p),
            )
            out[candidates[0]] = split
    return out


def check_leakage(table: pl.DataFrame, *, where: str = "dataset") -> dict[str, int]:
    """Raise if any scan or patient appears in two splits; returns patients per split.

    ``table`` needs the columns ``patient_id`` and ``split`` (``scan_id`` is
    checked too when present). The rule lives in :func:`moaks_schema.check_split_leakage`.
    """
    for col in ("patient_id", "split"):
        if col not in table.columns:
            raise QuintupleBuilderError(
                f"{where}: column {col!r} missing: expected patient_id and split"
            )
    try:
        return check_split_leakage(
            table["patient_id"].cast(pl.String).to_list(),
            table["split"].cast(pl.String).to_list(),
            scan_ids=table["scan_id"].cast(pl.String).to_list()
            if "scan_id" in table.columns
            else None,
            where=where,
        )
    except MoaksSchemaError as exc:
        raise QuintupleBuilderError(str(exc)) from None
