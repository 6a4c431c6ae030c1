"""Dice per region: values, the polars table and the bar chart."""

from __future__ import annotations

import knee_segmenter as ks
import nibabel as nib
import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from knee_segmenter import SegmenterError

label_maps = arrays(
    np.uint8,
    st.tuples(st.integers(1, 6), st.integers(1, 6), st.integers(1, 6)),
    elements=st.integers(0, 25),
)


@settings(max_examples=60, deadline=None)
@given(label_maps)
def test_dice_with_itself_is_one_where_present(a):
    d = ks.dice_per_region(a, a)
    present = np.isin(np.arange(1, 26), a)
    assert np.all(d[present] == 1.0)
    assert np.all(np.isnan(d[~present]))


@settings(max_examples=60, deadline=None)
@given(label_maps, st.randoms(use_true_random=False))
def test_dice_is_symmetric_and_bounded(a, rnd):
    b = a.copy().ravel()
    rnd.shuffle(b)
    b = b.reshape(a.shape)
    d1, d2 = ks.dice_per_region(a, b), ks.dice_per_region(b, a)
    np.testing.assert_array_equal(np.isnan(d1), np.isnan(d2))
    np.testing.assert_allclose(d1[~np.isnan(d1)], d2[~np.isnan(d2)])
    assert np.all((d1[~np.isnan(d1)] >= 0) & (d1[~np.isnan(d1)] <= 1))


def test_dice_known_value():
    ref = np.zeros((4, 4, 4), np.uint8)
    ref[:2] = 3
    pred = np.zeros_like(ref)
    pred[1:3] = 3  # overlap 16 of 32 + 32 voxels
    assert ks.dice_per_region(pred, ref)[2] == pytest.approx(0.5)


def _save(path, data):
    nib.save(nib.Nifti1Image(data, np.diag([0.7, 0.4, 0.4, 1.0])), path)
    return path


def test_dice_table_and_barplot(tmp_path):
    ref = np.zeros((6, 6, 6), np.uint8)
    ref[:3] = 1
    ref[3:, :3] = 22
    pred = ref.copy()
    pred[3:, :3] = 0
    pred[0, 0, 0] = 5
    p1, r1 = _save(tmp_path / "s1.nii.gz", pred), _save(tmp_path / "r1.nii.gz", ref)
    p2, r2 = _save(tmp_path / "s2.nii.gz", ref), _save(tmp_path / "r2.nii.gz", ref)
    table = ks.dice_table([p1, p2], [r1, r2])
    assert table.columns == list(ks.DICE_COLUMNS)
    assert table.height == 2 * 25
    assert table["scan_id"].unique().sort().to_list() == ["s1", "s2"]
    row = table.filter((pl.col("scan_id") == "s1") & (pl.col("region") == "ACL")).row(0, named=True)
    assert row["dice"] == 0.0 and row["ref_voxels"] == 54 and row["pred_voxels"] == 0
    assert table.filter((pl.col("scan_id") == "s2") & (pl.col("label") == 1))["dice"].item() == 1.0
    assert table.filter(pl.col("label") == 10)["dice"].null_count() == 2  # absent from both maps
    summary = ks.dice_summary(table)
    assert summary.height == 25
    assert summary.filter(pl.col("region") == "ACL")["mean_dice"].item() == pytest.approx(0.5)
    png = ks.dice_barplot(table, tmp_path / "fig" / "dice.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert ks.dice_barplot(summary, tmp_path / "fig2.png").stat().st_size > 1000


def test_dice_table_errors(tmp_path):
    a = _save(tmp_path / "a.nii.gz", np.zeros((4, 4, 4), np.uint8))
    b = _save(tmp_path / "b.nii.gz", np.zeros((4, 4, 5), np.uint8))
    with pytest.raises(SegmenterError, match=r"scan 'a'.*shape"):
        ks.dice_table([a], [b])
    with pytest.raises(SegmenterError, match=r"pairs"):
        ks.dice_table([a, a], [b])
    with pytest.raises(SegmenterError, match=r"does not exist"):
        ks.dice_table([tmp_path / "missing.nii.gz"], [a])
