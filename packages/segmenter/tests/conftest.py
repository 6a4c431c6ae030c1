"""Shared helpers of the knee-segmenter tests: small synthetic NIfTI pairs."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

AFFINE = np.array(
    [[0.7, 0.0, 0.0, -10.0], [0.0, 1.46, 0.0, 5.0], [0.0, 0.0, 1.46, 3.0], [0.0, 0.0, 0.0, 1.0]]
)


def synthetic_pair(
    folder: Path,
    case_id: str,
    *,
    seed: int = 0,
    shape: tuple[int, int, int] = (16, 24, 24),
    affine: np.ndarray = AFFINE,
    label_values: tuple[int, ...] = (1, 4, 25),
) -> tuple[Path, Path]:
    """Write ``<case_id>.nii.gz`` (float image) and ``<case_id>_label.nii.gz`` (uint8 map) to ``folder``."""
    rng = np.random.default_rng(seed)
    lab = np.zeros(shape, np.uint8)
    for k, v in enumerate(label_values):
        s0 = int(rng.integers(0, max(1, shape[0] // 3)))
        r0 = (k * shape[1]) // (len(label_values) + 1) + 1
        lab[s0 : s0 + shape[0] // 2, r0 : r0 + max(2, shape[1] // 6), 2 : shape[2] - 2] = v
    img = rng.normal(0.0, 0.1, shape).astype(np.float32) + (lab > 0) * (1.0 + (lab % 5) * 0.5)
    folder.mkdir(parents=True, exist_ok=True)
    ip, lp = folder / f"{case_id}.nii.gz", folder / f"{case_id}_label.nii.gz"
    nib.save(nib.Nifti1Image(img.astype(np.float32), affine), ip)
    nib.save(nib.Nifti1Image(lab, affine), lp)
    return ip, lp


@pytest.fixture
def affine() -> np.ndarray:
    """The affine of the synthetic pairs."""
    return AFFINE.copy()


@pytest.fixture
def make_pair(tmp_path: Path):
    """``make_pair(case_id, **kw)`` -> (image, label) paths under ``tmp_path/data``."""

    def make(case_id: str, **kw) -> tuple[Path, Path]:
        return synthetic_pair(tmp_path / "data", case_id, **kw)

    return make
