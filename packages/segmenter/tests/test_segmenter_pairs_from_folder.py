"""pairs_from_folder: scans and label maps matched by case name, unmatched files named in the error."""

from __future__ import annotations

from pathlib import Path

import pytest
from knee_segmenter import CasePair, SegmenterError, latest_checkpoint, pairs_from_folder


def _touch(folder: Path, *names: str) -> None:
    for name in names:
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")


def test_pairs_matched_by_name_in_any_subfolder(tmp_path: Path) -> None:
    images, labels = tmp_path / "images", tmp_path / "labels"
    _touch(
        images,
        "b/9000002_00M_1.nii.gz",
        "9000001_00M_1.nii",
        "9000003_00M_2_0000.nii.gz",
        "notes.txt",
    )
    _touch(labels, "9000002_00M_1.nii.gz", "x/9000001_00M_1.nii.gz", "9000003_00M_2.nii.gz")
    pairs = pairs_from_folder(images, labels)
    assert pairs == [
        CasePair(
            "9000001_00M_1", images / "9000001_00M_1.nii", labels / "x" / "9000001_00M_1.nii.gz"
        ),
        CasePair(
            "9000002_00M_1", images / "b" / "9000002_00M_1.nii.gz", labels / "9000002_00M_1.nii.gz"
        ),
        CasePair(
            "9000003_00M_2", images / "9000003_00M_2_0000.nii.gz", labels / "9000003_00M_2.nii.gz"
        ),
    ]


def test_unmatched_files_are_named(tmp_path: Path) -> None:
    images, labels = tmp_path / "images", tmp_path / "labels"
    _touch(images, "a.nii.gz", "b.nii.gz")
    _touch(labels, "a.nii.gz", "c.nii.gz")
    with pytest.raises(SegmenterError) as info:
        pairs_from_folder(images, labels)
    message = str(info.value)
    assert "1 image(s) without a label map" in message and "b.nii.gz" in message
    assert "1 label map(s) without an image" in message and "c.nii.gz" in message


@pytest.mark.parametrize(
    ("images", "labels", "message"),
    [
        ((), ("a.nii.gz",), "no NIfTI scan"),
        (("a.nii.gz", "x/a.nii.gz"), ("a.nii.gz",), "twice"),
        (("a.nii.gz",), ("a.nii.gz", "y/a.nii"), "twice"),
    ],
)
def test_folder_errors(tmp_path: Path, images, labels, message) -> None:
    (tmp_path / "images").mkdir()
    (tmp_path / "labels").mkdir()
    _touch(tmp_path / "images", *images)
    _touch(tmp_path / "labels", *labels)
    with pytest.raises(SegmenterError, match=message):
        pairs_from_folder(tmp_path / "images", tmp_path / "labels")
    with pytest.raises(SegmenterError, match="not a folder"):
        pairs_from_folder(tmp_path / "images", tmp_path / "missing")


def test_no_checkpoint_in_a_fresh_root(tmp_path: Path) -> None:
    assert latest_checkpoint(root=tmp_path) is None
    run = (
        tmp_path
        / "nnUNet_results"
        / "Dataset501_KneeRegions"
        / "KneeSegmenterTrainer__nnUNetPlans__3d_fullres"
    )
    (tmp_path / "nnUNet_raw" / "Dataset501_KneeRegions").mkdir(parents=True)
    _touch(run, "fold_all/checkpoint_final.pth", "fold_0/checkpoint_latest.pth")
    assert latest_checkpoint(root=tmp_path) == run / "fold_all" / "checkpoint_final.pth"
    assert latest_checkpoint(root=tmp_path, fold=0) == run / "fold_0" / "checkpoint_latest.pth"
    assert latest_checkpoint(root=tmp_path, fold=1) is None
    with pytest.raises(SegmenterError, match="fold"):
        latest_checkpoint(root=tmp_path, fold=-1)
