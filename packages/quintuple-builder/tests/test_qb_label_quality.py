"""The label-quality gate: regions below the Dice threshold mark their boxes low_quality, refuse the
build unless accepted, and the manifest and reports hold the Dice table."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st
from moaks_schema import QUESTIONS, REGIONS
from quintuple_builder import (
    DEFAULT_MIN_DICE,
    QuintupleBuilderError,
    build_from_release,
    flag_boxes,
    gate_labels,
    low_quality_questions,
)

ERASED = ("ACL", "PCL")  # the "segmenter" below never finds these two regions


@dataclass(frozen=True)
class Measured:
    """A measurement in the shape ``LabelQuality`` asks for (what knee_segmenter computes)."""

    held_out_ids: tuple[str, ...]
    per_scan: pl.DataFrame
    per_region: pl.DataFrame
    note: str = "test measurement"


def _dice_measure(manual: dict[str, Path]):
    """Dice per region of the build's label maps against ``manual`` maps, with numpy."""
    import nibabel as nib

    def measure(scans: pl.DataFrame) -> Measured:
        rows = []
        for sid, path in scans.select("scan_id", "label_path").iter_rows():
            if sid not in manual or path is None:
                continue
            pred = np.asanyarray(nib.load(path).dataobj)
            ref = np.asanyarray(nib.load(manual[sid]).dataobj)
            for r in REGIONS:
                p, t = pred == r.label, ref == r.label
                denom = int(p.sum() + t.sum())
                dice = None if denom == 0 else 2 * float((p & t).sum()) / denom
                rows.append((sid, r.code, dice))
        per_scan = pl.DataFrame(
            rows,
            schema={"scan_id": pl.String, "region": pl.String, "dice": pl.Float64},
            orient="row",
        )
        per_region = per_scan.group_by("region", maintain_order=True).agg(
            pl.col("dice").mean().alias("mean_dice"), pl.col("dice").count().alias("n")
        )
        return Measured(tuple(sorted(set(per_scan["scan_id"]))), per_scan, per_region)

    return measure


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory):
    from knee_phantom import write_cohort

    root = tmp_path_factory.mktemp("quality") / "cohort"
    return write_cohort(
        root, n_patients=2, shape=(24, 48, 48), seed=5, n_manual=2, dicom=True, progress=False
    )


