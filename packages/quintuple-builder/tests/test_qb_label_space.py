"""A label map in another space, or mirrored, is refused by the build; one in another valid
orientation gives the same boxes."""

from __future__ import annotations

import re
from pathlib import Path

import nibabel as nib
import numpy as np
import polars as pl
import pytest
from quintuple_builder import build_dataset


def _rewrite(src: str, dest: Path, *, affine=None, data=None) -> str:
    img = nib.load(src)
    arr = np.asanyarray(img.dataobj) if data is None else data
    nib.save(nib.Nifti1Image(arr, img.affine if affine is None else affine), dest)
    return str(dest)


def _flip_slices(affine: np.ndarray, n: int) -> np.ndarray:
    """The header that reads the same array with the slice axis reversed (same world box)."""
    out = affine.copy()
    out[:3, 3] = affine[:3, 3] + affine[:3, 0] * (n - 1)
    out[:3, 0] = -affine[:3, 0]
    return out


def _one_scan(cohort, tmp_path: Path, how: str) -> pl.DataFrame:
    _, scans, _ = cohort
    row = scans.row(1, named=True)  # a left knee
    img = nib.load(row["label_path"])
    data = np.asanyarray(img.dataobj)
    dest = tmp_path / f"{how}.nii.gz"
    if how == "flipped header":  # the slice axis' direction flipped, the origin kept
        aff = img.affine.copy()
        aff[:3, 0] = -aff[:3, 0]
        path = _rewrite(row["label_path"], dest, affine=aff)
    elif how == "flipped header, same box":  # the same world box, the content mirrored
        path = _rewrite(row["label_path"], dest, affine=_flip_slices(img.affine, data.shape[0]))
    elif how == "doubled voxels":
        aff = img.affine.copy()
        aff[:3, :3] *= 2
        path = _rewrite(row["label_path"], dest, affine=aff)
    elif how == "mirrored":
        path = _rewrite(row["label_path"], dest, data=np.ascontiguousarray(data[::-1]))
    else:  # the same content stored with the slice axis reversed and a header that says so
        flipped = np.ascontiguousarray(data[::-1])
        aff = _flip_slices(img.affine, data.shape[0])
        path = _rewrite(row["label_path"], dest, data=flipped, affine=aff)
    return scans.slice(1, 1).with_columns(pl.lit(path).alias("label_path"))


@pytest.mark.parametrize(
    ("how", "message"),
    [
        ("flipped header", r"not in its image's space: its voxel grid is .* mm away"),
        ("flipped header, same box", r"mirrored for a left knee \(side 2\)"),
        ("doubled voxels", r"not in its image's space.*voxel size \(1\.4"),
        ("mirrored", r"mirrored for a left knee \(side 2\)"),
    ],
)
def test_label_map_in_another_space_fails_the_scan(cohort, tmp_path, how, message) -> None:
    _, _, readings = cohort
    scans = _one_scan(cohort, tmp_path, how)
    result = build_dataset(scans, readings, tmp_path / "out", label_source="manual", progress=False)
    assert not result.written
    failure = result.failures.row(0, named=True)
    assert failure["stage"] == "label"
    assert f"{how}.nii.gz" in failure["error"]
    assert re.search(message, failure["error"]), failure["error"]


def test_label_map_in_another_valid_orientation_gives_the_same_boxes(cohort, tmp_path) -> None:
    _, scans, readings = cohort
    same = build_dataset(
        scans.slice(1, 1), readings, tmp_path / "a", label_source="manual", progress=False
    )
    other = build_dataset(
        _one_scan(cohort, tmp_path, "reoriented"),
        readings,
        tmp_path / "b",
        label_source="manual",
        progress=False,
    )
    assert same.ok and other.ok
    assert same.content_hash == other.content_hash


def test_missing_label_map_names_the_path_looked_for(cohort, tmp_path) -> None:
    from quintuple_builder import labels_from_folder

    _, scans, readings = cohort
    scans = labels_from_folder(tmp_path / "maps")(scans.slice(1, 1).drop("label_path"))
    result = build_dataset(scans, readings, tmp_path / "out", label_source="manual", progress=False)
    error = result.failures.row(0, named=True)["error"]
    assert f"{tmp_path / 'maps' / scans['scan_id'][0]}.nii.gz does not exist" in error
