"""The cohort writer: OAI layouts that the real readers read, and a truth that survives the priority rule."""

from __future__ import annotations

import json
import re

import numpy as np
import polars as pl
import pytest
from knee_phantom import CohortLayout, write_cohort
from knee_volumes import (
    VolumeError,
    read_dicom_series,
    read_label_map,
    read_nifti,
    scan_oai_release,
)
from moaks_schema import READING_COLUMNS, Decoder, default_variable_map, split_prefix

SHAPE = (24, 48, 48)


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    root = tmp_path_factory.mktemp("ph") / "cohort"
    return write_cohort(
        root,
        n_patients=3,
        visits=("00M", "12M"),
        seed=4,
        shape=SHAPE,
        n_manual=3,
        dicom=True,
        prior="uniform",
        progress=False,
    )


def _natural(prj: str) -> tuple[int, str]:
    m = re.match(r"(\d*)(.*)", prj)
    return (int(m.group(1)) if m.group(1) else 10**9, m.group(2))


def _load_moaks(path, vmap) -> pl.DataFrame:
    """A small independent reader: OAI pipe table -> long readings, with the project's priority rule."""
    text = path.read_bytes().decode("utf-8")
    assert "\r\n" in text
    lines = [ln for ln in text.split("\r\n") if ln]
    header = lines[0].split("|")
    by_knee: dict[tuple[str, int], list[tuple[str, dict[str, int | None]]]] = {}
    visit = None
    for ln in lines[1:]:
        cells = dict(zip(header, ln.split("|"), strict=True))
        side = int(cells["SIDE"].split(":")[0])
        grades: dict[str, int | None] = {}
        for col, val in cells.items():
            prefix, _ = split_prefix(col)
            if prefix is None:
                continue
            visit = {"V00": "00M", "V01": "12M"}[prefix]
            code = val.split(":")[0].strip()
            for var in vmap.variables_for_column(col):
                if code.startswith("."):
                    grades[var.attribute] = None
                elif var.decoder is Decoder.PLAIN:
                    grades[var.attribute] = int(code)
                else:
                    a, f = code.split(".")
                    grades[var.attribute] = int(a if var.decoder is Decoder.CARTILAGE_SIZE else f)
        by_knee.setdefault((cells["ID"], side), []).append((cells["READPRJ"], grades))
    rows = []
    for (pid, side), reads in by_knee.items():
        best = sorted(
            reads, key=lambda r: (-sum(v is not None for v in r[1].values()), _natural(r[0]))
        )[0]
        for attr, g in best[1].items():
            rows.append(
                {
                    "patient_id": pid,
                    "visit": visit,
                    "side": side,
                    "attribute": attr,
                    "grade": g,
                    "source": best[0],
                }
            )
    return pl.DataFrame(
        rows,
        schema={
            "patient_id": pl.String,
            "visit": pl.String,
            "side": pl.Int64,
            "attribute": pl.String,
            "grade": pl.Int64,
            "source": pl.String,
        },
    )


def test_layout_files_and_cohort_json(cohort: CohortLayout):
    info = json.loads((cohort.root / "cohort.json").read_text())
    assert len(info["scan_ids"]) == 3 * 2 * 2 == len(cohort.scan_ids)
    assert all(re.fullmatch(r"9\d{6}_(00M|12M)_[12]", s) for s in cohort.scan_ids)
    assert len(cohort.manual_ids) == 3
    for sid in cohort.scan_ids:
        assert (
            cohort.nifti_path(sid).exists()
            and cohort.label_path(sid).exists()
            and cohort.lesions_path(sid).exists()
        )
        assert (sid in cohort.manual_ids) == cohort.manual_path(sid).exists()
    for by_visit in info["study_dates"].values():
        assert all(re.fullmatch(r"20\d{6}", d) for d in by_visit.values())
    assert all(10_000_000 <= n <= 99_999_999 for n in info["series_numbers"].values())
    assert (
        cohort.moaks_path("00M").name == "kMRI_SQ_MOAKS_BICL00.txt"
        and cohort.moaks_path("12M").exists()
    )


def test_nifti_image_and_label_share_geometry(cohort: CohortLayout):
    sid = cohort.scan_ids[1]
    vol = read_nifti(cohort.nifti_path(sid))
    lab_arr = read_label_map(cohort.label_path(sid), expect_shape=SHAPE)
    assert np.allclose(read_nifti(cohort.label_path(sid)).affine, vol.affine)
    assert vol.shape == SHAPE and lab_arr.shape == SHAPE
    assert set(np.unique(lab_arr)) <= set(range(26)) and lab_arr.max() == 25
    assert vol.axcodes == ("L", "I", "P")
    masks = np.load(cohort.lesions_path(sid))
    assert "effusion" in masks.files and masks["effusion"].shape == SHAPE


