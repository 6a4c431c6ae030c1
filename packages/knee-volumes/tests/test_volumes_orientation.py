"""Canonical orientation: NIfTI with known affines (including other tools' RAS layout), write/read round trips."""

from __future__ import annotations

import itertools
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from knee_volumes import (
    CANONICAL_AXCODES,
    Volume,
    VolumeError,
    axcodes,
    read_label_map,
    read_nifti,
    read_volume,
    to_canonical,
    write_nifti,
)

SHAPE = (6, 10, 12)  # small canonical (slice, row, col)


def _world(affine: np.ndarray, idx) -> np.ndarray:
    return (np.asarray(affine) @ np.array([*idx, 1.0]))[:3]


def test_ras_nifti_from_another_tool_becomes_canonical(tmp_path: Path) -> None:
    # A RAS-oriented NIfTI as other tools write it (nibabel RAS+: x grows toward the
    # patient's right, y anterior, z superior): axis 0 -> +x, axis 1 -> +y, axis 2 -> +z.
    nx, ny, nz = 6, 12, 10  # x = R-L (slices), y = P->A (cols), z = I->S (rows)
    data = np.arange(nx * ny * nz, dtype=np.int16).reshape(nx, ny, nz)
    affine = np.diag([0.7, 0.365, 0.4, 1.0])
    affine[:3, 3] = (-10.0, 20.0, 30.0)
    nib.save(nib.Nifti1Image(data, affine), tmp_path / "ras.nii.gz")

    v = read_nifti(tmp_path / "ras.nii.gz")
    assert v.axcodes == CANONICAL_AXCODES == ("L", "I", "P")
    assert v.shape == (nx, nz, ny)  # (slice, row, col)
    assert v.spacing == pytest.approx((0.7, 0.4, 0.365))
    assert v.array.dtype == np.int16
    # canonical slice 0 is the rightmost (x index nx-1), row 0 the most superior (z index nz-1),
    # col 0 the most anterior (y index ny-1)
    assert v.array[0, 0, 0] == data[nx - 1, ny - 1, nz - 1]
    assert v.array[nx - 1, nz - 1, ny - 1] == data[0, 0, 0]
    assert v.array[2, 3, 4] == data[nx - 1 - 2, ny - 1 - 4, nz - 1 - 3]
    # every voxel keeps its world position
    for s, r, c in [(0, 0, 0), (2, 3, 4), (5, 9, 11)]:
        i, j, k = nx - 1 - s, ny - 1 - c, nz - 1 - r
        np.testing.assert_allclose(_world(v.affine, (s, r, c)), _world(affine, (i, j, k)))


def test_canonical_means_left_inferior_posterior_in_world_space() -> None:
    v = Volume(np.zeros(SHAPE, np.uint8), spacing=(0.7, 0.365, 0.365))
    origin = _world(v.affine, (0, 0, 0))
    # world coordinates are RAS+: +x toward the patient's right, +y anterior, +z superior
    assert _world(v.affine, (1, 0, 0))[0] < origin[0]  # next slice is further left (x decreases)
    assert _world(v.affine, (0, 1, 0))[2] < origin[2]  # next row is more inferior
    assert _world(v.affine, (0, 0, 1))[1] < origin[1]  # next column is more posterior
    assert v.spacing == pytest.approx((0.7, 0.365, 0.365))


@settings(max_examples=48, deadline=None)
@given(
    perm=st.permutations([0, 1, 2]),
    flips=st.tuples(*[st.sampled_from([1.0, -1.0])] * 3),
    zooms=st.tuples(*[st.floats(0.2, 2.0)] * 3),
    shift=st.tuples(*[st.floats(-100, 100)] * 3),
)
def test_to_canonical_keeps_world_positions(perm, flips, zooms, shift) -> None:
    affine = np.eye(4)
    affine[:3, :3] = np.eye(3)[:, list(perm)] * np.array(flips) * np.array(zooms)
    affine[:3, 3] = shift
    data = np.arange(2 * 3 * 4).reshape(2, 3, 4)
    out, new_aff = to_canonical(data, affine)
    assert axcodes(new_aff) == CANONICAL_AXCODES
    # each value sits at the same world position before and after
    for idx in itertools.product(*(range(n) for n in data.shape)):
        w = _world(affine, idx)
        back = np.linalg.solve(new_aff, np.array([*w, 1.0]))[:3]
        j = tuple(round(x) for x in back)
        assert np.allclose(back, j, atol=1e-6)
        assert out[j] == data[idx]


