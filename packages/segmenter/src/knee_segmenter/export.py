"""Export (volume, label map) pairs to an nnU-Net v2 raw dataset.

The dataset is ``<nnUNet_raw>/Dataset<ID>_<name>/`` with ``dataset.json``,
``imagesTr/<case>_0000.nii.gz`` and ``labelsTr/<case>.nii.gz``. Every pair is
validated before anything is written (3D, same shape, same affine, label values
within 0..25); an export is idempotent: files whose bytes would not change are
left alone, and cases no longer listed are removed.
"""

from __future__ import annotations

import gzip
import json
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

import numpy as np
from knee_volumes.atomic import atomic_file

from knee_segmenter.errors import SegmenterError
from knee_segmenter.folders import nnunet_folders

if TYPE_CHECKING:
    import polars as pl

__all__ = [
    "CHANNEL_NAME",
    "DATASET_JSON_KEY",
    "CasePair",
    "PairLike",
    "case_id_from_path",
    "dataset_json",
    "export_dataset",
    "find_dataset_dir",
    "label_names",
    "left_right_axis",
    "pairs_from_folder",
    "pairs_from_manifest",
]

#: The one input channel's name in ``dataset.json`` (any name but "CT" means z-score normalisation).
CHANNEL_NAME = "MRI"
_CASE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


@dataclass(frozen=True, slots=True)
class CasePair:
    """One training case: an image volume and its label map (NIfTI files)."""

    case_id: str
    image: Path
    label: Path


PairLike: TypeAlias = "CasePair | tuple[str | os.PathLike[str], str | os.PathLike[str]] | tuple[str, str | os.PathLike[str], str | os.PathLike[str]]"


def case_id_from_path(path: str | os.PathLike[str]) -> str:
    """The case id of a NIfTI path: its file name without ``.nii.gz`` / ``.nii``.

    >>> case_id_from_path("nifti/9000099_00M_1.nii.gz")
    '9000099_00M_1'
    """
    name = Path(path).name
    for ending in (".nii.gz", ".nii"):
        if name.endswith(ending):
            return name[: -len(ending)]
    return Path(name).stem


def label_names() -> dict[str, int]:
    """nnU-Net's ``labels`` entry: ``background`` 0 and the 25 region codes 1..25.

    >>> names = label_names(); names["background"], names["FMC"], len(names)
    (0, 4, 26)
    """
    from moaks_schema import REGIONS

    return {"background": 0, **{r.code: r.label for r in REGIONS}}


#: The ``dataset.json`` key holding what knee-segmenter knows about the images (nnU-Net ignores it).
DATASET_JSON_KEY = "knee_segmenter"


def left_right_axis(affine: np.ndarray) -> int:
    """The voxel axis (0, 1 or 2 of the NIfTI array) that runs most nearly along the patient's left-right.

    >>> left_right_axis(np.diag([0.7, 0.365, 0.365, 1.0]))
    0
    >>> left_right_axis(np.array([[0, 0, -0.7, 0], [0, 0.4, 0, 0], [-0.4, 0, 0, 0], [0, 0, 0, 1.0]]))
    2
    """
    return int(np.argmax(np.abs(np.asarray(affine, dtype=float)[0, :3])))


def dataset_json(
    num_training: int, *, name: str, description: str = "", lr_axis: int | None = None
) -> dict[str, Any]:
    """The ``dataset.json`` of an exported dataset.

    ``lr_axis``: the images' left-right voxel axis (:func:`left_right_axis`) when
    every case shares it, stored under :data:`DATASET_JSON_KEY` for
    ``KneeSegmenterTrainer``'s left-right mirroring.
    """
    return {
        "name": name,
        "description": description
        or "Knee MRI, 25 MOAKS regions (moaks_schema.REGIONS), exported by knee-segmenter",
        "channel_names": {"0": CHANNEL_NAME},
        "labels": label_names(),
        "numTraining": int(num_training),
        "file_ending": ".nii.gz",
        "overwrite_image_reader_writer": "NibabelIO",
        DATASET_JSON_KEY: {"left_right_axis": lr_axis},
    }


