"""Lesions planted from MOAKS grades, each rendered so that its grade can be read by its definition.

Every renderer returns the exact voxels it changed (the lesion masks) and any
ill-defined intensity overlays; docs/phantom.md lists the rule of each grade.
Each lesion draws from its own random stream (keyed by its name), so changing
one grade never moves the anatomy or another lesion.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Mapping

import numpy as np
from moaks_schema import BONE_SUBREGIONS, CARTILAGE_SUBREGIONS
from scipy import ndimage

from knee_phantom.anatomy import (
    _HARD_ML,
    EXTRUSION_MM,
    Canvas,
    Knee,
    L,
    _seg_dist2,
    capsule,
    extrusion_shift,
    meniscus_geometry,
    tibia_top,
)
from knee_phantom.render import Overlay
from knee_phantom.tissues import BONE_TISSUES, Tissue, lut_of

__all__ = [
    "BML_FRACTION",
    "BML_SHARE",
    "CARTILAGE_FRACTION",
    "HOFFA_FRACTION",
    "OSTEOPHYTE_MM",
    "plant_lesions",
]

#: Lesion volume / subregion volume planted for BML size grades 1-3 (ranges <33, 33-66, >66 %).
BML_FRACTION = (0.0, 0.15, 0.50, 0.84)
#: Share of the lesion that is BML (not cyst) for "% BML" grades 1-3 (<33, 33-66, >66 %).
BML_SHARE = (0.0, 0.18, 0.50, 0.86)
#: Surface fraction with loss (size) and full-thickness share of the defect (depth), grades 0-3.
CARTILAGE_FRACTION = (0.0, 0.06, 0.40, 0.92)
#: Osteophyte protrusion beyond the bone margin (mm) for grades 1-3.
OSTEOPHYTE_MM = (0.0, 2.6, 4.6, 7.6)
#: Fraction of Hoffa's fat pad made hyperintense for grades 0-3.
HOFFA_FRACTION = (0.0, 0.12, 0.30, 0.55)

_BONE = lut_of(BONE_TISSUES)
_MARROWISH = lut_of([Tissue.MARROW, Tissue.PHYSIS])

Masks = dict[str, tuple[tuple[slice, slice, slice], np.ndarray]]
RngFor = Callable[[str], np.random.Generator]


def stream(seed: int, name: str) -> np.random.Generator:
    """The random stream of one named component of one phantom."""
    return np.random.default_rng(
        np.random.SeedSequence([int(seed) & 0xFFFFFFFF, zlib.crc32(name.encode())])
    )


def _pad(sl, shape, n: int):
    return tuple(
        slice(max(0, s.start - n), min(m, s.stop + n)) for s, m in zip(sl, shape, strict=True)
    )


def _smooth_noise(
    rng: np.random.Generator, shape: tuple[int, ...], coords, cells: int = 5
) -> np.ndarray:
    """A smooth random field over a crop (a coarse grid, trilinearly interpolated), at the given voxels."""
    coarse = rng.standard_normal((cells, cells, cells)).astype(np.float32)
    pts = [
        np.asarray(c, np.float32) * ((cells - 1) / max(n - 1, 1))
        for c, n in zip(coords, shape, strict=True)
    ]
    return ndimage.map_coordinates(coarse, pts, order=1, mode="nearest")


def plant_lesions(
    canvas: Canvas, knee: Knee, grades: Mapping[str, int], rng_for: RngFor
) -> tuple[Masks, list[Overlay]]:
    """Plant every lesion whose grade is not 0; returns the lesion masks (crop, mask) and overlays."""
    masks: Masks = {}
    overlays: list[Overlay] = []
    _osteophytes(canvas, knee, grades, rng_for, masks)
    objects = ndimage.find_objects(canvas.labels, max_label=25)
    for sr in BONE_SUBREGIONS:
        if grades[f"bml.{sr}.size"]:
            _bml(canvas, sr, grades, rng_for(f"bml.{sr}"), objects[L[sr] - 1], masks, overlays)
    for sr in CARTILAGE_SUBREGIONS:
        if grades[f"cartilage.{sr}.size"]:
            _cartilage_defect(canvas, sr, grades, rng_for(f"cartilage.{sr}"), masks)
    _menisci(canvas, knee, grades, rng_for, masks, overlays)
    _cruciates(canvas, knee, grades, masks)
    _tendon_and_fat_pad(canvas, knee, grades, rng_for, masks, overlays)
    _periarticular(canvas, knee, grades, rng_for, masks)
    return masks, overlays


# --- bone-marrow lesions ---------------------------------------------------------------------


def _bml(canvas: Canvas, sr: str, grades, rng, obj, masks: Masks, overlays: list[Overlay]) -> None:
    if obj is None:
        return
    g = canvas.grid
    sl = _pad(obj, g.shape, 3)
    lab = canvas.labels[sl]
    reg = lab == L[sr]
    coords = np.nonzero(reg)
    n_reg = coords[0].size
    if n_reg < 8:
        return
    size, number, share = (
        grades[f"bml.{sr}.size"],
        grades[f"bml.{sr}.number"],
        grades[f"bml.{sr}.percent"],
    )
    n = number if number < 3 else int(rng.integers(3, 5))
    mm = np.stack([c * s for c, s in zip(coords, g.spacing, strict=True)], axis=1).astype(
        np.float32
    )
    # subchondral candidates: next to cartilage (or, for SS, the top of the region)
    if sr == "SS":
        yv = g.Y[sl[1], sl[2]][coords[1], coords[2]]
        cand = np.nonzero(yv <= np.quantile(yv, 0.2))[0]
    else:
        cart = ndimage.binary_dilation(canvas.tissues[sl] == Tissue.CARTILAGE, iterations=2)
        cand = np.nonzero(cart[coords])[0]
        if cand.size < n:
            cand = np.arange(n_reg)
    seeds = [int(rng.choice(cand))]
    for _ in range(n - 1):
        d = np.min(np.stack([np.linalg.norm(mm[cand] - mm[s], axis=1) for s in seeds]), axis=0)
        d += rng.uniform(0, 1.0, d.size)
        seeds.append(int(cand[int(np.argmax(d))]))
    dist = np.stack([np.linalg.norm(mm - mm[s], axis=1) for s in seeds])  # (n, n_reg)
    cell = np.argmin(dist, axis=0)
    noise = _smooth_noise(rng, reg.shape, coords)
    field = dist[cell, np.arange(n_reg)] * (1.0 + 0.25 * noise)
    total = int(np.rint(BML_FRACTION[size] * n_reg))
    shares = rng.dirichlet(np.full(n, 6.0)) if n > 1 else np.ones(1)
    want = np.maximum(1, np.round(shares * total)).astype(int)
    # strip a one-voxel border between cells so that lesions never touch (26-connectivity)
    struct = np.ones((3, 3, 3), bool)
    cells = np.full(reg.shape, -1, np.int16)
    cells[coords] = cell
    usable = np.ones(n_reg, bool)
    for i in range(1, n):
        near = ndimage.binary_dilation((cells >= 0) & (cells < i), structure=struct)
        usable &= ~(near[coords] & (cell == i))
    lesion = np.full(n_reg, -1, np.int16)
    taken = np.zeros(n, int)
    for _ in range(2):  # second pass hands what a full cell could not hold to the others
        deficit = int(want.sum() - taken.sum())
        for i in range(n):
            idx = np.nonzero((cell == i) & usable & (lesion < 0))[0]
            k = min(idx.size, max(0, want[i] - taken[i]) if _ == 0 else deficit)
            if k <= 0:
                continue
            order = idx[np.argsort(field[idx], kind="stable")[:k]]
            lesion[order] = i
            taken[i] += k
            if _ == 1:
                deficit -= k
    vol = np.full(reg.shape, -1, np.int16)
    vol[coords] = lesion
    out = np.zeros(reg.shape, bool)
    cyst = np.zeros(reg.shape, bool)
    field_vol = np.full(reg.shape, np.inf, np.float32)
    field_vol[coords] = field
    for i in range(n):
        comp, k = ndimage.label(vol == i, structure=struct)
        if k == 0:
            continue
        keep = comp == (1 + int(np.argmax(np.bincount(comp.ravel())[1:])))
        out |= keep
        vals = field_vol[keep]
        n_cyst = int(np.rint((1.0 - BML_SHARE[share]) * vals.size))
        if n_cyst:
            thr = np.partition(vals, n_cyst - 1)[n_cyst - 1]
            cyst |= keep & (field_vol <= thr)
    t = canvas.tissues[sl]
    t[out & ~cyst] = Tissue.BML
    t[cyst] = Tissue.CYST
    masks[f"bml.{sr}"] = (sl, out)
    masks[f"bml.{sr}.cyst"] = (sl, cyst)
    overlays.append(Overlay(sl, out & ~cyst, 150.0, 1.0))


# --- cartilage -------------------------------------------------------------------------------


def _cartilage_defect(canvas: Canvas, sr: str, grades, rng, masks: Masks) -> None:
    size, depth = grades[f"cartilage.{sr}.size"], grades[f"cartilage.{sr}.depth"]
    parts = [(p, np.nonzero(p.sub == L[sr])[0]) for p in canvas.plates]
    parts = [(p, i) for p, i in parts if i.size]
    if not parts:
        return
    main = max(range(len(parts)), key=lambda j: parts[j][1].size)
    keys, where = [], []
    for j, (p, i) in enumerate(parts):
        f1, f2 = p.f1[i], p.f2[i]
        if j == main:
            c = int(rng.integers(i.size))
            # start inside the plate: pull the centre towards the footprint's middle
            c1, c2 = 0.5 * (f1[c] + np.median(f1)), 0.5 * (f2[c] + np.median(f2))
            d = np.hypot(f1 - c1, (f2 - c2) * 0.8)
        else:
            d = 1e3 + np.hypot(f1 - np.median(f1), f2 - np.median(f2))
        keys.append(d)
        where.append(np.full(i.size, j))
    key = np.concatenate(keys)
    owner = np.concatenate(where)
    local = np.concatenate([i for _, i in parts])
    n_all = key.size
    depth_all = np.concatenate([p.depth[i] for p, i in parts])
    # footprint positions: voxels with equal key share a footprint; pick by rank of key
    order = np.argsort(key, kind="stable")
    k = int(np.rint(CARTILAGE_FRACTION[size] * n_all))
    lo, hi = {1: (1, 0.09 * n_all), 2: (0.12 * n_all, 0.72 * n_all), 3: (0.82 * n_all, n_all)}[size]
    k = int(np.clip(k, max(1, np.ceil(lo)), max(1, np.floor(hi))))
    defect = order[:k]
    if depth:
        kf = int(np.rint(CARTILAGE_FRACTION[depth] * k))
        lo, hi = {1: (1, 0.095 * k), 2: (0.11 * k, 0.74 * k), 3: (0.77 * k, k)}[depth]
        kf = int(np.clip(kf, max(1, np.ceil(lo)), max(1, np.floor(hi))))
    else:
        kf = 0
    in_defect = key <= key[defect[-1]]
    full = key <= key[defect[kf - 1]] if kf else np.zeros(n_all, bool)
    partial = in_defect & ~full & (depth_all > 0.45)
    out_sl = None
    for j, (p, _) in enumerate(parts):
        mine = owner == j
        # a partial-thickness voxel goes only if deeper cartilage stays next to it (row or column)
        shape = canvas.tissues[p.sl].shape
        keep_depth = np.full(shape, np.inf, np.float32)
        all_vox = tuple(a for a in p.idx)
        keep_depth[all_vox] = p.depth
        gone = np.zeros(shape, bool)
        gone[tuple(a[local[(full | partial) & mine]] for a in p.idx)] = True
        keep_depth[gone] = np.inf
        pv = tuple(a[local[partial & mine]] for a in p.idx)
        by_row = ndimage.minimum_filter(keep_depth, size=(1, 3, 1), mode="constant", cval=np.inf)[
            pv
        ]
        by_col = ndimage.minimum_filter(keep_depth, size=(1, 1, 3), mode="constant", cval=np.inf)[
            pv
        ]
        if p.name == "tibia":
            ok = np.isfinite(by_row)
        elif (
            p.name == "femur"
        ):  # the surface faces down in the weight-bearing zone, backwards behind
            central = np.abs(p.f2[local[partial & mine]]) < 0.8 * 20.0
            ok = np.where(central, np.isfinite(by_row), np.isfinite(by_col))
        else:
            ok = np.isfinite(by_col)
        sel_idx = np.concatenate([local[full & mine], local[partial & mine][ok]])
        full_idx = local[full & mine]
        if full_idx.size and p.name in ("tibia", "femur"):
            # full-thickness loss takes whole columns (rows axis) of this subregion's cartilage
            sub_idx = local[mine]
            cols = {
                (int(a), int(b))
                for a, b in zip(p.idx[0][full_idx], p.idx[2][full_idx], strict=True)
            }
            key_s = p.idx[0][sub_idx].astype(np.int64) * 1_000_000 + p.idx[2][sub_idx]
            want = np.fromiter((a * 1_000_000 + b for a, b in cols), np.int64)
            extra = sub_idx[np.isin(key_s, want)]
            if p.name == "femur":
                extra = extra[np.abs(p.f2[extra]) < 0.8 * 20.0]
            full_idx = np.union1d(full_idx, extra)
            sel_idx = np.union1d(sel_idx, full_idx)
        if sel_idx.size == 0:
            continue
        vox = tuple(a[sel_idx] for a in p.idx)
        fvox = tuple(a[full_idx] for a in p.idx)
        t = canvas.tissues[p.sl]
        t[vox] = Tissue.LESION_FLUID
        m = np.zeros(t.shape, bool)
        m[vox] = True
        fm = np.zeros(t.shape, bool)
        fm[fvox] = True
        name = f"cartilage.{sr}" if out_sl is None else f"cartilage.{sr}.{p.name}"
        masks[name] = (p.sl, m)
        masks[name + ".full"] = (p.sl, fm)
        out_sl = p.sl


# --- osteophytes -----------------------------------------------------------------------------


def _osteophyte_sites(
    knee: Knee,
) -> dict[str, tuple[tuple[float, float, float], tuple[float, float, float]]]:
    x, y, z, ax, ay, _az = knee.patella
    m, l_ = knee.medial, knee.lateral
    top = knee.tibia_top
    return {
        "PS": ((x, y - ay, z - 2.0), (0.0, -1.0, 0.0)),
        "PI": ((x, y + ay, z - 2.0), (0.0, 1.0, 0.0)),
        "PM": ((x + ax, y, z), (1.0, 0.0, 0.0)),
        "PL": ((x - ax, y, z), (-1.0, 0.0, 0.0)),
        "FMA": ((26.0, knee.ycap - 14.0, -17.0), (0.75, 0.0, -0.66)),
        "FLA": ((-25.0, knee.ycap - 14.0, -17.0), (-0.75, 0.0, -0.66)),
        "FMC": ((m.cx + 0.95 * m.ax, m.cy + 0.45 * m.ay, m.cz), (0.96, 0.28, 0.0)),
        "FLC": ((l_.cx - 0.95 * l_.ax, l_.cy + 0.45 * l_.ay, l_.cz), (-0.96, 0.28, 0.0)),
        "FMP": ((m.cx, m.cy - 0.3 * m.ay, m.cz + m.az), (0.0, -0.45, 0.89)),
        "FLP": ((l_.cx, l_.cy - 0.3 * l_.ay, l_.cz + l_.az), (0.0, -0.45, 0.89)),
        "TM": ((40.0, top + 1.5, 2.0), (0.96, -0.28, 0.0)),
        "TL": ((-38.0, top + 1.5, 2.0), (-0.96, -0.28, 0.0)),
    }


def _osteophytes(canvas: Canvas, knee: Knee, grades, rng_for: RngFor, masks: Masks) -> None:
    g = canvas.grid
    for loc, (p, d) in _osteophyte_sites(knee).items():
        grade = grades[f"osteophyte.{loc}.grade"]
        if not grade:
            continue
        length = OSTEOPHYTE_MM[grade] * float(rng_for(f"osteophyte.{loc}").uniform(0.97, 1.03))
        d = np.asarray(d) / np.linalg.norm(d)
        r = 12.0 + length
        sl = g.box((p[0] - r, p[0] + r), (p[1] - r, p[1] + r), (p[2] - r, p[2] + r))
        if not sl:
            continue
        X, Y, Z = g.coords(sl)
        bone = _BONE[canvas.tissues[sl]] & (canvas.labels[sl] > 0)
        rx, ry, rz = X - p[0], Y - p[1], Z - p[2]
        proj = rx * d[0] + ry * d[1] + rz * d[2]
        perp2 = rx * rx + ry * ry + rz * rz - proj * proj
        score = np.where(bone & (perp2 < 25.0), proj, -np.inf)
        if not np.isfinite(score).any():
            continue
        a = np.unravel_index(int(np.argmax(score)), score.shape)
        anchor = np.array([X[a[0], 0, 0], Y[0, a[1], a[2]], Z[0, a[1], a[2]]])
        label = int(canvas.labels[sl][a])
        hl = (length + 2.5) / 2.0
        c = anchor + d * (length - hl)
        rp = 1.6 + 0.55 * length
        qx, qy, qz = X - c[0], Y - c[1], Z - c[2]
        along = qx * d[0] + qy * d[1] + qz * d[2]
        per2 = qx * qx + qy * qy + qz * qz - along * along
        bump = (along / hl) ** 2 + per2 / rp**2 < 1.0
        new = canvas.paint(sl, bump, Tissue.MARROW, label, avoid=_BONE)
        masks[f"osteophyte.{loc}"] = (sl, new)


# --- menisci ---------------------------------------------------------------------------------


def _spare_outermost(seg: np.ndarray, lesion: np.ndarray, rho: np.ndarray) -> np.ndarray:
    """``lesion`` without the segment's outermost voxel when it would take all of it.

    Only complete maceration (grade 8) removes a meniscal segment; at coarse
    voxels a tear band can be wider than the segment, which would leave no label.
    """
    if not seg.any() or (seg & ~lesion).any():
        return lesion
    keep = np.flatnonzero(seg.ravel())[np.argmax(rho[seg])]
    spared = lesion.copy()
    spared.flat[keep] = False
    return spared


def _menisci(
    canvas: Canvas, knee: Knee, grades, rng_for: RngFor, masks: Masks, overlays: list[Overlay]
) -> None:
    g = canvas.grid
    vx = max(g.voxel[0], g.voxel[2])
    vy = g.voxel[1]
    for side, m in knee.menisci.items():
        s = "M" if side == "medial" else "L"
        codes = {c: grades[f"morphology.{c}.code"] for c in m.codes}
        cyst = grades[f"meniscal_cyst.{side}.presence"]
        root = grades[f"root_tear.{side}.presence"]
        if not (any(codes.values()) or cyst or root):
            continue
        ext_b = extrusion_shift(
            knee, m, EXTRUSION_MM[grades[f"extrusion.{s}M{'M' if s == 'M' else 'L'}.grade"]], False
        )
        ext_a = extrusion_shift(knee, m, EXTRUSION_MM[grades[f"extrusion.{s}MA.grade"]], True)
        hyp = bool(grades[f"meniscal_hypertrophy.{side}.presence"])
        x0, x1 = sorted((m.xm - m.out * (m.ax + 2), m.xm + m.out * (m.ax + ext_b + 9)))
        sl = g.box((x0, x1), (-14, 12), (m.zm - m.az - ext_a - 8, m.zm + m.az + 8))
        if not sl:
            continue
        X, Y, Z = g.coords(sl)
        _, _, rho, th, yrel, ri = meniscus_geometry(
            knee, m, X, Y, Z, ext_body=ext_b, ext_ant=ext_a, hypertrophy=hyp
        )
        rho = np.broadcast_to(rho, canvas.labels[sl].shape)
        th = np.broadcast_to(th, rho.shape)
        top = np.broadcast_to(tibia_top(knee, X, Z), rho.shape)
        h = np.where(yrel > 0, (top - Y) / np.maximum(yrel, 1e-3), 0.0)
        rmm = rho * 0.5 * (m.ax + m.az)
        ranges = ((-m.opening_deg, -50.0), (-50.0, 50.0), (50.0, m.opening_deg))
        lab = canvas.labels[sl]
        for k, code in enumerate(m.codes):
            grade = codes[code]
            seg = lab == L[code]
            if not grade or not seg.any():
                continue
            a0, a1 = ranges[k]
            mid = 0.5 * (a0 + a1)
            span = a1 - a0
            central = np.abs(th - mid) < 0.4 * span
            arc = np.abs(np.radians(th - mid)) * rmm
            width = 1.0 - ri
            lesion = np.zeros(seg.shape, bool)
            if grade == 1:
                blob = (
                    seg
                    & central
                    & (np.abs(yrel - 0.5) < 0.3)
                    & (rho > ri + 0.35 * width)
                    & (rho < 0.9)
                )
                overlays.append(Overlay(sl, blob, 110.0, 0.7))
                masks[f"morphology.{code}"] = (sl, blob)
                continue
            if grade in (2, 5):
                lesion |= seg & (arc < 0.6 * vx) & (rho < ri + 0.75 * width)
            if grade in (3, 5):
                lesion |= (
                    seg & central & (np.abs((yrel - 0.5) * h) < 0.6 * vy) & (rho < ri + 0.8 * width)
                )
            if grade == 4:
                r0 = (ri + 0.6 * width) * 0.5 * (m.ax + m.az)
                lesion |= seg & central & (np.abs(rmm - r0) < 0.6 * vx)
            if grade in (6, 7, 8):
                frac = {6: 0.42, 7: 0.70, 8: 1.0}[grade]
                vals = rho[seg]
                n_rm = int(np.rint(frac * vals.size))
                if n_rm:
                    thr = np.partition(vals, n_rm - 1)[n_rm - 1]
                    lesion |= seg & (rho <= thr)
            if grade != 8:
                lesion = _spare_outermost(seg, lesion, rho)
            canvas.tissues[sl][lesion] = Tissue.LESION_FLUID
            lab[lesion] = 0
            masks[f"morphology.{code}"] = (sl, lesion)
        if root:
            post = lab == L[m.codes[2]]
            arc_root = np.abs(np.radians(th - (m.opening_deg - 14.0))) * rmm
            cleft = post & (arc_root < max(1.6, 1.2 * vx))
            if codes[m.codes[2]] != 8:
                cleft = _spare_outermost(post, cleft, rho)
            canvas.tissues[sl][cleft] = Tissue.LESION_FLUID
            lab[cleft] = 0
            masks[f"root_tear.{side}"] = (sl, cleft)
        if cyst:
            loc = grades[f"meniscal_cyst.{side}.tear_location"]
            a0, a1 = ranges[1 if loc == 3 else loc]
            mid = np.radians(0.5 * (a0 + a1) if loc != 1 and loc != 3 else 0.0)
            if loc == 0:
                mid = np.radians(-80.0)
            elif loc == 2:
                mid = np.radians(80.0)
            rr = 1.12
            cx = m.xm + m.out * (rr * m.ax * np.cos(mid) + (ext_b if loc in (1, 3) else 0.0))
            cz = m.zm + rr * m.az * np.sin(mid) - (ext_a if loc == 0 else 0.0)
            cy = float(tibia_top(knee, np.float32(cx), np.float32(cz))) - 3.0
            ball = ((X - cx) / 4.5) ** 2 + ((Y - cy) / 3.5) ** 2 + ((Z - cz) / 4.5) ** 2 < 1.0
            new = canvas.paint(sl, ball, Tissue.BURSA, avoid=_HARD_ML)
            masks[f"meniscal_cyst.{side}"] = (sl, new)


# --- cruciate ligaments ----------------------------------------------------------------------


def _box_around(g, points, pad: float):
    pts = np.asarray(points, float)
    lo, hi = pts.min(axis=0) - pad, pts.max(axis=0) + pad
    return g.box((lo[0], hi[0]), (lo[1], hi[1]), (lo[2], hi[2]))


def _cruciates(canvas: Canvas, knee: Knee, grades, masks: Masks) -> None:
    g = canvas.grid
    for name, pts in (("acl", knee.acl), ("pcl", knee.pcl)):
        code = name.upper()
        a, b = np.asarray(pts[0]), np.asarray(pts[-1])
        mid = np.asarray(pts[1]) if len(pts) == 3 else 0.5 * (a + b)
        if grades[f"{name}.complete_tear"] and (sl := _box_around(g, pts, 7.0)):
            X, Y, Z = g.coords(sl)
            lab = canvas.labels[sl]
            d = (b - a) / np.linalg.norm(b - a)
            half = max(2.6, 1.1 * max(g.voxel))
            slab = np.abs((X - mid[0]) * d[0] + (Y - mid[1]) * d[1] + (Z - mid[2]) * d[2]) < half
            gap = (lab == L[code]) & slab
            canvas.tissues[sl][gap] = Tissue.LESION_FLUID
            lab[gap] = 0
            masks[f"{name}.complete_tear"] = (sl, gap)
        if grades[f"{name}.bml_cyst"]:
            c = a + (np.array([0.0, -1.5, -3.5]) if name == "acl" else np.array([0.0, -2.0, 9.0]))
            if sl := _box_around(g, [c], 4.5):
                X, Y, Z = g.coords(sl)
                ball = (X - c[0]) ** 2 + (Y - c[1]) ** 2 + (Z - c[2]) ** 2 < 3.2**2
                new = canvas.paint(sl, ball, Tissue.CYST, avoid=_HARD_ML)
                masks[f"{name}.bml_cyst"] = (sl, new)
    tunnels_at = (
        ((2.0, 3.0, -11.0), (10.0, 38.0, -24.0)),
        ((-9.0, -20.0, 9.0), (-27.0, -46.0, 15.0)),
    )
    if grades["acl.repair"] and (
        sl := _box_around(g, [p for seg in tunnels_at for p in seg] + list(knee.acl), 5.0)
    ):
        X, Y, Z = g.coords(sl)
        t = canvas.tissues[sl]
        tunnels = np.zeros(t.shape, bool)
        for p0, p1 in tunnels_at:
            tunnels |= capsule(X, Y, Z, p0, p1, 3.4)[0]
        tunnels &= _MARROWISH[t]
        t[tunnels] = Tissue.TUNNEL
        masks["acl.repair"] = (sl, tunnels | (canvas.labels[sl] == L["ACL"]))


# --- patellar tendon, Hoffa ------------------------------------------------------------------


def _tendon_and_fat_pad(
    canvas: Canvas, knee: Knee, grades, rng_for: RngFor, masks: Masks, overlays: list[Overlay]
) -> None:
    g = canvas.grid
    objects = ndimage.find_objects(canvas.labels, max_label=25)
    if grades["patellar_tendon.signal"] and objects[L["PT"] - 1] is not None:
        sl = objects[L["PT"] - 1]
        _X, Y, Z = g.coords(sl)
        d2, tt = _seg_dist2(Y, Z, *knee.pt)
        core = (canvas.labels[sl] == L["PT"]) & (tt < 0.4) & (d2 < max(1.4, 0.7 * g.voxel[2]) ** 2)
        overlays.append(Overlay(sl, core, 140.0, 0.8))
        masks["patellar_tendon.signal"] = (sl, core)
    grade = grades["hoffa.grade"]
    if grade and objects[L["HFP"] - 1] is not None:
        sl = objects[L["HFP"] - 1]
        hfp = canvas.labels[sl] == L["HFP"]
        where = np.nonzero(hfp)
        vals = _smooth_noise(rng_for("hoffa"), hfp.shape, where, cells=6)
        thr = np.quantile(vals, 1.0 - HOFFA_FRACTION[grade])
        patch = np.zeros(hfp.shape, bool)
        patch[tuple(w[vals >= thr] for w in where)] = True
        overlays.append(Overlay(sl, patch, 150.0, 1.0))
        masks["hoffa"] = (sl, patch)


# --- periarticular ---------------------------------------------------------------------------


def _periarticular(canvas: Canvas, knee: Knee, grades, rng_for: RngFor, masks: Masks) -> None:
    g = canvas.grid
    x, y, z, _ax, _ay, az = knee.patella
    sites: dict[str, list[tuple[tuple[float, float, float], tuple[float, float, float]]]] = {
        "pes_anserine_bursitis": [((36.0, 30.0, 8.0), (4.5, 11.0, 7.0))],
        "iliotibial_band_signal": [((-43.3, -14.0, 2.0), (1.4, 16.0, 5.0))],
        "popliteal_cyst": [((20.0, -15.0, 40.0), (8.0, 18.0, 7.0))],
        "infrapatellar_bursitis": [((3.0, 20.0, -23.5), (8.0, 5.0, 2.2))],
        "prepatellar_bursitis": [((x, y + 5.0, z - az - 3.5), (12.0, 14.0, 2.5))],
        "ganglion_cyst": [((-30.0, 14.0, 24.0), (3.5, 3.5, 3.5)), ((-27.0, 10.0, 27.0), (3.0, 3.0, 3.0)),
                          ((-33.0, 9.0, 26.0), (2.6, 2.6, 2.6))],
    }  # fmt: skip
    for name, blobs in sites.items():
        if not grades[f"periarticular.{name}.presence"]:
            continue
        lo = np.min([np.subtract(c, r) for c, r in blobs], axis=0) - 1
        hi = np.max([np.add(c, r) for c, r in blobs], axis=0) + 1
        sl = g.box((lo[0], hi[0]), (lo[1], hi[1]), (lo[2], hi[2]))
        if not sl:
            continue
        X, Y, Z = g.coords(sl)
        m = np.zeros(canvas.labels[sl].shape, bool)
        for c, r in blobs:
            m |= ((X - c[0]) / r[0]) ** 2 + ((Y - c[1]) / r[1]) ** 2 + (
                (Z - c[2]) / r[2]
            ) ** 2 < 1.0
        avoid = _HARD_ML | lut_of([Tissue.TENDON]) if name != "iliotibial_band_signal" else _HARD_ML
        new = canvas.paint(sl, m, Tissue.BURSA, avoid=avoid)
        canvas.labels[sl][new] = 0
        masks[f"periarticular.{name}"] = (sl, new)
    if grades["periarticular.loose_bodies.presence"]:
        rng = rng_for("loose_bodies")
        bodies = [(6.0, -50.0, -20.5), (-8.0, -56.0, -21.5)][: int(rng.integers(1, 3)) + 0]
        sl = g.box((-14, 14), (-62, -44), (-28, -14))
        if sl:
            X, Y, Z = g.coords(sl)
            halo = np.zeros(canvas.labels[sl].shape, bool)
            core = np.zeros_like(halo)
            for c in bodies:
                r2 = (X - c[0]) ** 2 + (Y - c[1]) ** 2 + (Z - c[2]) ** 2
                halo |= r2 < 3.6**2
                core |= r2 < max(1.7, 0.6 * max(g.voxel)) ** 2
            canvas.paint(sl, halo & ~core, Tissue.LESION_FLUID, 0, avoid=_HARD_ML)
            new = canvas.paint(sl, core, Tissue.LOOSE_BODY, 0, avoid=_HARD_ML)
            masks["periarticular.loose_bodies"] = (sl, new)
