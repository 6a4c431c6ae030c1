"""`reasonknee build` end to end: an OAI-layout release with manual labels, and the phantom cohort."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from click.testing import CliRunner
from knee_phantom import region_blocks
from knee_volumes import Volume, write_dicom_series, write_nifti
from moaks_schema import READING_COLUMNS
from reasonknee_build.cli import build

SHAPE = (16, 24, 24)


def _labels(shift: int, side: int) -> np.ndarray:
    """All 25 regions as blocks; medial ones on the medial side for a knee of ``side``."""
    return region_blocks(SHAPE, shift=shift, side=side)


@pytest.fixture(scope="module")
def oai(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("oai_cli")
    rng = np.random.default_rng(0)
    contents = ["Folder,ParticipantID,StudyDate,Barcode,StudyDescription,SeriesDescription"]
    moaks = [
        "ID|SIDE|READPRJ|VERSION|V00MBMSFMC|V00MBMNFMC|V00MBMPFMC|V00MCMFMC|V00MOSPM|V00MACLTR"
    ]
    for i, pid in enumerate(("9000011", "9000022", "9000033")):
        for side in (1, 2):
            series = f"{10000000 + 10 * i + side:08d}"
            desc = "SAG_3D_DESS_RIGHT" if side == 1 else "SAG_3D_DESS_LEFT"
            vol = Volume(
                rng.integers(0, 300, SHAPE).astype(np.uint16),
                spacing=(0.7, 0.365, 0.365),
                side=side,
            )
            write_dicom_series(
                vol,
                root / "oai" / "0.C.2" / pid / "20050101" / series,
                series_description=desc,
                patient_id=pid,
                study_date="20050101",
            )
            contents.append(f"0.C.2/{pid}/20050101/{series},{pid},20050101,x,MR Knee,{desc}")
            write_nifti(
                _labels(i, side), root / "manual" / f"{pid}_00M_{side}.nii.gz", affine=vol.affine
            )
            moaks.append(
                f"{pid}|{side}: {'Right' if side == 1 else 'Left'}|22|1|{i}: {i}|1: 1|3|2.1|1|0: No"
            )
    (root / "oai" / "0.C.2" / "contents.csv").write_text("\n".join(contents) + "\n")
    (root / "moaks").mkdir()
    (root / "moaks" / "kMRI_SQ_MOAKS_BICL00.txt").write_bytes(
        ("\r\n".join(moaks) + "\r\n").encode()
    )
    return root


@pytest.mark.slow
def test_oai_build_with_manual_labels(oai: Path, tmp_path: Path) -> None:
    out = tmp_path / "ds"
    res = CliRunner().invoke(
        build,
        [
            "--oai-root",
            str(oai / "oai"),
            "--moaks",
            str(oai / "moaks"),
            "--labels",
            f"manual:{oai / 'manual'}",
            "--out",
            str(out),
            "--quiet",
            "--questions",
            "1-20,42-43",
        ],
    )
    assert res.exit_code == 0, res.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert (
        manifest["counts"]["all"]["scans"] == 6
        and manifest["counts"]["all"]["quintuples"] == 6 * 22
    )
    assert manifest["label_source"] == "manual"
    q = pl.read_parquet(out / "quintuples.parquet")
    fmc = q.filter((pl.col("patient_id") == "9000022") & (pl.col("question_id") == 4))
    assert [d["grade"] for d in fmc["grades"][0]] == [1, 1, 3]
    cart = q.filter((pl.col("patient_id") == "9000022") & (pl.col("question_id") == 19))
    assert [d["grade"] for d in cart["grades"][0]] == [2, 1]
    assert fmc["box_source"][0] == "manual" and fmc["box_public"][0] is not None
    scans = pl.read_parquet(out / "scans.parquet")
    assert set(scans["source_path"].str.slice(0, 6)) == {"0.C.2/"}
    assert (out / "reports" / "moaks_conflicts.parquet").is_file()


def test_failures_exit_non_zero(oai: Path, tmp_path: Path) -> None:
    labels = tmp_path / "labels"
    labels.mkdir()
    for p in (oai / "manual").iterdir():
        if not p.name.startswith("9000033_00M_2"):
            (labels / p.name).write_bytes(p.read_bytes())
    args = [
        "--oai-root",
        str(oai / "oai"),
        "--moaks",
        str(oai / "moaks"),
        "--labels",
        f"manual:{labels}",
        "--quiet",
        "--questions",
        "42",
    ]
    res = CliRunner().invoke(build, [*args, "--out", str(tmp_path / "stop")])
    assert res.exit_code == 1 and "9000033_00M_2" in res.output and "nothing written" in res.output
    assert not (tmp_path / "stop").exists()
    res = CliRunner().invoke(build, [*args, "--out", str(tmp_path / "keep"), "--keep-going"])
    assert res.exit_code == 1 and (tmp_path / "keep" / "manifest.json").is_file()


def test_usage_errors(tmp_path: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(build, ["--out", str(tmp_path / "x")]).exit_code == 2
    assert (
        runner.invoke(
            build, ["--phantom", "2", "--labels", "atlas:x", "--out", str(tmp_path / "x")]
        ).exit_code
        == 2
    )
    assert (
        runner.invoke(build, ["--oai-root", str(tmp_path), "--out", str(tmp_path / "x")]).exit_code
        == 2
    )
    assert (
        runner.invoke(
            build, ["--phantom", "2", "--shape", "4,4", "--out", str(tmp_path / "x")]
        ).exit_code
        == 2
    )


@pytest.mark.slow
def test_phantom_build_ingests_with_the_real_loaders(tmp_path: Path) -> None:
    out = tmp_path / "ds"
    res = CliRunner().invoke(
        build,
        ["--phantom", "2", "--shape", "24,48,48", "--out", str(out), "--quiet", "--seed", "3"],
    )
    assert res.exit_code == 0, res.output
    truth = pl.read_parquet(tmp_path / "ds.work" / "phantom" / "truth" / "readings.parquet")
    assert truth.columns[: len(READING_COLUMNS)] == list(READING_COLUMNS)
    q = pl.read_parquet(out / "quintuples.parquet")
    got = (
        q.select("patient_id", "visit", "side", "question_id", "grades")
        .explode("grades")
        .unnest("grades")
        .rename({"grade": "got"})
    )
    joined = got.join(
        truth.select("patient_id", "visit", "side", "attribute", "grade"),
        on=["patient_id", "visit", "side", "attribute"],
        how="inner",
    )
    assert joined.height == got.height == truth.height
    assert (joined["got"] == joined["grade"]).all()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["label_source"] == "phantom" and manifest["counts"]["all"]["scans"] == 4


def test_check_moaks_reports_without_building(tmp_path: Path) -> None:
    moaks = tmp_path / "kMRI_SQ_MOAKS_BICL00.txt"
    moaks.write_text(
        "ID|SIDE|READPRJ|VERSION|V00MBMSFMC|V00MACLTR|V00MFOO\n"
        "9000099|1: Right|22|1|1: 1|0: Normal|x\n9000099|1: Right|15|1|2: 2|3: ?|y\n"
    )
    res = CliRunner().invoke(build, ["--check-moaks", "--moaks", str(moaks)])
    assert res.exit_code == 0, res.output
    assert "catalogue attributes provided: 2 of 118" in res.output
    assert "unused columns: 1: V00MFOO" in res.output
    assert "codes not in the codebook: V00MACLTR (acl.complete_tear, out_of_range)" in res.output
    assert "visit 00M: 1 knee-visits, 2 reads" in res.output
    moaks.write_text("ID,SIDE\n1,1\n")
    res = CliRunner().invoke(build, ["--check-moaks", "--moaks", str(moaks)])
    assert res.exit_code == 1 and "separated by commas" in res.output
    assert "Traceback" not in res.output
    res = CliRunner().invoke(build, ["--moaks", str(moaks), "--phantom", "2"])
    assert res.exit_code == 2 and "--out" in res.output
