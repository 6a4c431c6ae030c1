"""Grade priors: how often each MOAKS grade is planted, and the rules that keep grades consistent.

Consistency rules (applied to drawn and to given grades alike):

- BML: ``size`` 0 ⇔ ``number`` 0 ⇔ ``percent`` 0.
- Cartilage: ``size`` 0 ⇒ ``depth`` 0.
- Meniscal cyst: ``presence`` 0 ⇒ ``tear_location`` 3 ("no tear"); a cyst with a
  tear location 0-2 makes that segment's morphology a horizontal tear (3) when it
  was normal or intrasubstance signal (cysts come with tears).
- ACL: ``repair`` 1 ⇒ ``complete_tear`` 0 (the graft is intact).
- Morphology 7 (progressive partial maceration) only at a follow-up visit.

Dependent attributes (BML number/percent, cartilage depth, cyst tear location)
are drawn from their weights restricted to the grades the parent allows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
from moaks_schema import ATTRIBUTES, attribute

from knee_phantom.errors import PhantomError

__all__ = ["GradePrior", "complete_grades"]

_SEGMENTS = {"medial": ("MMA", "MMB", "MMP"), "lateral": ("LMA", "LMB", "LMP")}


def _realistic_weights() -> dict[str, tuple[float, ...]]:
    w: dict[str, tuple[float, ...]] = {}
    for a in ATTRIBUTES:
        k = a.key
        fam = k.split(".")[0]
        if fam == "bml":
            w[k] = {"size": (0.80, 0.14, 0.045, 0.015), "number": (0.0, 0.70, 0.20, 0.10),
                    "percent": (0.0, 0.05, 0.15, 0.80)}[k.rsplit(".", 1)[1]]  # fmt: skip
        elif fam == "cartilage":
            w[k] = (0.62, 0.20, 0.14, 0.04) if k.endswith("size") else (0.45, 0.30, 0.18, 0.07)
        elif fam == "osteophyte":
            w[k] = (0.58, 0.28, 0.10, 0.04)
        elif fam == "hoffa":
            w[k] = (0.50, 0.38, 0.10, 0.02)
        elif fam == "effusion":
            w[k] = (0.45, 0.35, 0.15, 0.05)
        elif fam == "extrusion":
            w[k] = (
                (0.60, 0.20, 0.14, 0.06) if k == "extrusion.MMM.grade" else (0.86, 0.07, 0.05, 0.02)
            )
        elif fam == "morphology":
            w[k] = (0.80, 0.05, 0.02, 0.06, 0.01, 0.02, 0.02, 0.01, 0.01)
        elif k.endswith("tear_location"):
            w[k] = (0.2, 0.3, 0.5, 0.0)
        else:  # presence-type 0/1
            p = {
                "meniscal_cyst": 0.05, "meniscal_hypertrophy": 0.03, "root_tear": 0.04,
                "acl.complete_tear": 0.03, "acl.bml_cyst": 0.08, "acl.repair": 0.01,
                "pcl.complete_tear": 0.005, "pcl.bml_cyst": 0.03, "patellar_tendon": 0.08,
                "periarticular.pes_anserine_bursitis": 0.03, "periarticular.iliotibial_band_signal": 0.05,
                "periarticular.popliteal_cyst": 0.20, "periarticular.infrapatellar_bursitis": 0.06,
                "periarticular.prepatellar_bursitis": 0.04, "periarticular.ganglion_cyst": 0.03,
                "periarticular.loose_bodies": 0.05,
            }  # fmt: skip
            prob = next(v for name, v in p.items() if k.startswith(name))
            w[k] = (1.0 - prob, prob)
    return w


def _uniform_weights() -> dict[str, tuple[float, ...]]:
    return {a.key: tuple(1.0 for _ in a.grades.values) for a in ATTRIBUTES}


@dataclass(frozen=True)
class GradePrior:
    """Weights over each attribute's grades (keyed by ``Attribute.key``), and a sampler.

    ``GradePrior.named("realistic")`` is dominated by grade 0 (rough OAI
    prevalences); ``"uniform"`` draws every grade equally often (the
    dependent attributes keep uniform marginals too, except cyst tear
    location). ``overrides`` replaces the weights of some attributes.

    >>> g = GradePrior.named("uniform").sample(np.random.default_rng(0))
    >>> len(g)
    118
    """

    name: str
    weights: Mapping[str, tuple[float, ...]] = field(repr=False)

    @classmethod
    def named(
        cls, name: str, *, overrides: Mapping[str, tuple[float, ...]] | None = None
    ) -> GradePrior:
        """The ``"realistic"`` or ``"uniform"`` prior, with optional per-attribute weights."""
        if name == "realistic":
            w = _realistic_weights()
        elif name == "uniform":
            w = _uniform_weights()
        else:
            raise PhantomError(
                f"unknown grade prior {name!r}: expected 'realistic' or 'uniform' (or a GradePrior)"
            )
        for k, v in (overrides or {}).items():
            if len(v) != len(attribute(k).grades.values) or min(v) < 0 or sum(v) <= 0:
                raise PhantomError(
                    f"prior weights for {k!r} must be {len(attribute(k).grades.values)} non-negative numbers"
                )
            w[k] = tuple(float(x) for x in v)
        return cls(name, w)

    def _draw(
        self, rng: np.random.Generator, key: str, allowed: range | tuple[int, ...] | None = None
    ) -> int:
        w = np.asarray(self.weights[key], dtype=float)
        if allowed is not None:
            mask = np.zeros(len(w), bool)
            mask[list(allowed)] = True
            w = np.where(mask, w, 0.0)
            if w.sum() <= 0:
                w = mask.astype(float)
        return int(rng.choice(len(w), p=w / w.sum()))

    def sample(self, rng: np.random.Generator, *, visit: str = "00M") -> dict[str, int]:
        """Draw grades for all 118 attributes (consistent, see the module docstring)."""
        g: dict[str, int] = {}
        follow_up = visit != "00M"
        for a in ATTRIBUTES:
            k = a.key
            fam, site, short = ([*k.split("."), "", ""])[:3]
            if fam == "bml" and short in ("number", "percent"):
                g[k] = 0 if g[f"bml.{site}.size"] == 0 else self._draw(rng, k, range(1, 4))
            elif fam == "cartilage" and short == "depth":
                g[k] = 0 if g[f"cartilage.{site}.size"] == 0 else self._draw(rng, k)
            elif k.endswith("tear_location"):
                g[k] = 3 if g[f"meniscal_cyst.{site}.presence"] == 0 else self._draw(rng, k)
            elif fam == "morphology":
                g[k] = self._draw(rng, k, None if follow_up else (0, 1, 2, 3, 4, 5, 6, 8))
            else:
                g[k] = self._draw(rng, k)
        return complete_grades(g, visit=visit, strict=False)


def complete_grades(
    given: Mapping[str, int], *, visit: str = "00M", strict: bool = True
) -> dict[str, int]:
    """All 118 grades from a partial mapping (unspecified: healthy), made consistent.

    With ``strict`` a contradiction (e.g. a BML number without a size) raises
    :class:`~knee_volumes.PhantomError`; otherwise it is repaired.

    >>> g = complete_grades({"bml.FMC.size": 2})
    >>> g["bml.FMC.number"], g["bml.FMC.percent"], g["meniscal_cyst.medial.tear_location"]
    (1, 3, 3)
    """
    g: dict[str, int] = {}
    for k, v in given.items():
        a = attribute(k) if _known(k) else None
        if a is None:
            raise PhantomError(f"grades: unknown attribute key {k!r} (see moaks_schema.ATTRIBUTES)")
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or int(v) not in a.grades:
            raise PhantomError(f"grades[{k!r}] = {v!r}: expected one of {a.grades.values}")
        g[k] = int(v)
    out = {a.key: g.get(a.key, 3 if a.key.endswith("tear_location") else 0) for a in ATTRIBUTES}

    def bad(msg: str) -> None:
        if strict:
            raise PhantomError(f"grades: {msg}")

    for a in ATTRIBUTES:
        fam, site, short = ([*a.key.split("."), "", ""])[:3]
        if fam == "bml" and short == "size":
            n, p = f"bml.{site}.number", f"bml.{site}.percent"
            if out[a.key] == 0 and (out[n] or out[p]):
                bad(f"{n}/{p} given without {a.key}")
                out[n] = out[p] = 0
            elif out[a.key] > 0:
                out[n] = out[n] or 1
                out[p] = out[p] or 3
        elif (
            fam == "cartilage"
            and short == "size"
            and out[a.key] == 0
            and out[f"cartilage.{site}.depth"]
        ):
            bad(f"cartilage.{site}.depth given without {a.key}")
            out[f"cartilage.{site}.depth"] = 0
        elif fam == "morphology" and out[a.key] == 7 and visit == "00M":
            bad(
                f"{a.key} = 7 (progressive partial maceration) is a follow-up grade, not for visit 00M"
            )
            out[a.key] = 6
    for side, segs in _SEGMENTS.items():
        pres, loc = f"meniscal_cyst.{side}.presence", f"meniscal_cyst.{side}.tear_location"
        if out[pres] == 0 and out[loc] != 3:
            bad(f"{loc} given without {pres}")
            out[loc] = 3
        if out[pres] == 1 and out[loc] < 3:
            seg = f"morphology.{segs[out[loc]]}.code"
            if out[seg] in (0, 1):
                out[seg] = 3
    if out["acl.repair"] and out["acl.complete_tear"]:
        bad("acl.repair = 1 with acl.complete_tear = 1 (a reconstructed ACL is not torn here)")
        out["acl.complete_tear"] = 0
    return out


def _known(key: str) -> bool:
    try:
        attribute(key)
    except Exception:
        return False
    return True
