"""What a phantom cohort will hold, decided before a file is written (see docs/phantom.md).

:func:`plan_cohort` draws, from the seed and in a fixed order, the OAI-like
identities (patient ids, series numbers, study dates, barcodes), the "manual"
subset, the true grades of every knee and visit, and the MOAKS reading rows
(the true read and, for some knees, a second read drawn from the
disagreement model of :mod:`knee_phantom.second_reads`). :mod:`knee_phantom.cohort`
then renders and writes it. Each stage draws from its own named stream, so a
change to one stage leaves the draws of the others as they were.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from knee_volumes.volume import scan_id_of
from moaks_schema import ATTRIBUTES, visit

from knee_phantom.errors import PhantomError
from knee_phantom.lesions import stream
from knee_phantom.moaks_table import stem_attributes
from knee_phantom.prior import GradePrior, complete_grades
from knee_phantom.second_reads import flip_rates, second_read

__all__ = ["CONFLICT_READPRJ", "TRUE_READPRJ", "CohortPlan", "ScanKey", "plan_cohort"]

#: Reading projects of the true read (the builder's priority rule keeps it) and of second reads.
TRUE_READPRJ = ("22", "30")
CONFLICT_READPRJ = ("65", "63A")

#: ``(patient index, patient id, visit label, side)`` of one scan.
ScanKey = tuple[int, str, str, int]


@dataclass(frozen=True)
class CohortPlan:
    """Everything drawn from the seed: ids, dates, grades and MOAKS reading rows."""

    visit_labels: list[str]
    pids: list[str]
    scans: list[ScanKey]
    scan_ids: list[str]
    series: dict[str, int]
    extra_series: list[int]
    dates: dict[str, dict[str, str]]
    barcodes: dict[str, str]
    manual: list[str]
    grades: dict[str, dict[str, int]]
    moaks_rows: dict[str, list[dict]]
    missing_of: dict[str, set[str]]
    source_of: dict[str, str]

    def keyed_scans(self) -> list[tuple[ScanKey, str]]:
        """``(scan key, scan id)`` pairs in cohort order."""
        return list(zip(self.scans, self.scan_ids, strict=True))


def check_arguments(
    n_patients: int, visits: Sequence[str], sides: Sequence[int], second_reads: float
) -> list[str]:
    """The visit labels; a :class:`PhantomError` for an argument that cannot make a cohort."""
    if n_patients < 1:
        raise PhantomError(f"write_cohort: n_patients must be >= 1, got {n_patients}")
    visit_labels = [visit(v).label for v in visits]
    if sorted(set(visit_labels), key=visit_labels.index) != visit_labels:
        raise PhantomError(f"write_cohort: visits repeat: {list(visits)}")
    if not sides or any(s not in (1, 2) for s in sides):
        raise PhantomError(f"write_cohort: sides must be 1 and/or 2, got {list(sides)}")
    if not 0.0 <= second_reads <= 1.0:
        raise PhantomError(f"write_cohort: second_reads must be within [0, 1], got {second_reads}")
    return visit_labels


def _dates_and_barcodes(
    rng: np.random.Generator, pids: list[str], visit_labels: list[str]
) -> tuple[dict[str, dict[str, str]], dict[str, str]]:
    """Study dates (visits ~months apart, follow-ups ±20 days) and a barcode per patient."""
    dates: dict[str, dict[str, str]] = {}
    barcodes: dict[str, str] = {}
    for p in pids:
        base = _dt.date(2004, 2, 1) + _dt.timedelta(days=int(rng.integers(0, 700)))
        dates[p] = {}
        for v in visit_labels:
            d = base + _dt.timedelta(
                days=int(np.rint(visit(v).months * 30.44))
                + (int(rng.integers(-20, 21)) if v != "00M" else 0)
            )
            dates[p][v] = d.strftime("%Y%m%d")
        barcodes[p] = f"0166{int(rng.integers(0, 10**8)):08d}"
    return dates, barcodes


def _progressed(g: dict[str, int], rng: np.random.Generator, visit_label: str) -> dict[str, int]:
    """Follow-up grades: a few ordinal grades worsen by one."""
    out = dict(g)
    for a in ATTRIBUTES:
        k = a.key
        if not a.grades.ordinal or k.split(".")[-1] in ("number", "percent", "depth"):
            continue
        top = len(a.grades.values) - 1
        if out[k] < top and rng.random() < (0.12 if out[k] else 0.03):
            out[k] += 1
    for a in ATTRIBUTES:
        if a.key.startswith("morphology.") and out[a.key] == 6 and rng.random() < 0.3:
            out[a.key] = 7
    return complete_grades(out, visit=visit_label, strict=False)


def _grades(
    scans: list[ScanKey], scan_ids: list[str], visit_labels: list[str], pr: GradePrior, seed: int
) -> dict[str, dict[str, int]]:
    """A baseline draw per knee; follow-ups progress from the visit before."""
    grades: dict[str, dict[str, int]] = {}
    for (_, p, v, s), key in zip(scans, scan_ids, strict=True):
        vi = visit_labels.index(v)
        if vi == 0:
            grades[key] = pr.sample(stream(seed, f"grades/{p}/{s}"), visit=v)
        else:
            grades[key] = _progressed(
                grades[scan_id_of(p, visit_labels[vi - 1], s)], stream(seed, f"progress/{key}"), v
            )
    return grades


def _reading_rows(
    scans: list[ScanKey],
    scan_ids: list[str],
    grades: dict[str, dict[str, int]],
    *,
    seed: int,
    second_reads: float,
    prior: GradePrior,
) -> tuple[dict[str, list[dict]], dict[str, set[str]], dict[str, str]]:
    """MOAKS rows per visit: the true row (READPRJ 22 or 30, a few missing cells) and, for a
    ``second_reads`` share of knees, another project's read (:mod:`knee_phantom.second_reads`)."""
    stems = stem_attributes()
    stem_names = list(stems)
    rates = flip_rates(prior) if second_reads > 0 else {}
    moaks_rows: dict[str, list[dict]] = {}
    missing_of: dict[str, set[str]] = {}
    source_of: dict[str, str] = {}
    for (_, p, v, s), key in zip(scans, scan_ids, strict=True):
        r = stream(seed, f"reads/{key}")
        true_prj = TRUE_READPRJ[int(r.random() < 0.3)]
        missing = (
            set(r.choice(stem_names, size=int(r.integers(1, 3)), replace=False))
            if r.random() < 0.08
            else set()
        )
        missing_of[key] = {a for st in missing for a in stems[st]}
        source_of[key] = true_prj
        row = {"id": p, "side": s, "readprj": true_prj, "grades": grades[key], "missing": missing}
        rows = [row]
        if r.random() < second_reads:
            r2 = stream(seed, f"second-read/{key}")
            other = second_read(r2, grades[key], rates, visit=v, keep=missing_of[key])
            prj = CONFLICT_READPRJ[int(r2.random() < 0.5)]
            conflict = {"id": p, "side": s, "readprj": prj, "grades": other, "missing": missing}
            rows = [conflict, row] if r2.random() < 0.5 else [row, conflict]
        moaks_rows.setdefault(v, []).extend(rows)
    return moaks_rows, missing_of, source_of


