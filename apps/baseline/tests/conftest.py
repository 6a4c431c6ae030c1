"""Fixtures of the baseline app's tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from knee_phantom import write_phantom_dataset


@pytest.fixture(scope="session")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small phantom dataset folder (8 patients), built once per test session."""
    root = tmp_path_factory.getbasetemp() / "baseline-cli-dataset"
    if not (root / "manifest.json").exists():
        write_phantom_dataset(root, n_patients=8, seed=0)
    return root
