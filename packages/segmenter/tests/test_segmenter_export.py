"""Export to an nnU-Net raw dataset: layout, idempotence and validation errors."""

from __future__ import annotations

import json
from pathlib import Path

import knee_segmenter as ks
import nibabel as nib
import numpy as np
import pytest
from knee_segmenter import SegmenterError


def _export(pairs, root: Path, **kw) -> Path:
    return ks.export_dataset(
        pairs, dataset_id=kw.pop("dataset_id", 7), name=kw.pop("name", "T"), root=root, **kw
    )


def test_export_writes_nnunet_layout(tmp_path, make_pair):
    pairs = [("knee_a", *make_pair("a", seed=1)), make_pair("b", seed=2)]
    out = _export(pairs, tmp_path / "nn")
    assert out == (tmp_path / "nn" / "nnUNet_raw" / "Dataset007_T")
    assert sorted(p.name for p in (out / "imagesTr").iterdir()) == [
        "b_0000.nii.gz",
        "knee_a_0000.nii.gz",
    ]
    assert sorted(p.name for p in (out / "labelsTr").iterdir()) == ["b.nii.gz", "knee_a.nii.gz"]
    meta = json.loads((out / "dataset.json").read_text())
    assert meta["numTraining"] == 2
    assert meta["file_ending"] == ".nii.gz"
    assert meta["channel_names"] == {"0": "MRI"}
    assert (
        meta["labels"]["background"] == 0
        and meta["labels"]["HFP"] == 25
        and len(meta["labels"]) == 26
    )
    lab = nib.load(out / "labelsTr" / "knee_a.nii.gz")
    img = nib.load(out / "imagesTr" / "knee_a_0000.nii.gz")
    assert np.asanyarray(lab.dataobj).dtype == np.uint8
    np.testing.assert_allclose(lab.affine, img.affine)
    src = np.asanyarray(nib.load(pairs[0][2]).dataobj)
    np.testing.assert_array_equal(np.asanyarray(lab.dataobj), src)


def test_export_is_idempotent_and_drops_stale_cases(tmp_path, make_pair):
    a, b = make_pair("a", seed=1), make_pair("b", seed=2)
    out = _export([a, b], tmp_path / "nn")
    files = [*sorted(out.rglob("*.nii.gz")), out / "dataset.json"]
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in files}
    _export([a, b], tmp_path / "nn")
    assert {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in files} == before
    _export([a], tmp_path / "nn")
    assert sorted(p.name for p in (out / "labelsTr").iterdir()) == ["a.nii.gz"]
    assert json.loads((out / "dataset.json").read_text())["numTraining"] == 1


def test_export_compresses_uncompressed_images(tmp_path, make_pair):
    ip, lp = make_pair("a")
    raw = tmp_path / "raw.nii"
    nib.save(nib.load(ip), raw)
    out = _export([("a", raw, lp)], tmp_path / "nn")
    img = nib.load(out / "imagesTr" / "a_0000.nii.gz")
    np.testing.assert_array_equal(np.asanyarray(img.dataobj), np.asanyarray(nib.load(ip).dataobj))


def _rewrite_label(path: Path, data: np.ndarray, affine: np.ndarray | None = None) -> None:
    nib.save(nib.Nifti1Image(data, nib.load(path).affine if affine is None else affine), path)


def test_unknown_label_value_names_case_and_value(tmp_path, make_pair):
    ip, lp = make_pair("bad")
    data = np.asanyarray(nib.load(lp).dataobj).copy()
    data[0, 0, 0] = 27
    _rewrite_label(lp, data)
    with pytest.raises(SegmenterError, match=r"case 'bad'.*\[27\].*0\.\.25"):
        _export([make_pair("ok"), (ip, lp)], tmp_path / "nn")
    assert not (tmp_path / "nn" / "nnUNet_raw" / "Dataset007_T").exists()  # nothing half-written


def test_non_integer_labels_rejected(tmp_path, make_pair):
    ip, lp = make_pair("f")
    data = np.asanyarray(nib.load(lp).dataobj).astype(np.float32)
    data[1, 1, 1] = 0.5
    _rewrite_label(lp, data)
    with pytest.raises(SegmenterError, match=r"case 'f'.*non-integer"):
        _export([(ip, lp)], tmp_path / "nn")


def test_float_labels_with_integer_values_accepted(tmp_path, make_pair):
    ip, lp = make_pair("f")
    _rewrite_label(lp, np.asanyarray(nib.load(lp).dataobj).astype(np.float32))
    out = _export([(ip, lp)], tmp_path / "nn")
    assert np.asanyarray(nib.load(out / "labelsTr" / "f.nii.gz").dataobj).dtype == np.uint8


def test_shape_disagreement_names_case(tmp_path, make_pair):
    ip, _ = make_pair("s", shape=(16, 24, 24))
    _, lp = make_pair("other", shape=(16, 24, 20))
    with pytest.raises(
        SegmenterError, match=r"case 's'.*shape \(16, 20, 24\).*image: shape \(16, 24, 24\)"
    ):
        _export([("s", ip, lp)], tmp_path / "nn")