def pairs_from_manifest(
    manifest: pl.DataFrame, *, base_dir: str | os.PathLike[str] | None = None
) -> list[CasePair]:
    """Training pairs from a scan manifest: rows with ``status == "ok"`` and a ``label_path``.

    Relative paths are taken relative to ``base_dir``.
    """
    for col in ("scan_id", "image_path", "label_path"):
        if col not in manifest.columns:
            raise SegmenterError(
                f"scan manifest: missing column {col!r} (expected scan_id, image_path, label_path)"
            )
    base = Path(base_dir) if base_dir is not None else None
    out = []
    for row in manifest.iter_rows(named=True):
        if row.get("status", "ok") != "ok" or row["label_path"] is None:
            continue
        img, lab = Path(row["image_path"]), Path(row["label_path"])
        if base is not None:
            img, lab = base / img, base / lab
        out.append(CasePair(str(row["scan_id"]), img, lab))
    return out


def _nifti_by_case(folder: Path, what: str) -> dict[str, Path]:
    """``case id -> path`` of every NIfTI under ``folder`` (recursively); a case id twice is an error."""
    found: dict[str, Path] = {}
    for path in sorted(folder.rglob("*.nii*")):
        if not path.is_file() or not path.name.endswith((".nii", ".nii.gz")):
            continue
        case = case_id_from_path(path)
        if case in found:
            raise SegmenterError(
                f"{what} folder {folder}: case {case!r} twice ({found[case]} and {path}); "
                "expected one file per case name"
            )
        found[case] = path
    return found


def pairs_from_folder(
    images_dir: str | os.PathLike[str], labels_dir: str | os.PathLike[str]
) -> list[CasePair]:
    """Training pairs from two folders, an image and its label map matched by case name.

    A case's name is its file name without ``.nii.gz`` / ``.nii``
    (:func:`case_id_from_path`), looked for anywhere below each folder; an
    image named as nnU-Net names channels (``<case>_0000.nii.gz``) matches the
    label map ``<case>.nii.gz``. Every image needs a label map and every label
    map an image: the unmatched ones are listed in a :class:`SegmenterError`,
    as are names found twice and folders with no NIfTI at all. Sorted by case.

    >>> pairs_from_folder("no/images", "no/labels")
    Traceback (most recent call last):
    ...
    knee_segmenter.errors.SegmenterError: images folder no/images: not a folder; expected NIfTI scans (*.nii.gz)
    """
    folders = {"images": Path(images_dir), "labels": Path(labels_dir)}
    for what, folder in folders.items():
        if not folder.is_dir():
            raise SegmenterError(
                f"{what} folder {folder}: not a folder; expected NIfTI scans (*.nii.gz)"
            )
    images = _nifti_by_case(folders["images"], "images")
    labels = _nifti_by_case(folders["labels"], "labels")
    if not images:
        raise SegmenterError(f"images folder {folders['images']}: no NIfTI scan (*.nii.gz, *.nii)")
    pairs: list[CasePair] = []
    unlabelled: list[str] = []
    for case, image in images.items():
        name = case if case in labels else case.removesuffix("_0000")
        if name in labels:
            pairs.append(CasePair(name, image, labels.pop(name)))
        else:
            unlabelled.append(image.name)
    if unlabelled or labels:
        detail = []
        if unlabelled:
            detail.append(
                f"{len(unlabelled)} image(s) without a label map in {folders['labels']}: "
                + ", ".join(unlabelled[:5])
                + (" ..." if len(unlabelled) > 5 else "")
            )
        if labels:
            orphans = [p.name for p in labels.values()]
            detail.append(
                f"{len(orphans)} label map(s) without an image in {folders['images']}: "
                + ", ".join(orphans[:5])
                + (" ..." if len(orphans) > 5 else "")
            )
        raise SegmenterError(
            "; ".join(detail)
            + "; expected every image and label map to share a case name (<case>.nii.gz)"
        )
    return sorted(pairs, key=lambda pair: pair.case_id)


