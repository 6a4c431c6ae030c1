"""Tissue classes of the phantom and their DESS-like intensities.

The tissue map is finer than the 25-region label map: it says what each voxel
*is* (marrow, cartilage, joint fluid, a cyst ...), the label map says which
named region it belongs to. Intensities imitate a sagittal 3D DESS with water
excitation (fluid and cartilage bright, marrow intermediate, menisci,
ligaments and tendons dark, fat suppressed); every labelled structure differs
from its neighbours, so a segmenter has a contrast to learn.
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np

__all__ = ["INTENSITY", "Tissue", "intensity_table"]


class Tissue(IntEnum):
    """What a voxel is made of (the values of ``Phantom.tissues``)."""

    AIR = 0
    FAT = 1  # subcutaneous and popliteal fat (suppressed)
    MUSCLE = 2
    MARROW = 3  # bone marrow (all bones)
    CORTEX = 4  # cortical / subchondral plate
    PHYSIS = 5  # physeal scar line
    CARTILAGE = 6
    JOINT_FLUID = 7  # synovial fluid: what effusion grades
    MENISCUS = 8
    ACL = 9
    PCL = 10
    TENDON = 11  # patellar and quadriceps tendon, iliotibial band
    FAT_PAD = 12  # Hoffa's fat pad
    BML = 13  # bone-marrow lesion (oedema-like)
    CYST = 14  # subchondral or insertion cyst, well defined
    LESION_FLUID = 15  # fluid in a tear, defect or gap (not joint effusion)
    BURSA = 16  # bursitis, popliteal / meniscal / ganglion cyst
    LOOSE_BODY = 17
    GRAFT = 18  # ACL reconstruction graft
    TUNNEL = 19  # bone tunnel of a reconstruction


#: Mean DESS-like intensity of each tissue (arbitrary units, inside the public 0..400 window).
INTENSITY: dict[Tissue, float] = {
    Tissue.AIR: 3.0,
    Tissue.FAT: 48.0,
    Tissue.MUSCLE: 140.0,
    Tissue.MARROW: 88.0,
    Tissue.CORTEX: 12.0,
    Tissue.PHYSIS: 30.0,
    Tissue.CARTILAGE: 235.0,
    Tissue.JOINT_FLUID: 385.0,
    Tissue.MENISCUS: 18.0,
    Tissue.ACL: 60.0,
    Tissue.PCL: 28.0,
    Tissue.TENDON: 24.0,
    Tissue.FAT_PAD: 118.0,
    Tissue.BML: 88.0,  # raised by a smooth, ill-defined overlay (see render)
    Tissue.CYST: 370.0,
    Tissue.LESION_FLUID: 360.0,
    Tissue.BURSA: 375.0,
    Tissue.LOOSE_BODY: 14.0,
    Tissue.GRAFT: 22.0,
    Tissue.TUNNEL: 160.0,
}


def intensity_table() -> np.ndarray:
    """Intensities indexed by tissue value (float32, length 256) for a fast lookup."""
    lut = np.zeros(256, np.float32)
    for t, v in INTENSITY.items():
        lut[int(t)] = v
    return lut


#: Tissues that are bone (for cortex, osteophytes, "not inside bone" rules).
BONE_TISSUES: tuple[Tissue, ...] = (
    Tissue.MARROW, Tissue.CORTEX, Tissue.PHYSIS, Tissue.BML, Tissue.CYST, Tissue.TUNNEL,
)  # fmt: skip


def lut_of(tissues: tuple[Tissue, ...] | list[Tissue]) -> np.ndarray:
    """A boolean lookup table (length 256) true at the given tissue values."""
    lut = np.zeros(256, bool)
    lut[[int(t) for t in tissues]] = True
    return lut
