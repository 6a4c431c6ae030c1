"""The healthy knee (plus the lesions that change its shape) painted into tissue and label maps.

All sizes are template millimetres (see :mod:`knee_phantom.grid`).
Painting order matters: later structures win, and most structures only
paint where no bone (or cartilage) is, which is how they attach to bone.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
from moaks_schema import region

from knee_phantom.grid import Grid
from knee_phantom.tissues import BONE_TISSUES, Tissue, lut_of

__all__ = ["Canvas", "Condyle", "Knee", "Plate", "build_anatomy"]

L = {r: region(r).label for r in (
    "PM", "PL", "FMA", "FMC", "FMP", "FLA", "FLC", "FLP", "TMA", "TMC", "TMP", "TLA", "TLC", "TLP", "SS",
    "MMA", "MMB", "MMP", "LMA", "LMB", "LMP", "ACL", "PCL", "PT", "HFP",
)}  # fmt: skip

_BONE = lut_of(BONE_TISSUES)
_HARD = lut_of((*BONE_TISSUES, Tissue.CARTILAGE))
_HARD_M = lut_of((*BONE_TISSUES, Tissue.CARTILAGE, Tissue.MENISCUS))
_HARD_ML = lut_of(
    (*BONE_TISSUES, Tissue.CARTILAGE, Tissue.MENISCUS, Tissue.ACL, Tissue.PCL, Tissue.GRAFT)
)

#: Extrusion beyond the tibial margin (mm) planted for grades 0-3 (0: the normal position).
EXTRUSION_MM = (0.0, 2.45, 3.95, 6.5)
#: Suprapatellar and posterior-recess fluid thickness (mm) for effusion grades 0-3.
EFFUSION_MM = ((1.2, 0.6), (3.5, 1.6), (7.0, 3.0), (11.5, 4.6))


@dataclass(frozen=True)
class Condyle:
    """One femoral condyle: an ellipsoid in the sagittal plane, flattened (fourth power) across."""

    cx: float
    cy: float
    cz: float
    ax: float
    ay: float
    az: float

    def q(self, X: np.ndarray, Y: np.ndarray, Z: np.ndarray, pad: float = 0.0) -> np.ndarray:
        # fourth power across: a broad, flat-bottomed condyle in the coronal plane
        return (
            ((X - self.cx) / (self.ax + pad)) ** 4
            + ((Y - self.cy) / (self.ay + pad)) ** 2
            + ((Z - self.cz) / (self.az + pad)) ** 2
        )

    def angle(self, Y: np.ndarray, Z: np.ndarray) -> np.ndarray:
        """Sagittal angle in degrees around the centre: 0 inferior, + posterior, − anterior."""
        return np.degrees(np.arctan2(Z - self.cz, Y - self.cy)).astype(np.float32)


@dataclass(frozen=True)
class Meniscus:
    side: str  # "medial" | "lateral"
    xm: float
    zm: float
    ax: float
    az: float
    ri: float
    opening_deg: float

    @property
    def out(self) -> float:
        return 1.0 if self.side == "medial" else -1.0

    @property
    def codes(self) -> tuple[str, str, str]:
        return ("MMA", "MMB", "MMP") if self.side == "medial" else ("LMA", "LMB", "LMP")


@dataclass
class Knee:
    """Template geometry of one subject (positions a lesion needs)."""

    gap: float
    tf: float
    tt: float
    tp: float
    medial: Condyle
    lateral: Condyle
    ycap: float
    notch: float
    patella: tuple[float, float, float, float, float, float]  # x, y, z, ax, ay, az (anterior half)
    menisci: dict[str, Meniscus]
    tibia_top: float
    hm: float
    acl: tuple[tuple[float, float, float], tuple[float, float, float]]
    pcl: tuple[tuple[float, float, float], ...]
    pt: tuple[tuple[float, float], tuple[float, float]]  # (y, z) ends

    def condyle(self, medial: bool) -> Condyle:
        return self.medial if medial else self.lateral


@dataclass(frozen=True)
class Plate:
    """Cartilage voxels of one plate: crop, voxel indices in the crop and per-voxel coordinates.

    ``sub`` is the bone-subregion label each voxel covers, ``depth`` 0 at the
    bone and 1 at the articular surface, ``f1, f2`` footprint coordinates in mm
    on the bone surface (depth-independent).
    """

    name: str
    sl: tuple[slice, slice, slice]
    idx: tuple[np.ndarray, np.ndarray, np.ndarray]
    sub: np.ndarray
    depth: np.ndarray
    f1: np.ndarray
    f2: np.ndarray


@dataclass
class Canvas:
    """Tissue and label maps being painted, with the grid they live on."""

    grid: Grid
    tissues: np.ndarray
    labels: np.ndarray
    plates: list[Plate] = field(default_factory=list)

    @classmethod
    def empty(cls, grid: Grid) -> Canvas:
        return cls(grid, np.zeros(grid.shape, np.uint8), np.zeros(grid.shape, np.uint8))

    def paint(
        self,
        sl,
        mask: np.ndarray,
        tissue: Tissue,
        label: int | np.ndarray | None = None,
        *,
        avoid: np.ndarray | None = None,
    ) -> np.ndarray:
        """Paint ``mask`` (crop-shaped) with a tissue (and label), skipping tissues in ``avoid`` (a LUT)."""
        t = self.tissues[sl]
        if avoid is not None:
            mask = mask & ~avoid[t]
        t[mask] = int(tissue)
        if label is not None:
            lab = self.labels[sl]
            if isinstance(label, np.ndarray):
                lab[mask] = np.broadcast_to(label, mask.shape)[mask]
            else:
                lab[mask] = label
        return mask


def _seg_dist2(Y, Z, a: tuple[float, float], b: tuple[float, float]):
    """Squared distance in the sagittal plane from (Y, Z) to the segment a-b, and the position t along it."""
    ay, az = a
    dy, dz = b[0] - ay, b[1] - az
    t = np.clip(((Y - ay) * dy + (Z - az) * dz) / (dy * dy + dz * dz), 0.0, 1.0)
    return (Y - ay - t * dy) ** 2 + (Z - az - t * dz) ** 2, t


def capsule(X, Y, Z, a, b, r: float):
    """Voxels within ``r`` of the 3D segment a-b, and the position t along it."""
    d = np.subtract(b, a)
    px, py, pz = X - a[0], Y - a[1], Z - a[2]
    t = np.clip((px * d[0] + py * d[1] + pz * d[2]) / float(d @ d), 0.0, 1.0)
    dist2 = (px - t * d[0]) ** 2 + (py - t * d[1]) ** 2 + (pz - t * d[2]) ** 2
    return dist2 < r * r, t


def make_knee(grid: Grid) -> Knee:
    s = grid.subject
    gap = 0.6
    tf, tt, tp = s.femoral_cartilage_mm, s.tibial_cartilage_mm, s.patellar_cartilage_mm
    med = Condyle(22.0, 0.0, 5.0, 15.0, 20.0, 24.0)
    lat = Condyle(-21.0, 0.0, 4.0, 14.0, 19.0, 22.0)
    med = Condyle(med.cx, -(gap / 2 + tf + med.ay), med.cz, med.ax, med.ay, med.az)
    lat = Condyle(lat.cx, -(gap / 2 + tf + lat.ay), lat.cz, lat.ax, lat.ay, lat.az)
    ycap = (med.cy + lat.cy) / 2
    py = -36.0 + s.patella_height_shift_mm
    patella = (2.0, py, -36.5, 21.0, 19.0, 9.5)
    menisci = {
        "medial": Meniscus("medial", 22.0, 2.5, 15.5, 20.0, 0.52, 146.0),
        "lateral": Meniscus("lateral", -21.0, 2.0, 14.0, 17.0, 0.50, 165.0),
    }
    return Knee(
        gap=gap,
        tf=tf,
        tt=tt,
        tp=tp,
        medial=med,
        lateral=lat,
        ycap=ycap,
        notch=s.notch_half_width_mm,
        patella=patella,
        menisci=menisci,
        tibia_top=gap / 2 + tt,
        hm=s.meniscus_height_mm,
        acl=((-1.0, 2.0, -9.0), (-10.0, -19.0, 13.0)),
        pcl=((1.0, 9.0, 20.0), (4.0, -5.0, 17.0), (10.0, -16.0, 1.0)),
        pt=((py + 17.0, -40.0), (30.0, -24.5)),
    )


# --- analytic shapes -----------------------------------------------------------------------


def tibia_top(knee: Knee, X, Z):
    """Y of the tibial bone surface (plateau with posterior slope and the two spines)."""
    spines = 6.0 * np.exp(-(((np.abs(X) - 3.5) / 3.0) ** 2)) * np.exp(-((Z / 9.0) ** 2))
    return knee.tibia_top + 0.07 * (Z - 2.0) - spines


def tibia_inside(knee: Knee, X, Y, Z):
    top = tibia_top(knee, X, Z)
    depth = Y - knee.tibia_top
    t = np.clip((depth - 8.0) / 37.0, 0.0, 1.0)
    a = 39.0 - 18.0 * t
    b = 26.0 - 8.0 * t
    tub = 5.0 * np.exp(-(((Y - 30.0) / 9.0) ** 2)) * np.exp(-(((X - 4.0) / 12.0) ** 2))
    b = b + np.where(Z < 2.0, tub, 0.0)
    return (top <= Y) & (((X - 1.0) / a) ** 2 + ((Z - 2.0) / b) ** 2 < 1.0)


def femur_shaft_q(knee: Knee, X, Y, Z, pad: float = 0.0, groove: float = 5.0):
    """Normalised radius² of the femoral shaft/metaphysis cross-section (valid for Y < ycap)."""
    t = np.clip((Y + 60.0) / (knee.ycap + 60.0), 0.0, 1.0)
    a = 21.0 + 17.0 * np.sqrt(t) + pad
    b = 16.0 + 8.0 * t + pad
    b_ant = b - groove * np.exp(-((X / 9.0) ** 2))
    bz = np.where(Z < 1.0, b_ant, b)
    return (X / a) ** 2 + ((Z - 1.0) / bz) ** 2


def femur_inside(knee: Knee, X, Y, Z):
    inside = (knee.medial.q(X, Y, Z) < 1.0) | (knee.lateral.q(X, Y, Z) < 1.0)
    inside |= (knee.ycap > Y) & (femur_shaft_q(knee, X, Y, Z) < 1.0)
    notch = (np.abs(X) < knee.notch) & ((Z + 12.0) > 1.23 * (-Y - 5.0)) & (Y > -48.0)
    return inside & ~notch


def femur_labels(knee: Knee, X, Y, Z):
    """Subregion label of every femur voxel of the crop (0 above the physeal scar)."""
    medial = X >= 0
    phi = np.where(medial, knee.medial.angle(Y, Z), knee.lateral.angle(Y, Z))
    part = np.where(phi < -35.0, 0, np.where(phi < 35.0, 1, 2))
    lab = np.where(medial, L["FMA"] + part, L["FLA"] + part).astype(np.uint8)
    epi = femur_physis(X, Z) < Y
    return np.where(epi, lab, 0).astype(np.uint8)


def femur_physis(X, Z):
    return -46.0 + 0.16 * Z + 2.0 * np.cos(X / 9.0)


def tibia_physis(knee: Knee, X):
    return knee.tibia_top + 19.0 + 2.0 * np.cos(X / 9.0)


def tibia_labels(knee: Knee, X, Y, Z):
    part = np.where(Z < -6.7, 0, np.where(Z > 10.7, 2, 1))
    lab = np.where(X >= 0, L["TMA"] + part, L["TLA"] + part)
    lab = np.where(np.abs(X) < 8.0, L["SS"], lab).astype(np.uint8)
    epi = tibia_physis(knee, X) > Y
    return np.where(epi, lab, 0).astype(np.uint8)


def patella_q(knee: Knee, X, Y, Z, pad: float = 0.0):
    x, y, z, ax, ay, az = knee.patella
    bpost = az + 4.5 * np.exp(-((X / 9.0) ** 2))
    bz = np.where(z < Z, bpost, az) + pad
    return ((X - x) / (ax + pad)) ** 2 + ((Y - y) / (ay + pad)) ** 2 + ((Z - z) / bz) ** 2, bz


def femoral_cartilage_bottom(knee: Knee, c: Condyle, X, Z):
    """Y of the femoral cartilage surface above (X, Z), or -inf where the condyle is not above."""
    tf = knee.tf
    arg = 1.0 - ((X - c.cx) / (c.ax + tf)) ** 4 - ((Z - c.cz) / (c.az + tf)) ** 2
    return np.where(arg > 0, c.cy + (c.ay + tf) * np.sqrt(np.maximum(arg, 0.0)), -np.inf)


def meniscus_geometry(
    knee: Knee,
    m: Meniscus,
    X,
    Y,
    Z,
    *,
    ext_body: float = 0.0,
    ext_ant: float = 0.0,
    hypertrophy: bool = False,
):
    """Mask, segment index (0 A, 1 B, 2 P) and local coordinates of one meniscus in a crop."""
    dx = (X - m.xm) * m.out
    dz = Z - m.zm
    th0 = np.arctan2(dz, dx)
    if ext_body or ext_ant:
        wb = np.clip(np.cos(th0), 0.0, 1.0) ** 2
        wa = np.clip(-np.sin(th0), 0.0, 1.0) ** 2
        dx = dx - ext_body * wb
        dz = dz + ext_ant * wa
    rho = np.sqrt((dx / m.ax) ** 2 + (dz / m.az) ** 2)
    th = np.degrees(np.arctan2(dz, dx))
    ri = m.ri - (0.1 if hypertrophy else 0.0)
    hm = knee.hm * (1.45 if hypertrophy else 1.0)
    ring = (rho >= ri) & (rho < 1.0) & (np.abs(th) < m.opening_deg)
    xs, zs = m.xm + m.out * dx, m.zm + dz
    top = tibia_top(knee, xs, zs)
    h = hm * np.clip((rho - ri) / 0.28, 0.0, 1.0)
    c = knee.condyle(m.side == "medial")
    room = top - femoral_cartilage_bottom(knee, c, X, Z) - 0.3
    h = np.minimum(h, room) if not hypertrophy else np.minimum(h, room + 0.3)
    mask = ring & (top > Y) & (top - h <= Y)
    seg = np.where(th < -50.0, 0, np.where(th > 50.0, 2, 1)).astype(np.uint8)
    yrel = (top - Y) / np.maximum(h, 1e-3)
    return mask, seg, rho, th, yrel, ri


def _overhang(knee: Knee, m: Meniscus, anterior: bool, shift: float) -> float:
    """Largest overhang (mm) of a segment's footprint beyond the tibial plateau margin, on a 0.25 mm grid."""
    xs = np.arange(m.xm - m.ax - 12.0, m.xm + m.ax + 12.0, 0.25, dtype=np.float32)
    zs = np.arange(-40.0, 34.0, 0.25, dtype=np.float32)
    X, Z = xs[:, None], zs[None, :]
    top = tibia_top(knee, X, Z)
    Y = top - 0.05
    kw = {"ext_ant": shift} if anterior else {"ext_body": shift}
    mask, seg, *_ = meniscus_geometry(knee, m, X, Y, Z, **kw)
    foot = mask & (seg == (0 if anterior else 1))
    tib = ((X - 1.0) / 39.0) ** 2 + ((Z - 2.0) / 26.0) ** 2 < 1.0
    if not foot.any():
        return -np.inf
    if anterior:
        rows = foot.any(axis=1) & tib.any(axis=1)
        zt = np.where(tib, Z, np.inf).min(axis=1)[rows]
        zm = np.where(foot, Z, np.inf).min(axis=1)[rows]
        return float(np.max(zt - zm))
    cols = foot.any(axis=0) & tib.any(axis=0)
    if m.out > 0:
        return float(
            np.max(
                np.where(foot, X, -np.inf).max(axis=0)[cols]
                - np.where(tib, X, -np.inf).max(axis=0)[cols]
            )
        )
    return float(
        np.max(
            np.where(tib, X, np.inf).min(axis=0)[cols] - np.where(foot, X, np.inf).min(axis=0)[cols]
        )
    )


