"""Big-endian NIfTI files load in native byte order (so ``torch.from_numpy`` accepts them)."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
from knee_volumes import read_label_map, read_nifti


def _big_endian(path: Path, array: np.ndarray) -> Path:
    header = nib.Nifti1Header(endianness=">")
    header.set_data_dtype(array.dtype)
    img = nib.Nifti1Image(array, np.diag([0.7, 0.365, 0.365, 1.0]), header=header)
    nib.save(img, path)
    assert nib.load(path).get_data_dtype() == np.dtype(f">{array.dtype.char}")
    return path


def test_big_endian_scan_and_label_map_come_out_native(tmp_path: Path) -> None:
    array = (np.arange(4 * 5 * 6) * 37 % 3000).astype(np.int16).reshape(4, 5, 6)
    v = read_nifti(_big_endian(tmp_path / "scan.nii", array))
    assert v.array.dtype.isnative and v.array.dtype == np.int16
    assert sorted(v.array.ravel().tolist()) == sorted(array.ravel().tolist())
    labels = read_label_map(_big_endian(tmp_path / "labels.nii.gz", (array % 26).astype(np.int16)))
    assert labels.dtype == np.uint8 and labels.dtype.isnative
    assert np.array_equal(np.asarray(memoryview(np.ascontiguousarray(v.array))), v.array)
