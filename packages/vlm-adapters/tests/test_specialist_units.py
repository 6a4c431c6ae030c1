"""The specialist's light parts: head layout, box geometry, model spec, split guard, config checks."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from moaks_schema import ATTRIBUTES, QUESTIONS
from vlm_adapters import AdapterError, ModelSpec, parse_model_spec
from vlm_adapters.spec import make_adapter
from vlm_adapters.specialist import HeadLayout, SpecialistConfig, load_split_scans
from vlm_adapters.specialist.layout import side_of
from vlm_adapters.specialist.preprocess import box_from_norm, crop_norm, norm_from_public


def test_layout_covers_every_question_and_attribute() -> None:
    lay = HeadLayout.default()
    assert lay.attributes == tuple(a.key for a in ATTRIBUTES)
    assert lay.total_grades == sum(len(a.grades.values) for a in ATTRIBUTES)
    for q in QUESTIONS:
        g = lay.group_of(q.id)
        assert lay.groups[g] == (tuple(q.box_regions) if q.has_box else ())
    assert HeadLayout.from_dict(lay.to_dict(), where="x") == lay
    with pytest.raises(AdapterError, match="does not match"):
        HeadLayout.from_dict({**lay.to_dict(), "n_grades": [2] * len(ATTRIBUTES)}, where="x")


@st.composite
def _boxes(draw):
    shape = tuple(draw(st.integers(1, 40)) for _ in range(3))
    edges = []
    for n in shape:
        a = draw(st.integers(0, n - 1))
        edges += [a, draw(st.integers(a, n - 1))]
    s0, s1, r0, r1, c0, c1 = edges
    return shape, [s0, s1, c0, c1, r0, r1]


@settings(deadline=None)
@given(box=_boxes(), side=st.sampled_from([1, 2]))
def test_boxes_round_trip_through_canonical_fractions(box, side) -> None:
    shape, public = box
    norm = norm_from_public(public, shape, side)
    assert ((norm >= 0) & (norm <= 1)).all()
    assert box_from_norm(norm, shape, side) == public


def test_left_knee_boxes_are_mirrored_and_crops_never_empty() -> None:
    right = norm_from_public([0, 9, 0, 95, 0, 95], (48, 96, 96), 1)
    left = norm_from_public([38, 47, 0, 95, 0, 95], (48, 96, 96), 2)
    assert np.allclose(right, left)
    import torch

    vol = torch.zeros(48, 96, 96)
    assert crop_norm(vol, [0.999, 0.999, 0.2, 0.1, 0.0, 0.0]).shape == (1, 11, 1)
    assert box_from_norm([1.2, -0.3, 0.5, 0.5, 0.0, 1.0], (48, 96, 96), 1)[:2] == [0, 47]


def test_side_comes_from_the_scan_id() -> None:
    assert side_of("9000099_00M_1") == 1
    with pytest.raises(AdapterError, match="_1 \\(right\\) or _2 \\(left\\)"):
        side_of("knee-without-side")


@settings(deadline=None)
@given(path=st.text(st.characters(whitelist_categories=("L", "N")), min_size=1, max_size=20))
def test_specialist_spec_round_trips(path: str) -> None:
    spec = parse_model_spec(f"specialist:{path}")
    assert spec == ModelSpec(kind="specialist", path=path)
    assert parse_model_spec(spec.text) == spec


def test_specialist_spec_errors_are_named(tmp_path) -> None:
    with pytest.raises(AdapterError, match="specialist:DIR"):
        parse_model_spec("specialist:")
    with pytest.raises(AdapterError, match="expected a specialist model folder"):
        make_adapter(f"specialist:{tmp_path}")
    with pytest.raises(AdapterError, match="unknown option"):
        make_adapter(f"specialist:{tmp_path}", options={"fps": 2})


def test_training_loader_refuses_the_test_split(dataset) -> None:
    with pytest.raises(AdapterError, match="test truth is never read"):
        load_split_scans(dataset, "test", HeadLayout.default())


def test_config_is_checked() -> None:
    with pytest.raises(AdapterError, match="epochs"):
        SpecialistConfig(epochs=0)
    with pytest.raises(AdapterError, match="multiples of 8"):
        SpecialistConfig(crop_size=(8, 12, 16))


def test_grader_selection_takes_the_latest_epoch_within_one_standard_error() -> None:
    from vlm_adapters.specialist.train import EpochRecord, _pick_grader

    def hist(accs):
        return [EpochRecord(i, None, None, 0.5, a, 0.5) for i, a in enumerate(accs)]

    # best 0.85 on 100 items: se 0.036, so 0.83 (epoch 3) is as good; 0.80 (epoch 4) is not
    assert _pick_grader(hist([0.3, 0.85, 0.8, 0.83, 0.80]), 100) == 3
    # on 10000 items the same numbers are told apart
    assert _pick_grader(hist([0.3, 0.85, 0.8, 0.83, 0.80]), 10000) == 1