def extrusion_shift(knee: Knee, m: Meniscus, target_mm: float, anterior: bool) -> float:
    """Displacement that puts the segment's outer edge ``target_mm`` beyond the tibial margin (secant steps)."""
    if target_mm <= 0:
        return 0.0
    s0, o0 = 0.0, _overhang(knee, m, anterior, 0.0)
    s1 = max(0.5, target_mm - o0)
    for _ in range(3):
        o1 = _overhang(knee, m, anterior, s1)
        if abs(o1 - target_mm) < 0.05 or o1 == o0:
            break
        s0, o0, s1 = s1, o1, s1 + (target_mm - o1) * (s1 - s0) / (o1 - o0)
    return float(s1)


# --- painting ---------------------------------------------------------------------------------


def build_anatomy(canvas: Canvas, knee: Knee, grades: Mapping[str, int]) -> None:
    """Paint soft tissue, fluid, fat pad, bones, cartilage, menisci, ligaments and tendons."""
    g = canvas.grid
    _soft_tissue(canvas, knee)
    _joint_fluid(canvas, knee, grades["effusion.grade"])
    # Hoffa's fat pad (bone, cartilage, tendon painted later win)
    sl = g.box((-22, 22), (-20, 12), (-36, -10))
    if sl:
        X, Y, Z = g.coords(sl)
        m = (X / 20.0) ** 2 + ((Y + 4.0) / 14.0) ** 2 + ((Z + 23.0) / 11.0) ** 2 < 1.0
        canvas.paint(sl, m, Tissue.FAT_PAD, L["HFP"])
    _bones(canvas, knee)
    _cartilage(canvas, knee)
    _menisci(canvas, knee, grades)
    _ligaments(canvas, knee, grades)


