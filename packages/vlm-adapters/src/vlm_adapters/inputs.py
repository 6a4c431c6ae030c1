"""Input preparation per setting: each scan is read and turned into frames once.

- ``zero-shot`` / ``instruction``: the whole volume, one prepared input shared
  by all of the scan's questions.
- ``gt-region``: the volume cropped to the question's ground-truth box, then
  frames; questions with the same box share one input, questions without a
  box (effusion, periarticular) see the whole volume. The slice spec counts
  inside the crop: ``N`` (or the count of a ``(start, stop[, N])`` range,
  whose volume positions mean nothing in a crop) evenly spaced slices of the
  crop, fewer when the crop is thinner (every slice of it).

Boxes: the prompt asks for the public form ``[start_slice, end_slice, x_min,
x_max, y_min, y_max]`` (inclusive, x = column, y = row). When what the model
sees is not the volume itself (sampled, resized or cropped), a sentence stating
the frames' coordinate system is appended to the prompt, and the record keeps
``view`` so the scorer maps the model's box back to volume voxels.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Container, Iterable, Iterator
from typing import Any

import numpy as np
from moaks_schema import PromptSetting

from vlm_adapters.dataset import ScanItems
from vlm_adapters.errors import AdapterError
from vlm_adapters.protocol import SETTINGS, Batch, InputSpec, Query, ScanInput, SliceSpec

__all__ = ["crop_slices", "iter_batches", "prepare_scan_input", "view_note"]


def view_note(frames_shape: tuple[int, ...], *, cropped: bool) -> str:
    """The sentence stating the box convention in the frames' coordinates.

    >>> view_note((32, 224, 224, 3), cropped=False)[:60]
    'The knee is shown as 32 sagittal frames of 224 x 224 pixels '
    """
    t, h, w = int(frames_shape[0]), int(frames_shape[1]), int(frames_shape[2])
    where = "of the region shown" if cropped else "of the knee"
    return (
        f"The knee is shown as {t} sagittal frames of {h} x {w} pixels {where}. "
        f"Give any box in the coordinates of these frames: "
        f"[start_slice, end_slice, x_min, x_max, y_min, y_max] with frame indices 0..{t - 1} "
        f"for the slices, x = column 0..{w - 1}, y = row 0..{h - 1}, all ends inclusive."
    )


def crop_slices(slices: SliceSpec) -> SliceSpec:
    """The slice spec applied inside a ``gt-region`` crop: ``"all"`` or a count.

    A ``(start, stop[, N])`` range names volume slices, which a crop does not
    keep; its count (``N``, or ``stop - start``) is used instead. A count larger
    than the crop is deep is clipped to the crop by ``prepare_frames``.

    >>> crop_slices(32), crop_slices("all"), crop_slices((32, 128, 16)), crop_slices((10, 20))
    (32, 'all', 16, 10)
    """
    from knee_volumes.frames import SliceRange

    if isinstance(slices, SliceRange):
        return slices.n
    if isinstance(slices, tuple | list) and len(slices) in (2, 3):
        return int(slices[2]) if len(slices) == 3 else int(slices[1]) - int(slices[0])
    return slices


def prepare_scan_input(
    scan: ScanItems,
    volume: Any,
    *,
    spec: InputSpec,
    box_public: tuple[int, ...] | None = None,
) -> ScanInput:
    """Frames (or a volume tensor) of ``volume`` for ``spec``, cropped to ``box_public`` if given.

    In a crop the slice spec is a count (:func:`crop_slices`); ``knee_volumes.prepare_frames``
    takes at most as many slices as the crop has.
    """
    from knee_volumes import prepare_frames

    t0 = time.perf_counter()
    crop = None
    slices = spec.slices
    if box_public is not None:
        from bbox3d import Box

        crop = Box.from_public(list(box_public))
        slices = crop_slices(spec.slices)
    key = "full" if box_public is None else "box:" + ",".join(str(int(v)) for v in box_public)
    if spec.kind == "volume" and spec.volume_shape is not None:
        from vlm_adapters.volume import prepare_volume

        tensor, view = prepare_volume(
            volume, shape=spec.volume_shape, crop=crop, expected_shape=scan.shape
        )
        return ScanInput(
            scan_id=scan.scan_id,
            shape=scan.shape,
            view=view,
            volume=tensor,
            key=key,
            prep_s=time.perf_counter() - t0,
        )
    frames = prepare_frames(volume, window=spec.window, slices=slices, size=spec.size, crop=crop)
    arr = np.asarray(frames.array)
    common = dict(
        scan_id=scan.scan_id,
        shape=scan.shape,
        view=frames.view,
        slice_indices=tuple(int(i) for i in frames.slice_indices),
        key=key,
    )
    if spec.kind == "volume":
        vol = arr[..., 0].astype(np.float32) / 255.0
        return ScanInput(volume=vol, prep_s=time.perf_counter() - t0, **common)  # type: ignore[arg-type]
    return ScanInput(frames=arr, prep_s=time.perf_counter() - t0, **common)  # type: ignore[arg-type]


def _needs_note(scan: ScanInput) -> bool:
    data = scan.frames if scan.frames is not None else scan.volume
    if data is None:
        return False
    return scan.key != "full" or tuple(data.shape[:3]) != tuple(scan.shape)


def iter_batches(
    scans: Iterable[ScanItems],
    *,
    setting: PromptSetting,
    spec: InputSpec,
    done: Container[str] = frozenset(),
    read_volume: Callable[[Any], Any] | None = None,
    state_view: bool = True,
) -> Iterator[Batch]:
    """The batches of a run, skipping done records; a scan with nothing left is never read.

    ``read_volume`` defaults to ``knee_volumes.read_volume``.
    """
    if setting not in SETTINGS:
        raise AdapterError(f"setting {setting!r}: expected one of {', '.join(SETTINGS)}")
    for scan in scans:
        todo = [it for it in scan.items if it.record_id not in done]
        if not todo:
            continue
        for it in todo:
            if setting not in it.prompts:
                raise AdapterError(
                    f"quintuples.parquet: {it.record_id}: no prompt for setting {setting!r}"
                )
        if spec.kind == "none":
            si = ScanInput(scan_id=scan.scan_id, shape=scan.shape)
            yield Batch(
                si,
                tuple(
                    Query(it.record_id, it.scan_id, it.question_id, it.prompts[setting])
                    for it in todo
                ),
            )
            continue
        if read_volume is None:
            from knee_volumes import read_volume as _rv

            read_volume = _rv
        t0 = time.perf_counter()
        try:
            volume = read_volume(scan.image_path)
        except (OSError, ValueError) as exc:
            raise AdapterError(
                f"{scan.image_path}: scan {scan.scan_id} could not be read: {exc}"
            ) from exc
        read_s = time.perf_counter() - t0
        groups: dict[tuple[int, ...] | None, list] = {}
        for it in todo:
            key = it.box_public if setting == "gt-region" else None
            groups.setdefault(key, []).append(it)
        for box, items in groups.items():
            try:
                si = prepare_scan_input(scan, volume, spec=spec, box_public=box)
            except ValueError as exc:
                raise AdapterError(
                    f"{scan.image_path}: scan {scan.scan_id} (shape {scan.shape}): cannot prepare its input with "
                    f"slices={spec.slices!r}, size={spec.size!r}, box={box}: {exc}"
                ) from exc
            si = ScanInput(
                scan_id=si.scan_id,
                shape=si.shape,
                view=si.view,
                frames=si.frames,
                volume=si.volume,
                slice_indices=si.slice_indices,
                key=si.key,
                prep_s=si.prep_s + read_s,
            )
            read_s = 0.0
            note = ""
            if state_view and _needs_note(si):
                data = si.frames if si.frames is not None else si.volume
                assert data is not None
                note = "\n\n" + view_note(tuple(data.shape), cropped=box is not None)
            queries = tuple(
                Query(it.record_id, it.scan_id, it.question_id, it.prompts[setting] + note)
                for it in items
            )
            yield Batch(si, queries)
