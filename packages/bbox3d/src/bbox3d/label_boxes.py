"""Boxes from a label map: the largest connected component of every label, in one call."""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .box import Box
from .errors import Bbox3dError

__all__ = ["LabelBoxes", "RegionBox", "boxes_from_labels", "enclosing_box"]

# Above this many components, per-component work switches from small crops to whole-volume passes.
_MAX_COMPONENTS_FOR_CROPS = 4096
# Per-component counting on crops is used while the crops add up to at most this many volumes.
_MAX_CROP_VOLUMES = 1.5


@dataclass(frozen=True, slots=True)
class RegionBox:
    """One label's largest connected component.

    ``box`` encloses that component, ``voxels`` is its size; ``total_voxels`` counts every
    voxel of the label and ``n_components`` its connected components.
    """

    label: int
    box: Box
    voxels: int
    total_voxels: int
    n_components: int


class LabelBoxes(Mapping[int, RegionBox]):
    """Read-only mapping ``label -> RegionBox`` for the labels present, in increasing label order.

    ``absent`` lists the requested labels that do not occur in the map; ``get(label)``
    returns None for them.
    """

    __slots__ = ("_regions", "absent", "connectivity", "shape")

    def __init__(
        self,
        regions: Mapping[int, RegionBox],
        *,
        absent: Iterable[int] = (),
        shape: tuple[int, int, int],
        connectivity: int,
    ) -> None:
        self._regions: dict[int, RegionBox] = dict(sorted(regions.items()))
        self.absent: tuple[int, ...] = tuple(absent)
        self.shape = shape
        self.connectivity = connectivity

    def __getitem__(self, label: int) -> RegionBox:
        return self._regions[label]

    def __iter__(self) -> Iterator[int]:
        return iter(self._regions)

    def __len__(self) -> int:
        return len(self._regions)

    def boxes(self) -> dict[int, Box]:
        """``{label: box}`` of the largest components."""
        return {k: v.box for k, v in self._regions.items()}

    def __repr__(self) -> str:
        return f"LabelBoxes({len(self)} present, absent={self.absent}, shape={self.shape}, connectivity={self.connectivity})"


def _prepare(label_map: ArrayLike) -> NDArray[Any]:
    arr = label_map if isinstance(label_map, np.ndarray) else np.asarray(label_map)
    if arr.ndim != 3:
        raise Bbox3dError(
            f"label_map: expected a 3D array (slice, row, col), got {arr.ndim}D of shape {arr.shape}"
        )
    if arr.dtype == np.bool_:
        arr = arr.view(np.uint8)
    elif arr.dtype.kind not in "iu":
        raise Bbox3dError(
            f"label_map: expected an integer label map, got dtype {arr.dtype}; "
            "read NIfTI label maps with np.asanyarray(img.dataobj) (not get_fdata()), or cast after checking the values"
        )
    if not arr.dtype.isnative:
        arr = arr.astype(arr.dtype.newbyteorder("="))
    # a plain, writable, C-ordered ndarray: writable memmaps are re-wrapped without copying;
    # read-only buffers (cc3d rejects some), Fortran-ordered or strided views are copied
    # (component numbering, hence tie-breaking, follows C order)
    arr = np.asarray(arr)
    if not arr.flags.c_contiguous or not arr.flags.writeable:
        arr = np.array(arr, order="C", copy=True)
    if arr.dtype.kind == "i" and arr.size and int(arr.min()) < 0:
        raise Bbox3dError(f"label_map: expected labels >= 0, found {int(arr.min())}")
    return arr


def _requested(labels: Iterable[int] | None) -> list[int] | None:
    if labels is None:
        return None
    out: list[int] = []
    for i, lab in enumerate(labels):
        if isinstance(lab, (bool, np.bool_)):
            raise Bbox3dError(f"labels[{i}]: expected an integer label, got {lab!r}")
        try:
            v = operator.index(lab)
        except TypeError:
            raise Bbox3dError(f"labels[{i}]: expected an integer label, got {lab!r}") from None
        if v < 1:
            raise Bbox3dError(f"labels[{i}]: expected a label >= 1 (0 is background), got {v}")
        if v not in out:
            out.append(v)
    return out