def _soft_tissue(canvas: Canvas, knee: Knee) -> None:
    g = canvas.grid
    sl = g.full()
    X, Y, Z = g.coords(sl)
    rx = ((X - 1.0) / 54.0) ** 2
    r2 = rx + ((Z - 4.0) / 58.0) ** 2
    leg = r2 < 1.0
    canvas.tissues[leg] = Tissue.MUSCLE
    canvas.tissues[leg & (r2 > (1.0 - 6.5 / 56.0) ** 2)] = Tissue.FAT
    sl = g.box((-20, 20), (-40, 30), (28, 52))
    if sl:
        X, Y, Z = g.coords(sl)
        m = (X / 16.0) ** 2 + ((Y + 5.0) / 32.0) ** 2 + ((Z - 39.0) / 9.0) ** 2 < 1.0
        canvas.paint(sl, m, Tissue.FAT)
    # quadriceps tendon above the patella, iliotibial band laterally
    x, y, _z, *_ = knee.patella
    sl = g.box((x - 18, x + 18), (-130, y - 10), (-50, -28))
    if sl:
        X, Y, Z = g.coords(sl)
        d2, _ = _seg_dist2(Y, Z, (y - 17.0, -41.0), (y - 90.0, -37.0))
        canvas.paint(sl, (d2 < 3.2**2) & (np.abs(X - x) < 17.0), Tissue.TENDON)
    sl = g.box((-48, -44), (-62, 10), (-5, 9))
    if sl:
        X, Y, Z = g.coords(sl)
        canvas.paint(
            sl, (X > -47.2) & (X < -44.6) & (Y > -60) & (Y < 8) & (Z > -4) & (Z < 8), Tissue.TENDON
        )


