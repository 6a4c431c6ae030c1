"""Fixtures of quintuple-builder's tests: a tiny synthetic cohort on disk (NIfTI volumes, label
maps with all 25 regions, a MOAKS readings table) and OAI-shaped MOAKS text files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
from knee_phantom import region_blocks
from moaks_schema import ATTRIBUTES, READING_COLUMNS

SHAPE = (16, 24, 24)


def label_map(shift: int = 0, *, side: int = 2) -> np.ndarray:
    """All 25 labels as separate blocks (shifted by ``shift`` voxels along rows), medial regions on
    the medial side for a knee of ``side`` so the builder's side check passes."""
    return region_blocks(SHAPE, shift=shift, side=side)


def synthetic_cohort(
    root: Path, *, n_patients: int = 6, seed: int = 0
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(scans, readings) for ``n_patients`` x 2 sides at 00M, written under ``root``."""
    from knee_volumes import Volume, write_nifti

    rng = np.random.default_rng(seed)
    scans, reads = [], []
    for i in range(n_patients):
        pid = f"{9100000 + i:07d}"
        for side in (1, 2):
            sid = f"{pid}_00M_{side}"
            vol = Volume(rng.integers(0, 400, SHAPE).astype(np.uint16), spacing=(0.7, 0.365, 0.365))
            img = write_nifti(vol, root / "nifti" / f"{sid}.nii.gz")
            lab = write_nifti(
                label_map(shift=i % 3, side=side),
                root / "labels" / f"{sid}.nii.gz",
                affine=vol.affine,
            )
            scans.append(
                {
                    "scan_id": sid,
                    "patient_id": pid,
                    "visit": "00M",
                    "side": side,
                    "study_folder": "20050101",
                    "series_folder": f"{10000000 + i:08d}",
                    "image_path": str(img),
                    "label_path": str(lab),
                }
            )
            for a in ATTRIBUTES:
                g = int(min(rng.geometric(0.6) - 1, len(a.grades.meanings) - 1))
                reads.append((pid, "00M", side, a.question_id, a.key, g, "phantom"))
    readings = pl.DataFrame(reads, schema=list(READING_COLUMNS), orient="row")
    return pl.DataFrame(scans), readings


@pytest.fixture(scope="session")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pl.DataFrame, pl.DataFrame]:
    root = tmp_path_factory.mktemp("qb_cohort")
    scans, readings = synthetic_cohort(root)
    return root, scans, readings
