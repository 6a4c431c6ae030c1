"""The second reader's disagreement model: calibrated kappas, mostly ±1, deterministic."""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from knee_phantom import GradePrior
from knee_phantom.second_reads import (
    TARGET_KAPPA,
    expected_kappa,
    flip_rates,
    second_read,
    target_kappa,
    transition,
)
from moaks_schema import ATTRIBUTES

PRIMARY = ("bml.", "cartilage.", "osteophyte.", "hoffa.", "effusion.", "extrusion.", "morphology.")


def _kappa(a: np.ndarray, b: np.ndarray, k: int, *, ordinal: bool) -> float:
    """Cohen's kappa from two label vectors (linearly weighted when ordinal)."""
    conf = np.zeros((k, k))
    np.add.at(conf, (a, b), 1.0)
    conf /= conf.sum()
    idx = np.arange(k)
    w = np.abs(idx[:, None] - idx[None, :]) if ordinal else (idx[:, None] != idx[None, :])
    chance = conf.sum(axis=1)[:, None] * conf.sum(axis=0)[None, :]
    return float(1.0 - (w * conf).sum() / (w * chance).sum())


@cache
def _pairs(n: int = 1000) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    prior = GradePrior.named("realistic")
    rates = flip_rates(prior)
    rng = np.random.default_rng(3)
    first = [prior.sample(rng) for _ in range(n)]
    second = [second_read(rng, g, rates, visit="00M") for g in first]
    a = {x.key: np.array([g[x.key] for g in first]) for x in ATTRIBUTES}
    b = {x.key: np.array([g[x.key] for g in second]) for x in ATTRIBUTES}
    return a, b


def _primary(key: str) -> bool:
    short = ([*key.split("."), "", ""])[2]
    return key.startswith(PRIMARY) and short not in ("number", "percent", "depth")


@pytest.mark.parametrize("family", PRIMARY)
def test_realised_kappa_of_each_feature_is_near_its_published_target(family: str) -> None:
    a, b = _pairs()
    kappas = [
        _kappa(a[x.key], b[x.key], len(x.grades.values), ordinal=bool(x.grades.ordinal))
        for x in ATTRIBUTES
        if x.key.startswith(family) and _primary(x.key)
    ]
    assert kappas
    assert abs(float(np.mean(kappas)) - TARGET_KAPPA[family]) < 0.06, (family, kappas)


def test_disagreements_are_mostly_one_grade_apart() -> None:
    a, b = _pairs()
    steps = np.concatenate(
        [
            np.abs(a[x.key] - b[x.key])
            for x in ATTRIBUTES
            if x.grades.ordinal and _primary(x.key) and len(x.grades.values) > 2
        ]
    )
    off = steps[steps > 0]
    assert off.size > 500
    assert 0.85 <= float(np.mean(off == 1)) < 1.0
    # and readers agree on most (scan, attribute) pairs
    agree = np.mean([np.mean(a[x.key] == b[x.key]) for x in ATTRIBUTES])
    assert 0.8 < agree < 0.97


def test_second_read_is_deterministic_in_the_generator_and_keeps_missing_cells() -> None:
    prior = GradePrior.named("uniform")
    rates = flip_rates(prior)
    g = prior.sample(np.random.default_rng(0))
    keep = {"hoffa.grade", "effusion.grade"}
    one = second_read(np.random.default_rng(5), g, rates, visit="00M", keep=keep)
    two = second_read(np.random.default_rng(5), g, rates, visit="00M", keep=keep)
    assert one == two and all(one[k] == g[k] for k in keep)
    assert one != g  # a uniform prior has many grades to disagree on


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(0.01, 1.0), min_size=2, max_size=9),
    st.floats(0.0, 1.0),
    st.booleans(),
)
def test_transition_rows_are_distributions_and_kappa_falls_with_departures(
    weights: list[float], p: float, ordinal: bool
) -> None:
    k = len(weights)
    t = transition(k, p, ordinal=ordinal)
    assert np.allclose(t.sum(axis=1), 1.0) and (t >= 0).all()
    pi = np.asarray(weights) / sum(weights)
    assert expected_kappa(pi, 0.0, ordinal=ordinal) == pytest.approx(1.0)
    assert expected_kappa(pi, p, ordinal=ordinal) <= 1.0 + 1e-9
    assert (
        expected_kappa(pi, min(p + 0.1, 1.0), ordinal=ordinal)
        <= expected_kappa(pi, p, ordinal=ordinal) + 1e-9
    )


def test_every_target_prefix_names_attributes() -> None:
    for prefix in TARGET_KAPPA:
        assert any(a.key.startswith(prefix) for a in ATTRIBUTES), prefix
    assert target_kappa("hoffa.grade") == TARGET_KAPPA["hoffa."]
    assert target_kappa("acl.complete_tear") == TARGET_KAPPA[""]
