"""A second MOAKS read of a phantom knee: the disagreement model of docs/phantom.md.

Two radiologists grading the same knee agree on most attributes; where they do
not, an ordinal grade is mostly one step away (``±1``; ``±2`` in one
disagreement of ten), and a nominal code (meniscal morphology, cyst tear
location) is another code of the space. How often a reader departs from the
first read is set per attribute so that the *expected* agreement between the
two reads — Cohen's kappa, linearly weighted for ordinal grades (the
Cicchetti–Allison weights, SAS's default, which reliability studies mostly
use when they say "weighted kappa") and unweighted for nominal codes —
equals the published inter-reader reliability of the attribute's feature
(:data:`TARGET_KAPPA`, sources in docs/phantom.md). The expectation uses the
grade prior's marginals, so rare findings get few departures and common ones
more, as with real readers. The consistency rules of :func:`complete_grades`
apply to the second read too. (ReasonKnee-Bench reports quadratic-weighted
kappa, which is higher than the linear one for ±1 disagreements.)

>>> from knee_phantom.prior import GradePrior
>>> rates = flip_rates(GradePrior.named("realistic"))
>>> 0 < rates["bml.FMC.size"] < rates["hoffa.grade"] < 0.6
True
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache

import numpy as np
from moaks_schema import ATTRIBUTES

from knee_phantom.prior import GradePrior, complete_grades

__all__ = [
    "TARGET_KAPPA",
    "expected_kappa",
    "flip_rates",
    "kappa_weights",
    "second_read",
    "target_kappa",
    "transition",
]

#: Inter-reader weighted kappa aimed at, per feature family (the first matching prefix wins).
#: Midpoints of published ranges; see docs/phantom.md for the sources and what is assumed.
TARGET_KAPPA: dict[str, float] = {
    "bml.": 0.80,
    "cartilage.": 0.70,
    "osteophyte.": 0.60,
    "morphology.": 0.83,
    "root_tear.": 0.83,
    "meniscal_cyst.": 0.83,
    "meniscal_hypertrophy.": 0.83,
    "extrusion.": 0.80,
    "hoffa.": 0.50,
    "effusion.": 0.66,
    "": 0.70,  # ligaments, tendon, periarticular findings: no published figure found (assumed)
}

#: Share of ordinal disagreements that are two grades apart (the rest are one apart).
TWO_STEP_SHARE = 0.1
#: Prior smoothing: every grade keeps this much mass when rates are calibrated.
_SMOOTH = 0.01


def target_kappa(key: str) -> float:
    """The kappa aimed at for an attribute key."""
    return next(v for prefix, v in TARGET_KAPPA.items() if key.startswith(prefix))


def transition(k: int, p: float, *, ordinal: bool) -> np.ndarray:
    """``T[i, j]``: chance that a second reader says ``j`` when the first read is ``i``."""
    t = np.zeros((k, k))
    for i in range(k):
        t[i, i] = 1.0 - p
        if not ordinal:
            others = [j for j in range(k) if j != i]
            t[i, others] += p / len(others)
            continue
        near = [j for j in (i - 1, i + 1) if 0 <= j < k]
        far = [j for j in (i - 2, i + 2) if 0 <= j < k]
        share = TWO_STEP_SHARE if far else 0.0
        t[i, near] += p * (1.0 - share) / len(near)
        if far:
            t[i, far] += p * share / len(far)
    return t


def kappa_weights(k: int, *, ordinal: bool) -> np.ndarray:
    """Disagreement weights: ``|i - j|`` (linear) for ordinal grades, ``i != j`` for nominal codes."""
    idx = np.arange(k)
    d = np.abs(idx[:, None] - idx[None, :]).astype(float)
    return d if ordinal else (d > 0).astype(float)


def expected_kappa(pi: np.ndarray, p: float, *, ordinal: bool) -> float:
    """Kappa (:func:`kappa_weights`) between a first read with grade distribution ``pi`` and its second read."""
    k = len(pi)
    w = kappa_weights(k, ordinal=ordinal)
    joint = pi[:, None] * transition(k, p, ordinal=ordinal)
    chance = pi[:, None] * joint.sum(axis=0)[None, :]
    return float(1.0 - (w * joint).sum() / (w * chance).sum())


def _marginals(prior: GradePrior) -> dict[str, np.ndarray]:
    """Each attribute's grade distribution under the prior (dependent attributes included)."""
    w = {k: np.asarray(v, dtype=float) / float(sum(v)) for k, v in prior.weights.items()}
    out: dict[str, np.ndarray] = {}
    for a in ATTRIBUTES:
        k = a.key
        fam, site, short = ([*k.split("."), "", ""])[:3]
        pi = w[k].copy()
        if fam == "bml" and short in ("number", "percent"):
            zero = w[f"bml.{site}.size"][0]
            rest = pi * (np.arange(len(pi)) > 0)
            pi = (1.0 - zero) * rest / max(rest.sum(), 1e-12)
            pi[0] += zero
        elif fam == "cartilage" and short == "depth":
            zero = w[f"cartilage.{site}.size"][0]
            pi = (1.0 - zero) * pi
            pi[0] += zero
        elif k.endswith("tear_location"):
            absent = w[f"meniscal_cyst.{site}.presence"][0]
            pi = (1.0 - absent) * pi
            pi[3] += absent
        pi = pi + _SMOOTH
        out[k] = pi / pi.sum()
    return out


def _solve(pi: np.ndarray, target: float, *, ordinal: bool) -> float:
    """The departure rate whose expected kappa is ``target`` (bisection; kappa falls with it)."""
    lo, hi = 0.0, 1.0
    for _ in range(40):
        mid = (lo + hi) / 2
        if expected_kappa(pi, mid, ordinal=ordinal) > target:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def flip_rates(prior: GradePrior) -> dict[str, float]:
    """Per attribute: how often the second reader departs from the first read."""
    return dict(_rates(tuple(sorted((k, tuple(v)) for k, v in prior.weights.items()))))


@cache
def _rates(weights: tuple[tuple[str, tuple[float, ...]], ...]) -> tuple[tuple[str, float], ...]:
    pis = _marginals(GradePrior("calibration", dict(weights)))
    return tuple(
        (a.key, _solve(pis[a.key], target_kappa(a.key), ordinal=bool(a.grades.ordinal)))
        for a in ATTRIBUTES
    )


@cache
def _departures(k: int, ordinal: bool) -> np.ndarray:
    """Row ``i``: where a reader who departs from grade ``i`` goes."""
    return transition(k, 1.0, ordinal=ordinal)


def second_read(
    rng: np.random.Generator,
    grades: Mapping[str, int],
    rates: Mapping[str, float],
    *,
    visit: str,
    keep: frozenset[str] | set[str] = frozenset(),
) -> dict[str, int]:
    """Another reader's grades of the same knee (attributes in ``keep`` are not re-read)."""
    out = dict(grades)
    u = rng.random(len(ATTRIBUTES))
    for a, ui in zip(ATTRIBUTES, u, strict=True):
        k = a.key
        if k in keep or ui >= rates[k]:
            continue
        row = _departures(len(a.grades.values), bool(a.grades.ordinal))[out[k]]
        out[k] = int(rng.choice(len(row), p=row))
    return complete_grades(out, visit=visit, strict=False)
