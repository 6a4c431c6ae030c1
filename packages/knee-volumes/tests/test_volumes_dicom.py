"""DICOM series: known geometry -> canonical layout, round trips, and bad input reported by name."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest
from knee_volumes import (
    Volume,
    VolumeError,
    read_dicom_series,
    read_nifti,
    read_series_header,
    read_volume,
    write_dicom_series,
    write_nifti,
)
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

ROWS, COLS, N = 10, 12, 6


def _hand_series(
    folder: Path,
    positions: list[tuple[float, float, float]],
    *,
    iop=(0, 1, 0, 0, 0, -1),
    spacing=(0.4, 0.365),
    description="SAG_3D_DESS_RIGHT",
    series_uid: str | None = None,
    names: list[str] | None = None,
    rows: int = ROWS,
    cols: int = COLS,
) -> list[np.ndarray]:
    """Write slices with pydicom directly (independent of the package's writer); returns the pixels."""
    folder.mkdir(parents=True, exist_ok=True)
    series_uid = series_uid or generate_uid()
    planes = []
    for k, pos in enumerate(positions):
        plane = (np.arange(rows * cols, dtype=np.uint16).reshape(rows, cols) + 1000 * k).astype(
            np.uint16
        )
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.4"
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = Dataset()
        ds.file_meta = meta
        ds.SOPClassUID = meta.MediaStorageSOPClassUID
        ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
        ds.SeriesInstanceUID = series_uid
        ds.Modality = "MR"
        ds.PatientID = "9000099"
        ds.StudyDate = "20050607"
        ds.SeriesDescription = description
        ds.SeriesNumber = 7
        ds.InstanceNumber = k + 1
        ds.ImagePositionPatient = list(pos)
        ds.ImageOrientationPatient = list(iop)
        ds.PixelSpacing = list(spacing)
        ds.SliceThickness = 0.7
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.Rows, ds.Columns = rows, cols
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
        ds.PixelData = plane.tobytes()
        name = names[k] if names else f"{k + 1:03d}"
        ds.save_as(folder / name, enforce_file_format=True)
        planes.append(plane)
    return planes


def _world(affine, idx) -> np.ndarray:
    return (np.asarray(affine) @ np.array([*idx, 1.0]))[:3]


def test_sagittal_dicom_with_known_geometry(tmp_path: Path) -> None:
    # LPS positions: file k at x = 10 - 0.7 k (toward the patient's right), so the file
    # order runs right->left reversed; canonical slices must run right -> left.
    pos = [(10.0 - 0.7 * k, -20.0, 50.0) for k in range(N)]
    planes = _hand_series(tmp_path / "0.C.2" / "9000099" / "20050607" / "10249006", pos)
    v = read_volume(tmp_path / "0.C.2" / "9000099" / "20050607" / "10249006")
    assert v.shape == (N, ROWS, COLS)
    assert v.axcodes == ("L", "I", "P")
    assert v.spacing == pytest.approx((0.7, 0.4, 0.365))
    # canonical slice 0 is the rightmost file (the last one, smallest LPS x)
    for s in range(N):
        np.testing.assert_array_equal(v.array[s], planes[N - 1 - s])
    # voxel (s, r, c) -> LPS (x_s, -20 + 0.365 c, 50 - 0.4 r) -> RAS (-x, -y, z)
    for s, r, c in [(0, 0, 0), (3, 2, 5), (N - 1, ROWS - 1, COLS - 1)]:
        x = 10.0 - 0.7 * (N - 1 - s)
        np.testing.assert_allclose(
            _world(v.affine, (s, r, c)), (-x, -(-20.0 + 0.365 * c), 50.0 - 0.4 * r), atol=1e-6
        )
    assert (v.side, v.patient_id, v.study_date, v.series_number) == (1, "9000099", "20050607", 7)
    assert v.visit == "00M" and v.scan_id == "9000099_00M_1"
    assert v.series_description == "SAG_3D_DESS_RIGHT"
    assert v.flags and "slices: 6" in v.flags[0]


def test_columns_running_anterior_are_flipped(tmp_path: Path) -> None:
    pos = [(0.7 * k, 0.0, 0.0) for k in range(N)]
    planes = _hand_series(
        tmp_path / "s", pos, iop=(0, -1, 0, 0, 0, -1), description="SAG_3D_DESS_LEFT"
    )
    v = read_dicom_series(tmp_path / "s")
    assert v.axcodes == ("L", "I", "P") and v.side == 2
    np.testing.assert_array_equal(v.array[0], planes[0][:, ::-1])


def test_write_read_dicom_round_trip_and_nifti_agreement(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    affine = np.array(
        [[-0.7, 0, 0, 30.0], [0, 0, -0.365, 12.0], [0, -0.365, 0, 80.0], [0, 0, 0, 1]]
    )
    v = Volume(
        rng.integers(0, 900, (8, 16, 14), dtype=np.uint16),
        affine=affine,
        side=2,
        patient_id="9012345",
    )
    folder = write_dicom_series(
        v, tmp_path / "3.C.2" / "9012345" / "20070101" / "10000001", study_date="20070101"
    )
    files = sorted(p.name for p in folder.iterdir())
    assert files == [f"{i:03d}" for i in range(1, 9)]
    ds = pydicom.dcmread(folder / "001")
    assert ds.SeriesDescription == "SAG_3D_DESS_LEFT" and ds.PatientID == "9012345"
    back = read_dicom_series(folder)
    np.testing.assert_array_equal(back.array, v.array)
    np.testing.assert_allclose(back.affine, affine, atol=1e-5)
    assert (back.side, back.visit, back.study_date) == (2, "24M", "20070101")
    # DICOM -> NIfTI -> same volume
    nii = read_nifti(write_nifti(back, tmp_path / "x.nii.gz"))
    np.testing.assert_array_equal(nii.array, v.array)
    np.testing.assert_allclose(nii.affine, affine, atol=1e-5)
    # same input, same bytes (UIDs derive from content)
    again = write_dicom_series(v, tmp_path / "again", study_date="20070101")
    assert (again / "004").read_bytes() == (folder / "004").read_bytes()
    with pytest.raises(FileExistsError):
        write_dicom_series(v, again)
    write_dicom_series(v, again, overwrite=True)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_write_dicom_refuses_fractional_intensities(tmp_path: Path) -> None:
    with pytest.raises(VolumeError, match="whole-number"):
        write_dicom_series(Volume(np.full((2, 3, 3), 0.5)), tmp_path / "s")
    assert list(tmp_path.iterdir()) == []


def test_dicom_write_failing_midway_leaves_nothing(tmp_path: Path) -> None:
    v = Volume(np.zeros((3, 4, 4), np.uint16))
    with pytest.raises(OSError):
        write_dicom_series(v, tmp_path / "s", file_names=["001", "002", "no/such/dir/003"])
    assert list(tmp_path.iterdir()) == []


@pytest.fixture
def series(tmp_path: Path) -> Path:
    folder = tmp_path / "series"
    _hand_series(folder, [(0.7 * k, 0.0, 0.0) for k in range(N)])
    return folder


def test_truncated_slice_is_named(series: Path) -> None:
    raw = (series / "004").read_bytes()
    (series / "004").write_bytes(raw[: len(raw) - 50])
    with pytest.raises(VolumeError, match=r"series[/\\]004: .*(truncated|corrupt)"):
        read_dicom_series(series)
    with pytest.raises(VolumeError, match=r"series[/\\]004: truncated"):
        read_series_header(series)


def test_non_dicom_file_is_named(series: Path) -> None:
    (series / "007").write_bytes(b"\x00garbage" * 40)
    with pytest.raises(VolumeError, match=r"007: not a DICOM file"):
        read_dicom_series(series)


def test_file_without_preamble_still_reads(series: Path) -> None:
    raw = (series / "002").read_bytes()
    assert raw[128:132] == b"DICM"
    (series / "002").write_bytes(raw[132:])
    assert read_dicom_series(series).shape == (N, ROWS, COLS)


def test_missing_slice_is_reported(series: Path) -> None:
    (series / "003").unlink()
    with pytest.raises(VolumeError, match=r"missing slice.*002 and 004"):
        read_dicom_series(series)
    with pytest.raises(VolumeError, match="missing slice"):
        read_series_header(series)


def test_duplicated_slice_is_reported(series: Path) -> None:
    shutil.copy(series / "002", series / "002_copy")
    with pytest.raises(VolumeError, match=r"series: duplicated slice: 002 and 002_copy"):
        read_dicom_series(series)


def test_mixed_series_are_reported(tmp_path: Path, series: Path) -> None:
    _hand_series(
        tmp_path / "other",
        [(0.7 * k, 0.0, 0.0) for k in range(N, N + 2)],
        description="SAG_3D_DESS_LEFT",
    )
    shutil.copy(tmp_path / "other" / "001", series / "101")
    with pytest.raises(VolumeError, match=r"series: mixed series in one folder: 2 series"):
        read_dicom_series(series)


def test_empty_and_missing_folders(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(VolumeError, match="no slice files"):
        read_dicom_series(tmp_path / "empty")
    with pytest.raises(VolumeError, match="no such"):
        read_volume(tmp_path / "nope")


def test_unusual_dicom_shape_loads_and_is_flagged(tmp_path: Path) -> None:
    # 8 slices of 352 columns: loads, flagged both ways
    _hand_series(tmp_path / "s", [(0.7 * k, 0.0, 0.0) for k in range(8)], rows=20, cols=352)
    v = read_dicom_series(tmp_path / "s")
    assert v.shape == (8, 20, 352)
    assert any("slices: 8" in f for f in v.flags) and any("columns: 352" in f for f in v.flags)
    h = read_series_header(tmp_path / "s")
    assert h.shape == (8, 20, 352) and h.flags == v.flags


def _dess_slices(tmp_path: Path, n: int = 3) -> Path:
    """A DESS-sized series (384 x 384 pixels, 294,912 pixel bytes per slice)."""
    array = np.arange(n * 384 * 384, dtype=np.uint32).reshape(n, 384, 384) % 4000
    v = Volume(array.astype(np.uint16), spacing=(0.7, 0.365, 0.365))
    return write_dicom_series(v, tmp_path / "dess")


@pytest.mark.parametrize("keep", [0, 1, 294_911 // 2, 294_911])
def test_truncated_dess_slice_fails_the_header_scan(tmp_path: Path, keep: int) -> None:
    folder = _dess_slices(tmp_path)
    raw = (folder / "002").read_bytes()
    header = len(raw) - 294_912
    (folder / "002").write_bytes(raw[: header + keep])
    with pytest.raises(VolumeError, match=r"dess[/\\]002: truncated: pixel data need bytes"):
        read_series_header(folder)
    with pytest.raises(VolumeError, match=r"dess[/\\]002: truncated"):
        read_dicom_series(folder)


def test_pydicoms_truncated_file_fails_the_header_scan(tmp_path: Path) -> None:
    from pydicom.data import get_testdata_file

    folder = tmp_path / "s"
    folder.mkdir()
    shutil.copy(get_testdata_file("MR_truncated.dcm"), folder / "001")
    with pytest.raises(VolumeError, match=r"001: truncated: pixel data need bytes 1500\.\.9692"):
        read_series_header(folder)


def test_header_scan_reads_no_pixel_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = _dess_slices(tmp_path)

    def refuse(*args, **kwargs):
        raise AssertionError("the header scan read pixel data")

    import knee_volumes.dicom_pixels as pixels

    monkeypatch.setattr(pixels, "read_pixels", refuse)
    monkeypatch.setattr(np, "fromfile", refuse)
    monkeypatch.setattr(pydicom.Dataset, "pixel_array", property(refuse))
    h = read_series_header(folder)
    assert h.shape == (3, 384, 384)
    monkeypatch.undo()
    assert read_dicom_series(folder).shape == h.shape


def test_stray_text_file_is_skipped_and_noted(series: Path) -> None:
    (series / "README.txt").write_text("exported by the scanner console\n")
    v = read_dicom_series(series)
    assert v.shape == (N, ROWS, COLS)
    assert "skipped non-DICOM file(s): README.txt" in v.flags
    assert "skipped non-DICOM file(s): README.txt" in read_series_header(series).flags


@pytest.mark.parametrize(
    "name,what",
    [
        ("liver.dcm", r"Segmentation Storage .* is a segmentation"),
        ("rtdose.dcm", r"RT Dose Storage .* is a radiotherapy object"),
        ("SC_rgb.dcm", r"colour image \(SamplesPerPixel 3"),
    ],
)
def test_non_image_objects_say_what_they_are(
    tmp_path: Path, series: Path, name: str, what: str
) -> None:
    from pydicom.data import get_testdata_file

    with pytest.raises(VolumeError, match=what):
        read_volume(get_testdata_file(name))
    shutil.copy(get_testdata_file(name), series / "900")  # in a series folder: named too
    with pytest.raises(VolumeError, match=rf"900: {what}"):
        read_series_header(series)


def test_unused_high_bits_are_masked_as_pydicom_does(series: Path) -> None:
    """12 bits stored in 16: the bits above are not part of the value (read straight from the file)."""
    for path in sorted(series.iterdir()):
        ds = pydicom.dcmread(path)
        plane = np.frombuffer(ds.PixelData, np.uint16).reshape(ROWS, COLS) | 0xF000
        ds.BitsStored, ds.HighBit, ds.PixelData = 12, 11, plane.tobytes()
        ds.save_as(path)
    expected = np.stack([pydicom.dcmread(p).pixel_array for p in sorted(series.iterdir())])
    v = read_dicom_series(series)
    assert v.array.max() < 4096
    assert sorted(v.array.ravel().tolist()) == sorted(expected.ravel().tolist())
