"""Real files no one here wrote: every image file shipped for testing by pydicom, pydicom-data and
nibabel, read with knee-volumes and with an independent reader (SimpleITK for DICOM, nibabel
for NIfTI).

Every file found under those packages' test-data folders is a case (its id is its path), so a
file that a new package version adds is picked up. Each case ends one of two ways:

- knee-volumes reads it: the reference reads it too, the voxels are equal (stored integers
  exactly; rescaled values, which we keep as float32, to float32 precision) and the affines
  agree within 1e-3 mm;
- knee-volumes refuses it: with :class:`VolumeError` whose reason is one a user can act on
  (one of ``ACTIONABLE``), never another exception.

Documented convention difference: for a single slice without ``SpacingBetweenSlices``
knee-volumes takes ``SliceThickness`` as the slice spacing, SimpleITK takes 1 mm; the slice
axis is then compared in direction only.

``test_coverage_is_listed`` (last) prints what was covered and how.
"""

from __future__ import annotations

import gzip
import os
import re
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
from knee_volumes import VolumeError, read_volume, to_canonical

sitk = pytest.importorskip("SimpleITK")
pydicom = pytest.importorskip("pydicom")
nibabel = pytest.importorskip("nibabel")

_LPS = np.diag([-1.0, -1.0, 1.0, 1.0])

#: Reasons a refusal may give (each says what the file is or what is wrong with it).
ACTIONABLE = re.compile(
    r"^(not a DICOM file|not a NIfTI image|not a readable NIfTI file|no pixel data|colour image|"
    r"missing ImagePositionPatient|missing or malformed|malformed DICOM header|"
    r".* is (a|an) .*, not an image series|multi-frame image .* without per-frame geometry|"
    r"Siemens mosaic|truncated|pixel data hold|pixel data are .* no decoder|"
    r"expected a 3D image|unreadable DICOM file, truncated or corrupt|"
    r"image data unreadable, the file is truncated or corrupt|"
    r"pixel data unreadable, truncated or corrupt|ImageOrientationPatient is not)"
)


def _roots() -> dict[str, Path]:
    import pydicom.data

    roots = {
        "pydicom": Path(pydicom.data.__file__).parent / "test_files",
        "nibabel": Path(nibabel.__file__).parent / "tests" / "data",
        "nibabel-nicom": Path(nibabel.__file__).parent / "nicom" / "tests" / "data",
    }
    try:
        import data_store  # the pydicom-data package

        roots["pydicom-data"] = Path(data_store.__file__).parent / "data"
    except ImportError:  # reported by test_every_source_is_installed
        pass
    return roots


def _cases() -> list[tuple[str, Path]]:
    cases = []
    for name, root in _roots().items():
        for path in sorted(root.rglob("*")):
            if path.is_file() and not path.name.startswith("__") and path.suffix != ".py":
                cases.append((f"{name}/{path.relative_to(root).as_posix()}", path))
    return cases


CASES = _cases()
OUTCOMES: dict[str, str] = {}


def test_every_source_is_installed() -> None:
    """pydicom-data is a dev dependency (of knee-volumes and of the workspace): its files are
    covered, never silently left out."""
    assert set(_roots()) == {"pydicom", "pydicom-data", "nibabel", "nibabel-nicom"}
    for name, root in _roots().items():
        assert any(c.startswith(f"{name}/") for c, _ in CASES), f"no files under {root}"


