"""Planning: nnU-Net's planner, narrowed and on a coarser grid when asked."""

from __future__ import annotations

import json

import knee_segmenter as ks
import numpy as np
import pytest
from knee_segmenter import SegmenterError


@pytest.mark.slow
def test_spacing_factor_coarsens_the_planned_grid(tmp_path, make_pair):
    pairs = [make_pair(f"k{i}", seed=i, shape=(16, 32, 32)) for i in range(2)]
    root = tmp_path / "nn"
    ks.export_dataset(pairs, dataset_id=11, name="Coarse", root=root)
    plans = ks.plan_and_preprocess(
        11, root=root, base_features=8, max_features=32, spacing_factor=2.0
    )
    plan = json.loads(plans.read_text())
    cfg = plan["configurations"]["3d_fullres"]
    native = np.array(plan["original_median_spacing_after_transp"])
    np.testing.assert_allclose(cfg["spacing"], 2.0 * native, rtol=1e-6)
    # half the voxels along each axis: nnU-Net resamples to this grid and back
    np.testing.assert_allclose(
        cfg["median_image_size_in_voxels"],
        np.array(plan["original_median_shape_after_transp"]) / 2,
        atol=1,
    )
    assert cfg["architecture"]["arch_kwargs"]["features_per_stage"][0] == 8
    with pytest.raises(SegmenterError, match="spacing_factor: expected a positive number, got 0"):
        ks.plan_and_preprocess(11, root=root, spacing_factor=0)
