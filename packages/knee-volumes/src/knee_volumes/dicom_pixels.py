"""A DICOM file's pixel data as ``(frames, rows, columns)`` in native byte order.

Uncompressed greyscale data are read straight from the file at the offset the
header gave (no second parse); anything else goes through pydicom's decoders.
A compressed file whose decoder is missing is refused with the decoder's name
and the extra that installs it (``knee-volumes[codecs]``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from knee_volumes.dicom_header import PixelExtent, check_pixel_extent
from knee_volumes.errors import VolumeError

__all__ = ["CODECS_EXTRA", "read_pixels", "read_plane_into", "transfer_syntax"]

#: How to install the decoders of compressed DICOM (JPEG, JPEG-LS, JPEG 2000, RLE).
CODECS_EXTRA = (
    "pip install 'knee-volumes[codecs]' (pylibjpeg with its libjpeg, openjpeg and rle plugins)"
)

_NATIVE = {
    "1.2.840.10008.1.2": "<",  # implicit VR little endian
    "1.2.840.10008.1.2.1": "<",  # explicit VR little endian
    "1.2.840.10008.1.2.2": ">",  # explicit VR big endian (retired)
}


def transfer_syntax(ds: Any) -> str:
    """The dataset's transfer syntax UID (implicit little endian when it has no file meta)."""
    meta = getattr(ds, "file_meta", None)
    uid = meta.get("TransferSyntaxUID") if meta is not None else None
    return str(uid) if uid else "1.2.840.10008.1.2"


def _native_dtype(ds: Any, extent: PixelExtent | None) -> np.dtype | None:
    """The stored dtype of native single-sample 8/16/32-bit pixel data; None when not that."""
    order = _NATIVE.get(transfer_syntax(ds))
    bits = int(ds.get("BitsAllocated") or 0)
    if (
        order is None
        or extent is None
        or extent.offset is None
        or extent.tag != 0x7FE00010
        or int(ds.get("SamplesPerPixel") or 1) != 1
        or bits not in (8, 16, 32)
    ):
        return None
    signed = int(ds.get("PixelRepresentation") or 0) == 1
    return np.dtype(f"{order}{'i' if signed else 'u'}{bits // 8}")


def _mask_unused_bits(array: np.ndarray, ds: Any) -> np.ndarray:
    """As pydicom: bits above BitsStored masked off, signed values sign-extended."""
    bits = array.dtype.itemsize * 8
    stored = int(ds.get("BitsStored") or bits)
    if stored >= bits:
        return array
    shift = bits - stored
    if array.dtype.kind == "i":
        return (array << shift) >> shift
    np.bitwise_and(array, (1 << stored) - 1, out=array)
    return array


def _fast(path: Path, ds: Any, extent: PixelExtent) -> np.ndarray | None:
    """Native single-sample 8/16/32-bit data read with one ``np.fromfile``; None when not that."""
    dtype = _native_dtype(ds, extent)
    if dtype is None:
        return None
    assert extent.offset is not None
    frames, rows, cols = int(ds.get("NumberOfFrames") or 1), int(ds.Rows), int(ds.Columns)
    array = np.fromfile(path, dtype=dtype, count=frames * rows * cols, offset=extent.offset)
    array = array.reshape(frames, rows, cols)
    if not array.dtype.isnative:
        array = array.astype(dtype.newbyteorder("="))
    return _mask_unused_bits(array, ds)


def read_plane_into(path: Path, ds: Any, extent: PixelExtent | None, out: np.ndarray) -> bool:
    """Read a single-frame native little-endian plane straight into ``out`` (a C-contiguous
    ``(rows, columns)`` array of the stored dtype); False, reading nothing, when it is not one."""
    dtype = _native_dtype(ds, extent)
    if (
        dtype is None
        or dtype != out.dtype
        or not dtype.isnative
        or int(ds.get("NumberOfFrames") or 1) != 1
        or out.shape != (int(ds.Rows), int(ds.Columns))
        or not out.flags.c_contiguous
    ):
        return False
    check_pixel_extent(path, ds, extent)
    assert extent is not None and extent.offset is not None
    with path.open("rb") as fh:
        fh.seek(extent.offset)
        got = fh.readinto(out.data.cast("B"))
    if got != out.nbytes:
        raise VolumeError(f"truncated: read {got} of {out.nbytes} pixel bytes", path=path)
    masked = _mask_unused_bits(out, ds)
    if masked is not out:
        out[...] = masked
    return True


def _decoder_problem(ds: Any) -> str | None:
    """Why pydicom cannot decode this transfer syntax here, or None when it can."""
    from pydicom.pixels.decoders.base import get_decoder
    from pydicom.uid import UID

    uid = UID(transfer_syntax(ds))
    if not uid.is_compressed:
        return None
    try:
        decoder = get_decoder(uid)
    except NotImplementedError:
        return f"pixel data are {uid.name} ({uid}), which no installed DICOM decoder reads"
    if decoder.is_available:
        return None
    missing = "; ".join(getattr(decoder, "missing_dependencies", []) or [])
    return (
        f"pixel data are {uid.name} ({uid}) and no decoder for it is installed "
        f"(pydicom's plugins: {missing or 'none available'}): {CODECS_EXTRA}"
    )


def read_pixels(path: Path, ds: Any, extent: PixelExtent | None) -> np.ndarray:
    """The pixel data of one file as ``(frames, rows, columns)``, native byte order.

    Raises :class:`VolumeError` for a truncated or corrupt file, a missing
    decoder (naming it and the extra to install) or a shape that differs from
    the header's.
    """
    import pydicom

    check_pixel_extent(path, ds, extent)
    assert extent is not None
    array = _fast(path, ds, extent)
    if array is None:
        problem = _decoder_problem(ds)
        if problem:
            raise VolumeError(problem, path=path)
        try:
            array = np.asarray(pydicom.dcmread(path, force=True).pixel_array)
        except Exception as exc:
            raise VolumeError(
                f"pixel data unreadable, truncated or corrupt ({type(exc).__name__}: {exc})",
                path=path,
            ) from exc
        frames = int(ds.get("NumberOfFrames") or 1)
        if array.ndim == 2 and frames == 1:
            array = array[None]
        if not array.dtype.isnative:
            array = array.astype(array.dtype.newbyteorder("="))
    shape = (int(ds.get("NumberOfFrames") or 1), int(ds.Rows), int(ds.Columns))
    if array.shape != shape:
        raise VolumeError(
            f"pixel array has shape {array.shape}, header says {shape} (frames, rows, columns)",
            path=path,
        )
    return array