def test_real_oai_reader_finds_the_dicom_series(cohort: CohortLayout):
    manifest = scan_oai_release(cohort.oai_dir)
    dess = manifest.filter(pl.col("status") == "ok")
    assert dess.height == len(cohort.scan_ids)
    assert set(dess["scan_id"].to_list()) == set(cohort.scan_ids)
    sid = cohort.scan_ids[0]
    dcm = read_dicom_series(cohort.dicom_folder(sid))
    nii = read_nifti(cohort.nifti_path(sid))
    assert np.array_equal(dcm.array, nii.array)
    assert np.allclose(dcm.affine, nii.affine, atol=1e-4)
    contents = pl.read_csv(cohort.contents_path("0.C.2"), infer_schema=False)
    assert contents.columns == [
        "Folder",
        "ParticipantID",
        "StudyDate",
        "Barcode",
        "StudyDescription",
        "SeriesDescription",
    ]
    assert (~contents["SeriesDescription"].str.starts_with("SAG_3D_DESS")).sum() >= 1


def test_moaks_tables_give_back_the_truth_after_the_priority_rule(cohort: CohortLayout):
    truth = pl.read_parquet(cohort.readings_path)
    assert tuple(truth.columns) == READING_COLUMNS
    assert truth.height == 118 * len(cohort.scan_ids)
    vmap = default_variable_map().with_codebook(cohort.codebook_path)
    assert vmap.unmapped_attributes() == ()
    assert all(e.stem.startswith("PH") for e in vmap.entries if e.source.startswith("codebook"))
    loaded = pl.concat([_load_moaks(cohort.moaks_path(v), vmap) for v in ("00M", "12M")])
    key = ["patient_id", "visit", "side", "attribute"]
    joined = truth.join(loaded, on=key, how="inner", suffix="_loaded")
    assert joined.height == truth.height
    assert (joined["source"] == joined["source_loaded"]).all()
    same = (joined["grade"] == joined["grade_loaded"]) | (
        joined["grade"].is_null() & joined["grade_loaded"].is_null()
    )
    assert same.all()
    raw = cohort.moaks_path("00M").read_text(encoding="utf-8")
    assert "1: Right" in raw and "2: Left" in raw
    assert int(json.loads((cohort.root / "cohort.json").read_text())["conflicting_reads"]) >= 0


def test_conflicts_and_missing_cells_appear_in_a_bigger_cohort(tmp_path):
    layout = write_cohort(
        tmp_path / "c", n_patients=12, seed=1, shape=(16, 32, 32), n_manual=0, progress=False
    )
    info = layout.info
    assert info["conflicting_reads"] >= 1
    truth = pl.read_parquet(layout.readings_path)
    text = layout.moaks_path("00M").read_text()
    lines = text.strip().split("\n")
    assert len(lines) - 1 == 24 + info["conflicting_reads"]
    assert set(truth["source"].unique()) <= {"22", "30"}
    assert ".: Missing Form/Incomplete Workbook" in text or truth["grade"].null_count() == 0


def test_same_arguments_same_bytes(tmp_path):
    kw = dict(n_patients=2, seed=9, shape=(16, 32, 32), n_manual=1, dicom=True, progress=False)
    a = write_cohort(tmp_path / "a", **kw)
    b = write_cohort(tmp_path / "b", **kw, workers=2)  # processes in parallel: the same files
    files_a = sorted(p.relative_to(a.root) for p in a.root.rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(b.root) for p in b.root.rglob("*") if p.is_file())
    assert files_a == files_b and len(files_a) > 20
    for rel in files_a:
        assert (a.root / rel).read_bytes() == (b.root / rel).read_bytes(), rel
    c = write_cohort(tmp_path / "c", **{**kw, "seed": 10})
    assert c.info["patients"] != a.info["patients"]


def test_bad_cohort_arguments(tmp_path):
    with pytest.raises(VolumeError, match="n_patients"):
        write_cohort(tmp_path / "x", n_patients=0, progress=False)
    with pytest.raises(VolumeError, match="sides"):
        write_cohort(tmp_path / "x", n_patients=1, sides=(3,), progress=False)
    with pytest.raises(VolumeError, match="second_reads"):
        write_cohort(tmp_path / "x", n_patients=1, second_reads=1.5, progress=False)
    assert not (tmp_path / "x").exists()
    (tmp_path / "x").mkdir()
    with pytest.raises(VolumeError, match="overwrite"):
        write_cohort(tmp_path / "x", n_patients=1, progress=False)
    with pytest.raises(VolumeError, match=r"cohort\.json"):
        CohortLayout.open(tmp_path)


def test_second_reads_change_the_moaks_tables_and_nothing_else(tmp_path):
    kw = dict(n_patients=3, seed=4, shape=(16, 32, 32), n_manual=1, progress=False)
    none = write_cohort(tmp_path / "none", second_reads=0.0, **kw)
    every = write_cohort(tmp_path / "every", second_reads=1.0, **kw)
    files = sorted(p.relative_to(none.root) for p in none.root.rglob("*") if p.is_file())
    differ = {
        str(r) for r in files if (none.root / r).read_bytes() != (every.root / r).read_bytes()
    }
    assert differ == {"moaks/kMRI_SQ_MOAKS_BICL00.txt", "cohort.json"}
    assert none.info["conflicting_reads"] == 0 and every.info["conflicting_reads"] == 6
    lines = every.moaks_path("00M").read_text().strip().split("\n")
    assert len(lines) == 1 + 2 * 6