def _as_pair(item: Any, index: int) -> CasePair:
    if isinstance(item, CasePair):
        return CasePair(item.case_id, Path(item.image), Path(item.label))
    if isinstance(item, tuple | list) and len(item) == 2:
        return CasePair(case_id_from_path(item[0]), Path(item[0]), Path(item[1]))
    if isinstance(item, tuple | list) and len(item) == 3:
        return CasePair(str(item[0]), Path(item[1]), Path(item[2]))
    raise SegmenterError(
        f"pair #{index}: expected CasePair, (image, label) or (case_id, image, label), got {item!r}"
    )


def _load(path: Path, what: str, case_id: str) -> Any:
    import nibabel as nib

    if not path.is_file():
        raise SegmenterError(f"case {case_id!r}: {what} file {path} does not exist")
    try:
        img: Any = nib.load(str(path))
    except Exception as e:
        raise SegmenterError(
            f"case {case_id!r}: {what} file {path} is not a readable NIfTI ({e})"
        ) from e
    if len(img.shape) != 3:
        raise SegmenterError(
            f"case {case_id!r}: {what} file {path} has shape {img.shape}, expected a 3D volume"
        )
    return img


def _validated_label(pair: CasePair, image: Any) -> np.ndarray:
    """The label map of ``pair`` as uint8 in the image's axes, after checking it against the image.

    The label map is read and checked by :func:`knee_volumes.read_label_map`
    (same voxel grid as the image in any valid orientation, integer labels).
    """
    from knee_volumes import VolumeError, read_label_map
    from knee_volumes.orientation import from_canonical
    from moaks_schema import REGIONS

    if not pair.label.is_file():
        raise SegmenterError(f"case {pair.case_id!r}: label map file {pair.label} does not exist")
    try:
        data = from_canonical(read_label_map(pair.label, like=image), image.affine)
    except VolumeError as exc:
        raise SegmenterError(f"case {pair.case_id!r}: {exc} (image {pair.image})") from exc
    values = np.unique(data)
    bad = values[(values < 0) | (values > len(REGIONS))]
    if bad.size:
        raise SegmenterError(
            f"case {pair.case_id!r}: label map {pair.label} has values {bad[:10].tolist()} outside "
            f"0..{len(REGIONS)} (background and the moaks_schema.REGIONS labels)"
        )
    return data.astype(np.uint8)


def _image_bytes(path: Path) -> bytes:
    raw = path.read_bytes()
    if path.name.endswith(".gz"):
        return raw
    return gzip.compress(raw, mtime=0)


def _label_bytes(data: np.ndarray, image: Any) -> bytes:
    import nibabel as nib

    header = image.header.copy()
    header.set_data_dtype(np.uint8)
    out = nib.Nifti1Image(data, image.affine, header=header)
    out.header.set_slope_inter(1.0, 0.0)
    return gzip.compress(out.to_bytes(), mtime=0)


def _write_if_changed(path: Path, data: bytes) -> bool:
    if path.is_file() and path.stat().st_size == len(data) and path.read_bytes() == data:
        return False
    with atomic_file(path) as tmp:
        tmp.write_bytes(data)
    return True


def find_dataset_dir(dataset_id: int, *, root: str | os.PathLike[str] | None = None) -> Path:
    """The raw dataset folder ``Dataset<ID>_*`` under the nnU-Net raw folder."""
    raw = nnunet_folders(root).raw
    found = sorted(raw.glob(f"Dataset{int(dataset_id):03d}_*")) if raw.is_dir() else []
    if len(found) != 1:
        raise SegmenterError(
            f"nnU-Net raw folder {raw}: expected one dataset folder Dataset{int(dataset_id):03d}_*, found "
            f"{[p.name for p in found] or 'none'} (run export_dataset first)"
        )
    return found[0]


