"""The dataset manifest and its content hash.

The content hash is a SHA-256 over every file of the dataset folder except
``manifest.json`` and the figures (``*.png``): over each relative path and the
SHA-256 of its content, in sorted path order. ``.gz`` files are hashed
decompressed (gzip headers carry names and times that say nothing about the
content). The public files (``public/*.csv``, ``public/*.json``) hold absolute paths
starting with the manifest's ``public_root``; that prefix is removed before hashing,
so the hash does not depend on where the folder was built. Two builds of the same
inputs with the same seed have the same hash, whichever executor ran them (tested).
"""

from __future__ import annotations

import gzip
import hashlib
import json
from importlib import metadata
from pathlib import Path
from typing import Any

__all__ = [
    "FORMAT_VERSION",
    "MANIFEST_PACKAGES",
    "content_hash",
    "package_versions",
    "write_manifest",
]

#: Version of the dataset folder layout (docs/formats.md).
FORMAT_VERSION = 1
#: Distributions whose versions the manifest records.
MANIFEST_PACKAGES: tuple[str, ...] = (
    "quintuple-builder",
    "moaks-schema",
    "bbox3d",
    "knee-volumes",
    "numpy",
    "polars",
    "nibabel",
)


def _file_digest(path: Path) -> str:
    h = hashlib.sha256()
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _public_root(root: Path) -> str:
    try:
        recorded = json.loads((root / "manifest.json").read_text(encoding="utf-8")).get(
            "public_root"
        )
    except (OSError, ValueError):
        recorded = None
    return str(recorded or root.resolve().as_posix())


def _public_digest(path: Path, prefix: bytes) -> str:
    return hashlib.sha256(path.read_bytes().replace(prefix, b"")).hexdigest()


def content_hash(root: str | Path, *, public_root: str | Path | None = None) -> str:
    """SHA-256 hex of the dataset folder's content (see the module docstring).

    ``public_root`` defaults to the one recorded in ``manifest.json`` (else the folder's
    absolute path).
    """
    root = Path(root)
    public = Path(public_root).as_posix() if public_root is not None else _public_root(root)
    prefix = (public.rstrip("/") + "/").encode()
    h = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = path.relative_to(root).as_posix()
        if rel == "manifest.json" or rel.endswith(".png"):
            continue
        is_public = rel.startswith("public/") and path.suffix in (".csv", ".json")
        digest = _public_digest(path, prefix) if is_public else _file_digest(path)
        h.update(rel.encode() + b"\0" + digest.encode() + b"\n")
    return h.hexdigest()


def package_versions() -> dict[str, str | None]:
    """Installed versions of :data:`MANIFEST_PACKAGES` (None when not installed)."""
    out: dict[str, str | None] = {}
    for name in MANIFEST_PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def write_manifest(root: str | Path, fields: dict[str, Any]) -> dict[str, Any]:
    """Write ``manifest.json`` (format version, package versions, ``fields``, content hash).

    A ``public_root`` in ``fields`` is the prefix of the public files' paths (see
    :func:`content_hash`).
    """
    root = Path(root)
    manifest = {
        "format_version": FORMAT_VERSION,
        "packages": package_versions(),
        **fields,
        "content_hash": content_hash(root, public_root=fields.get("public_root")),
    }
    (root / "manifest.json").write_text(
        json.dumps(manifest, indent=2, sort_keys=False) + "\n", encoding="utf-8"
    )
    return manifest
