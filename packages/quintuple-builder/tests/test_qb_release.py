"""build_from_release: an OAI-shaped release (a phantom cohort on disk) to a dataset folder."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from quintuple_builder import (
    READER_PAIR_COLUMNS,
    Dataset,
    QuintupleBuilderError,
    ReleaseInputs,
    build_from_release,
    labels_from_folder,
)


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory):
    from knee_phantom import write_cohort

    root = tmp_path_factory.mktemp("release") / "cohort"
    return write_cohort(
        root, n_patients=3, shape=(24, 48, 48), seed=3, dicom=True, second_reads=0.5, progress=False
    )


def test_release_builds_a_dataset_with_the_true_grades(cohort, tmp_path: Path) -> None:
    said: list[str] = []
    result = build_from_release(
        cohort.release(),
        tmp_path / "ds",
        labels=labels_from_folder(cohort.labels_dir),
        label_source="phantom",
        progress=False,
        notify=said.append,
    )
    assert result.ok and result.scans_found == 6 and result.scans_without_reading == 0
    assert said == []
    q = Dataset.open(tmp_path / "ds").quintuples()
    assert q.height == 6 * 69
    truth = pl.read_parquet(cohort.readings_path)
    got = q.select("patient_id", "side", "grades").explode("grades").unnest("grades")
    assert got.height == truth.height
    manifest = result.build.manifest
    assert manifest["inputs"]["labels"] == "phantom"
    assert manifest["inputs"]["oai_root"] == str(cohort.oai_dir)
    # knees read twice keep both reads: the kept one is the dataset's grade
    pairs = pl.read_parquet(tmp_path / "ds" / "reader_pairs.parquet")
    assert tuple(pairs.columns) == READER_PAIR_COLUMNS
    assert 1 <= pairs["scan_id"].n_unique() == cohort.info["conflicting_reads"]
    assert set(pairs["source_a"]) <= {"22", "30"} and set(pairs["source_b"]) <= {"63A", "65"}
    kept = pairs.join(got, on=["patient_id", "side", "attribute"], how="inner")
    assert kept.height == pairs.height and (kept["grade"] == kept["grade_a"]).all()
    assert (pairs["grade_a"] != pairs["grade_b"]).sum() >= 1


def test_scans_without_reading_are_said_and_left_out(cohort, tmp_path: Path) -> None:
    moaks = tmp_path / "moaks"
    moaks.mkdir()
    for table in cohort.moaks_dir.glob("*.txt"):
        lines = table.read_text().splitlines(keepends=True)
        kept = [lines[0]] + [ln for ln in lines[1:] if not ln.startswith(cohort.scan_ids[0][:7])]
        (moaks / table.name).write_text("".join(kept))
    release = ReleaseInputs(cohort.oai_dir, [moaks], cohort.release().codebook)
    said: list[str] = []
    result = build_from_release(
        release,
        tmp_path / "ds",
        labels=labels_from_folder(cohort.labels_dir),
        label_source="phantom",
        progress=False,
        notify=said.append,
    )
    assert result.ok and result.scans_without_reading == 2
    assert said == ["2 of 6 scan(s) have no MOAKS reading: left out"]
    skipped = pl.read_csv(tmp_path / "ds" / "reports" / "skipped.csv")
    assert sorted(skipped["scan_id"]) == sorted(
        s for s in cohort.scan_ids if s[:7] == cohort.scan_ids[0][:7]
    )


def test_existing_output_and_unknown_source_are_refused(cohort, tmp_path: Path) -> None:
    (tmp_path / "ds").mkdir()
    labels = labels_from_folder(cohort.labels_dir)
    with pytest.raises(QuintupleBuilderError, match="exists"):
        build_from_release(cohort.release(), tmp_path / "ds", labels=labels, label_source="phantom")
    with pytest.raises(QuintupleBuilderError, match="label_source 'guess'"):
        build_from_release(cohort.release(), tmp_path / "x", labels=labels, label_source="guess")
