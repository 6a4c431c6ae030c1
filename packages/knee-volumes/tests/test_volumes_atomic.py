"""Staging folders of killed runs are removed by the next run; those of live runs are kept."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from knee_volumes.atomic import atomic_folder, remove_stale_staging, staging_folder

pytestmark = pytest.mark.slow  # each killed run is a fresh interpreter importing knee_volumes

_STAGE_AND_WAIT = (
    "import sys, time\n"
    "from pathlib import Path\n"
    "from knee_volumes.atomic import staging_folder\n"
    "tmp = staging_folder(Path(sys.argv[1]))\n"
    "(tmp / 'part.bin').write_bytes(b'x' * 1000)\n"
    "print(tmp, flush=True)\n"
    "time.sleep(60)\n"
)


def _killed_run(out: Path) -> Path:
    """A real process that staged a folder for ``out`` and was killed with SIGKILL."""
    proc = subprocess.Popen(
        [sys.executable, "-c", _STAGE_AND_WAIT, str(out)], stdout=subprocess.PIPE, text=True
    )
    staged = Path(proc.stdout.readline().strip())  # type: ignore[union-attr]
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    proc.stdout.close()  # type: ignore[union-attr]
    return staged


def test_killed_runs_staging_is_removed_live_ones_kept(tmp_path: Path) -> None:
    out = tmp_path / "ds"
    dead = _killed_run(out)
    assert dead.is_dir() and dead.name.startswith(".ds.tmp-")
    live = staging_folder(out)  # this process: alive
    old_legacy = tmp_path / ".ds.tmp-0123abcd"
    new_legacy = tmp_path / ".ds.k3j2l1.tmp"
    other = tmp_path / ".dsx.tmp-1-0123abcd"  # another output's
    for p in (old_legacy, new_legacy, other):
        p.mkdir()
    day_ago = time.time() - 2 * 24 * 3600
    os.utime(old_legacy, (day_ago, day_ago))
    removed = remove_stale_staging(out)
    assert sorted(removed) == sorted([dead, old_legacy])
    assert live.is_dir() and new_legacy.is_dir() and other.is_dir()
    assert not dead.exists() and not old_legacy.exists()


def test_atomic_folder_cleans_up_after_a_killed_run(tmp_path: Path) -> None:
    out = tmp_path / "frames"
    dead = _killed_run(out)
    with atomic_folder(out) as tmp:
        (tmp / "a.txt").write_text("a")
    assert (out / "a.txt").is_file()
    assert not dead.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["frames"]