def _joint_fluid(canvas: Canvas, knee: Knee, effusion: int) -> None:
    g = canvas.grid
    supra, post = EFFUSION_MM[effusion]
    sl = g.box((-34, 34), (-75 - 4 * effusion, knee.ycap + 4), (-40, 5))
    if sl:
        X, Y, Z = g.coords(sl)
        top = -70.0 - 4 * effusion
        taper = np.sqrt(
            np.clip((Y - top) / (8.0 + 3.0 * effusion), 0.0, 1.0)
        )  # a rounded upper pouch
        q = femur_shaft_q(knee, X, Y, Z, pad=knee.tf + supra * taper, groove=5.0 - 0.3 * supra)
        m = (q < 1.0) & (Z < 1.0) & (top < Y) & (knee.ycap + 4 > Y) & (np.abs(X) < 28 + supra)
        canvas.paint(sl, m, Tissue.JOINT_FLUID)
    for c in (knee.medial, knee.lateral):
        pad = knee.tf + post
        sl = g.box(
            (c.cx - c.ax - pad, c.cx + c.ax + pad),
            (c.cy - c.ay - pad, 2),
            (c.cz - c.az - pad, c.cz + c.az + pad),
        )
        if not sl:
            continue
        X, Y, Z = g.coords(sl)
        phi = c.angle(Y, Z)
        film = (c.q(X, Y, Z, pad=knee.tf + 0.7) < 1.0) & (phi > -110.0)
        recess = (c.q(X, Y, Z, pad=pad) < 1.0) & (phi > 35.0)
        canvas.paint(sl, film | recess, Tissue.JOINT_FLUID)


