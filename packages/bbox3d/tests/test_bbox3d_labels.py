"""boxes_from_labels against a brute-force flood fill, on every connectivity and code path."""

from __future__ import annotations

import itertools
from collections import deque

import bbox3d.label_boxes as label_boxes_module
import numpy as np
import pytest
from bbox3d import Bbox3dError, Box, LabelBoxes, RegionBox, boxes_from_labels, enclosing_box
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

settings.register_profile("bbox3d", deadline=None, max_examples=150)
settings.load_profile("bbox3d")


def _offsets(connectivity: int) -> list[tuple[int, int, int]]:
    out = []
    for d in itertools.product((-1, 0, 1), repeat=3):
        n = sum(abs(x) for x in d)
        if n == 0:
            continue
        if (connectivity == 6 and n > 1) or (connectivity == 18 and n > 2):
            continue
        out.append(d)
    return out


def brute_force(label_map: np.ndarray, connectivity: int) -> dict[int, tuple[Box, int, int, int]]:
    """label -> (box, voxels, total_voxels, n_components) by flood fill in C order (ties: first voxel first)."""
    seen = np.zeros(label_map.shape, bool)
    offs = _offsets(connectivity)
    best: dict[int, tuple[Box, int, int, int]] = {}
    for start in itertools.product(*(range(n) for n in label_map.shape)):  # C order
        lab = int(label_map[start])
        if lab == 0 or seen[start]:
            continue
        seen[start] = True
        queue, voxels = deque([start]), [start]
        while queue:
            p = queue.popleft()
            for d in offs:
                q = (p[0] + d[0], p[1] + d[1], p[2] + d[2])
                if (
                    all(0 <= q[i] < label_map.shape[i] for i in range(3))
                    and not seen[q]
                    and label_map[q] == lab
                ):
                    seen[q] = True
                    queue.append(q)
                    voxels.append(q)
        pts = np.array(voxels)
        box = Box(
            *(int(v) for axis in range(3) for v in (pts[:, axis].min(), pts[:, axis].max() + 1))
        )
        if lab not in best:
            best[lab] = (box, len(voxels), len(voxels), 1)
        else:
            b, n, total, k = best[lab]
            # strictly larger only: an earlier-starting equal component keeps its place
            if len(voxels) > n:
                b, n = box, len(voxels)
            best[lab] = (b, n, total + len(voxels), k + 1)
    return best


def _check(lb: LabelBoxes, ref: dict[int, tuple[Box, int, int, int]]) -> None:
    assert sorted(lb) == sorted(ref)
    for lab, (box, n, total, k) in ref.items():
        assert lb[lab] == RegionBox(lab, box, n, total, k)


small_maps = arrays(
    np.uint8,
    st.tuples(st.integers(1, 6), st.integers(1, 7), st.integers(1, 7)),
    elements=st.integers(0, 4),
)


@pytest.mark.parametrize("connectivity", [6, 18, 26])
@given(label_map=small_maps)
@settings(max_examples=60)
def test_matches_brute_force(connectivity: int, label_map: np.ndarray) -> None:
    _check(
        boxes_from_labels(label_map, connectivity=connectivity),
        brute_force(label_map, connectivity),
    )


@pytest.mark.parametrize("connectivity", [6, 18, 26])
@given(label_map=small_maps)
@settings(max_examples=30)
def test_matches_brute_force_on_whole_volume_passes(
    connectivity: int, label_map: np.ndarray
) -> None:
    # force the bincount / scatter path used for very fragmented maps
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(label_boxes_module, "_MAX_COMPONENTS_FOR_CROPS", 0)
        _check(
            boxes_from_labels(label_map, connectivity=connectivity),
            brute_force(label_map, connectivity),
        )
    # first-voxel labels on crops, counts by bincount
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(label_boxes_module, "_MAX_CROP_VOLUMES", 0.0)
        _check(
            boxes_from_labels(label_map, connectivity=connectivity),
            brute_force(label_map, connectivity),
        )


@pytest.mark.parametrize("connectivity", [6, 18, 26])
def test_matches_skimage_on_a_larger_map(connectivity: int) -> None:
    from skimage.measure import label as sk_label

    rng = np.random.default_rng(7)
    m = rng.integers(0, 6, size=(24, 30, 36)).astype(np.uint16)
    m[rng.random(m.shape) < 0.5] = 0
    lb = boxes_from_labels(m, connectivity=connectivity)
    for lab in range(1, 6):
        comps = sk_label(m == lab, connectivity={6: 1, 18: 2, 26: 3}[connectivity])
        counts = np.bincount(comps.ravel())[1:]
        k = int(np.argmax(counts)) + 1  # skimage numbers components in C order of first voxel too
        assert lb[lab].box == Box.from_mask(comps == k)
        assert lb[lab].voxels == counts.max()
        assert lb[lab].total_voxels == int((m == lab).sum())
        assert lb[lab].n_components == len(counts)


