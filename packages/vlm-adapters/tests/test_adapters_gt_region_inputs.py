"""gt-region inputs: the slice spec counts inside the crop, clipped to a thin crop's depth."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from vlm_adapters import AdapterError, InputSpec, iter_batches
from vlm_adapters.dataset import DatasetItem, ScanItems
from vlm_adapters.inputs import crop_slices, prepare_scan_input

SHAPE = (20, 24, 24)
VOLUME = np.random.default_rng(0).integers(0, 400, SHAPE).astype(np.uint16)


def _scan(*boxes: tuple[int, ...] | None) -> ScanItems:
    items = tuple(
        DatasetItem(
            record_id=f"s_{i}",
            scan_id="s",
            patient_id="p",
            question_id=i + 1,
            prompts={"gt-region": "Grade it."},
            box_public=box,
            grades={},
        )
        for i, box in enumerate(boxes)
    )
    return ScanItems(
        scan_id="s", patient_id="p", image_path=Path("s.nii.gz"), shape=SHAPE, items=items
    )


@pytest.mark.parametrize("slices", [8, (0, 20, 8), (4, 12), "all"])
def test_a_thin_crop_shows_each_of_its_slices_once(slices) -> None:
    box = (6, 7, 2, 9, 3, 12)  # two slices deep (public ends are inclusive)
    si = prepare_scan_input(
        _scan(box), VOLUME, spec=InputSpec(kind="frames", slices=slices), box_public=box
    )
    assert si.frames is not None and si.frames.shape == (2, 10, 8, 3)
    assert si.slice_indices == (6, 7)


def test_a_deep_crop_keeps_the_requested_count_and_batches_state_it() -> None:
    deep, thin = (2, 17, 0, 23, 0, 23), (9, 9, 0, 5, 0, 5)
    spec = InputSpec(kind="frames", slices=(0, 20, 8), size=(16, 16))
    batches = list(
        iter_batches(
            [_scan(deep, thin, None)],
            setting="gt-region",
            spec=spec,
            read_volume=lambda path: VOLUME,
        )
    )
    shapes = {b.scan.key: b.scan.frames.shape for b in batches}
    assert shapes == {
        "box:2,17,0,23,0,23": (8, 16, 16, 3),
        "box:9,9,0,5,0,5": (1, 16, 16, 3),
        "full": (8, 16, 16, 3),
    }
    assert "1 sagittal frames" in batches[1].queries[0].prompt
    # the whole volume (no box) still honours the range's volume positions
    assert batches[2].scan.slice_indices[0] == 1


def test_an_empty_range_is_still_an_error() -> None:
    box = (6, 7, 2, 9, 3, 12)
    spec = InputSpec(kind="frames", slices=(5, 5))
    with pytest.raises(AdapterError, match="slices"):
        list(
            iter_batches(
                [_scan(box)], setting="gt-region", spec=spec, read_volume=lambda path: VOLUME
            )
        )


@settings(max_examples=40, deadline=None)
@given(
    s0=st.integers(0, SHAPE[0] - 1),
    depth=st.integers(1, SHAPE[0]),
    count=st.integers(1, 40),
    as_range=st.booleans(),
)
def test_frames_never_exceed_the_crop_or_the_count(
    s0: int, depth: int, count: int, as_range: bool
) -> None:
    s1 = min(SHAPE[0] - 1, s0 + depth - 1)
    box = (s0, s1, 0, 7, 0, 7)
    slices = (0, SHAPE[0], count) if as_range else count
    assert crop_slices(slices) == count
    si = prepare_scan_input(
        _scan(box), VOLUME, spec=InputSpec(kind="frames", slices=slices), box_public=box
    )
    assert si.frames is not None
    assert si.frames.shape[0] == min(count, s1 - s0 + 1)
    assert all(s0 <= i <= s1 for i in si.slice_indices)
    assert len(set(si.slice_indices)) == len(si.slice_indices)
