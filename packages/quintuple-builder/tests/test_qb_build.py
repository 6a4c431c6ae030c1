"""Whole builds on a tiny synthetic cohort: formats, determinism, executors, atomicity."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from bbox3d import Box
from knee_volumes import PUBLIC_SPLIT_COLUMNS, read_label_map, read_nifti
from moaks_schema import question
from quintuple_builder import (
    QUINTUPLE_COLUMNS,
    SCAN_COLUMNS,
    Dataset,
    QuintupleBuilderError,
    build_dataset,
    content_hash,
    grades_from_chain,
)


@pytest.fixture(scope="module")
def built(cohort, tmp_path_factory):
    _, scans, readings = cohort
    out = tmp_path_factory.mktemp("qb_build") / "ds"
    result = build_dataset(scans, readings, out, label_source="phantom", seed=11, progress=False)
    return result, scans, readings


def test_dataset_folder(built) -> None:
    result, scans, readings = built
    assert result.ok and result.written
    root = result.out_dir
    assert not list(root.parent.glob(".ds.tmp-*"))
    manifest = json.loads((root / "manifest.json").read_text())
    assert manifest["content_hash"] == content_hash(root) == result.content_hash
    assert manifest["seed"] == 11 and manifest["label_source"] == "phantom"
    assert manifest["packages"]["quintuple-builder"] == "0.1.0"
    assert (
        manifest["counts"]["all"]["scans"] == 12
        and manifest["counts"]["all"]["quintuples"] == 12 * 69
    )
    ds = Dataset.open(root)
    s = ds.scans()
    assert s.columns[: len(SCAN_COLUMNS)] == list(SCAN_COLUMNS)
    assert ds.scans(label_sources=("manual", "phantom")).height == s.height == 12
    assert ds.scans(label_sources=("nnunet",)).height == 0
    with pytest.raises(QuintupleBuilderError, match="label sources"):
        ds.scans(label_sources=("guess",))
    q = ds.quintuples()
    assert q.columns[: len(QUINTUPLE_COLUMNS)] == list(QUINTUPLE_COLUMNS)
    assert set(s["split"]) == {"train", "val", "test"}
    # canonical volumes and label maps copied, boxes agree with the label maps
    row = s.row(0, named=True)
    vol = read_nifti(ds.image_path(row["scan_id"]))
    src = read_nifti(scans.filter(pl.col("scan_id") == row["scan_id"])["image_path"].item())
    assert np.array_equal(vol.array, src.array) and list(vol.array.shape) == row["shape"]
    lab = read_label_map(ds.label_path(row["scan_id"]))
    fmc = q.filter((pl.col("scan_id") == row["scan_id"]) & (pl.col("question_id") == 4)).row(
        0, named=True
    )
    assert Box.from_public(fmc["box_public"]) == Box.from_mask(lab == 4)
    patella = q.filter((pl.col("scan_id") == row["scan_id"]) & (pl.col("question_id") == 30)).row(
        0, named=True
    )
    assert Box.from_public(patella["box_public"]) == Box.from_mask((lab == 1) | (lab == 2))
    # grades equal the readings, chains read back
    for r in q.filter(pl.col("question_id").is_in([4, 19, 44, 60])).iter_rows(named=True):
        qq = question(r["question_id"])
        want = {
            k: g
            for k, g in readings.filter(
                (pl.col("patient_id") == r["patient_id"])
                & (pl.col("side") == r["side"])
                & (pl.col("question_id") == r["question_id"])
            )
            .select("attribute", "grade")
            .iter_rows()
        }
        assert grades_from_chain(qq, r["reasoning"]) == want
    # JSONL mirrors Parquet
    lines = (root / "quintuples.jsonl").read_text().splitlines()
    assert len(lines) == q.height and json.loads(lines[0])["quintuple_id"] == q["quintuple_id"][0]
    # statistics and reports
    dist = pl.read_csv(root / "statistics" / "grade_distribution.csv")
    assert dist.filter(pl.col("attribute") == "bml.FMC.size")["count"].sum() == 12
    assert (root / "statistics" / "grade_distribution.png").stat().st_size > 10_000
    counts = pl.read_csv(root / "statistics" / "counts_per_split.csv")
    assert counts.filter(pl.col("split") == "all")["patients"].item() == 6
    assert (root / "reports" / "failures.csv").is_file()


def test_public_and_sft_formats(built) -> None:
    result, _, _ = built
    root = result.out_dir
    n_items = 0
    for split in ("train", "val", "test"):
        with (root / "public" / f"{split}_split.csv").open() as fh:
            rows = list(csv.reader(fh))
        assert tuple(rows[0]) == PUBLIC_SPLIT_COLUMNS
        for r in rows[1:]:
            assert r[6] == f"{root.resolve()}/images/{r[0]}/{r[1]}/{r[2]}_{r[3]}_{r[4]}.nii.gz"
        items = json.loads((root / "public" / f"{split}.json").read_text())
        n_items += len(items)
        for it in items[:20]:
            assert set(it) == {"image", "prompt", "answer", "final_diagnosis"}
            assert "MOAKS_scores" in it["final_diagnosis"]
            assert it["answer"].endswith(json.dumps(it["final_diagnosis"], ensure_ascii=False))
        sft = [json.loads(x) for x in (root / "sft" / f"{split}.jsonl").read_text().splitlines()]
        assert len(sft) == len(items)
        if sft:
            roles = [m["role"] for m in sft[0]["messages"]]
            assert roles == ["system", "user", "assistant"]
            assert sft[0]["messages"][1]["content"][0] == {
                "type": "video",
                "video": sft[0]["image"],
            }
    assert n_items == 12 * 69


@pytest.mark.slow
def test_load_dataset_reads_hf_layout(built) -> None:
    import datasets

    result, _, _ = built
    ds = datasets.load_dataset(
        str(result.out_dir / "hf"), cache_dir=str(result.out_dir.parent / "hf_cache")
    )
    assert set(ds) == {"train", "val", "test"}
    assert sum(len(ds[s]) for s in ds) == 12 * 69
    row = ds["test"][0]
    assert row["image"].startswith("images/") and len(row["reasoning"]) == 5
    assert isinstance(row["grades"][0]["grade"], int)


@pytest.mark.slow
def test_phantom_cohort_same_hash_twice_and_with_ray(tmp_path: Path) -> None:
    pytest.importorskip("ray")
    from knee_phantom import write_cohort

    cohort = tmp_path / "cohort"
    write_cohort(cohort, n_patients=2, shape=(24, 48, 48), seed=5, progress=False)
    truth = pl.read_parquet(cohort / "truth" / "readings.parquet")
    ids = sorted(p.name.removesuffix(".nii.gz") for p in (cohort / "nifti").glob("*.nii.gz"))
    scans = pl.DataFrame(
        {
            "scan_id": ids,
            "patient_id": [i.split("_")[0] for i in ids],
            "visit": [i.split("_")[1] for i in ids],
            "side": [int(i.split("_")[2]) for i in ids],
            "image_path": [str(cohort / "nifti" / f"{i}.nii.gz") for i in ids],
            "label_path": [str(cohort / "labels" / f"{i}.nii.gz") for i in ids],
        }
    )
    local = build_dataset(
        scans, truth, tmp_path / "a", label_source="phantom", seed=2, progress=False
    )
    again = build_dataset(
        scans, truth, tmp_path / "b", label_source="phantom", seed=2, progress=False
    )
    ray = build_dataset(
        scans,
        truth,
        tmp_path / "ray",
        label_source="phantom",
        seed=2,
        executor="ray",
        progress=False,
    )
    assert local.ok and ray.ok
    assert local.content_hash == again.content_hash == ray.content_hash
    got = (
        Dataset.open(tmp_path / "ray")
        .quintuples()
        .select("patient_id", "side", "grades")
        .explode("grades")
        .unnest("grades")
    )
    want = truth.select("patient_id", "side", "attribute", "grade")
    assert got.sort("patient_id", "side", "attribute").equals(
        want.sort("patient_id", "side", "attribute")
    )


def test_seed_changes_the_hash(built, tmp_path: Path) -> None:
    result, scans, readings = built
    a = build_dataset(
        scans.head(2), readings, tmp_path / "a", label_source="phantom", seed=11, progress=False
    )
    b = build_dataset(
        scans.head(2), readings, tmp_path / "b", label_source="phantom", seed=12, progress=False
    )
    assert a.content_hash != b.content_hash != result.content_hash


@pytest.mark.slow
def test_failures_stop_or_are_listed(cohort, tmp_path: Path) -> None:
    _, scans, readings = cohort
    scans = scans.head(4).with_columns(
        pl.when(pl.col("scan_id") == scans["scan_id"][1])
        .then(pl.lit(str(tmp_path / "missing.nii.gz")))
        .otherwise(pl.col("image_path"))
        .alias("image_path")
    )
    stopped = build_dataset(
        scans, readings, tmp_path / "stop", label_source="manual", progress=False
    )
    assert not stopped.written and not stopped.ok and not (tmp_path / "stop").exists()
    assert not list(tmp_path.glob(".stop.tmp-*"))
    assert stopped.failures.row(0, named=True)["stage"] == "image"
    kept = build_dataset(
        scans,
        readings,
        tmp_path / "keep",
        label_source="manual",
        keep_going=True,
        workers=2,
        progress=False,
    )
    assert kept.written and not kept.ok and kept.failures.height == 1
    assert Dataset.open(tmp_path / "keep").scans().height == 3
    with pytest.raises(QuintupleBuilderError, match="exists"):
        build_dataset(scans, readings, tmp_path / "keep", label_source="manual", progress=False)
    with pytest.raises(QuintupleBuilderError, match="label_source"):
        build_dataset(scans, readings, tmp_path / "x", label_source="atlas", progress=False)


def test_opening_a_dataset_with_a_leaked_patient_fails(built, tmp_path: Path) -> None:
    import shutil

    result, _, _ = built
    copy = tmp_path / "leaky"
    shutil.copytree(result.out_dir, copy)
    scans = pl.read_parquet(copy / "scans.parquet")
    first = scans.row(0, named=True)
    other = "test" if first["split"] != "test" else "train"
    scans.with_columns(
        pl.when(pl.col("scan_id") == first["scan_id"])
        .then(pl.lit(other))
        .otherwise(pl.col("split"))
        .alias("split")
    ).write_parquet(copy / "scans.parquet")
    with pytest.raises(
        QuintupleBuilderError, match=rf"scans\.parquet: patient {first['patient_id']} is in more"
    ):
        Dataset.open(copy)


def test_public_paths_open_from_any_working_directory(
    built, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    result, _, _ = built
    public = result.out_dir / "public"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    opened = 0
    for split in ("train", "val", "test"):
        with (public / f"{split}_split.csv").open() as fh:
            for row in csv.DictReader(fh):
                for column in ("image_filepath", "label_filepath"):
                    with open(row[column], "rb") as image:  # as the public scripts open them
                        assert image.read(2) == b"\x1f\x8b"
                    opened += 1
        for item in json.loads((public / f"{split}.json").read_text())[:5]:
            assert Path(item["image"]).is_absolute() and Path(item["image"]).is_file()
    assert opened == 2 * 12
    manifest = json.loads((result.out_dir / "manifest.json").read_text())
    assert manifest["public_root"] == result.out_dir.resolve().as_posix()


def test_public_root_option_and_hash_independent_of_location(cohort, built, tmp_path: Path) -> None:
    _, scans, readings = cohort
    result, _, _ = built
    moved = build_dataset(
        scans,
        readings,
        tmp_path / "elsewhere" / "ds",
        label_source="phantom",
        seed=11,
        progress=False,
        public_root="/mnt/reasonknee",
    )
    with (moved.out_dir / "public" / "train_split.csv").open() as fh:
        first = next(csv.DictReader(fh))
    assert first["image_filepath"].startswith("/mnt/reasonknee/images/")
    assert moved.content_hash == result.content_hash == content_hash(moved.out_dir)
