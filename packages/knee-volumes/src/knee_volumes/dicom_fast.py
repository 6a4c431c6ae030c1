"""A fast reader of the few header fields a series check needs, for ordinary slice files.

Scanner slices (a 128-byte preamble, ``DICM``, implicit or explicit VR little
endian) are walked element by element with :mod:`struct` up to the pixel data,
keeping only the fields listed in :data:`FIELDS`; sequences are skipped
(including undefined-length ones). Anything else (no preamble, big endian,
deflated or compressed data, enhanced multi-frame files with functional groups,
a header that does not parse) returns None, and the caller reads the file with
pydicom instead: this reader is a shortcut, never a second opinion.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

from knee_volumes.dicom_header import PIXEL_TAGS, PixelExtent

__all__ = ["FIELDS", "FastHeader", "read_fast_header"]

#: Tag -> (keyword, kind): kind "s" text, "m" multi-valued text, "u" unsigned short.
FIELDS: dict[int, tuple[str, str]] = {
    0x00080008: ("ImageType", "m"),
    0x00080016: ("SOPClassUID", "s"),
    0x00080020: ("StudyDate", "s"),
    0x0008103E: ("SeriesDescription", "s"),
    0x00100020: ("PatientID", "s"),
    0x00180050: ("SliceThickness", "s"),
    0x00180088: ("SpacingBetweenSlices", "s"),
    0x0020000E: ("SeriesInstanceUID", "s"),
    0x00200011: ("SeriesNumber", "s"),
    0x00200013: ("InstanceNumber", "s"),
    0x00200032: ("ImagePositionPatient", "m"),
    0x00200037: ("ImageOrientationPatient", "m"),
    0x00200060: ("Laterality", "s"),
    0x00200062: ("ImageLaterality", "s"),
    0x00280002: ("SamplesPerPixel", "u"),
    0x00280004: ("PhotometricInterpretation", "s"),
    0x00280008: ("NumberOfFrames", "s"),
    0x00280010: ("Rows", "u"),
    0x00280011: ("Columns", "u"),
    0x00280030: ("PixelSpacing", "m"),
    0x00280100: ("BitsAllocated", "u"),
    0x00280101: ("BitsStored", "u"),
    0x00280103: ("PixelRepresentation", "u"),
    0x00281052: ("RescaleIntercept", "s"),
    0x00281053: ("RescaleSlope", "s"),
}
_FUNCTIONAL_GROUPS = (0x52009229, 0x52009230)
_LONG_VRS = {
    b"OB",
    b"OD",
    b"OF",
    b"OL",
    b"OV",
    b"OW",
    b"SQ",
    b"SV",
    b"UC",
    b"UN",
    b"UR",
    b"UT",
    b"UV",
}
_SYNTAXES = {"1.2.840.10008.1.2": True, "1.2.840.10008.1.2.1": False}  # -> implicit VR
_ITEM, _ITEM_END, _SEQ_END = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD
_UNDEFINED = 0xFFFFFFFF
_EXPLICIT, _IMPLICIT, _U32 = struct.Struct("<HH2sH"), struct.Struct("<HHL"), struct.Struct("<L")
_FIRST, _HEAD = 1 << 12, 1 << 16  # bytes read first, and at most


class _Unsupported(Exception):
    """The file is not one the fast reader handles; pydicom reads it instead."""


class FastHeader:
    """The fields of :data:`FIELDS` a file holds, with the small part of pydicom's ``Dataset``
    interface the series code uses (``get``, ``in``, attribute access, ``file_meta``)."""

    def __init__(self, values: dict[str, Any], syntax: str) -> None:
        self._values = values
        self.file_meta = {"TransferSyntaxUID": syntax}

    def get(self, keyword: str, default: Any = None) -> Any:
        return self._values.get(keyword, default)

    def __contains__(self, keyword: object) -> bool:
        return keyword in self._values

    def __getattr__(self, keyword: str) -> Any:
        try:
            return self.__dict__["_values"][keyword]
        except KeyError:
            raise AttributeError(keyword) from None


def _value(raw: bytes, kind: str) -> Any:
    if kind == "u":
        return struct.unpack_from("<H", raw)[0] if len(raw) >= 2 else None
    text = raw.decode("latin-1").rstrip("\x00 ").strip()
    if kind == "m":
        return [v.strip() for v in text.split("\\")] if text else None
    return text or None


class _Walker:
    def __init__(self, data: bytes, implicit: bool, size: int) -> None:
        self.data, self.implicit, self.size = data, implicit, size

    def element(self, pos: int, implicit: bool) -> tuple[int, bytes, int, int]:
        """``(tag, vr, length, value offset)`` of the element at ``pos``."""
        if pos + 8 > len(self.data):
            raise _Unsupported
        group, elem = struct.unpack_from("<HH", self.data, pos)
        tag = group << 16 | elem
        if group == 0xFFFE or implicit:
            return tag, b"", struct.unpack_from("<L", self.data, pos + 4)[0], pos + 8
        vr = self.data[pos + 4 : pos + 6]
        if vr in _LONG_VRS:
            if pos + 12 > len(self.data):
                raise _Unsupported
            return tag, vr, struct.unpack_from("<L", self.data, pos + 8)[0], pos + 12
        return tag, vr, struct.unpack_from("<H", self.data, pos + 6)[0], pos + 8

    def skip_undefined(self, pos: int, implicit: bool) -> int:
        """End of an undefined-length sequence whose items start at ``pos``."""
        while True:
            tag, _, length, start = self.element(pos, True)
            if tag == _SEQ_END:
                return start
            if tag != _ITEM:
                raise _Unsupported
            if length != _UNDEFINED:
                pos = start + length
                continue
            pos = start  # an undefined-length item: its elements up to the item delimiter
            while True:
                tag, vr, length, start = self.element(pos, implicit)
                if tag == _ITEM_END:
                    pos = start
                    break
                if length != _UNDEFINED:
                    pos = start + length
                elif implicit or vr == b"SQ":
                    pos = self.skip_undefined(start, implicit)
                else:
                    raise _Unsupported  # UN of undefined length: implicit VR inside


def _meta(data: bytes) -> tuple[str, int]:
    """Transfer syntax and the offset where the dataset starts."""
    if len(data) < 144 or data[128:132] != b"DICM":
        raise _Unsupported
    walker = _Walker(data, False, len(data))
    pos, syntax = 132, ""
    while pos + 8 <= len(data) and data[pos : pos + 2] == b"\x02\x00":
        tag, _, length, start = walker.element(pos, False)
        if tag == 0x00020010:
            syntax = data[start : start + length].decode("latin-1").rstrip("\x00 ")
        pos = start + length
    return syntax, pos


def read_fast_header(path: Path) -> tuple[FastHeader, PixelExtent | None] | None:
    """The header fields and pixel extent of an ordinary slice file, or None (use pydicom)."""
    try:
        size = path.stat().st_size
        with path.open("rb") as fh:
            data = fh.read(_FIRST)
            if len(data) < size and (data.find(b"\xe0\x7f\x10\x00") < 0):
                data += fh.read(_HEAD - len(data))  # a long header: read further
        return _walk(data, size)
    except (_Unsupported, struct.error, OSError, UnicodeDecodeError):
        return None


def _walk(data: bytes, size: int) -> tuple[FastHeader, PixelExtent | None] | None:
    syntax, pos = _meta(data)
    if syntax not in _SYNTAXES:
        return None
    implicit = _SYNTAXES[syntax]
    walker = _Walker(data, implicit, size)
    values: dict[str, Any] = {}
    end = len(data)
    explicit_head, implicit_head, long_length = (
        _EXPLICIT.unpack_from,
        _IMPLICIT.unpack_from,
        _U32.unpack_from,
    )
    vr = b""
    while pos < end:
        if implicit:
            group, elem, length = implicit_head(data, pos)
            start = pos + 8
        else:
            group, elem, vr, length = explicit_head(data, pos)
            if not vr.isalpha() or not vr.isupper():
                return None  # not a VR: the walk is lost, let pydicom read the file
            if vr in _LONG_VRS:
                length = long_length(data, pos + 8)[0]
                start = pos + 12
            else:
                start = pos + 8
        tag = group << 16 | elem
        if tag in PIXEL_TAGS:
            return FastHeader(values, syntax), PixelExtent(tag, start, length, size)
        if tag in _FUNCTIONAL_GROUPS:
            return None
        if length == _UNDEFINED:
            if not implicit and vr != b"SQ":
                return None  # e.g. UN of undefined length (implicit inside): pydicom reads it
            pos = walker.skip_undefined(start, implicit)
            continue
        pos = start + length
        if pos > end:
            return None  # a long element before the pixels: let pydicom read it
        field = FIELDS.get(tag)
        if field is not None:
            values[field[0]] = _value(data[start:pos], field[1])
    return (FastHeader(values, syntax), None) if end == size else None
