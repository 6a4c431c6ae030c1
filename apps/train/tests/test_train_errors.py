"""`reasonknee train` on a corpus of broken inputs: a one-line message naming the file or option,
exit 2 for usage and 1 for failure, never a traceback."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from click.testing import CliRunner
from knee_volumes import Volume, write_nifti
from reasonknee_train.cli import train

SHAPE = (12, 16, 16)


def _manual(tmp: Path, *, labels: np.ndarray | None = None, affine_scale: float = 1.0) -> Path:
    """A manual folder (images/, labels/) of two scans; the second label map as given."""
    root = tmp / "manual"
    for i in range(2):
        vol = Volume(np.full(SHAPE, 100 + i, np.uint16), spacing=(0.7, 0.365, 0.365))
        write_nifti(vol, root / "images" / f"9000{i}_00M_1.nii.gz")
        lab = np.zeros(SHAPE, np.uint8)
        lab[6:9, 4:8, 4:8] = 4
        lab[1:4, 4:8, 4:8] = 7
        aff = vol.affine.copy()
        if i == 1:
            lab = lab if labels is None else labels
            aff[:3, :3] *= affine_scale
        (root / "labels").mkdir(parents=True, exist_ok=True)
        nib.save(nib.Nifti1Image(lab, aff), root / "labels" / f"9000{i}_00M_1.nii.gz")
    return root


def _segmenter(*extra: str, **kw) -> object:
    def args(tmp: Path) -> list[str]:
        return ["segmenter", "--manual", str(_manual(tmp, **kw)), "--out", str(tmp / "model"),
                "--epochs", "1", "--device", "cpu", *extra]  # fmt: skip

    return args


def _no_dataset(tmp: Path) -> list[str]:
    (tmp / "ds").mkdir()
    return ["segmenter", "--dataset", str(tmp / "ds"), "--out", str(tmp / "model")]


def _empty_manual(tmp: Path) -> list[str]:
    (tmp / "manual").mkdir()
    return ["segmenter", "--manual", str(tmp / "manual"), "--out", str(tmp / "model")]


def _vlm(*extra: str, base: str = "base") -> object:
    def args(tmp: Path) -> list[str]:
        (tmp / "ds").mkdir(exist_ok=True)
        (tmp / base).mkdir(exist_ok=True)
        return ["vlm", "--dataset", str(tmp / "ds"), "--base", str(tmp / base),
                "--out", str(tmp / "run"), "--device", "cpu", *extra]  # fmt: skip

    return args


CASES = [
    ("segmenter-neither", lambda tmp: ["segmenter", "--out", str(tmp / "m")], 2, ["exactly one"]),
    ("segmenter-empty-manual", _empty_manual, 2, ["--manual", "images/ and labels/"]),
    ("segmenter-no-dataset", _no_dataset, 2, ["--dataset", "manifest.json"]),
    (
        "segmenter-label-value-30",
        _segmenter(labels=np.full(SHAPE, 30, np.uint8)),
        1,
        ["90001_00M_1", "[30]"],
    ),
    (
        "segmenter-label-doubled-voxels",
        _segmenter(affine_scale=2.0),
        1,
        ["90001_00M_1.nii.gz", "not in its image's space"],
    ),
    (
        "segmenter-fold",
        _segmenter("--fold", "x"),
        2,
        ["--fold"],
    ),
    ("vlm-frame-size", _vlm("--frame-size", "0x5"), 2, ["--frame-size"]),
    ("vlm-not-a-dataset", _vlm(), 1, ["ds"]),
]


@pytest.mark.parametrize(
    ("make_args", "code", "words"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_broken_input_gives_one_message_and_an_exit_code(
    tmp_path: Path, make_args, code: int, words: list[str]
) -> None:
    res = CliRunner().invoke(train, make_args(tmp_path))
    output = res.output
    assert res.exit_code == code, output
    assert res.exception is None or isinstance(res.exception, SystemExit), repr(res.exception)
    assert "Traceback" not in output
    errors = [line for line in output.splitlines() if line.startswith("Error")]
    assert len(errors) == 1, output
    for word in words:
        assert word in (errors[0] if code == 1 else output), output
    assert not (tmp_path / "model").exists() and not (tmp_path / "run").exists()