def _paint_bone(canvas: Canvas, sl, mask, X, Y, Z, labeller) -> None:
    """Paint marrow and compute region labels at the bone voxels only (cheaper than the whole crop)."""
    idx = np.nonzero(mask)
    x = X[idx[0], 0, 0]
    y = Y[0, idx[1], idx[2]]
    z = Z[0, idx[1], idx[2]]
    canvas.tissues[sl][idx] = Tissue.MARROW
    canvas.labels[sl][idx] = labeller(x, y, z)


def _bones(canvas: Canvas, knee: Knee) -> None:
    g = canvas.grid
    # fibula (unlabelled)
    sl = g.box((-48, -28), (10, 95), (8, 32))
    if sl:
        X, Y, Z = g.coords(sl)
        head = (X + 37.0) ** 2 + (Y - 22.0) ** 2 + (Z - 20.0) ** 2 < 8.5**2
        shaft, _ = capsule(X, Y, Z, (-37.0, 22.0, 20.0), (-39.0, 95.0, 22.0), 6.0)
        canvas.paint(sl, head | shaft, Tissue.MARROW, 0)
    # tibia
    sl = g.box((-40, 42), (-6, 120), (-31, 30))
    if sl:
        X, Y, Z = g.coords(sl)
        m = tibia_inside(knee, X, Y, Z)
        _paint_bone(canvas, sl, m, X, Y, Z, lambda x, y, z: tibia_labels(knee, x, y, z))
        phys = m & (np.abs(Y - tibia_physis(knee, X)) < 0.5 * g.voxel[1] + 0.2)
        canvas.paint(sl, phys, Tissue.PHYSIS)
    # femur
    sl = g.box((-38, 40), (-130, 0), (-27, 30))
    if sl:
        X, Y, Z = g.coords(sl)
        m = femur_inside(knee, X, Y, Z)
        _paint_bone(canvas, sl, m, X, Y, Z, lambda x, y, z: femur_labels(knee, x, y, z))
        phys = m & (np.abs(Y - femur_physis(X, Z)) < 0.5 * g.voxel[1] + 0.2)
        canvas.paint(sl, phys, Tissue.PHYSIS)
    # patella
    x, y, z, ax, ay, az = knee.patella
    sl = g.box((x - ax - 1, x + ax + 1), (y - ay - 1, y + ay + 1), (z - az - 1, z + az + 6))
    if sl:
        X, Y, Z = g.coords(sl)
        q, _ = patella_q(knee, X, Y, Z)
        lab = np.where(x <= X, L["PM"], L["PL"]).astype(np.uint8)
        canvas.paint(sl, q < 1.0, Tissue.MARROW, lab)


