"""nnU-Net folder management and environment."""

# ruff: noqa: SIM112  (nnU-Net's environment variables are mixed case)

from __future__ import annotations

import os
import sys
import types

import knee_segmenter as ks
from knee_segmenter.folders import ROOT_ENV


def test_default_root_is_project_local_or_env(monkeypatch, tmp_path):
    monkeypatch.delenv(ROOT_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    assert ks.nnunet_folders().root == tmp_path / ".reasonknee" / "nnunet"
    monkeypatch.setenv(ROOT_ENV, str(tmp_path / "elsewhere"))
    assert ks.nnunet_folders().raw == tmp_path / "elsewhere" / "nnUNet_raw"


def test_use_folders_sets_environment(monkeypatch, tmp_path):
    for var in (
        "nnUNet_raw",
        "nnUNet_preprocessed",
        "nnUNet_results",
        "nnUNet_extTrainer",
        "nnUNet_def_n_proc",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("nnUNet_extTrainer", "/some/other")
    f = ks.use_folders(tmp_path / "nn")
    assert f.raw.is_dir() and f.preprocessed.is_dir() and f.results.is_dir()
    assert os.environ["nnUNet_raw"] == str(f.raw)
    assert os.environ["nnUNet_results"] == str(f.results)
    ext = os.environ["nnUNet_extTrainer"].split(os.pathsep)
    assert ext == [str(ks.trainer_search_path()), "/some/other"]
    assert (ks.trainer_search_path() / "knee_segmenter_nnunet_trainers.py").is_file()
    assert 1 <= int(os.environ["nnUNet_def_n_proc"]) <= 4
    ks.use_folders(tmp_path / "nn")  # idempotent: no duplicate search path
    assert os.environ["nnUNet_extTrainer"].split(os.pathsep) == ext


def test_values_copied_by_imported_nnunet_modules_are_updated(monkeypatch, tmp_path):
    fake = types.ModuleType("nnunetv2.fake_for_test")
    fake.default_num_processes = 8
    fake.nnUNet_raw = "/old/raw"  # how older nnunetv2 releases held the path
    monkeypatch.setitem(sys.modules, "nnunetv2.fake_for_test", fake)
    f = ks.use_folders(tmp_path / "nn", num_processes=1)
    assert fake.default_num_processes == 1
    assert fake.nnUNet_raw == str(f.raw)
    assert os.environ["nnUNet_def_n_proc"] == "1"
