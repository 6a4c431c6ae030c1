"""Scan manifests from an OAI-shaped release tree and from the public split CSVs."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from knee_volumes import (
    MANIFEST_SCHEMA,
    Volume,
    VolumeError,
    read_public_splits,
    scan_oai_release,
    write_dicom_series,
)

SMALL = (4, 8, 8)


def _scan(
    root: Path, release: str, patient: str, date: str, series: str, description: str, *, n: int = 4
) -> Path:
    folder = root / release / patient / date / series
    side = 2 if description.endswith("LEFT") else 1
    vol = Volume(np.full((n, *SMALL[1:]), 100, np.uint16), spacing=(0.7, 0.365, 0.365), side=side)
    write_dicom_series(
        vol, folder, series_description=description, patient_id=patient, study_date=date
    )
    return folder


def _contents(root: Path, release: str, rows: list[tuple[str, str, str, str]]) -> None:
    with (root / release / "contents.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(
            [
                "Folder",
                "ParticipantID",
                "StudyDate",
                "Barcode",
                "StudyDescription",
                "SeriesDescription",
            ]
        )
        for patient, date, series, description in rows:
            w.writerow(
                [
                    f"{release}/{patient}/{date}/{series}",
                    patient,
                    date,
                    "0166",
                    "MR Knee",
                    description,
                ]
            )


@pytest.fixture
def release_root(tmp_path: Path) -> Path:
    root = tmp_path / "oai"
    _scan(root, "0.C.2", "9000099", "20040101", "10000001", "SAG_3D_DESS_RIGHT")
    _scan(root, "0.C.2", "9000099", "20040101", "10000002", "SAG_3D_DESS_LEFT")
    _scan(root, "0.C.2", "9000099", "20040101", "10000003", "COR_IW_TSE_RIGHT")  # not DESS: skipped
    broken = _scan(root, "0.C.2", "9000200", "20040202", "10000004", "SAG_3D_DESS_RIGHT")
    (broken / "002").unlink()  # missing slice
    _contents(
        root,
        "0.C.2",
        [
            ("9000099", "20040101", "10000001", "SAG_3D_DESS_RIGHT"),
            ("9000099", "20040101", "10000002", "SAG_3D_DESS_LEFT"),
            ("9000099", "20040101", "10000003", "COR_IW_TSE_RIGHT"),
            ("9000200", "20040202", "10000004", "SAG_3D_DESS_RIGHT"),
            ("9000300", "20040303", "10000005", "SAG_3D_DESS_LEFT"),  # listed, not on disk
        ],
    )
    # 12-month release without contents.csv: walked, descriptions from the files; 8 slices: flagged
    _scan(root, "1.C.2", "9000099", "20050101", "20000001", "SAG_3D_DESS_RIGHT", n=8)
    return root


def test_scan_oai_release_builds_manifest_and_records_failures(release_root: Path) -> None:
    m = scan_oai_release(release_root, progress=False)
    assert dict(m.schema) == MANIFEST_SCHEMA
    assert m["scan_id"].to_list() == [
        "9000099_00M_1", "9000099_00M_2", "9000099_12M_1", "9000200_00M_1", "9000300_00M_2",
    ]  # fmt: skip
    ok = m.filter(pl.col("status") == "ok")
    assert ok["scan_id"].to_list() == ["9000099_00M_1", "9000099_00M_2", "9000099_12M_1"]
    row = ok.row(0, named=True)
    assert row["patient_id"] == "9000099" and row["visit"] == "00M" and row["side"] == 1
    assert row["study_folder"] == "20040101" and row["series_folder"] == "10000001"
    assert row["source_format"] == "dicom" and row["label_path"] is None and row["error"] is None
    assert Path(row["image_path"]) == release_root / "0.C.2" / "9000099" / "20040101" / "10000001"
    twelve = ok.row(2, named=True)
    assert twelve["visit"] == "12M" and "slices: 8" in twelve["flags"]
    failed = {
        r["scan_id"]: r["error"]
        for r in m.filter(pl.col("status") == "failed").iter_rows(named=True)
    }
    assert "10000004: missing slice" in failed["9000200_00M_1"]
    assert (
        "9000300" in failed["9000300_00M_2"]
        and "no such DICOM series folder" in failed["9000300_00M_2"]
    )


def test_scan_modes_and_single_release(release_root: Path) -> None:
    full = scan_oai_release(release_root, validate="full", workers=2, progress=False)
    assert full["status"].to_list().count("ok") == 3
    none = scan_oai_release(release_root / "0.C.2", validate="none", progress=False)
    assert none["status"].to_list() == ["ok", "ok", "ok", "failed"]  # only the absent folder fails
    with pytest.raises(VolumeError, match="no OAI release folders"):
        scan_oai_release(release_root / "0.C.2" / "9000099", progress=False)


def test_duplicate_scan_keeps_first(release_root: Path) -> None:
    _scan(release_root, "0.C.2", "9000099", "20040101", "10000009", "SAG_3D_DESS_RIGHT")
    with (release_root / "0.C.2" / "contents.csv").open("a", newline="") as fh:
        csv.writer(fh).writerow(
            ["0.C.2/9000099/20040101/10000009", "9000099", "20040101", "", "", "SAG_3D_DESS_RIGHT"]
        )
    m = scan_oai_release(release_root, progress=False).filter(pl.col("scan_id") == "9000099_00M_1")
    assert m["status"].to_list() == ["ok", "failed"]
    assert "duplicate scan 9000099_00M_1" in m["error"][1]


HEADER = "patient_id,time,study_folder,series_folder,knee_side,path,image_filepath,label_filepath"


def test_read_public_splits_with_and_without_path(tmp_path: Path) -> None:
    (tmp_path / "train_split.csv").write_text(
        HEADER + "\n9000099,00M,20040101,10249006,1,/oai/0.C.2/9000099/20040101/10249006,"
        "images/9000099/00M/20040101_10249006_1.nii.gz,labels/9000099/00M/20040101_10249006_1.nii.gz\n"
    )
    older = HEADER.replace("path,image", "image")
    (tmp_path / "test_split.csv").write_text(
        older + "\n912345,48M,20080101,249006,2,images/0912345/48M/x.nii.gz,\n"
    )
    m = read_public_splits(tmp_path, root="/data")
    assert m.columns == [*MANIFEST_SCHEMA, "split"]
    assert m["split"].to_list() == ["train", "test"]
    assert m["scan_id"].to_list() == ["9000099_00M_1", "0912345_48M_2"]
    assert m["series_folder"].to_list() == ["10249006", "00249006"]
    assert m["image_path"][0] == "/data/images/9000099/00M/20040101_10249006_1.nii.gz"
    assert m["label_path"].to_list()[1] is None
    assert set(m["source_format"]) == {"nifti"} and set(m["status"]) == {"ok"}
    one = read_public_splits([tmp_path / "train_split.csv"])
    assert one["image_path"][0] == "images/9000099/00M/20040101_10249006_1.nii.gz"


def test_read_public_splits_reports_bad_rows(tmp_path: Path) -> None:
    (tmp_path / "val_split.csv").write_text(HEADER + "\n9000099,06M,20040101,1,1,,a.nii.gz,\n")
    with pytest.raises(VolumeError, match=r"val_split\.csv: line 2: time '06M'"):
        read_public_splits(tmp_path)
    (tmp_path / "val_split.csv").write_text("patient_id,time\n1,00M\n")
    with pytest.raises(VolumeError, match=r"val_split\.csv: missing column"):
        read_public_splits(tmp_path)
    with pytest.raises(VolumeError, match="split CSV name"):
        read_public_splits([tmp_path / "other.csv"])


def _split_row(patient: str, visit: str, side: int) -> str:
    return (
        f"{patient},{visit},20040101,10249006,{side},,images/{patient}/{visit}/x_{side}.nii.gz,\n"
    )


def test_read_public_splits_refuses_leakage(tmp_path: Path) -> None:
    (tmp_path / "train_split.csv").write_text(HEADER + "\n" + _split_row("9000099", "00M", 1))
    (tmp_path / "test_split.csv").write_text(HEADER + "\n" + _split_row("9000099", "12M", 2))
    with pytest.raises(
        VolumeError, match=r"patient 9000099 is in more than one split \(test, train\)"
    ):
        read_public_splits(tmp_path)
    (tmp_path / "test_split.csv").write_text(HEADER + "\n" + _split_row("9000099", "00M", 1))
    with pytest.raises(
        VolumeError, match=r"test_split\.csv.*scan 9000099_00M_1 is in more than one"
    ):
        read_public_splits(tmp_path)
    (tmp_path / "test_split.csv").unlink()
    (tmp_path / "train_split.csv").write_text(HEADER + "\n" + _split_row("9000099", "00M", 1) * 2)
    with pytest.raises(VolumeError, match=r"scan 9000099_00M_1 is listed 2 times"):
        read_public_splits(tmp_path)


def test_header_scan_notes_stray_files_and_fails_truncated_slices(release_root: Path) -> None:
    series = release_root / "0.C.2" / "9000099" / "20040101"
    (series / "10000001" / "README.txt").write_text("exported by the console\n")
    raw = (series / "10000002" / "003").read_bytes()
    (series / "10000002" / "003").write_bytes(raw[:-10])
    m = scan_oai_release(release_root, progress=False)
    right = m.filter(pl.col("scan_id") == "9000099_00M_1").row(0, named=True)
    assert right["status"] == "ok" and "skipped non-DICOM file(s): README.txt" in right["flags"]
    left = m.filter(pl.col("scan_id") == "9000099_00M_2").row(0, named=True)
    assert left["status"] == "failed" and "003: truncated" in left["error"]
