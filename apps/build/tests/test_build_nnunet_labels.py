"""`reasonknee build --labels nnunet:MODEL`: a real (tiny) nnU-Net model labels every scan of a
phantom cohort in the OAI layout; the dataset records nnU-Net as the box source. The model is
deliberately under-trained (2 iterations): measured on a held-out manual map, the build is refused
with the table of regions below Dice 0.5, and written only with --accept-low-quality."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner
from reasonknee_build.cli import build

pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class Trained:
    cohort: object
    model: Path
    held_out: str
    work: Path  # shared by the builds: predictions are made once (prediction is resumable)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Trained:
    """A cohort with 4 manual maps; a 2-iteration model trained on 3 of them."""
    import knee_segmenter as ks
    from knee_phantom import CohortLayout, write_cohort

    base = tmp_path_factory.mktemp("nnunet_build")
    cohort = CohortLayout.open(
        write_cohort(
            base / "cohort",
            n_patients=3,
            shape=(32, 48, 48),
            n_manual=4,
            dicom=True,
            progress=False,
        ).root
    )
    train_ids = cohort.manual_ids[:3]
    pairs = [(cohort.nifti_path(s), cohort.manual_path(s)) for s in train_ids]
    model = ks.train_segmenter(
        pairs,
        base / "model",
        epochs=1,
        iterations=2,
        val_iterations=1,
        device="cpu",
        root=base / "nnunet",
        threads=1,
        base_features=8,
        max_features=32,
    )
    assert model.training_cases == tuple(sorted(train_ids))
    return Trained(cohort, model.path, cohort.manual_ids[3], base / "work")


def _args(t: Trained, out: Path, work: Path, *extra: str) -> list[str]:
    c = t.cohort
    return [
        "--oai-root", str(c.oai_dir), "--moaks", str(c.moaks_dir), "--codebook",
        str(c.codebook_path), "--labels", f"nnunet:{t.model}", "--out", str(out), "--work",
        str(work), "--device", "cpu", "--no-mirroring", "--keep-going", "--quiet", *extra,
    ]  # fmt: skip


def test_build_with_nnunet_pseudo_labels(trained: Trained, tmp_path: Path) -> None:
    out = tmp_path / "ds"
    res = CliRunner().invoke(build, _args(trained, out, trained.work))
    assert res.exit_code == 0, res.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["label_source"] == "nnunet"
    # no manual maps given for an OAI release: the quality is said to be unmeasured
    assert manifest["label_quality"]["status"] == "unmeasured"
    assert "pseudo-label quality unmeasured" in res.output
    scans = pl.read_parquet(out / "scans.parquet")
    assert scans.height == 6 and set(scans["label_source"]) == {"nnunet"}
    preds = sorted((trained.work / "predictions").glob("*.nii.gz"))
    assert len(preds) == 6  # one pseudo-label map per scan, from the model just trained
    q = pl.read_parquet(out / "quintuples.parquet")
    assert set(q.drop_nulls("box_source")["box_source"]) <= {"nnunet"}
    # a second build reuses the valid predictions (prediction is resumable)
    mtimes = [p.stat().st_mtime_ns for p in preds]
    res2 = CliRunner().invoke(build, _args(trained, tmp_path / "ds2", trained.work))
    assert res2.exit_code == 0, res2.output
    assert [p.stat().st_mtime_ns for p in preds] == mtimes
    assert (
        json.loads((tmp_path / "ds2" / "manifest.json").read_text())["content_hash"]
        == json.loads((out / "manifest.json").read_text())["content_hash"]
    )


def test_under_trained_model_is_refused_unless_accepted(trained: Trained, tmp_path: Path) -> None:
    manual = ("--manual-maps", str(trained.cohort.root / "manual"))
    out = tmp_path / "ds"
    refused = CliRunner().invoke(build, _args(trained, out, trained.work, *manual))
    assert refused.exit_code == 1, refused.output
    assert "region(s) with pseudo-label Dice < 0.5" in refused.output
    assert "build refused" in refused.output and "--accept-low-quality" in refused.output
    assert not out.exists()

    accepted = CliRunner().invoke(
        build, _args(trained, out, trained.work, *manual, "--accept-low-quality")
    )
    assert accepted.exit_code == 0, accepted.output
    lq = json.loads((out / "manifest.json").read_text())["label_quality"]
    assert lq["status"] == "low_quality" and lq["accepted_low_quality"] is True
    assert lq["held_out_scans"] == [trained.held_out]  # the 3 training maps are not counted
    assert len(lq["regions"]) == 25 and lq["low_quality_regions"]
    q = pl.read_parquet(out / "quintuples.parquet")
    assert "nnunet:low_quality" in set(q.drop_nulls("box_source")["box_source"])
    assert (out / "reports" / "pseudo_label_quality.parquet").is_file()
