"""A missing torch or nnunetv2 is a SegmenterError that says how to get it back."""

from __future__ import annotations

import sys

import pytest
from knee_segmenter import SegmenterError, resolve_device


def test_missing_torch_names_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` now fails
    with pytest.raises(SegmenterError, match=r"torch.*pip install 'knee-segmenter'"):
        resolve_device("cpu")


def test_missing_nnunet_names_the_package(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    import knee_segmenter as ks

    raw = ks.nnunet_folders(tmp_path).raw / f"Dataset{ks.DEFAULT_DATASET_ID:03d}_Test"
    raw.mkdir(parents=True)
    (raw / "dataset.json").write_text("{}")
    monkeypatch.setitem(sys.modules, "nnunetv2", None)  # `import nnunetv2...` now fails
    with pytest.raises(SegmenterError, match=r"nnunetv2.*knee-segmenter needs torch and nnunetv2"):
        ks.plan_and_preprocess(ks.DEFAULT_DATASET_ID, root=tmp_path)