def _plate(canvas: Canvas, name: str, sl, mask, sub, depth, f1, f2) -> None:
    mask = mask & ~_HARD[canvas.tissues[sl]]
    idx = np.nonzero(mask)
    full = lambda a: np.broadcast_to(a, mask.shape)[idx].astype(np.float32)  # noqa: E731
    canvas.tissues[sl][mask] = Tissue.CARTILAGE
    canvas.plates.append(
        Plate(
            name,
            sl,
            idx,
            np.broadcast_to(sub, mask.shape)[idx].astype(np.uint8),
            full(depth),
            full(f1),
            full(f2),
        )
    )


def _cartilage(canvas: Canvas, knee: Knee) -> None:
    g = canvas.grid
    tf = knee.tf
    # femoral condyles (and their anterior continuation)
    for c, medial in ((knee.medial, True), (knee.lateral, False)):
        sl = g.box(
            (c.cx - c.ax - tf, c.cx + c.ax + tf),
            (c.cy - 5, 1),
            (c.cz - c.az - tf, c.cz + c.az + tf),
        )
        if not sl:
            continue
        X, Y, Z = g.coords(sl)
        q = c.q(X, Y, Z)
        r = np.sqrt(q)
        phi = c.angle(Y, Z)
        m = (
            (r >= 1.0)
            & (r < 1.0 + tf / c.ay)
            & (phi > -80.0)
            & (phi < 150.0)
            & (np.abs(X - c.cx) < 0.86 * c.ax)
        )
        part = np.where(phi < -35.0, 0, np.where(phi < 35.0, 1, 2))
        sub = ((L["FMA"] if medial else L["FLA"]) + part).astype(np.uint8)
        _plate(canvas, "femur", sl, m, sub, (r - 1.0) * c.ay / tf, X, np.radians(phi) * c.ay)
    # trochlea: the anterior femoral surface
    sl = g.box((-32, 32), (-60, knee.ycap + 2), (-30, 1))
    if sl:
        X, Y, Z = g.coords(sl)
        qi = femur_shaft_q(knee, X, Y, Z)
        qo = femur_shaft_q(knee, X, Y, Z, pad=tf)
        m = (
            (qi >= 1.0)
            & (qo < 1.0)
            & (Z < -4.0)
            & (Y > -58.0)
            & (knee.ycap > Y)
            & (np.abs(X) < 30.0)
        )
        ri, ro = np.sqrt(qi), np.sqrt(qo)
        depth = (ri - 1.0) / np.maximum((ri - 1.0) + (1.0 - ro), 1e-3)
        medial = X >= 0
        phi = np.where(medial, knee.medial.angle(Y, Z), knee.lateral.angle(Y, Z))
        part = np.where(phi < -35.0, 0, np.where(phi < 35.0, 1, 2))
        sub = np.where(medial, L["FMA"] + part, L["FLA"] + part).astype(np.uint8)
        _plate(canvas, "trochlea", sl, m, sub, depth, X, Y)
    # tibial plateau
    sl = g.box((-40, 42), (-8, 8), (-28, 30))
    if sl:
        X, Y, Z = g.coords(sl)
        top = tibia_top(knee, X, Z)
        inside = ((X - 1.0) / 38.0) ** 2 + ((Z - 2.0) / 25.0) ** 2 < 1.0
        comp = np.zeros(np.broadcast_shapes(X.shape, Z.shape), bool)
        for m_ in knee.menisci.values():
            comp |= ((X - m_.xm) / m_.ax) ** 2 + ((Z - m_.zm) / m_.az) ** 2 < 0.80**2
        m = (top > Y) & (top - knee.tt <= Y) & inside & comp & (np.abs(X) > 7.0)
        sub = tibia_labels(knee, X, top + 0.5, Z)
        # footprint by voxel column (slice, col) in mm, so that a column is one footprint
        ds, _, dc = g.voxel
        fs = (np.arange(sl[0].start, sl[0].stop, dtype=np.float32) * ds)[:, None, None]
        fc = (np.arange(sl[2].start, sl[2].stop, dtype=np.float32) * dc)[None, None, :]
        _plate(canvas, "tibia", sl, m, sub, (top - Y) / knee.tt, fs, fc)
    # patella (posterior surface)
    x, y, z, ax, ay, az = knee.patella
    sl = g.box((x - ax - 4, x + ax + 4), (y - ay - 4, y + ay + 4), (z - 2, z + az + 10))
    if sl:
        X, Y, Z = g.coords(sl)
        q, bz = patella_q(knee, X, Y, Z)
        r = np.sqrt(q)
        m = (r >= 1.0) & (r < 1.0 + knee.tp / bz) & (z + 2.5 < Z)
        sub = np.where(x <= X, L["PM"], L["PL"]).astype(np.uint8)
        _plate(canvas, "patella", sl, m, sub, (r - 1.0) * bz / knee.tp, X, Y)


