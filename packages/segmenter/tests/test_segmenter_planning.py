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
    assert cfg["resampling_fn_probabilities"] == "resample_data_or_seg_to_shape"
    with pytest.raises(SegmenterError, match="spacing_factor: expected a positive number, got 0"):
        ks.plan_and_preprocess(11, root=root, spacing_factor=0)
    with pytest.raises(SegmenterError, match="export_resampling: expected one of nnunet, torch"):
        ks.plan_and_preprocess(11, root=root, export_resampling="cubic")


@pytest.mark.slow
def test_torch_export_resampling_changes_only_the_export(tmp_path, make_pair):
    """``export_resampling="torch"``: nnU-Net's torch resampling for the probabilities, as its
    ``_torchres`` planners write it; images and labels are still resampled by its default."""
    from nnunetv2.utilities.plans_handling.plans_handler import PlansManager

    pairs = [make_pair(f"k{i}", seed=i, shape=(16, 32, 32)) for i in range(2)]
    root = tmp_path / "nn"
    ks.export_dataset(pairs, dataset_id=12, name="TorchExport", root=root)
    plans = ks.plan_and_preprocess(
        12,
        root=root,
        base_features=8,
        max_features=32,
        spacing_factor=2.0,
        export_resampling="torch",
    )
    cfg = json.loads(plans.read_text())["configurations"]["3d_fullres"]
    assert cfg["resampling_fn_probabilities"] == "resample_torch_fornnunet"
    assert cfg["resampling_fn_probabilities_kwargs"]["is_seg"] is False
    assert cfg["resampling_fn_data"] == cfg["resampling_fn_seg"] == "resample_data_or_seg_to_shape"
    # nnU-Net resolves the name to its own function, and it returns the scan's grid
    manager = PlansManager(str(plans)).get_configuration("3d_fullres")
    probabilities = np.random.default_rng(0).random((26, 8, 16, 16)).astype(np.float32)
    back = manager.resampling_fn_probabilities(probabilities, (16, 32, 32), [2.0] * 3, [1.0] * 3)
    assert tuple(np.asarray(back).shape) == (26, 16, 32, 32)


@pytest.mark.slow
def test_nnunet_progress_bars_only_when_asked(tmp_path, make_pair, capfd):
    """nnU-Net's fingerprinting and preprocessing bars follow ``progress`` (default: a terminal)."""
    pairs = [make_pair(f"k{i}", seed=i, shape=(16, 32, 32)) for i in range(2)]
    root = tmp_path / "nn"
    ks.export_dataset(pairs, dataset_id=13, name="Bars", root=root)
    capfd.readouterr()
    ks.plan_and_preprocess(13, root=root, base_features=8, max_features=32, progress=True)
    shown = capfd.readouterr().err
    assert "Extracting dataset fingerprint" in shown and "Preprocessing cases" in shown
    ks.plan_and_preprocess(13, root=root, base_features=8, max_features=32)  # not a terminal
    ks.plan_and_preprocess(13, root=root, base_features=8, max_features=32, progress=False)
    quiet = capfd.readouterr().err
    assert "Extracting" not in quiet and "Preprocessing cases" not in quiet