def boxes_from_labels(
    label_map: ArrayLike, *, labels: Iterable[int] | None = None, connectivity: int = 26
) -> LabelBoxes:
    """Largest connected component and its box for every label of a 3D integer label map.

    ``labels`` restricts (and orders the ``absent`` report of) the labels looked at; by
    default every non-zero label present is returned. ``connectivity`` is 26 (default),
    18 or 6. Among equally large components the one whose first voxel comes first in
    C (slice, row, col) order wins. A boolean mask is label 1.

    >>> m = np.zeros((3, 4, 5), np.uint8); m[0, 0, 0] = 2; m[2, 2:4, 2:5] = 2
    >>> lb = boxes_from_labels(m, labels=[2, 7])
    >>> lb[2].box, lb[2].voxels, lb[2].total_voxels, lb[2].n_components, lb.absent
    (Box(s0=2, s1=3, r0=2, r1=4, c0=2, c1=5), 6, 7, 2, (7,))
    """
    import cc3d

    if connectivity not in (6, 18, 26):
        raise Bbox3dError(f"connectivity: expected 6, 18 or 26, got {connectivity!r}")
    arr = _prepare(label_map)
    req = _requested(labels)
    shape = (int(arr.shape[0]), int(arr.shape[1]), int(arr.shape[2]))

    regions: dict[int, RegionBox] = {}
    if arr.size:
        cc, n = cc3d.connected_components(arr, connectivity=connectivity, return_N=True)
        n = int(n)
    else:
        n = 0
    if n:
        comp_label, comp_count, box_of = _components(arr, cc, n)
        # largest per label; ties -> lowest component id (cc3d numbers components in C order of first voxel)
        order = np.lexsort((np.arange(n), -comp_count, comp_label))
        lab_sorted = comp_label[order]
        starts = np.flatnonzero(np.r_[True, lab_sorted[1:] != lab_sorted[:-1]])
        totals = np.add.reduceat(comp_count[order], starts)
        sizes = np.diff(np.r_[starts, n])
        group_labels = [int(v) for v in lab_sorted[starts]]
        wanted = None if req is None else set(req)
        groups = [g for g, lab in enumerate(group_labels) if wanted is None or lab in wanted]
        chosen = order[starts[groups]] if groups else np.zeros(0, dtype=np.intp)
        for g, k, box in zip(groups, chosen, box_of(chosen), strict=True):
            regions[group_labels[g]] = RegionBox(
                label=group_labels[g],
                box=box,
                voxels=int(comp_count[k]),
                total_voxels=int(totals[g]),
                n_components=int(sizes[g]),
            )
    absent = () if req is None else tuple(lab for lab in req if lab not in regions)
    if req is not None:
        regions = {lab: regions[lab] for lab in req if lab in regions}
    return LabelBoxes(regions, absent=absent, shape=shape, connectivity=connectivity)


def _slices_to_box(sl: tuple[slice, slice, slice]) -> Box:
    return Box(sl[0].start, sl[0].stop, sl[1].start, sl[1].stop, sl[2].start, sl[2].stop)


def _components(
    arr: NDArray[Any], cc: NDArray[Any], n: int
) -> tuple[NDArray[Any], NDArray[np.int64], Callable[[NDArray[np.intp]], list[Box]]]:
    """Label and voxel count of components 1..n (arrays indexed 0..n-1), and a box getter.

    Few components (the usual case): one ``find_objects`` pass gives every box; each
    component's label is read at its first voxel (found in the first plane of its box) and
    its size counted inside its box. Many components: whole-volume ``bincount`` and a
    label scatter, and boxes only for the chosen components.
    """
    from scipy.ndimage import find_objects

    if n > _MAX_COMPONENTS_FOR_CROPS:
        lut = np.zeros(n + 1, dtype=arr.dtype)
        lut[cc.reshape(-1)] = arr.reshape(-1)
        counts = np.bincount(cc.reshape(-1), minlength=n + 1)[1:].astype(np.int64)

        def boxes_of_chosen(chosen: NDArray[np.intp]) -> list[Box]:
            if len(chosen) == 0:
                return []
            remap = np.zeros(n + 1, dtype=np.min_scalar_type(len(chosen)))
            remap[np.asarray(chosen) + 1] = np.arange(1, len(chosen) + 1)
            objs = find_objects(remap[cc], max_label=len(chosen))
            return [_slices_to_box(sl) for sl in objs]

        return lut[1:], counts, boxes_of_chosen

    objs = find_objects(cc, max_label=n)
    comp_label = np.empty(n, dtype=arr.dtype)
    comp_count = np.empty(n, dtype=np.int64)
    crop_total = sum(
        (a.stop - a.start) * (b.stop - b.start) * (c.stop - c.start) for a, b, c in objs
    )
    count_on_crops = crop_total <= _MAX_CROP_VOLUMES * arr.size
    for i, sl in enumerate(objs):
        k = i + 1
        s = sl[0].start
        plane = cc[s, sl[1], sl[2]]
        j = int(np.argmax(plane == k))  # first voxel of the component in C order
        r, c = divmod(j, plane.shape[1])
        comp_label[i] = arr[s, sl[1].start + r, sl[2].start + c]
        if count_on_crops:
            comp_count[i] = np.count_nonzero(cc[sl] == k)
    if not count_on_crops:
        comp_count[:] = np.bincount(cc.reshape(-1), minlength=n + 1)[1:]
    return comp_label, comp_count, lambda chosen: [_slices_to_box(objs[int(k)]) for k in chosen]


def enclosing_box(
    boxes: LabelBoxes | Mapping[int, RegionBox | Box],
    labels: Iterable[int],
    *,
    require_all: bool = False,
) -> Box | None:
    """Smallest box enclosing the boxes of ``labels`` (those present); None if none is present.

    With a :class:`LabelBoxes` this is exactly the bounding box of the union of the
    labels' *largest components* (islands excluded), which is how this project boxes
    "union" regions such as the whole patella (PM ∪ PL). ``require_all=True`` returns None
    unless every label is present.

    >>> enclosing_box({1: Box(0, 2, 0, 2, 0, 2), 2: Box(5, 6, 1, 3, 0, 1)}, [1, 2, 9])
    Box(s0=0, s1=6, r0=0, r1=3, c0=0, c1=2)
    """
    out: Box | None = None
    for lab in labels:
        item = boxes.get(lab)
        if item is None:
            if require_all:
                return None
            continue
        b = item.box if isinstance(item, RegionBox) else item
        if not isinstance(b, Box):
            raise Bbox3dError(
                f"enclosing_box: entry for label {lab} is {type(item).__name__}, expected RegionBox or Box"
            )
        out = b if out is None else out.union(b)
    return out
