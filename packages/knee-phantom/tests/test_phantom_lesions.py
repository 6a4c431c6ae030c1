"""Each planted lesion is measured back from the rendered phantom by its grade definition."""

from __future__ import annotations

import itertools
from functools import cache

import numpy as np
import pytest
from knee_phantom import Tissue, make_phantom
from knee_phantom import measure as M
from moaks_schema import region

SMALL = (48, 96, 96)
MID = (64, 128, 128)
SEED = 5


@cache
def ph(shape=SMALL, **grades):
    return make_phantom(SEED, shape=shape, grades=grades)


def lab(code: str) -> int:
    return region(code).label


@pytest.mark.parametrize("sr", ["FMC", "TLP", "PM", "SS"])
@pytest.mark.parametrize("size,number", [(1, 1), (2, 2), (3, 3)])
def test_bml_volume_fraction_count_and_brightness(sr, size, number):
    p = ph(**{f"bml.{sr}.size": size, f"bml.{sr}.number": number, f"bml.{sr}.percent": 3})
    reg = p.labels == lab(sr)
    lesion = p.lesion_masks[f"bml.{sr}"]
    frac = np.count_nonzero(lesion & reg) / np.count_nonzero(reg)
    lo, hi = {1: (0.0, 0.33), 2: (0.33, 0.66), 3: (0.66, 1.0)}[size]
    assert lo < frac < hi
    n = M.components(lesion)
    assert n == number if number < 3 else n >= 3
    img = p.volume.array.astype(float)
    bml_only = lesion & ~p.lesion_masks[f"bml.{sr}.cyst"]
    healthy = ph()
    normal = (healthy.labels == lab(sr)) & (healthy.tissues == Tissue.MARROW)
    assert img[bml_only].mean() > healthy.volume.array[normal].mean() + 60  # bright, oedema-like


@pytest.mark.parametrize("percent,lo,hi", [(1, 0.0, 0.33), (2, 0.33, 0.66), (3, 0.66, 1.0)])
def test_bml_percent_is_the_non_cyst_share(percent, lo, hi):
    p = ph(**{"bml.TMC.size": 2, "bml.TMC.number": 1, "bml.TMC.percent": percent})
    lesion, cyst = p.lesion_masks["bml.TMC"], p.lesion_masks["bml.TMC.cyst"]
    share = 1 - cyst.sum() / lesion.sum()
    assert lo < share < hi
    img = p.volume.array.astype(float)
    if cyst.any():
        assert img[cyst].mean() > 250  # cysts are fluid-bright


@pytest.mark.parametrize(
    "sr,size,depth",
    [("TMC", 1, 1), ("TLC", 2, 2), ("FMC", 3, 3), ("FLC", 2, 0), ("TLA", 3, 1)],
)
def test_cartilage_defect_surface_and_full_thickness(sr, size, depth):
    before = ph(MID).tissues
    p = ph(MID, **{f"cartilage.{sr}.size": size, f"cartilage.{sr}.depth": depth})
    surf, full = M.cartilage_columns(before, p.tissues, p.labels, sr)
    s_lo, s_hi = {1: (0.0, 0.10), 2: (0.10, 0.75), 3: (0.75, 1.01)}[size]
    assert s_lo < surf < s_hi
    d_lo, d_hi = {0: (-0.01, 0.02), 1: (0.0, 0.10), 2: (0.10, 0.75), 3: (0.75, 1.01)}[depth]
    assert d_lo < full < d_hi  # depth 0: none, up to one column in fifty at a subregion border
    if depth == 3:
        # a depth-3 defect reaches bone over > 75 % of the defect
        assert full > 0.75
    m = p.lesion_masks[f"cartilage.{sr}"]
    assert (p.tissues[m] == Tissue.LESION_FLUID).all()
    assert p.volume.array[m].mean() > p.volume.array[p.tissues == Tissue.CARTILAGE].mean()


@pytest.mark.parametrize("which", ["MMM", "LML", "MMA", "LMA"])
def test_meniscal_extrusion_millimetres(which):
    mm = [
        M.extrusion_mm(ph(MID, **{f"extrusion.{which}.grade": g}).labels, ph(MID).spacing, which)
        for g in range(4)
    ]
    assert mm[0] < 2.0
    assert mm[3] >= 5.0
    assert 2.0 <= mm[2] <= 5.5
    assert mm[0] < mm[1] <= mm[2] < mm[3]


