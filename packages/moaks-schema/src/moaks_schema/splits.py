"""The three dataset splits and the one leakage rule: a patient (and so each of its scans)
lies in exactly one split.

Every reader of splits (the public split CSVs, a dataset's ``scans.parquet``,
a scoring run) calls :func:`check_split_leakage`, so a leaked patient is an
error wherever splits are read.

>>> check_split_leakage(["9000001", "9000002"], ["train", "test"])
{'train': 1, 'val': 0, 'test': 1}
>>> check_split_leakage(["9000001", "9000001"], ["train", "test"], where="x.csv")
Traceback (most recent call last):
...
moaks_schema.errors.MoaksSchemaError: x.csv: patient 9000001 is in more than one split (test, train); expected every patient in exactly one split
"""

from __future__ import annotations

from collections.abc import Sequence

from moaks_schema.errors import MoaksSchemaError

__all__ = ["SPLITS", "check_split_leakage"]

SPLITS: tuple[str, ...] = ("train", "val", "test")


def _first_leaks(owner: Sequence[str], splits: Sequence[str]) -> dict[str, set[str]]:
    seen: dict[str, set[str]] = {}
    for key, split in zip(owner, splits, strict=True):
        seen.setdefault(key, set()).add(split)
    return {k: v for k, v in seen.items() if len(v) > 1}


def check_split_leakage(
    patient_ids: Sequence[str],
    splits: Sequence[str],
    *,
    scan_ids: Sequence[str] | None = None,
    where: str = "splits",
) -> dict[str, int]:
    """Raise :class:`MoaksSchemaError` when a scan or a patient lies in two splits, or a split
    name is unknown; returns the number of patients per split.

    ``where`` (a file or table name) starts the message, which names the first
    offending scan or patient, its splits, and how many more there are.
    """
    if len(patient_ids) != len(splits):
        raise MoaksSchemaError(f"{where}: {len(patient_ids)} patient ids for {len(splits)} splits")
    bad = sorted({str(s) for s in splits} - set(SPLITS))
    if bad:
        raise MoaksSchemaError(f"{where}: unknown split(s) {bad}; expected {', '.join(SPLITS)}")
    for what, owner in (("scan", scan_ids), ("patient", patient_ids)):
        if owner is None:
            continue
        leaks = _first_leaks([str(o) for o in owner], [str(s) for s in splits])
        if leaks:
            key = sorted(leaks)[0]
            more = f" (and {len(leaks) - 1} more)" if len(leaks) > 1 else ""
            raise MoaksSchemaError(
                f"{where}: {what} {key} is in more than one split "
                f"({', '.join(sorted(leaks[key]))}){more}; "
                f"expected every {what} in exactly one split"
            )
    per: dict[str, set[str]] = {s: set() for s in SPLITS}
    for patient, split in zip(patient_ids, splits, strict=True):
        per[str(split)].add(str(patient))
    return {s: len(per[s]) for s in SPLITS}
