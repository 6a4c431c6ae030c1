"""`reasonknee train specialist`: trains for real on a tiny phantom dataset; errors are one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from reasonknee_train.cli import train


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from knee_phantom import write_phantom_dataset

    return write_phantom_dataset(
        tmp_path_factory.mktemp("train-specialist") / "ds", n_patients=4, shape=(16, 32, 32)
    )


@pytest.mark.slow
def test_train_specialist_writes_a_model_folder(dataset: Path, tmp_path: Path) -> None:
    out = tmp_path / "model"
    args = ["specialist", "--dataset", str(dataset), "--out", str(out)]
    res = CliRunner().invoke(train, [*args, "--epochs", "1", "--seed", "3", "--quiet"])
    assert res.exit_code == 0, res.output
    assert "val accuracy" in res.output and "1 CPU thread(s)" in res.output
    config = json.loads((out / "config.json").read_text())
    assert config["config"]["seed"] == 3 and config["config"]["epochs"] == 1
    assert len(json.loads((out / "metrics.json").read_text())["history"]) == 2
    again = CliRunner().invoke(train, [*args, "--quiet"])
    assert again.exit_code == 1
    assert "exists" in again.output and "Traceback" not in again.output


def test_train_specialist_refuses_a_bad_device(dataset: Path, tmp_path: Path) -> None:
    res = CliRunner().invoke(
        train,
        ["specialist", "--dataset", str(dataset), "--out", str(tmp_path / "m"), "--device", "tpu9"],
    )
    assert res.exit_code == 1 and "device 'tpu9'" in res.output
    assert not (tmp_path / "m").exists()