def test_extrusion_is_measured_on_the_mirrored_left_knee_too():
    p = make_phantom(SEED, shape=MID, side=2, grades={"extrusion.MMM.grade": 3})
    assert M.extrusion_mm(p.labels, p.spacing, "MMM", side=2) >= 5.0


@pytest.mark.parametrize("loc", ["PS", "PL", "FMA", "FMC", "FLP", "TM", "TL"])
def test_osteophyte_protrusion_grows_with_grade(loc):
    base = M.bone_mask(ph(MID).tissues)
    mm = [
        M.protrusion_mm(
            base, M.bone_mask(ph(MID, **{f"osteophyte.{loc}.grade": g}).tissues), ph(MID).spacing
        )
        for g in range(4)
    ]
    assert mm[0] == 0.0
    assert 1.0 < mm[1] < 3.5 < mm[2] < 5.5 < mm[3]
    p = ph(MID, **{f"osteophyte.{loc}.grade": 3})
    new = p.lesion_masks[f"osteophyte.{loc}"]
    assert (p.labels[new] > 0).all()  # osteophytes belong to their bone's region


def test_effusion_volume_rises_with_grade():
    vols = [M.fluid_volume_ml(ph(**{"effusion.grade": g}).tissues, ph().spacing) for g in range(4)]
    assert all(a < b for a, b in itertools.pairwise(vols))
    assert vols[3] > 2.5 * vols[0]
    bright = [np.count_nonzero(ph(**{"effusion.grade": g}).volume.array > 300) for g in range(4)]
    assert all(a < b for a, b in itertools.pairwise(bright))


@pytest.mark.parametrize("lig", ["acl", "pcl"])
def test_complete_tear_breaks_connectivity(lig):
    code = lig.upper()
    assert M.components(ph().labels == lab(code)) == 1
    p = ph(**{f"{lig}.complete_tear": 1})
    assert M.components(p.labels == lab(code)) >= 2
    gap = p.lesion_masks[f"{lig}.complete_tear"]
    assert p.volume.array[gap].mean() > 200  # fluid signal in the gap


def test_acl_repair_graft_and_tunnels_and_insertion_cysts():
    p = ph(**{"acl.repair": 1, "acl.bml_cyst": 1, "pcl.bml_cyst": 1})
    assert (p.tissues[p.labels == lab("ACL")] == Tissue.GRAFT).mean() > 0.9
    tunnels = p.tissues == Tissue.TUNNEL
    assert tunnels.sum() > 20 and (p.labels[tunnels] > 0).any()
    for lig in ("acl", "pcl"):
        cyst = p.lesion_masks[f"{lig}.bml_cyst"]
        assert cyst.sum() > 3 and p.volume.array[cyst].mean() > 200


@pytest.mark.parametrize("code", ["MMA", "MMB", "LMP"])
def test_meniscal_morphology_codes(code):
    seg = lab(code)
    n0 = np.count_nonzero(ph(MID).labels == seg)
    men_mean = ph(MID).volume.array[ph(MID).labels == seg].mean()
    # 1 intrasubstance signal: brighter inside, shape unchanged
    p = ph(MID, **{f"morphology.{code}.code": 1})
    blob = p.lesion_masks[f"morphology.{code}"]
    assert np.count_nonzero(p.labels == seg) == n0 and blob.any()
    assert p.volume.array[blob].mean() > men_mean + 40
    # 2-5 tears: a fluid line that removes meniscus voxels
    for grade in (2, 3, 4, 5):
        p = ph(MID, **{f"morphology.{code}.code": grade})
        tear = p.lesion_masks[f"morphology.{code}"]
        assert 0 < tear.sum() < 0.4 * n0
        assert (p.labels[tear] == 0).all() and p.volume.array[tear].mean() > men_mean + 100
    horizontal = ph(MID, **{f"morphology.{code}.code": 3}).lesion_masks[f"morphology.{code}"]
    vertical = ph(MID, **{f"morphology.{code}.code": 4}).lesion_masks[f"morphology.{code}"]
    rows_h = np.ptp(np.nonzero(horizontal)[1]) + 1
    rows_v = np.ptp(np.nonzero(vertical)[1]) + 1
    assert rows_h < rows_v  # a horizontal cleft is thin in height, a vertical one spans it
    # 6 / 8 maceration: tissue loss, complete maceration removes the segment
    left6 = np.count_nonzero(ph(MID, **{f"morphology.{code}.code": 6}).labels == seg) / n0
    assert 0.35 < left6 < 0.75
    assert np.count_nonzero(ph(MID, **{f"morphology.{code}.code": 8}).labels == seg) == 0
    p7 = make_phantom(SEED, shape=MID, grades={f"morphology.{code}.code": 7}, visit="24M")
    assert np.count_nonzero(p7.labels == seg) / n0 < left6