def test_affine_disagreement_names_case(tmp_path, make_pair, affine):
    ip, lp = make_pair("aff")
    shifted = affine.copy()
    shifted[0, 3] += 2.0
    _rewrite_label(lp, np.asanyarray(nib.load(lp).dataobj), shifted)
    with pytest.raises(
        SegmenterError, match=r"case 'aff'.*not in its image's space: its voxel grid is 2 mm away"
    ):
        _export([(ip, lp)], tmp_path / "nn")


@pytest.mark.parametrize(
    ("pairs_fn", "message"),
    [
        (lambda a, b: [("dup", *a), ("dup", *b)], "case 'dup': listed twice"),
        (lambda a, b: [("bad id!", *a)], "case 'bad id!'"),
        (lambda a, b: [], "at least one"),
        (
            lambda a, b: [("x", a[0], Path("/nonexistent/x.nii.gz"))],
            "case 'x': label map file .* does not exist",
        ),
        (lambda a, b: [a[0]], "pair #0"),
    ],
)
def test_bad_pair_lists(tmp_path, make_pair, pairs_fn, message):
    a, b = make_pair("a"), make_pair("b")
    with pytest.raises(SegmenterError, match=message):
        _export(pairs_fn(a, b), tmp_path / "nn")


def test_not_3d_rejected(tmp_path, make_pair):
    ip, lp = make_pair("a")
    nib.save(nib.Nifti1Image(np.zeros((4, 4), np.float32), np.eye(4)), ip)
    with pytest.raises(SegmenterError, match=r"case 'a': image .* expected a 3D volume"):
        _export([(ip, lp)], tmp_path / "nn")


def test_dataset_id_clash_and_range(tmp_path, make_pair):
    a = make_pair("a")
    _export([a], tmp_path / "nn", name="One")
    with pytest.raises(SegmenterError, match=r"Dataset007_One"):
        _export([a], tmp_path / "nn", name="Two")
    with pytest.raises(SegmenterError, match=r"1..999"):
        _export([a], tmp_path / "nn", dataset_id=1000)
    assert ks.find_dataset_dir(7, root=tmp_path / "nn").name == "Dataset007_One"
    with pytest.raises(SegmenterError, match=r"Dataset008_"):
        ks.find_dataset_dir(8, root=tmp_path / "nn")


def test_pairs_from_manifest(tmp_path, make_pair):
    import polars as pl

    ip, lp = make_pair("a")
    jp, _ = make_pair("b")
    manifest = pl.DataFrame(
        {
            "scan_id": ["9000099_00M_1", "9000099_12M_1", "9000100_00M_2"],
            "image_path": [ip.name, jp.name, ip.name],
            "label_path": [lp.name, None, lp.name],
            "status": ["ok", "ok", "failed"],
        }
    )
    pairs = ks.pairs_from_manifest(manifest, base_dir=ip.parent)
    assert pairs == [ks.CasePair("9000099_00M_1", ip, lp)]
    with pytest.raises(SegmenterError, match=r"label_path"):
        ks.pairs_from_manifest(manifest.drop("label_path"))


def test_dataset_json_records_the_left_right_axis(tmp_path, make_pair, affine):
    out = _export([make_pair("a", seed=1), make_pair("b", seed=2)], tmp_path / "nn")
    assert json.loads((out / "dataset.json").read_text())["knee_segmenter"] == {
        "left_right_axis": 0
    }
    assert ks.left_right_axis(affine) == 0
    # a scan stored with its voxel axes reversed: left-right is its last axis
    rotated = affine[:, [2, 1, 0, 3]]
    assert ks.left_right_axis(rotated) == 2
    odd = make_pair("c", seed=3, affine=rotated)
    out = _export([make_pair("a", seed=1), odd], tmp_path / "nn2")
    # mixed orientations: no single axis, so the trainer mirrors nothing
    assert json.loads((out / "dataset.json").read_text())["knee_segmenter"] == {
        "left_right_axis": None
    }


def test_label_map_in_another_valid_orientation_is_exported_in_the_images(
    tmp_path, make_pair, affine
):
    # the same map stored with the slice axis reversed and a header that says so
    ip, lp = make_pair("o")
    data = np.asanyarray(nib.load(lp).dataobj)
    flipped = affine.copy()
    flipped[:3, 3] += affine[:3, 0] * (data.shape[0] - 1)
    flipped[:3, 0] = -affine[:3, 0]
    _rewrite_label(lp, np.ascontiguousarray(data[::-1]), flipped)
    out = _export([(ip, lp)], tmp_path / "nn")
    exported = nib.load(out / "labelsTr" / "o.nii.gz")
    np.testing.assert_allclose(exported.affine, affine)
    np.testing.assert_array_equal(np.asanyarray(exported.dataobj), data)


@pytest.mark.parametrize("change", ["flip", "double"])
def test_label_map_in_another_space_is_refused_by_the_shared_check(
    tmp_path, make_pair, affine, change
):
    ip, lp = make_pair("sp")
    bad = affine.copy()
    if change == "flip":
        bad[:3, 0] = -bad[:3, 0]
    else:
        bad[:3, :3] *= 2
    _rewrite_label(lp, np.asanyarray(nib.load(lp).dataobj), bad)
    with pytest.raises(SegmenterError, match=rf"case 'sp': {lp}: label map is not in its image's"):
        _export([(ip, lp)], tmp_path / "nn")