def _menisci(canvas: Canvas, knee: Knee, grades: Mapping[str, int]) -> None:
    g = canvas.grid
    for side, m in knee.menisci.items():
        s = "M" if side == "medial" else "L"
        ext_b = extrusion_shift(
            knee, m, EXTRUSION_MM[grades[f"extrusion.{s}M{'M' if s == 'M' else 'L'}.grade"]], False
        )
        ext_a = extrusion_shift(knee, m, EXTRUSION_MM[grades[f"extrusion.{s}MA.grade"]], True)
        hyp = bool(grades[f"meniscal_hypertrophy.{side}.presence"])
        x0, x1 = sorted((m.xm - m.out * (m.ax + 2), m.xm + m.out * (m.ax + ext_b + 3)))
        sl = g.box((x0, x1), (-12, 9), (m.zm - m.az - ext_a - 3, m.zm + m.az + 3))
        if not sl:
            continue
        X, Y, Z = g.coords(sl)
        mask, seg, *_ = meniscus_geometry(
            knee, m, X, Y, Z, ext_body=ext_b, ext_ant=ext_a, hypertrophy=hyp
        )
        lab = np.array([L[c] for c in m.codes], np.uint8)[seg]
        canvas.paint(sl, mask, Tissue.MENISCUS, lab, avoid=_HARD)