def test_requested_labels_absent_and_get() -> None:
    m = np.zeros((4, 4, 4), np.uint8)
    m[1:3, 1:3, 1:3] = 5
    lb = boxes_from_labels(m, labels=[9, 5, 9])
    assert list(lb) == [5] and lb.absent == (9,) and lb.get(9) is None
    assert lb[5].box == Box(1, 3, 1, 3, 1, 3) and lb.boxes() == {5: Box(1, 3, 1, 3, 1, 3)}
    assert boxes_from_labels(np.zeros((2, 2, 2), np.uint8), labels=[1]).absent == (1,)
    assert len(boxes_from_labels(np.zeros((0, 2, 2), np.uint8))) == 0
    with pytest.raises(Bbox3dError, match="background"):
        boxes_from_labels(m, labels=[0])


def test_bool_mask_is_label_one() -> None:
    m = np.zeros((5, 5, 5), bool)
    m[0, 0, 0] = True
    m[2:5, 2:5, 2:4] = True
    assert boxes_from_labels(m)[1].box == Box(2, 5, 2, 5, 2, 4)


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        (np.zeros((4, 4, 4), np.float32), "integer"),
        (np.zeros((4, 4), np.uint8), "3D"),
        (np.zeros((2, 4, 4, 4), np.uint8), "3D"),
        (-np.ones((2, 2, 2), np.int16), ">= 0"),
    ],
)
def test_bad_label_maps_are_rejected(bad: np.ndarray, match: str) -> None:
    with pytest.raises(Bbox3dError, match=match):
        boxes_from_labels(bad)
    with pytest.raises(Bbox3dError, match="connectivity"):
        boxes_from_labels(np.zeros((2, 2, 2), np.uint8), connectivity=8)


def _reference_map() -> np.ndarray:
    rng = np.random.default_rng(3)
    m = rng.integers(0, 4, size=(12, 14, 16)).astype(np.uint8)
    m[rng.random(m.shape) < 0.4] = 0
    return m


def test_views_memmaps_and_dtypes_give_correct_results(tmp_path: object) -> None:
    m = _reference_map()
    ref = boxes_from_labels(m)
    assert dict(boxes_from_labels(np.asfortranarray(m))) == dict(ref)
    # a strided view: every other slice, then compare with its own copy
    view = m[::2]
    assert dict(boxes_from_labels(view)) == dict(boxes_from_labels(view.copy()))
    path = f"{tmp_path}/map.dat"
    mm = np.memmap(path, dtype=np.uint8, mode="w+", shape=m.shape)
    mm[:] = m
    mm.flush()
    ro = np.memmap(path, dtype=np.uint8, mode="r", shape=m.shape)
    assert dict(boxes_from_labels(ro)) == dict(ref)
    assert dict(boxes_from_labels(m.astype(">u2"))) == dict(ref)
    assert dict(boxes_from_labels(m.tolist())) == dict(ref)


def test_huge_label_values_are_kept_exactly() -> None:
    m = _reference_map().astype(np.uint64)
    huge = {1: 2**63 + 12345, 2: 2**40, 3: 2**64 - 1}
    big = np.zeros_like(m)
    for small, large in huge.items():
        big[m == small] = large
    ref = boxes_from_labels(_reference_map())
    got = boxes_from_labels(big, labels=[2**64 - 1, 2**40, 2**63 + 12345, 7])
    assert got.absent == (7,)
    for small, large in huge.items():
        r = got[large]
        assert (r.box, r.voxels, r.total_voxels, r.n_components) == (
            ref[small].box, ref[small].voxels, ref[small].total_voxels, ref[small].n_components,
        )  # fmt: skip
    i64 = _reference_map().astype(np.int64) * (2**50)
    assert sorted(boxes_from_labels(i64)) == [2**50, 2**51, 3 * 2**50]


def test_enclosing_box() -> None:
    m = np.zeros((10, 10, 10), np.uint8)
    m[0:2, 0:2, 0:2] = 1
    m[5:7, 6:8, 3:4] = 2
    m[9, 9, 9] = 2  # an island: not part of the largest component
    lb = boxes_from_labels(m)
    assert enclosing_box(lb, [1, 2]) == Box(0, 7, 0, 8, 0, 4)
    assert enclosing_box(lb, [2, 3]) == Box(5, 7, 6, 8, 3, 4)
    assert enclosing_box(lb, [2, 3], require_all=True) is None
    assert enclosing_box(lb, [3]) is None
    assert enclosing_box({1: Box(0, 1, 0, 1, 0, 1)}, [1]) == Box(0, 1, 0, 1, 0, 1)


def test_results_pickle_for_process_pools() -> None:
    import pickle

    lb = boxes_from_labels(_reference_map(), labels=[1, 2, 9])
    back = pickle.loads(pickle.dumps(lb))
    assert dict(back) == dict(lb) and back.absent == (9,) and back.shape == lb.shape