def test_oblique_affine_goes_to_nearest_axes() -> None:
    theta = np.deg2rad(12)
    rot = np.array(
        [[np.cos(theta), -np.sin(theta), 0], [np.sin(theta), np.cos(theta), 0], [0, 0, 1]]
    )
    affine = np.eye(4)
    affine[:3, :3] = rot @ np.diag([0.7, 0.365, 0.365])
    out, new_aff = to_canonical(np.zeros((3, 4, 5)), affine)
    assert axcodes(new_aff) == CANONICAL_AXCODES
    assert out.shape == (3, 5, 4)


def test_write_nifti_round_trip_keeps_affine_array_and_metadata(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    v = Volume(
        rng.integers(0, 1000, SHAPE, dtype=np.uint16),
        affine=np.array(
            [[-0.7, 0, 0, 12.5], [0, 0, -0.365, 40.0], [0, -0.4, 0, -7.25], [0, 0, 0, 1]]
        ),
        series_description="SAG_3D_DESS_LEFT",
    )
    path = write_nifti(v, tmp_path / "9000099" / "24M" / "20060101_10249006_2.nii.gz")
    back = read_volume(path)
    np.testing.assert_array_equal(back.array, v.array)
    assert back.array.dtype == np.uint16
    np.testing.assert_allclose(back.affine, v.affine, atol=1e-5)
    assert back.series_description == "SAG_3D_DESS_LEFT"
    # metadata from the public layout images/<patient>/<visit>/<date>_<series>_<side>.nii.gz
    assert (back.patient_id, back.visit, back.side, back.study_date) == (
        "9000099",
        "24M",
        2,
        "20060101",
    )
    assert back.scan_id == "9000099_24M_2"
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temp file left


def test_write_nifti_bare_array_and_explicit_affine(tmp_path: Path) -> None:
    arr = np.ones(SHAPE, np.float32)
    aff = np.diag([-2.0, 1.0, 1.0, 1.0])[[0, 2, 1, 3]]
    write_nifti(arr, tmp_path / "a.nii", affine=aff)
    img = nib.load(tmp_path / "a.nii")
    np.testing.assert_allclose(img.affine, aff)
    assert read_nifti(tmp_path / "a.nii").shape == SHAPE


def test_failed_write_leaves_nothing(tmp_path: Path) -> None:
    target = tmp_path / "out.nii.gz"
    with pytest.raises(Exception):  # noqa: B017 - nibabel rejects object arrays
        write_nifti(np.empty(SHAPE, dtype=object), target)
    assert list(tmp_path.iterdir()) == []


def test_label_map_loads_as_uint8_without_float_copy(tmp_path: Path) -> None:
    labels = np.zeros((4, 5, 6), np.int16)
    labels[1:3, 2:4, 0:2] = 25
    labels[0, 0, 5] = 7
    aff = np.diag([0.7, 0.365, 0.365, 1.0])  # RAS on disk: needs reorientation
    nib.save(nib.Nifti1Image(labels, aff), tmp_path / "lab.nii.gz")
    out = read_label_map(tmp_path / "lab.nii.gz")
    assert out.dtype == np.uint8
    assert out.shape == (4, 6, 5)
    ref, _ = to_canonical(labels, aff)
    np.testing.assert_array_equal(out, ref)
    # stored as float with whole numbers (some tools do this) -> still integers
    nib.save(nib.Nifti1Image(labels.astype(np.float32), aff), tmp_path / "labf.nii.gz")
    np.testing.assert_array_equal(read_label_map(tmp_path / "labf.nii.gz"), ref)
    nib.save(nib.Nifti1Image(np.full((2, 2, 2), 300, np.int32), aff), tmp_path / "big.nii")
    assert read_label_map(tmp_path / "big.nii").dtype == np.uint16
    with pytest.raises(VolumeError, match="shape"):
        read_label_map(tmp_path / "lab.nii.gz", expect_shape=(4, 5, 6))


def test_scaled_nifti_reads_as_float32(tmp_path: Path) -> None:
    img = nib.Nifti1Image(np.full((2, 3, 4), 10, np.int16), np.eye(4))
    img.header.set_slope_inter(0.5, 1.0)
    nib.save(img, tmp_path / "scaled.nii")
    v = read_nifti(tmp_path / "scaled.nii")
    assert v.array.dtype == np.float32 and float(v.array.max()) == 6.0


def test_label_map_rejects_fractions(tmp_path: Path) -> None:
    nib.save(nib.Nifti1Image(np.full((2, 2, 2), 0.5, np.float32), np.eye(4)), tmp_path / "bad.nii")
    with pytest.raises(VolumeError, match=r"bad\.nii.*non-integer"):
        read_label_map(tmp_path / "bad.nii")


def test_corrupt_and_truncated_nifti_name_the_file(tmp_path: Path) -> None:
    write_nifti(np.ones(SHAPE, np.int16), tmp_path / "ok.nii.gz")
    raw = (tmp_path / "ok.nii.gz").read_bytes()
    (tmp_path / "trunc.nii.gz").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(VolumeError, match=r"trunc\.nii\.gz.*(truncated|corrupt|readable)"):
        read_volume(tmp_path / "trunc.nii.gz")
    write_nifti(np.ones(SHAPE, np.int16), tmp_path / "ok.nii")
    raw = (tmp_path / "ok.nii").read_bytes()
    (tmp_path / "trunc.nii").write_bytes(raw[:400])
    with pytest.raises(VolumeError, match=r"trunc\.nii"):
        read_volume(tmp_path / "trunc.nii")
    (tmp_path / "junk.nii").write_bytes(b"not a nifti at all" * 30)
    with pytest.raises(VolumeError, match=r"junk\.nii: not a readable NIfTI"):
        read_volume(tmp_path / "junk.nii")
    with pytest.raises(VolumeError, match="no such"):
        read_volume(tmp_path / "missing.nii.gz")
    nib.save(nib.Nifti1Image(np.zeros((2, 2, 2, 3), np.int16), np.eye(4)), tmp_path / "4d.nii")
    with pytest.raises(VolumeError, match=r"4d\.nii: expected a 3D image"):
        read_volume(tmp_path / "4d.nii")


def test_unusual_shapes_load_and_are_flagged(tmp_path: Path) -> None:
    for shape, words in [
        ((8, 384, 384), "slices: 8"),
        ((176, 16, 16), "slices: 176"),
        ((160, 384, 352), "columns: 352"),
    ]:
        v = read_volume(
            write_nifti(np.zeros(shape, np.uint8), tmp_path / f"{shape[0]}_{shape[2]}.nii")
        )
        assert v.shape == shape
        assert any(words in f for f in v.flags), v.flags
    v = read_volume(write_nifti(np.zeros((160, 384, 384), np.uint8), tmp_path / "std.nii"))
    assert v.flags == ()


def test_volume_and_orientation_raise_the_package_error() -> None:
    """Bad shapes and affines raise VolumeError (still a ValueError for older callers)."""
    good = np.zeros((2, 3, 4), dtype=np.uint8)
    bad_calls = [
        lambda: Volume(np.zeros((2, 3))),
        lambda: Volume(good, affine=np.eye(3)),
        lambda: Volume(good, side=3),
        lambda: Volume(good).with_array(np.zeros((4, 3, 2))),
        lambda: to_canonical(np.zeros((2, 3)), np.eye(4)),
        lambda: to_canonical(good, np.zeros((4, 4))),
    ]
    for call in bad_calls:
        with pytest.raises(VolumeError) as info:
            call()
        assert isinstance(info.value, ValueError)