def export_dataset(
    pairs: Iterable[PairLike],
    *,
    dataset_id: int,
    name: str = "KneeRegions",
    root: str | os.PathLike[str] | None = None,
    description: str = "",
) -> Path:
    """Write ``pairs`` as nnU-Net raw dataset ``Dataset<ID>_<name>`` and return its folder.

    ``pairs``: :class:`CasePair` objects, ``(image, label)`` paths (case id = file
    name) or ``(case_id, image, label)``. ``root``: see
    :func:`knee_segmenter.folders.nnunet_folders`. Raises :class:`SegmenterError`
    naming the case for duplicate or malformed case ids, missing or unreadable
    files, shape or affine disagreement and label values outside 0..25; nothing
    is written unless every case is valid.
    """
    if not 1 <= int(dataset_id) <= 999:
        raise SegmenterError(
            f"dataset_id: expected 1..999 (nnU-Net's 3-digit ids), got {dataset_id!r}"
        )
    if not re.fullmatch(r"[A-Za-z0-9_-]+", name):
        raise SegmenterError(f"dataset name {name!r}: expected letters, digits, '_' or '-'")
    items: Sequence[CasePair] = [_as_pair(p, i) for i, p in enumerate(pairs)]
    if not items:
        raise SegmenterError("pairs: expected at least one (image, label) pair, got none")
    seen: dict[str, CasePair] = {}
    for pair in items:
        if not _CASE_RE.match(pair.case_id):
            raise SegmenterError(
                f"case {pair.case_id!r} ({pair.image}): case ids must start with a letter or digit and "
                "contain only letters, digits, '_', '.' or '-'"
            )
        if pair.case_id in seen:
            raise SegmenterError(
                f"case {pair.case_id!r}: listed twice ({seen[pair.case_id].image} and {pair.image})"
            )
        seen[pair.case_id] = pair

    folders = nnunet_folders(root)
    ds_name = folders.dataset_name(dataset_id, name)
    out = folders.raw / ds_name
    clash = (
        [p.name for p in folders.raw.glob(f"Dataset{int(dataset_id):03d}_*") if p.name != ds_name]
        if folders.raw.is_dir()
        else []
    )
    if clash:
        raise SegmenterError(
            f"dataset_id {dataset_id}: {folders.raw} already holds {clash}; nnU-Net finds datasets by id, "
            f"so {ds_name} would be ambiguous (remove it or choose another id)"
        )

    # validate everything first: nothing is written for an invalid pair list
    labels: list[tuple[CasePair, Any, np.ndarray]] = []
    for pair in items:
        image = _load(pair.image, "image", pair.case_id)
        if not (pair.image.name.endswith(".nii.gz") or pair.image.name.endswith(".nii")):
            raise SegmenterError(
                f"case {pair.case_id!r}: image {pair.image} must be a .nii or .nii.gz file"
            )
        zooms = image.header.get_zooms()[:3]
        if not all(float(z) > 0 for z in zooms):
            raise SegmenterError(
                f"case {pair.case_id!r}: image {pair.image} has voxel spacing {zooms}, expected > 0"
            )
        labels.append((pair, image, _validated_label(pair, image)))

    images_dir, labels_dir = out / "imagesTr", out / "labelsTr"
    images_dir.mkdir(parents=True, exist_ok=True)
    labels_dir.mkdir(parents=True, exist_ok=True)
    wanted_images, wanted_labels = set(), set()
    for pair, image, data in labels:
        img_name, lab_name = f"{pair.case_id}_0000.nii.gz", f"{pair.case_id}.nii.gz"
        wanted_images.add(img_name)
        wanted_labels.add(lab_name)
        _write_if_changed(images_dir / img_name, _image_bytes(pair.image))
        _write_if_changed(labels_dir / lab_name, _label_bytes(data, image))
    for folder, wanted in ((images_dir, wanted_images), (labels_dir, wanted_labels)):
        for stale in folder.glob("*.nii.gz"):
            if stale.name not in wanted:
                stale.unlink()
    lr_axes = {left_right_axis(image.affine) for _, image, _ in labels}
    lr_axis = (
        lr_axes.pop() if len(lr_axes) == 1 else None
    )  # mixed orientations: no left-right mirroring
    meta = json.dumps(
        dataset_json(len(items), name=name, description=description, lr_axis=lr_axis), indent=2
    )
    meta += "\n"
    _write_if_changed(out / "dataset.json", meta.encode())
    return out
