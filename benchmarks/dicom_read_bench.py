"""DICOM series: the header scan against the full read, and our full read against SimpleITK.

Writes ``--series`` DESS-sized series (160 slices of 384×384 uint16, one file per
slice, as the OAI releases hold them) with ``knee_volumes.write_dicom_series``,
then times, in the same run and on the same files (page cache warm after a first
untimed pass):

1. ``read_series_header`` over all series (what ``scan_oai_release(validate="headers")``
   does per series: every slice's header, geometry and file-size truncation check, no
   pixel read) against ``read_dicom_series`` over the same series; ratio full / header
   (target ≥ 10×);
2. ``read_dicom_series`` of one series against SimpleITK's ``ImageSeriesReader`` on the
   same files (baseline); ratio ours / SimpleITK (target ≤ 1.0×).

Medians over ``--repeats`` runs. Work is bounded by the number of series and repeats,
not by time.

    uv run --frozen python benchmarks/dicom_read_bench.py [--series 4] [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from knee_volumes import Volume, read_dicom_series, read_series_header, write_dicom_series

SHAPE = (160, 384, 384)


def write_series(root: Path, n: int) -> list[Path]:
    rng = np.random.default_rng(0)
    out = []
    for k in range(n):
        array = rng.integers(0, 1000, SHAPE, dtype=np.uint16)
        volume = Volume(array, spacing=(0.7, 0.365, 0.365))
        out.append(write_dicom_series(volume, root / f"series{k}", patient_id=f"{9000000 + k}"))
    return out


def median_s(fn: Callable[[], object], repeats: int) -> float:
    fn()  # warm: page cache, imports
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def sitk_image(folder: Path):  # -> SimpleITK.Image
    import SimpleITK as sitk

    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(folder)))
    return reader.Execute()


def sitk_read(folder: Path) -> np.ndarray:
    import SimpleITK as sitk

    return sitk.GetArrayViewFromImage(sitk_image(folder))


def sitk_canonical(folder: Path) -> np.ndarray:
    """SimpleITK's voxels in the canonical layout (through its own geometry), for the check."""
    import SimpleITK as sitk
    from knee_volumes import to_canonical

    img = sitk_image(folder)
    direction = np.array(img.GetDirection()).reshape(3, 3)
    lps = np.eye(4)
    for k in range(3):  # array axes are (z, y, x)
        lps[:3, k] = direction[:, 2 - k] * img.GetSpacing()[2 - k]
    lps[:3, 3] = img.GetOrigin()
    array, _ = to_canonical(sitk.GetArrayFromImage(img), np.diag([-1.0, -1.0, 1.0, 1.0]) @ lps)
    return array


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--series", type=int, default=4, help="series for the header-scan ratio")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--dir", type=Path, default=None, help="where to write (default: a temp dir)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        folders = write_series(Path(tmp), args.series)
        header = median_s(lambda: [read_series_header(f) for f in folders], args.repeats)
        full = median_s(lambda: [read_dicom_series(f) for f in folders], args.repeats)
        ours = median_s(lambda: read_dicom_series(folders[0]), args.repeats)
        base = median_s(lambda: sitk_read(folders[0]), args.repeats)
        same = np.array_equal(sitk_canonical(folders[0]), read_dicom_series(folders[0]).array)
    n = args.series
    print(f"{n} series of {SHAPE[0]}x{SHAPE[1]}x{SHAPE[2]} uint16, one file per slice")
    print(f"header scan (read_series_header):   {header * 1e3:8.1f} ms for {n} series")
    print(f"full read (read_dicom_series):      {full * 1e3:8.1f} ms for {n} series")
    print(f"ratio full / header:                {full / header:8.1f}x  (target >= 10x)")
    print(f"one series, ours (read_dicom_series): {ours * 1e3:6.1f} ms")
    print(f"one series, SimpleITK ImageSeriesReader (baseline): {base * 1e3:6.1f} ms")
    print(f"ratio ours / SimpleITK:             {ours / base:8.2f}x  (target <= 1.0x)")
    print(f"ratio SimpleITK full read / our header scan: {base * n / header:6.1f}x")
    print(f"same voxels as SimpleITK (canonical layout): {same}")


if __name__ == "__main__":
    main()
