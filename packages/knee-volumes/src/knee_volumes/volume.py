"""The one volume type: a canonical array with its geometry and what is known of the scan."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from knee_volumes.errors import VolumeError
from knee_volumes.orientation import axcodes, spacing_from_affine

__all__ = [
    "STANDARD_SHAPE",
    "STANDARD_SPACING",
    "Volume",
    "scan_id_of",
    "shape_flags",
    "side_from_description",
]


def scan_id_of(patient_id: str, visit: str, side: int | str) -> str:
    """The scan id every table uses: ``"{patient_id}_{visit}_{side}"``.

    >>> scan_id_of("9000099", "00M", 1)
    '9000099_00M_1'
    """
    return f"{patient_id}_{visit}_{side}"


#: Shape of a standard OAI sagittal 3D DESS scan in the canonical layout.
STANDARD_SHAPE: tuple[int, int, int] = (160, 384, 384)
#: Its voxel size in mm (slice, row, col).
STANDARD_SPACING: tuple[float, float, float] = (0.7, 0.365, 0.365)

_SIDE_WORDS = {"RIGHT": 1, "LEFT": 2}


def side_from_description(description: str | None) -> int | None:
    """Knee side (1 right, 2 left) from a series description such as ``SAG_3D_DESS_RIGHT``.

    >>> side_from_description("SAG_3D_DESS_LEFT"), side_from_description("COR_T1"), side_from_description(None)
    (2, None, None)
    """
    if not description:
        return None
    words = set(re.split(r"[^A-Z]+", description.upper()))
    found = {code for word, code in _SIDE_WORDS.items() if word in words}
    return found.pop() if len(found) == 1 else None


def shape_flags(shape: tuple[int, ...]) -> tuple[str, ...]:
    """Warnings for a scan whose shape differs from the standard OAI DESS (160, 384, 384).

    Such scans exist (176, 159, 156, 118, 66 or 8 slices; 352 columns): they
    load, and these flags say how they differ.

    >>> shape_flags((160, 384, 384))
    ()
    >>> shape_flags((176, 384, 352))
    ('unusual number of slices: 176 (standard 160)', 'unusual number of columns: 352 (standard 384)')
    """
    names = ("slices", "rows", "columns")
    return tuple(
        f"unusual number of {name}: {n} (standard {std})"
        for name, n, std in zip(names, shape, STANDARD_SHAPE, strict=True)
        if n != std
    )


@dataclass(frozen=True, eq=False)
class Volume:
    """One knee scan in the canonical layout (see :mod:`knee_volumes.orientation`).

    ``array`` is ``(slice, row, col)``: slices right→left, rows superior→inferior,
    columns anterior→posterior; ``affine`` maps ``(slice, row, col, 1)`` to RAS+
    mm; ``spacing`` is ``(slice_mm, row_mm, col_mm)``. ``side`` is 1 (right),
    2 (left) or None when unknown; ``visit`` is ``"00M"`` … ``"48M"``.
    ``flags`` lists anything unusual that did not prevent loading (an
    unusual shape, for instance); ``source`` is the file or folder it was read
    from.

    >>> v = Volume(np.zeros((8, 16, 16), np.uint16))
    >>> v.shape, v.spacing, v.flags
    ((8, 16, 16), (1.0, 1.0, 1.0), ())
    """

    array: np.ndarray
    spacing: tuple[float, float, float] = (1.0, 1.0, 1.0)
    affine: np.ndarray = field(default=None)  # type: ignore[assignment]
    side: int | None = None
    series_description: str | None = None
    patient_id: str | None = None
    visit: str | None = None
    study_date: str | None = None
    series_number: int | None = None
    source: str | None = None
    flags: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        array = np.asanyarray(self.array)
        if array.ndim != 3:
            raise VolumeError(f"Volume.array must be 3D (slice, row, col), got shape {array.shape}")
        object.__setattr__(self, "array", array)
        if self.affine is None:
            sx, sy, sz = (float(s) for s in self.spacing)
            # canonical axes point L, I, P: in RAS+ that is -x, -z, -y.
            affine = np.array(
                [[-sx, 0, 0, 0], [0, 0, -sz, 0], [0, -sy, 0, 0], [0, 0, 0, 1]], dtype=float
            )
        else:
            affine = np.array(self.affine, dtype=float)
            if affine.shape != (4, 4):
                raise VolumeError(f"Volume.affine must be 4x4, got shape {affine.shape}")
            object.__setattr__(self, "spacing", spacing_from_affine(affine))
        affine.setflags(write=False)
        object.__setattr__(self, "affine", affine)
        object.__setattr__(self, "spacing", tuple(float(s) for s in self.spacing))
        if self.side not in (None, 1, 2):
            raise VolumeError(f"Volume.side must be 1 (right), 2 (left) or None, got {self.side!r}")

    def __repr__(self) -> str:
        known = {
            k: getattr(self, k)
            for k in ("patient_id", "visit", "side", "series_description", "source")
            if getattr(self, k) is not None
        }
        extra = "".join(f", {k}={v!r}" for k, v in known.items())
        flags = f", flags={self.flags!r}" if self.flags else ""
        spacing = tuple(round(s, 4) for s in self.spacing)
        return (
            f"Volume(shape={self.shape}, dtype={self.array.dtype}, spacing={spacing}{extra}{flags})"
        )

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(slices, rows, cols)``."""
        return tuple(int(n) for n in self.array.shape)  # type: ignore[return-value]

    @property
    def axcodes(self) -> tuple[str, str, str]:
        """Axis codes of the affine; ``("L", "I", "P")`` for a canonical volume."""
        return axcodes(self.affine)

    @property
    def scan_id(self) -> str | None:
        """``"{patient_id}_{visit}_{side}"`` when all three are known, else None."""
        if self.patient_id is None or self.visit is None or self.side is None:
            return None
        return scan_id_of(self.patient_id, self.visit, self.side)

    def with_array(self, array: np.ndarray) -> Volume:
        """The same scan and geometry with another array of the same shape (e.g. a label map)."""
        array = np.asanyarray(array)
        if array.shape != self.array.shape:
            raise VolumeError(f"shape {array.shape} differs from the volume's {self.array.shape}")
        return replace(self, array=array)

    def source_path(self) -> Path | None:
        """``source`` as a Path."""
        return None if self.source is None else Path(self.source)
