"""The nnU-Net folders (``nnUNet_raw``, ``nnUNet_preprocessed``, ``nnUNet_results``), managed for the user.

nnU-Net v2 reads its folders and worker counts from environment variables; some
(``nnUNet_def_n_proc``) are read once, when ``nnunetv2.configuration`` is first
imported, and copied into other modules. :func:`use_folders` therefore sets the
environment *before* nnunetv2 is imported, and, if nnunetv2 was already imported
by someone else, updates the copies it made, so the values given here win.

The root defaults to ``$REASONKNEE_NNUNET_DIR`` or else ``./.reasonknee/nnunet``:

>>> f = nnunet_folders("/tmp/nn")
>>> f.raw.as_posix(), f.preprocessed.name, f.results.name
('/tmp/nn/nnUNet_raw', 'nnUNet_preprocessed', 'nnUNet_results')
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "DEFAULT_ROOT",
    "ROOT_ENV",
    "NnunetFolders",
    "configure_nnunet",
    "nnunet_folders",
    "trainer_search_path",
    "use_folders",
]

#: Environment variable overriding the default root of the nnU-Net folders.
ROOT_ENV = "REASONKNEE_NNUNET_DIR"
# nnU-Net's environment variable names (mixed case is nnU-Net's choice)
_RAW, _PREPROCESSED, _RESULTS = "nnUNet_raw", "nnUNet_preprocessed", "nnUNet_results"
_EXT_TRAINER, _N_PROC = "nnUNet_extTrainer", "nnUNet_def_n_proc"

#: Project-local default root (relative to the working directory).
DEFAULT_ROOT = Path(".reasonknee") / "nnunet"


@dataclass(frozen=True, slots=True)
class NnunetFolders:
    """The three nnU-Net folders under one root."""

    root: Path

    @property
    def raw(self) -> Path:
        return self.root / "nnUNet_raw"

    @property
    def preprocessed(self) -> Path:
        return self.root / "nnUNet_preprocessed"

    @property
    def results(self) -> Path:
        return self.root / "nnUNet_results"

    def dataset_name(self, dataset_id: int, name: str) -> str:
        """nnU-Net's folder name for a dataset, e.g. ``Dataset501_Knee``."""
        return f"Dataset{int(dataset_id):03d}_{name}"


def nnunet_folders(root: str | os.PathLike[str] | None = None) -> NnunetFolders:
    """The folders under ``root`` (default: ``$REASONKNEE_NNUNET_DIR`` or ``./.reasonknee/nnunet``)."""
    if root is None:
        root = os.environ.get(ROOT_ENV) or DEFAULT_ROOT
    return NnunetFolders(Path(root).absolute())


def trainer_search_path() -> Path:
    """The folder to put on ``nnUNet_extTrainer`` so nnU-Net finds ``KneeSegmenterTrainer``.

    :func:`use_folders` does this for you; set it yourself to use the nnU-Net
    command-line tools (``nnUNetv2_train``, ``nnUNetv2_predict``) with this trainer.
    """
    return Path(__file__).with_name("nnunet_ext")


def use_folders(
    root: str | os.PathLike[str] | None = None,
    *,
    num_processes: int | None = None,
    create: bool = True,
) -> NnunetFolders:
    """Point nnU-Net at the folders under ``root`` (see :func:`nnunet_folders`) and return them.

    Sets ``nnUNet_raw``, ``nnUNet_preprocessed``, ``nnUNet_results`` and calls
    :func:`configure_nnunet`. Call it before nnunetv2 is imported (the functions
    of this package do); safe to call again with another root.
    """
    folders = nnunet_folders(root)
    if create:
        for p in (folders.raw, folders.preprocessed, folders.results):
            p.mkdir(parents=True, exist_ok=True)
    os.environ[_RAW] = str(folders.raw)
    os.environ[_PREPROCESSED] = str(folders.preprocessed)
    os.environ[_RESULTS] = str(folders.results)
    configure_nnunet(num_processes=num_processes)
    _sync_imported_paths(folders)
    return folders


def configure_nnunet(*, num_processes: int | None = None) -> int:
    """Set what nnU-Net needs besides its folders; return the worker count.

    Adds :func:`trainer_search_path` to ``nnUNet_extTrainer`` (so nnU-Net finds
    ``KneeSegmenterTrainer``, also when predicting) and sets ``nnUNet_def_n_proc``
    (``num_processes``; default: the value already in the environment, else half
    the CPU cores, at most 4, not nnU-Net's 8), also in nnunetv2 modules that
    copied it at import.
    """
    ext = str(trainer_search_path())
    current = [p for p in os.environ.get(_EXT_TRAINER, "").split(os.pathsep) if p]
    if ext not in current:
        os.environ[_EXT_TRAINER] = os.pathsep.join([ext, *current])

    if num_processes is not None:
        n = max(1, int(num_processes))
    elif _N_PROC in os.environ:
        n = max(1, int(os.environ[_N_PROC]))
    else:
        n = max(1, min(4, (os.cpu_count() or 1) // 2))
    os.environ[_N_PROC] = str(n)
    for module in _nnunet_modules():
        if isinstance(getattr(module, "default_num_processes", None), int):
            module.default_num_processes = n
    return n


def _nnunet_modules() -> list:
    return [
        m
        for name, m in list(sys.modules.items())
        if m is not None and (name == "nnunetv2" or name.startswith("nnunetv2."))
    ]


def _sync_imported_paths(folders: NnunetFolders) -> None:
    """Older nnunetv2 releases copied the folder paths as strings at import; update those copies.

    (nnunetv2 2.8 reads them lazily, which needs nothing here.)
    """
    paths = {
        "nnUNet_raw": str(folders.raw),
        "nnUNet_preprocessed": str(folders.preprocessed),
        "nnUNet_results": str(folders.results),
    }
    for module in _nnunet_modules():
        for attr, value in paths.items():
            if isinstance(getattr(module, attr, None), str):
                setattr(module, attr, value)
