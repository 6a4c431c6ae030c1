"""Pseudo-label quality: Dice on manual maps the model was not trained on, or unmeasured and why."""

from __future__ import annotations

import json
from pathlib import Path

import knee_segmenter as ks
import nibabel as nib
import numpy as np
import polars as pl
import pytest
from knee_segmenter import SegmenterError

AFFINE = np.diag([0.7, 0.4, 0.4, 1.0])


def _map(path: Path, labels: dict[int, tuple[slice, ...]]) -> Path:
    data = np.zeros((8, 12, 12), np.uint8)
    for value, where in labels.items():
        data[where] = value
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(data, AFFINE), path)
    return path


def _model_dir(root: Path, training_cases: list[str] | None) -> Path:
    """A model folder in nnU-Net's layout (files only; what ModelDir.open checks) with a record."""
    model = root / "KneeSegmenterTrainer__nnUNetPlans__3d_fullres"
    (model / "fold_all").mkdir(parents=True)
    for name in ("plans.json", "dataset.json"):
        (model / name).write_text("{}")
    (model / "fold_all" / "checkpoint_final.pth").write_bytes(b"")
    if training_cases is not None:
        record = {"training_cases": training_cases}
        (model / ks.TRAINING_RECORD).write_text(json.dumps(record))
    return model


@pytest.fixture
def maps(tmp_path: Path) -> dict[str, Path]:
    """Manual maps of scans a, b, c (FMC and ACL blocks) and predictions that miss c's ACL."""
    fmc, acl = (slice(0, 4), slice(0, 6), slice(0, 6)), (slice(4, 8), slice(6, 9), slice(6, 9))
    out = {}
    for sid in ("a", "b", "c"):
        _map(tmp_path / "manual" / f"{sid}.nii.gz", {4: fmc, 22: acl})
        pred = {4: fmc} if sid == "c" else {4: fmc, 22: acl}
        out[sid] = _map(tmp_path / "pred" / f"{sid}.nii.gz", pred)
    return out


def _scans(preds: dict[str, Path | None]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "scan_id": list(preds),
            "label_path": [None if p is None else str(p) for p in preds.values()],
        },
        schema={"scan_id": pl.String, "label_path": pl.String},
    )


def test_only_manual_maps_not_trained_on_are_measured(tmp_path, maps):
    model = _model_dir(tmp_path / "model", training_cases=["a"])
    quality = ks.pseudo_label_quality(tmp_path / "manual", model_dir=model)(_scans(maps))
    assert quality.measured and quality.held_out_ids == ("b", "c")
    per_region = {r["region"]: r for r in quality.per_region.iter_rows(named=True)}
    assert per_region["FMC"]["mean_dice"] == 1.0 and per_region["FMC"]["n"] == 2
    assert per_region["ACL"]["mean_dice"] == 0.5  # b: 1.0, c: 0.0
    assert per_region["PM"]["mean_dice"] is None  # in neither map
    assert set(quality.per_scan["scan_id"]) == {"b", "c"}


def test_unmeasured_says_why(tmp_path, maps):
    all_trained = _model_dir(tmp_path / "m1", training_cases=["a", "b", "c"])
    q = ks.pseudo_label_quality(tmp_path / "manual", model_dir=all_trained)(_scans(maps))
    assert not q.measured and "were used for training" in q.note
    no_record = _model_dir(tmp_path / "m2", training_cases=None)
    q = ks.pseudo_label_quality(tmp_path / "manual", model_dir=no_record)(_scans(maps))
    assert not q.measured and "no training record" in q.note
    q = ks.pseudo_label_quality(None, model_dir=no_record)(_scans(maps))
    assert not q.measured and "no manual maps" in q.note


def test_held_out_scan_without_prediction_is_named(tmp_path, maps):
    model = _model_dir(tmp_path / "model", training_cases=["a"])
    scans = _scans({**maps, "c": None})
    quality = ks.pseudo_label_quality(tmp_path / "manual", model_dir=model)(scans)
    assert quality.held_out_ids == ("b",)
    assert "1 held-out scan(s) without a pseudo-label map (failed, not counted): c" in quality.note


def test_measure_requires_pairs(maps, tmp_path):
    manual = {s: tmp_path / "manual" / f"{s}.nii.gz" for s in maps}
    with pytest.raises(SegmenterError, match="held-out scan 'z': no manual label map"):
        ks.measure_pseudo_labels(maps, manual, ["a", "z"])
    with pytest.raises(SegmenterError, match="held-out scan 'b': no pseudo-label map"):
        ks.measure_pseudo_labels({"a": maps["a"]}, manual, ["a", "b"])
    assert ks.measure_pseudo_labels(maps, manual, ["a"]).per_scan.height == 25
