"""`reasonknee build --labels nnunet:MODEL`: a real (tiny) nnU-Net model labels every scan of a
phantom cohort in the OAI layout; the dataset records nnU-Net as the box source."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner
from reasonknee_build.cli import build


@pytest.mark.slow
def test_build_with_nnunet_pseudo_labels(tmp_path: Path) -> None:
    import knee_segmenter as ks
    from knee_phantom import CohortLayout, write_cohort

    cohort = CohortLayout.open(
        write_cohort(
            tmp_path / "cohort",
            n_patients=3,
            shape=(32, 48, 48),
            n_manual=3,
            dicom=True,
            progress=False,
        ).root
    )
    pairs = [(cohort.nifti_path(s), cohort.manual_path(s)) for s in cohort.manual_ids]
    model = ks.train_segmenter(
        pairs,
        tmp_path / "model",
        epochs=1,
        iterations=2,
        val_iterations=1,
        device="cpu",
        root=tmp_path / "nnunet",
        threads=1,
        base_features=8,
        max_features=32,
    )
    labels = f"nnunet:{model.path}"
    out = tmp_path / "ds"
    res = CliRunner().invoke(
        build,
        [
            "--oai-root",
            str(cohort.oai_dir),
            "--moaks",
            str(cohort.moaks_dir),
            "--codebook",
            str(cohort.codebook_path),
            "--labels",
            labels,
            "--out",
            str(out),
            "--work",
            str(tmp_path / "work"),
            "--device",
            "cpu",
            "--no-mirroring",
            "--keep-going",
            "--quiet",
        ],
    )
    assert res.exit_code == 0, res.output
    assert json.loads((out / "manifest.json").read_text())["label_source"] == "nnunet"
    scans = pl.read_parquet(out / "scans.parquet")
    assert scans.height == 6 and set(scans["label_source"]) == {"nnunet"}
    preds = sorted((tmp_path / "work" / "predictions").glob("*.nii.gz"))
    assert len(preds) == 6  # one pseudo-label map per scan, from the model just trained
    q = pl.read_parquet(out / "quintuples.parquet")
    assert set(q.drop_nulls("box_source")["box_source"]) <= {"nnunet"}
    # a second build reuses the valid predictions (prediction is resumable)
    mtimes = [p.stat().st_mtime_ns for p in preds]
    res2 = CliRunner().invoke(
        build,
        [
            "--oai-root",
            str(cohort.oai_dir),
            "--moaks",
            str(cohort.moaks_dir),
            "--codebook",
            str(cohort.codebook_path),
            "--labels",
            labels,
            "--out",
            str(tmp_path / "ds2"),
            "--work",
            str(tmp_path / "work"),
            "--device",
            "cpu",
            "--no-mirroring",
            "--keep-going",
            "--quiet",
        ],
    )
    assert res2.exit_code == 0, res2.output
    assert [p.stat().st_mtime_ns for p in preds] == mtimes
    assert (
        json.loads((tmp_path / "ds2" / "manifest.json").read_text())["content_hash"]
        == json.loads((out / "manifest.json").read_text())["content_hash"]
    )