def _ligaments(canvas: Canvas, knee: Knee, grades: Mapping[str, int]) -> None:
    g = canvas.grid
    sl = g.box((-16, 16), (-26, 14), (-16, 26))
    if sl:
        X, Y, Z = g.coords(sl)
        if grades["acl.repair"]:
            a, b = (2.0, 3.0, -11.0), (-9.0, -20.0, 9.0)
            m, _ = capsule(X, Y, Z, a, b, 3.8)
            canvas.paint(sl, m, Tissue.GRAFT, L["ACL"], avoid=_HARD_M)
        else:
            m, _ = capsule(X, Y, Z, *knee.acl, 4.5)
            canvas.paint(sl, m, Tissue.ACL, L["ACL"], avoid=_HARD_M)
        p = knee.pcl
        m = capsule(X, Y, Z, p[0], p[1], 5.0)[0] | capsule(X, Y, Z, p[1], p[2], 5.0)[0]
        canvas.paint(
            sl, m, Tissue.PCL, L["PCL"], avoid=_HARD_M | lut_of([Tissue.ACL, Tissue.GRAFT])
        )
    x = knee.patella[0]
    (y0, z0), (y1, z1) = knee.pt
    sl = g.box((x - 14, x + 16), (y0 - 2, y1 + 3), (min(z0, z1) - 4, max(z0, z1) + 4))
    if sl:
        X, Y, Z = g.coords(sl)
        d2, t = _seg_dist2(Y, Z, (y0, z0), (y1, z1))
        half = 12.5 - 2.5 * t
        m = (d2 < 2.4**2) & (np.abs(X - x - 1.0) < half)
        canvas.paint(sl, m, Tissue.TENDON, L["PT"], avoid=_BONE)


def finish_bone(canvas: Canvas) -> None:
    """Cortex: marrow voxels of any bone with a non-bone 6-neighbour (after lesions changed the bones)."""
    bone = _BONE[canvas.tissues]
    interior = bone.copy()
    interior[1:] &= bone[:-1]
    interior[:-1] &= bone[1:]
    interior[:, 1:] &= bone[:, :-1]
    interior[:, :-1] &= bone[:, 1:]
    interior[:, :, 1:] &= bone[:, :, :-1]
    interior[:, :, :-1] &= bone[:, :, 1:]
    edge = bone & ~interior & (canvas.tissues == Tissue.MARROW)
    canvas.tissues[edge] = Tissue.CORTEX