@pytest.fixture(scope="module")
def damaged_labels(cohort, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The true maps with ERASED regions set to background: a segmenter that missed them."""
    import nibabel as nib

    out = tmp_path_factory.mktemp("damaged")
    erased = [r.label for r in REGIONS if r.code in ERASED]
    for sid in cohort.scan_ids:
        img = nib.load(cohort.label_path(sid))
        data = np.asanyarray(img.dataobj).copy()
        data[np.isin(data, erased)] = 0
        nib.save(nib.Nifti1Image(data, img.affine), out / f"{sid}.nii.gz")
    return out


def _provider(folder: Path):
    from quintuple_builder import labels_from_folder

    return labels_from_folder(folder)


def _build_damaged(cohort, damaged_labels: Path, out: Path, **options):
    """A build from the damaged maps, measured against the cohort's manual maps."""
    manual = {s: cohort.manual_path(s) for s in cohort.manual_ids}
    return build_from_release(
        cohort.release(),
        out,
        labels=_provider(damaged_labels),
        label_source="nnunet",
        quality=_dice_measure(manual),
        progress=False,
        **options,
    )


@pytest.mark.slow
def test_low_quality_build_is_refused_and_writes_nothing(cohort, damaged_labels, tmp_path):
    said: list[str] = []
    result = _build_damaged(cohort, damaged_labels, tmp_path / "ds", notify=said.append)
    assert result.quality.refused and not result.ok
    assert result.quality.low_quality_regions == ERASED
    assert not result.build.written and not (tmp_path / "ds").exists()
    assert any("2 region(s) below Dice 0.5" in line and "build refused" in line for line in said)


@pytest.mark.slow
def test_accepted_low_quality_flags_boxes_and_records_the_dice_table(
    cohort, damaged_labels, tmp_path
):
    result = _build_damaged(cohort, damaged_labels, tmp_path / "ds", accept_low_quality=True)
    assert result.ok and result.quality.status == "low_quality"
    manifest = json.loads((tmp_path / "ds" / "manifest.json").read_text())
    lq = manifest["label_quality"]
    assert lq["status"] == "low_quality" and lq["accepted_low_quality"] is True
    assert lq["min_dice"] == DEFAULT_MIN_DICE
    assert lq["held_out_scans"] == sorted(cohort.manual_ids)
    assert lq["low_quality_regions"] == list(ERASED)
    by_region = {r["region"]: r for r in lq["regions"]}
    assert len(by_region) == 25
    assert by_region["ACL"]["mean_dice"] == 0.0 and by_region["FMC"]["mean_dice"] == 1.0
    report = pl.read_parquet(tmp_path / "ds" / "reports" / "pseudo_label_quality.parquet")
    assert report.filter(pl.col("low_quality"))["region"].to_list() == list(ERASED)
    assert (tmp_path / "ds" / "reports" / "pseudo_label_dice_per_scan.parquet").is_file()
    q = pl.read_parquet(tmp_path / "ds" / "quintuples.parquet")
    # the erased regions have no box at all (absent); every question touching them is flagged where
    # a box exists, no other question is
    flagged = set(low_quality_questions(ERASED))
    sources = q.drop_nulls("box_source").group_by("question_id").agg(pl.col("box_source").unique())
    for qid, values in sources.iter_rows():
        assert values == (["nnunet:low_quality"] if qid in flagged else ["nnunet"])


@pytest.mark.slow
def test_unmeasured_and_reference_labels(cohort, tmp_path):
    said: list[str] = []
    result = build_from_release(
        cohort.release(),
        tmp_path / "ds",
        labels=_provider(cohort.labels_dir),
        label_source="nnunet",
        progress=False,
        notify=said.append,
    )
    assert result.ok and result.quality.status == "unmeasured"
    assert result.build.manifest["label_quality"]["status"] == "unmeasured"
    assert any(line.startswith("pseudo-label quality unmeasured") for line in said)
    ref = build_from_release(
        cohort.release(),
        tmp_path / "ds2",
        labels=_provider(cohort.labels_dir),
        label_source="phantom",
        progress=False,
    )
    assert ref.build.manifest["label_quality"]["status"] == "not_applicable"


def test_gate_thresholds_and_errors():
    table = pl.DataFrame(
        {"region": ["FMC", "ACL", "HFP"], "mean_dice": [0.9, 0.49, None], "n": [3, 3, 0]}
    )
    m = Measured(("a",), pl.DataFrame(), table)
    gate = gate_labels(m, label_source="nnunet")
    # below the threshold, and a region no held-out scan could measure, are both low quality
    assert gate.status == "low_quality" and gate.low_quality_regions == ("ACL", "HFP")
    assert gate_labels(m, label_source="nnunet", min_dice=0.4).low_quality_regions == ("HFP",)
    assert gate_labels(m, label_source="nnunet", accept_low_quality=True).refused is False
    with pytest.raises(QuintupleBuilderError, match="min_dice"):
        gate_labels(m, label_source="nnunet", min_dice=1.5)
    bad = Measured(("a",), pl.DataFrame(), pl.DataFrame({"region": ["FMC"]}))
    with pytest.raises(QuintupleBuilderError, match="mean_dice"):
        gate_labels(bad, label_source="nnunet")


@given(st.sets(st.sampled_from([r.code for r in REGIONS]), max_size=6))
def test_flag_boxes_marks_exactly_the_questions_of_the_regions(regions):
    boxes = pl.DataFrame(
        {
            "scan_id": ["s"] * len(QUESTIONS),
            "question_id": [q.id for q in QUESTIONS],
            "box_source": ["nnunet" if q.box_regions else None for q in QUESTIONS],
        }
    )
    out = flag_boxes(boxes, regions)
    for q, src in zip(QUESTIONS, out["box_source"].to_list(), strict=True):
        if not q.box_regions:
            assert src is None
        elif set(q.box_regions) & regions:
            assert src == "nnunet:low_quality"
        else:
            assert src == "nnunet"
