"""One DICOM file's header, read without its pixel data, and where the pixel data lie.

The header reader stops at the pixel data element and keeps its offset and
length, so a slice cut short is found from the file size alone
(:func:`check_pixel_extent`): no pixel byte is read or decoded.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from knee_volumes.errors import VolumeError

__all__ = [
    "PixelExtent",
    "check_pixel_extent",
    "expected_pixel_bytes",
    "read_header",
    "read_header_pydicom",
]

#: Pixel Data, Float Pixel Data, Double Float Pixel Data.
PIXEL_TAGS = (0x7FE00010, 0x7FE00008, 0x7FE00009)
_UNDEFINED = 0xFFFFFFFF
_DEFLATED = "1.2.840.10008.1.2.1.99"
_ITEM, _SEQ_END = 0xFFFEE000, 0xFFFEE0DD


@dataclass(frozen=True)
class PixelExtent:
    """Where a file's pixel data element starts and how long it says it is.

    ``offset`` is the file offset of the value (after tag, VR and length);
    ``length`` is ``0xFFFFFFFF`` for encapsulated (compressed) data.
    ``offset`` is None when the dataset is deflated (offsets are not file offsets).
    """

    tag: int
    offset: int | None
    length: int
    file_size: int

    @property
    def encapsulated(self) -> bool:
        return self.length == _UNDEFINED


def read_header(path: Path) -> tuple[Any, PixelExtent | None]:
    """``(dataset without pixel data, pixel extent or None)`` for one file.

    Raises :class:`VolumeError` ``not a DICOM file`` for anything that does not
    parse as DICOM (a file without the 128-byte preamble is accepted when it
    parses into a dataset with image rows), and ``unreadable DICOM file`` for a
    header cut short or corrupt.
    """
    from knee_volumes.dicom_fast import read_fast_header

    fast = read_fast_header(path)  # ordinary slices: a few fields, no pydicom parse
    return fast if fast is not None else read_header_pydicom(path)


def read_header_pydicom(path: Path) -> tuple[Any, PixelExtent | None]:
    """:func:`read_header` through pydicom, for every file (the fast reader's reference)."""
    from pydicom.errors import InvalidDicomError
    from pydicom.filereader import read_partial

    found: dict[str, int] = {}
    try:
        size = path.stat().st_size
        with path.open("rb") as fp:

            def at_pixels(tag: int, vr: str | None, length: int) -> bool:
                if int(tag) in PIXEL_TAGS:
                    found.update(tag=int(tag), offset=fp.tell(), length=int(length))
                    return True
                return False

            try:
                ds = read_partial(fp, at_pixels)
            except InvalidDicomError as exc:
                # older archives store datasets without the preamble: accept those that
                # parse into an image, reject anything else
                fp.seek(0)
                found.clear()
                try:
                    ds = read_partial(fp, at_pixels, force=True)
                except Exception:
                    ds = None
                if ds is None or "Rows" not in ds or ("SOPClassUID" not in ds and not found):
                    raise VolumeError(f"not a DICOM file ({exc})", path=path) from exc
    except VolumeError:
        raise
    except Exception as exc:  # truncated headers raise EOFError, OSError, struct.error ...
        raise VolumeError(
            f"unreadable DICOM file, truncated or corrupt ({type(exc).__name__}: {exc})", path=path
        ) from exc
    if not found:
        return ds, None
    syntax = str(getattr(getattr(ds, "file_meta", None), "get", lambda *_: "")("TransferSyntaxUID"))
    offset = None if syntax == _DEFLATED else found["offset"]
    return ds, PixelExtent(found["tag"], offset, found["length"], size)


def expected_pixel_bytes(ds: Any) -> int:
    """Bytes the native (uncompressed) pixel data of ``ds`` must hold, from its header."""
    frames = int(ds.get("NumberOfFrames") or 1)
    samples = int(ds.get("SamplesPerPixel") or 1)
    bits = int(ds.get("BitsAllocated") or 16)
    n = int(ds.Rows) * int(ds.Columns) * samples * frames
    return (n + 7) // 8 if bits == 1 else n * (bits // 8)


def _check_fragments(path: Path, extent: PixelExtent) -> None:
    """Walk the items of encapsulated pixel data (headers only) up to the sequence delimiter."""
    assert extent.offset is not None
    fmt = "<HHL"
    pos = extent.offset
    with path.open("rb") as fp:
        while True:
            fp.seek(pos)
            raw = fp.read(8)
            if len(raw) < 8:
                raise VolumeError(
                    f"truncated: compressed pixel data end at byte {pos} without their "
                    f"sequence delimiter, file has {extent.file_size}",
                    path=path,
                )
            group, elem, length = struct.unpack(fmt, raw)
            tag = group << 16 | elem
            if tag == _SEQ_END:
                return
            if tag != _ITEM:
                raise VolumeError(
                    f"corrupt compressed pixel data: expected an item tag at byte {pos}, "
                    f"found ({group:04X},{elem:04X})",
                    path=path,
                )
            pos += 8 + length
            if pos > extent.file_size:
                raise VolumeError(
                    f"truncated: a compressed pixel data fragment needs bytes up to {pos}, "
                    f"file has {extent.file_size}",
                    path=path,
                )


def check_pixel_extent(path: Path, ds: Any, extent: PixelExtent | None) -> None:
    """Without reading the pixels: they exist, have the size the header implies, and fit in the file."""
    if extent is None:
        raise VolumeError("no pixel data: not an image", path=path)
    if extent.offset is None:  # deflated: checked when the pixels are decoded
        return
    if extent.encapsulated:
        _check_fragments(path, extent)  # encapsulated data are always little endian
        return
    end = extent.offset + extent.length
    if end > extent.file_size:
        raise VolumeError(
            f"truncated: pixel data need bytes {extent.offset}..{end}, file has {extent.file_size}",
            path=path,
        )
    if extent.tag == 0x7FE00010:
        need = expected_pixel_bytes(ds)
        if extent.length < need:
            raise VolumeError(
                f"pixel data hold {extent.length} bytes, {ds.Rows}x{ds.Columns} pixels "
                f"({int(ds.get('NumberOfFrames') or 1)} frame(s)) need {need}",
                path=path,
            )
