"""Prediction inputs and output checks that need no trained model."""

from __future__ import annotations

from pathlib import Path

import knee_segmenter as ks
import nibabel as nib
import numpy as np
import polars as pl
import pytest
from knee_segmenter import SegmenterError


def test_scan_inputs_from_paths_and_manifest(tmp_path):
    paths = [tmp_path / "9000099_00M_1.nii.gz", tmp_path / "b.nii"]
    assert [s.scan_id for s in ks.segmentation_cases(paths)] == ["9000099_00M_1", "b"]
    manifest = pl.DataFrame(
        {
            "scan_id": ["x", "y", "z"],
            "image_path": ["x.nii.gz", "/abs/y.nii.gz", "z.nii.gz"],
            "status": ["ok", "ok", "failed"],
        }
    )
    got = ks.segmentation_cases(manifest, base_dir=tmp_path)
    assert got == [
        ks.SegmentationCase("x", tmp_path / "x.nii.gz"),
        ks.SegmentationCase("y", Path("/abs/y.nii.gz")),
    ]
    with pytest.raises(SegmenterError, match="image_path"):
        ks.segmentation_cases(manifest.drop("image_path"))
    with pytest.raises(SegmenterError, match="listed twice"):
        ks.segmentation_cases([tmp_path / "a.nii.gz", tmp_path / "other" / "a.nii.gz"])


def test_alignment_checks(tmp_path, make_pair, affine):
    image, label = make_pair("a")
    ks.check_aligned(label, image)
    assert ks.is_valid_prediction(label, image)
    shifted = affine.copy()
    shifted[1, 3] += 1.0
    bad = tmp_path / "bad.nii.gz"
    nib.save(nib.Nifti1Image(np.asanyarray(nib.load(label).dataobj), shifted), bad)
    with pytest.raises(
        SegmenterError, match=r"prediction .*bad\.nii\.gz: label map is not in its image.s space"
    ):
        ks.check_aligned(bad, image)
    assert not ks.is_valid_prediction(bad, image)
    out_of_range = tmp_path / "range.nii.gz"
    nib.save(nib.Nifti1Image(np.full(nib.load(image).shape, 30, np.uint8), affine), out_of_range)
    assert not ks.is_valid_prediction(out_of_range, image)
    assert not ks.is_valid_prediction(tmp_path / "missing.nii.gz", image)