def test_root_tear_cyst_and_hypertrophy():
    base = ph(MID)
    p = ph(MID, **{"root_tear.medial.presence": 1})
    cleft = p.lesion_masks["root_tear.medial"]
    assert cleft.any() and (p.labels[cleft] == 0).all()
    assert M.components(p.labels == lab("MMP")) >= 2  # root stub detached
    p = ph(MID, **{"meniscal_cyst.lateral.presence": 1, "meniscal_cyst.lateral.tear_location": 1})
    cyst = p.lesion_masks["meniscal_cyst.lateral"]
    assert cyst.sum() > 10 and p.volume.array[cyst].mean() > 250
    assert p.grades["morphology.LMB.code"] == 3  # a cyst comes with a tear in its segment
    meniscus = [lab(c) for c in ("MMA", "MMB", "MMP")]
    v0 = np.isin(base.labels, meniscus).sum()
    v1 = np.isin(ph(MID, **{"meniscal_hypertrophy.medial.presence": 1}).labels, meniscus).sum()
    assert v1 > 1.25 * v0


def test_hoffa_and_patellar_tendon_signal():
    hfp = lab("HFP")
    means = []
    for g in range(4):
        p = ph(**{"hoffa.grade": g})
        means.append(p.volume.array[p.labels == hfp].mean())
    assert all(a < b for a, b in itertools.pairwise(means))
    p = ph(**{"patellar_tendon.signal": 1})
    core = p.lesion_masks["patellar_tendon.signal"]
    assert (
        core.any()
        and p.volume.array[core].mean() > 2 * ph().volume.array[ph().labels == lab("PT")].mean()
    )


@pytest.mark.parametrize(
    "name",
    [
        "pes_anserine_bursitis",
        "iliotibial_band_signal",
        "popliteal_cyst",
        "infrapatellar_bursitis",
        "prepatellar_bursitis",
        "ganglion_cyst",
    ],
)
def test_periarticular_collections_are_bright_at_their_site(name):
    p = ph(**{f"periarticular.{name}.presence": 1})
    m = p.lesion_masks[f"periarticular.{name}"]
    assert m.sum() > 5 and p.volume.array[m].mean() > 200
    assert f"periarticular.{name}" not in ph().lesion_masks


@pytest.mark.parametrize("shape", [SMALL, MID])
def test_loose_bodies_are_dark_in_fluid(shape):
    """In the image, each body is a dark spot inside a bright ring of fluid that was not there
    without it."""
    from scipy import ndimage

    p = ph(shape, **{"periarticular.loose_bodies.presence": 1})
    m = p.lesion_masks["periarticular.loose_bodies"]
    assert m.any() and (p.tissues[m] == Tissue.LOOSE_BODY).all()
    ring = ndimage.binary_dilation(m, iterations=2) & (p.tissues == Tissue.LESION_FLUID)
    assert ring.any()
    img = p.volume.array.astype(float)
    without = ph(shape).volume.array.astype(float)
    # dark: every body voxel darker than three quarters of its ring (blur and noise included)
    assert img[m].max() < np.percentile(img[ring], 25)
    assert np.median(img[m]) < 0.7 * np.median(img[ring])
    # in fluid: the ring is much brighter than the same voxels of the knee without the bodies
    assert np.median(img[ring]) > 1.5 * np.median(without[ring])


def test_lesions_leave_the_rest_of_the_knee_alone():
    a = ph()
    b = ph(**{"bml.FMC.size": 2, "bml.FMC.number": 1, "bml.FMC.percent": 3})
    changed = a.tissues != b.tissues
    assert np.array_equal(a.labels, b.labels)
    assert changed.any() and not (changed & (a.labels != lab("FMC"))).any()