def plan_cohort(
    *,
    n_patients: int,
    visit_labels: list[str],
    sides: Sequence[int],
    seed: int,
    n_manual: int,
    prior: GradePrior,
    second_reads: float = 0.15,
) -> CohortPlan:
    """Draw a cohort's ids, dates, manual subset, grades and reading rows (deterministic in ``seed``).

    ``second_reads``: the share of knee-visits read twice (by a second project).
    """
    rng = stream(seed, "cohort")
    pids = [
        str(9_000_000 + int(x))
        for x in np.sort(rng.choice(999_999, size=n_patients, replace=False))
    ]
    scans: list[ScanKey] = [
        (i, p, v, s) for i, p in enumerate(pids) for v in visit_labels for s in sides
    ]
    scan_ids = [scan_id_of(p, v, s) for _, p, v, s in scans]
    series_pool = (
        rng.choice(90_000_000, size=len(scans) + 4 * n_patients * len(visit_labels), replace=False)
        + 10_000_000
    )
    series = {sid: int(series_pool[k]) for k, sid in enumerate(scan_ids)}
    extra_series = [int(x) for x in series_pool[len(scans) :]]
    dates, barcodes = _dates_and_barcodes(rng, pids, visit_labels)
    n_manual = max(0, min(int(n_manual), len(scans)))
    manual = sorted(scan_ids[k] for k in rng.permutation(len(scans))[:n_manual])
    grades = _grades(scans, scan_ids, visit_labels, prior, seed)
    moaks_rows, missing_of, source_of = _reading_rows(
        scans, scan_ids, grades, seed=seed, second_reads=second_reads, prior=prior
    )
    return CohortPlan(
        visit_labels=visit_labels,
        pids=pids,
        scans=scans,
        scan_ids=scan_ids,
        series=series,
        extra_series=extra_series,
        dates=dates,
        barcodes=barcodes,
        manual=manual,
        grades=grades,
        moaks_rows={v: moaks_rows.get(v, []) for v in visit_labels},
        missing_of=missing_of,
        source_of=source_of,
    )
