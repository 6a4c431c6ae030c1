"""The one space check: a label map covers its image's voxel grid (any valid orientation on disk),
within a tolerance in mm, and is not mirrored for the knee's side."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from knee_volumes import (
    Grid,
    Volume,
    VolumeError,
    check_same_space,
    check_side,
    read_label_map,
    write_nifti,
)
from knee_volumes.orientation import to_canonical

SHAPE = (6, 7, 8)


def _image() -> Volume:
    aff = Volume(np.zeros((1, 1, 1)), spacing=(0.7, 0.365, 0.365)).affine.copy()
    aff[:3, 3] = (12.0, -30.0, 5.0)
    return Volume(np.zeros(SHAPE, np.uint16), affine=aff, source="scan.nii.gz")


def _labels(side: int) -> np.ndarray:
    m = np.zeros(SHAPE, np.uint8)
    medial, lateral = (slice(4, 6), slice(0, 2)) if side == 1 else (slice(0, 2), slice(4, 6))
    m[medial, 1:3, 1:3] = 4  # FMC
    m[lateral, 1:3, 1:3] = 7  # FLC
    m[medial, 4:6, 4:6] = 17  # MMB
    m[lateral, 4:6, 4:6] = 20  # LMB
    return m


@settings(max_examples=25, deadline=None)
@given(
    perm=st.permutations([0, 1, 2]),
    flips=st.tuples(*[st.sampled_from([1, -1])] * 3),
)
def test_any_valid_orientation_on_disk_passes_and_reads_the_same(tmp_path_factory, perm, flips):
    image = _image()
    labels = _labels(2)
    # store the canonical map in another orientation, with the header that says so
    arr = labels
    aff = image.affine.copy()
    for axis, f in enumerate(flips):
        if f == -1:
            arr = np.flip(arr, axis)
            aff[:3, 3] += aff[:3, axis] * (SHAPE[axis] - 1)
            aff[:3, axis] = -aff[:3, axis]
    arr = np.ascontiguousarray(np.transpose(arr, perm))
    aff[:, :3] = aff[:, [*perm]]
    path = tmp_path_factory.mktemp("o") / "lab.nii.gz"
    nib.save(nib.Nifti1Image(arr, aff), path)
    back = read_label_map(path, like=image, side=2)
    np.testing.assert_array_equal(back, labels)


def test_flipped_header_and_doubled_voxels_are_refused(tmp_path: Path) -> None:
    image = _image()
    flipped = image.affine.copy()
    flipped[:3, 0] *= -1
    doubled = image.affine.copy()
    doubled[:3, :3] *= 2
    for name, aff in (("flip.nii.gz", flipped), ("double.nii.gz", doubled)):
        nib.save(nib.Nifti1Image(_labels(2), aff), tmp_path / name)
        with pytest.raises(VolumeError) as err:
            read_label_map(tmp_path / name, like=image)
        text = str(err.value)
        assert text.startswith(f"{tmp_path / name}: label map is not in its image's space")
        assert "image (scan.nii.gz): shape (6, 7, 8), voxel size (0.7, 0.365, 0.365)" in text
    assert "voxel size (1.4, 0.73, 0.73)" in text


def test_tolerance_is_in_mm() -> None:
    image = _image()
    near = image.affine.copy()
    near[:3, 3] += 0.004
    check_same_space(image, Grid(SHAPE, near))
    with pytest.raises(VolumeError, match=r"0.0069.* mm away .*tolerance 0.001 mm"):
        check_same_space(image, Grid(SHAPE, near), atol_mm=0.001)
    with pytest.raises(VolumeError, match="shape differs"):
        check_same_space(image, Grid((6, 7, 9), image.affine), label_path="x.nii.gz")


@pytest.mark.parametrize("side", [1, 2])
def test_mirrored_label_map_fails_the_side_check(tmp_path: Path, side: int) -> None:
    image = _image()
    good = _labels(side)
    check_side(good, side)
    write_nifti(np.ascontiguousarray(good[::-1]), tmp_path / "m.nii.gz", affine=image.affine)
    word = "right" if side == 1 else "left"
    with pytest.raises(VolumeError, match=rf"m.nii.gz: label map looks mirrored for a {word} knee"):
        read_label_map(tmp_path / "m.nii.gz", like=image, side=side)
    check_side(np.zeros(SHAPE, np.uint8), side)  # nothing to compare: passes
    with pytest.raises(VolumeError, match=r"side 3: expected 1 \(right\) or 2 \(left\)"):
        check_side(good, 3)


def test_canonical_layout_and_side_convention_agree() -> None:
    # a right knee seen from a RAS file: its medial side is toward the patient's left (-x)
    ras = np.diag([0.7, 0.365, 0.365, 1.0])
    arr = np.zeros((6, 4, 4), np.uint8)
    arr[0:2] = 4  # medial femur at low x = toward the left
    arr[4:6] = 7  # lateral femur at high x = toward the right
    canonical, _ = to_canonical(arr, ras)
    check_side(canonical, 1)


def test_overlapping_groups_are_not_called_mirrored() -> None:
    # a poor segmentation: medial and lateral labels nearly at the same slices (quality, not side)
    m = np.zeros((32, 4, 4), np.uint8)
    m[14:16] = 4  # medial femur around slice 14.5
    m[15:17] = 7  # lateral femur around slice 15.5: 1 slice the wrong way for a right knee
    check_side(m, 1)
    m2 = np.zeros((32, 4, 4), np.uint8)
    m2[10:12], m2[20:22] = 4, 7  # clearly mirrored for a right knee
    with pytest.raises(VolumeError, match="mirrored for a right knee"):
        check_side(m2, 1)
