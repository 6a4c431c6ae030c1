"""Atomic writes: write next to the target, then rename over it.

Folders are staged in hidden siblings named ``.NAME.tmp-PID-XXXXXXXX`` (and
``.NAME.old-PID-XXXXXXXX`` for a replaced folder on its way out), so that a
later run can tell a folder left by a killed process (its PID no longer runs)
from one still being written: :func:`remove_stale_staging` removes the former.
"""

from __future__ import annotations

import contextlib
import glob
import os
import re
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

__all__ = [
    "LEGACY_STALE_S",
    "atomic_file",
    "atomic_folder",
    "remove_stale_staging",
    "staging_folder",
]

#: Age (s) after which a staging folder without an owner PID in its name counts as stale.
LEGACY_STALE_S = 24 * 3600.0

_OWNED = re.compile(r"\.(?:tmp|old)-(?P<pid>\d+)-[0-9a-f]{8}$")
_LEGACY = re.compile(r"(?:\.tmp-[0-9a-f]{8}|\.old-[0-9a-f]{8}|\.[^.]+\.(?:tmp|old))$")


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def staging_folder(path: Path, *, kind: str = "tmp") -> Path:
    """A new empty hidden folder beside ``path``: ``.NAME.{kind}-PID-XXXXXXXX`` (this process' PID)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{kind}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir(mode=0o777 & ~_umask())
    return tmp


def remove_stale_staging(path: Path, *, legacy_stale_s: float = LEGACY_STALE_S) -> list[Path]:
    """Remove the staging folders beside ``path`` that killed runs left behind; return them.

    A folder named with an owner PID is stale when that process no longer runs;
    one of an older naming (``.NAME.tmp-XXXXXXXX``, ``.NAME.XXXX.tmp``) when
    unmodified for ``legacy_stale_s`` seconds. Folders of live runs are kept.
    """
    removed = []
    now = time.time()
    for entry in path.parent.glob(f".{glob.escape(path.name)}.*"):
        rest = entry.name[len(path.name) + 1 :]
        if not entry.is_dir() or entry.is_symlink():
            continue
        owned = _OWNED.fullmatch(rest)
        if owned:
            stale = not _alive(int(owned["pid"]))
        elif _LEGACY.fullmatch(rest):
            stale = now - entry.stat().st_mtime > legacy_stale_s
        else:
            continue
        if stale:
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
    return removed


@contextlib.contextmanager
def atomic_file(path: Path, *, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path in ``path``'s folder; on success it replaces ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".tmp{suffix}", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    tmp_path.chmod(0o666 & ~_umask())  # mkstemp makes 0600; give the file ordinary permissions
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        tmp_path.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_folder(path: Path, *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary folder next to ``path``; on success it is renamed to ``path``.

    An existing ``path`` is replaced only with ``overwrite``; it is removed
    only after the new folder is complete. Staging folders of killed runs
    beside ``path`` are removed first (:func:`remove_stale_staging`).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists (pass overwrite=True to replace it)")
    remove_stale_staging(path)
    tmp = staging_folder(path)
    try:
        yield tmp
        if path.exists():
            old = staging_folder(path, kind="old")
            os.replace(path, old / "x")
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