def _reference(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(array, affine) in the canonical layout from SimpleITK (DICOM) or nibabel (NIfTI)."""
    if path.name.endswith((".nii", ".nii.gz")):
        img = nibabel.load(path)
        return to_canonical(np.asanyarray(img.dataobj).reshape(img.shape[:3]), img.affine)
    sitk.ProcessObject_SetGlobalWarningDisplay(False)
    if path.is_dir():
        reader = sitk.ImageSeriesReader()
        reader.SetFileNames(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(path)))
        img = reader.Execute()
    else:
        img = sitk.ReadImage(str(path))
    array = sitk.GetArrayFromImage(img)
    dim = img.GetDimension()
    direction = np.eye(3)
    direction[:dim, :dim] = np.array(img.GetDirection()).reshape(dim, dim)
    spacing = [*img.GetSpacing(), 1.0][:3]
    origin = [*img.GetOrigin(), 0.0][:3]
    if array.ndim == 2:
        array = array[None]
    lps = np.eye(4)
    for k in range(3):  # array axes are (z, y, x)
        lps[:3, k] = direction[:, 2 - k] * spacing[2 - k]
    lps[:3, 3] = origin
    return to_canonical(array, _LPS @ lps)


def _one_slice_axis(volume) -> int | None:
    """The canonical axis along which a single-slice volume has one voxel (None otherwise)."""
    ones = [k for k, n in enumerate(volume.shape) if n == 1]
    return ones[0] if len(ones) == 1 else None


def _compare(case: str, path: Path, volume) -> str:
    ref_array, ref_affine = _reference(path)
    assert ref_array.shape == volume.shape, case
    ours = volume.array
    if ours.dtype.kind == "f" and ref_array.dtype.kind == "f" and ours.dtype != ref_array.dtype:
        np.testing.assert_allclose(ours, ref_array, rtol=2e-7 * 8, atol=1e-6, err_msg=case)
    else:
        assert np.array_equal(ours.astype(np.float64), ref_array.astype(np.float64)), case
    affine, ref = volume.affine.copy(), ref_affine.copy()
    axis = _one_slice_axis(volume)
    if axis is not None:  # slice spacing of one slice: a convention (see the module doc)
        affine[:3, axis] /= np.linalg.norm(affine[:3, axis])
        ref[:3, axis] /= np.linalg.norm(ref[:3, axis])
    np.testing.assert_allclose(affine, ref, atol=1e-3, err_msg=case)
    return f"read {volume.shape} {ours.dtype}, equal to the reference"


def _readable_copy(path: Path, tmp_path: Path) -> Path:
    """Gzipped DICOM files (nibabel ships some) are unzipped first."""
    if path.name.endswith(".dcm.gz"):
        out = tmp_path / path.name[: -len(".gz")]
        out.write_bytes(gzip.decompress(path.read_bytes()))
        return out
    return path


@pytest.mark.parametrize("case,path", CASES, ids=[c for c, _ in CASES])
def test_real_file(case: str, path: Path, tmp_path: Path) -> None:
    path = _readable_copy(path, tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            volume = read_volume(path)
        except VolumeError as exc:
            assert exc.path is not None and Path(exc.path).name == path.name, str(exc)
            assert ACTIONABLE.match(exc.reason), f"{case}: refused without a clear reason: {exc}"
            OUTCOMES[case] = f"refused: {exc.reason[:90]}"
            return
        OUTCOMES[case] = _compare(case, path, volume)


def _norm(value) -> list[object] | None:
    """A header value as a list of numbers or stripped texts (None when absent or empty)."""
    if value is None or value == "":
        return None
    iterable = hasattr(value, "__iter__") and not isinstance(value, str | bytes)
    items = list(value) if iterable else [value]
    out: list[object] = []
    for item in items:
        text = str(item).strip()
        try:
            out.append(float(text))
        except ValueError:
            out.append(text)
    return out


def test_fast_header_agrees_with_pydicom() -> None:
    """Every file the fast header reader takes gives pydicom's fields and pixel extent."""
    from knee_volumes.dicom_fast import FIELDS, read_fast_header
    from knee_volumes.dicom_header import read_header_pydicom

    taken = 0
    for case, path in CASES:
        fast = read_fast_header(path)
        if fast is None:
            continue
        taken += 1
        header, extent = fast
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pydicom warns about invalid values in test files
            ds, reference = read_header_pydicom(path)
        assert extent == reference, case
        for keyword, _ in FIELDS.values():
            ours, theirs = _norm(header.get(keyword)), _norm(ds.get(keyword))
            assert ours == theirs, f"{case}: {keyword}: {ours!r} != {theirs!r}"
    assert taken >= 100


def _series_folders() -> list[tuple[str, Path]]:
    """Folders holding two or more image slices of one series (pydicom's DICOMDIR examples)."""
    out = []
    for case, path in CASES:
        folder = path.parent
        if case.startswith("pydicom/") and "dicomdirtests" in case and folder.name != "TINY_ALPHA":
            entry = (case.rsplit("/", 1)[0], folder)
            if entry not in out and len([p for p in folder.iterdir() if p.is_file()]) >= 2:
                out.append(entry)
    return out


SERIES = _series_folders()
#: Reasons a folder of real files may be refused as one series (besides a file's own reasons).
SERIES_REFUSALS = re.compile(
    r"^(mixed series|duplicated slice|missing slice|uneven slice spacing|no DICOM image slices|"
    r".*(ImageOrientationPatient|slice size|PixelSpacing) .* differs)"
)


@pytest.mark.parametrize("case,folder", SERIES, ids=[c for c, _ in SERIES])
def test_real_series_folder(case: str, folder: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            volume = read_volume(folder)
        except VolumeError as exc:
            assert SERIES_REFUSALS.match(exc.reason) or ACTIONABLE.match(exc.reason), str(exc)
            OUTCOMES[case + "/"] = f"refused: {exc.reason[:90]}"
            return
        OUTCOMES[case + "/"] = _compare(case, folder, volume)


def _philips_enhanced(tmp_path: Path) -> Path:
    src = Path(nibabel.__file__).parent / "nicom" / "tests" / "data" / "philips_mprage.dcm.gz"
    return _readable_copy(src, tmp_path)


def _split_frames(path: Path, folder: Path) -> Path:
    """Write each frame of an enhanced file as a single-frame MR slice (geometry at the top level)."""
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    ds = pydicom.dcmread(path)
    frames = ds.pixel_array
    shared = ds.SharedFunctionalGroupsSequence[0]
    folder.mkdir()
    for k, groups in enumerate(ds.PerFrameFunctionalGroupsSequence):

        def item(name: str, groups=groups):
            return (groups.get(name) or shared.get(name))[0]

        one = pydicom.Dataset()
        one.file_meta = FileMetaDataset()
        one.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        one.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.4"
        one.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        one.SOPClassUID = one.file_meta.MediaStorageSOPClassUID
        one.SOPInstanceUID = one.file_meta.MediaStorageSOPInstanceUID
        one.SeriesInstanceUID = ds.SeriesInstanceUID
        one.InstanceNumber = k + 1
        one.ImagePositionPatient = item("PlanePositionSequence").ImagePositionPatient
        one.ImageOrientationPatient = item("PlaneOrientationSequence").ImageOrientationPatient
        one.PixelSpacing = item("PixelMeasuresSequence").PixelSpacing
        transform = item("PixelValueTransformationSequence")
        one.RescaleSlope, one.RescaleIntercept = transform.RescaleSlope, transform.RescaleIntercept
        for keyword in ("SamplesPerPixel", "PhotometricInterpretation", "Rows", "Columns"):
            setattr(one, keyword, ds.get(keyword))
        for keyword in ("BitsAllocated", "BitsStored", "HighBit", "PixelRepresentation"):
            setattr(one, keyword, ds.get(keyword))
        one.PixelData = np.ascontiguousarray(frames[k]).tobytes()
        one.save_as(folder / f"{k + 1:03d}", enforce_file_format=True)
    return folder


def test_enhanced_mr_equals_its_frames_and_simpleitk(tmp_path: Path) -> None:
    enhanced = _philips_enhanced(tmp_path)
    volume = read_volume(enhanced)
    assert volume.shape == (176, 256, 256)
    _compare("philips_mprage (enhanced MR, 176 frames)", enhanced, volume)
    frames = read_volume(_split_frames(enhanced, tmp_path / "frames"))
    assert np.array_equal(frames.array, volume.array)
    np.testing.assert_allclose(frames.affine, volume.affine, atol=1e-6)


def test_enhanced_mr_without_geometry_is_refused() -> None:
    # pydicom-data's emri_small has ten frames and no functional groups: SimpleITK places them at
    # a default origin and direction; we refuse rather than guess
    from pydicom.data import get_testdata_file

    path = get_testdata_file("emri_small.dcm")
    if path is None:  # pragma: no cover - pydicom-data is a dev dependency
        pytest.skip("pydicom-data not installed")
    with pytest.raises(VolumeError, match=r"multi-frame image \(10 frames\) without per-frame"):
        read_volume(path)


_CODEC_FILES = ("MR_small_jpeg_ls_lossless.dcm", "MR_small_jp2klossless.dcm", "MR_small_RLE.dcm")


def _have_codecs() -> bool:
    try:
        import libjpeg  # noqa: F401
        import openjpeg  # noqa: F401
        import rle  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.mark.skipif(not _have_codecs(), reason="the knee-volumes[codecs] extra is not installed")
@pytest.mark.parametrize("name", _CODEC_FILES)
def test_codecs_extra_decodes_like_the_uncompressed_file(name: str) -> None:
    from pydicom.data import get_testdata_file

    plain = read_volume(get_testdata_file("MR_small.dcm"))
    packed = read_volume(get_testdata_file(name))
    assert np.array_equal(plain.array, packed.array)


def test_missing_decoder_is_named_with_the_extra(tmp_path: Path) -> None:
    """In a fresh interpreter with the JPEG-LS plugins hidden, the message names what to install."""
    import subprocess
    import sys

    from pydicom.data import get_testdata_file

    src = get_testdata_file("MR_small_jpeg_ls_lossless.dcm")
    folder = tmp_path / "s"
    folder.mkdir()
    shutil.copy(src, folder / "001")
    code = (
        "import sys\n"
        "for m in ('libjpeg', 'jpeg_ls', 'gdcm', 'pylibjpeg'): sys.modules[m] = None\n"
        "from knee_volumes import read_dicom_series, VolumeError\n"
        "try:\n"
        f"    read_dicom_series({str(folder)!r})\n"
        "except VolumeError as exc:\n"
        "    print(exc)\n"
    )
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    ).stdout
    assert "001: pixel data are JPEG-LS Lossless Image Compression" in out
    assert "no decoder for it is installed" in out and "knee-volumes[codecs]" in out
    # the header scan does not decode, so it passes
    code_header = code.replace("read_dicom_series(", "print(read_series_header(").replace(
        "read_dicom_series, ", "read_series_header, "
    )
    code_header = code_header.replace(f"{str(folder)!r})", f"{str(folder)!r}).shape)")
    shape = subprocess.run(
        [sys.executable, "-c", code_header], capture_output=True, text=True, env=env, check=True
    ).stdout
    assert shape.strip() == "(64, 1, 64)"


def test_coverage_is_listed() -> None:
    """What the real-file tests covered (run with -s to read the list)."""
    covered = {c for c, _ in CASES} | {c + "/" for c, _ in SERIES}
    missing = sorted(covered - set(OUTCOMES))
    if missing:  # a selection (-k) ran: every case that runs asserts its own outcome
        pytest.skip(f"{len(missing)} real-file cases not run here; run the module to list them")
    read = sorted(c for c, o in OUTCOMES.items() if o.startswith("read"))
    print(
        f"\n{len(OUTCOMES)} real files and folders: {len(read)} read and equal, "
        f"{len(OUTCOMES) - len(read)} refused with a reason"
    )
    for case in sorted(OUTCOMES):
        print(f"  {case}: {OUTCOMES[case]}")
    roots = {c.split("/", 1)[0] for c in read}
    assert {"pydicom", "nibabel", "nibabel-nicom"} <= roots
