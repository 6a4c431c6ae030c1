"""Failed scans are written down also when nothing is built; killed builds' staging is cleaned up."""

from __future__ import annotations

import os
from pathlib import Path

import polars as pl
from quintuple_builder import build_dataset


def _broken(scans: pl.DataFrame, tmp_path: Path, n: int) -> pl.DataFrame:
    missing = [str(tmp_path / f"missing{i}.nii.gz") for i in range(n)]
    return scans.head(n).with_columns(pl.Series("label_path", missing))


def test_failures_csv_beside_the_output_without_keep_going(cohort, tmp_path: Path) -> None:
    _, scans, readings = cohort
    out = tmp_path / "ds"
    mixed = pl.concat([_broken(scans, tmp_path, 1), scans.slice(1, 2)])
    result = build_dataset(mixed, readings, out, label_source="manual", progress=False)
    assert not result.written and not out.exists()
    assert result.failures_csv == tmp_path / "ds.failures.csv"
    table = pl.read_csv(result.failures_csv)
    assert table.columns == ["scan_id", "stage", "error"] and table.height == 1
    assert "missing0.nii.gz does not exist" in table["error"][0]
    # the same inputs fixed: the dataset is written and the stale failures file goes
    ok = build_dataset(scans.slice(1, 2), readings, out, label_source="manual", progress=False)
    assert ok.ok and ok.failures_csv is None and not (tmp_path / "ds.failures.csv").exists()


def test_every_scan_failing_with_keep_going_lists_them(cohort, tmp_path: Path) -> None:
    _, scans, readings = cohort
    result = build_dataset(
        _broken(scans, tmp_path, 2),
        readings,
        tmp_path / "ds",
        label_source="manual",
        keep_going=True,
        progress=False,
    )
    assert not result.written and result.failures.height == 2
    assert result.failures_csv is not None and result.failures_csv.is_file()


def test_killed_builds_staging_is_removed_by_the_next_build(cohort, tmp_path: Path) -> None:
    _, scans, readings = cohort
    # what a build killed with SIGKILL leaves: a staging folder whose owner PID is gone
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    left = tmp_path / f".ds.tmp-{pid}-0123abcd"
    (left / "images").mkdir(parents=True)
    (left / "images" / "x.nii.gz").write_bytes(b"0" * 4096)
    result = build_dataset(
        scans.slice(1, 1), readings, tmp_path / "ds", label_source="manual", progress=False
    )
    assert result.ok
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds"]
