"""`reasonknee train`: the vlm and segmenter subcommands, run for real on tiny inputs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from knee_phantom import region_blocks
from reasonknee_train.cli import train

SHAPE = (12, 32, 32)


def _label_map() -> np.ndarray:
    """The 25 regions as separate 3 x 5 x 5 blocks, as in a right knee."""
    return region_blocks(SHAPE, pitch=(4, 10, 10), side=1)


@pytest.fixture(scope="module")
def cohort(tmp_path_factory) -> Path:
    """Four synthetic knees (NIfTI volume + 25-region label map) and their dataset folder."""
    import polars as pl
    from knee_volumes import Volume, write_nifti
    from moaks_schema import READING_COLUMNS, question
    from quintuple_builder import build_dataset

    root = tmp_path_factory.mktemp("train-cli")
    rng = np.random.default_rng(1)
    scans, reads = [], []
    for i in range(4):
        pid = f"{9300000 + i:07d}"
        sid = f"{pid}_00M_1"
        vol = Volume(rng.integers(0, 400, SHAPE).astype(np.uint16), spacing=(0.7, 0.365, 0.365))
        img = write_nifti(vol, root / "manual" / "images" / f"{sid}.nii.gz")
        lab = write_nifti(
            _label_map(), root / "manual" / "labels" / f"{sid}.nii.gz", affine=vol.affine
        )
        scans.append(
            {
                "scan_id": sid,
                "patient_id": pid,
                "visit": "00M",
                "side": 1,
                "study_folder": "20050101",
                "series_folder": f"{10000000 + i:08d}",
                "image_path": str(img),
                "label_path": str(lab),
            }
        )
        for a in question(44).attributes:
            reads.append((pid, "00M", 1, 44, a.key, int(rng.integers(0, 2)), "phantom"))
    readings = pl.DataFrame(reads, schema=list(READING_COLUMNS), orient="row")
    build_dataset(
        pl.DataFrame(scans),
        readings,
        root / "dataset",
        label_source="phantom",
        question_ids=[44],
        seed=0,
        progress=False,
    )
    return root


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    from vlm_adapters.tiny import build_tiny_qwen

    return build_tiny_qwen(tmp_path_factory.mktemp("tiny-cli") / "qwen", seed=0)


@pytest.mark.slow
def test_train_vlm_runs_keeps_the_best_adapter_and_resumes(
    cohort: Path, tiny: Path, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    args = [
        "vlm",
        "--dataset",
        str(cohort / "dataset"),
        "--base",
        str(tiny),
        "--out",
        str(out),
        "--no-cot",
        "--setting",
        "zero-shot",
        "--max-frames",
        "4",
        "--frame-size",
        "28x28",
        "--epochs",
        "2",
        "--batch",
        "1",
        "--grad-accum",
        "1",
        "--lr",
        "1e-3",
        "--eval-limit",
        "1",
        "--max-new-tokens",
        "4",
        "--device",
        "cpu",
        "--lora-r",
        "4",
        "--lora-alpha",
        "8",
    ]
    res = CliRunner().invoke(train, args)
    assert res.exit_code == 0, res.output
    assert res.output.strip().splitlines()[-1] == str(out / "best")
    config = json.loads((out / "best" / "adapter_config.json").read_text())
    assert config["r"] == 4 and set(config["target_modules"]) == {
        "q_proj",
        "k_proj",
        "v_proj",
        "o_proj",
    }
    info = json.loads((out / "best" / "sft_run.json").read_text())
    assert info["config"]["cot"] is False and info["config"]["frame_size"] == [28, 28]
    assert sorted(p.name for p in (out / "eval").iterdir()) == [
        "epoch-001.metrics.json",
        "epoch-001.predictions.jsonl",
        "epoch-002.metrics.json",
        "epoch-002.predictions.jsonl",
    ]
    again = CliRunner().invoke(train, args)
    assert again.exit_code == 0 and "resumed" in again.output
    other = CliRunner().invoke(train, [*args[:-2], "--lora-alpha", "16"])
    assert other.exit_code == 1 and "Traceback" not in other.output
    assert "Error: " in other.output and "lora_alpha" in other.output


def test_train_vlm_usage_errors(cohort: Path, tiny: Path, tmp_path: Path) -> None:
    base = [
        "vlm",
        "--dataset",
        str(cohort / "dataset"),
        "--base",
        str(tiny),
        "--out",
        str(tmp_path / "o"),
    ]
    runner = CliRunner()
    bad_size = runner.invoke(train, [*base, "--frame-size", "0x5"])
    assert bad_size.exit_code == 2 and "--frame-size" in bad_size.output
    assert runner.invoke(train, [*base, "--setting", "few-shot"]).exit_code == 2
    bad_modules = runner.invoke(
        train, [*base, "--target-modules", "nope", "--device", "cpu", "--epochs", "1"]
    )
    assert bad_modules.exit_code == 1 and "Error: target_modules: ('nope',)" in bad_modules.output
    data, out = str(cohort / "dataset"), str(tmp_path / "o")
    neither = runner.invoke(train, ["vlm", "--dataset", data, "--out", out])
    assert neither.exit_code == 2 and "exactly one of --model" in neither.output
    lora = runner.invoke(
        train, ["vlm", "--dataset", data, "--out", out, "--model", f"med3dvlm:{tiny}+lora:x"]
    )
    assert lora.exit_code == 2 and "--model" in lora.output


def test_train_segmenter_usage_errors(cohort: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    neither = runner.invoke(train, ["segmenter", "--out", str(tmp_path / "m")])
    assert neither.exit_code == 2 and "exactly one" in neither.output
    both = runner.invoke(
        train,
        [
            "segmenter",
            "--manual",
            str(cohort / "manual"),
            "--dataset",
            str(cohort / "dataset"),
            "--out",
            str(tmp_path / "m"),
        ],
    )
    assert both.exit_code == 2
    empty = tmp_path / "empty"
    empty.mkdir()
    res = runner.invoke(train, ["segmenter", "--manual", str(empty), "--out", str(tmp_path / "m")])
    assert res.exit_code == 2 and "images/ and labels/" in res.output
    res = runner.invoke(train, ["segmenter", "--dataset", str(empty), "--out", str(tmp_path / "m")])
    assert res.exit_code == 2 and "manifest.json" in res.output  # not a dataset folder


@pytest.mark.slow
def test_train_segmenter_trains_nnunet_and_resumes(cohort: Path, tmp_path: Path) -> None:
    out = tmp_path / "model"
    args = [
        "segmenter",
        "--manual",
        str(cohort / "manual"),
        "--out",
        str(out),
        "--epochs",
        "1",
        "--iterations",
        "2",
        "--device",
        "cpu",
        "--augmentation",
        "none",
        "--precision",
        "bf16",
        "--loss",
        "dice+balanced-ce",
    ]
    res = CliRunner().invoke(train, args)
    assert res.exit_code == 0, res.output
    model = Path(res.output.strip().splitlines()[-1])
    assert (model / "fold_all" / "checkpoint_final.pth").is_file() and (
        model / "plans.json"
    ).is_file()
    record = json.loads((model / "knee_segmenter_training.json").read_text())
    assert (record["augmentation"], record["precision"], record["loss"]) == (
        "none",
        "bf16",
        "dice+balanced-ce",
    )
    log = next((model / "fold_all").glob("training_log_*.txt")).read_text()
    assert "augmentation: none" in log and "precision: bf16" in log
    assert "loss: dice+balanced-ce" in log and "cross-entropy class weights" in log
    again = CliRunner().invoke(train, args)
    assert again.exit_code == 0, again.output
    assert "resuming" in again.output
    # the checkpoint holds SGD's state: resuming with AdamW is refused, naming both
    other = CliRunner().invoke(train, [*args, "--optimizer", "adam"])
    assert other.exit_code == 1
    assert "trained with optimizer 'sgd', asked to continue with 'adam'" in other.output


def test_segmenter_choices_are_the_librarys() -> None:
    """The app lists the choices without importing knee_segmenter at start-up; they stay the library's."""
    import knee_segmenter as ks

    params = {p.name: p for p in train.commands["segmenter"].params}
    library = {
        "optimizer": tuple(ks.OPTIMIZERS),
        "mirroring": ks.MIRRORING_MODES,
        "augmentation": ks.AUGMENTATIONS,
        "precision": ks.PRECISIONS,
        "loss": ks.LOSSES,
    }
    for name, choices in library.items():
        assert tuple(params[name].type.choices) == tuple(choices), name
