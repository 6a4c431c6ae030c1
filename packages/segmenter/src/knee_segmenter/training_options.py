"""The choices ``KneeSegmenterTrainer`` offers beyond nnU-Net's: mirror axes, optimizer, augmentation.

Mirroring: the 25 regions are defined by position (anterior/central/posterior,
medial/lateral, femur above tibia). A knee flipped superior-inferior or
anterior-posterior is no knee, while a right knee mirrored left-right is a left
knee with its labels still in place; so by default only the patient's
left-right axis is mirrored.

Optimizer: ``sgd`` is nnU-Net's (SGD, Nesterov momentum 0.99, learning rate
1e-2, made for 1000 × 250 iterations); ``adam`` is the AdamW (amsgrad) of
nnU-Net's own ``nnUNetTrainerAdam1en3`` (learning rate 1e-3). Both decay
polynomially. On the phantoms, SGD stays for thousands of iterations at
labelling all foreground as one region, while AdamW learns the regions within
a few hundred (docs/segmentation.md): short schedules should use ``adam``.

Augmentation: ``nnunet`` is nnU-Net's (rotation, scaling, noise, blur,
brightness, contrast, low resolution, gamma, mirroring, and a random crop that
shifts a whole-scan patch); ``none`` is nnU-Net's own ``nnUNetTrainerNoDA``
(training patches as the validation sees them) but for the mirroring that the
mirroring option asks for (left-right by default). On scans that all come from one scanner protocol and one grid, as
the phantoms do, ``none`` learns the small regions (menisci, ligaments) in about
half the iterations (docs/segmentation.md); on real cohorts keep ``nnunet``.

Precision: nnU-Net trains in float32 on a CPU (it calls float16 autocast
there slow). ``bf16`` runs the U-Net's forward pass under bfloat16 autocast,
which CPUs with AVX-512 BF16 or AMX run about 1.6x faster per training step
(docs/segmentation.md); the loss is computed in float32.

Loss: ``dice+ce`` is nnU-Net's soft Dice plus cross-entropy; ``dice`` is its
``nnUNetTrainerDiceLoss`` (soft Dice of the foreground classes alone);
``dice+balanced-ce`` is nnU-Net's Dice plus a cross-entropy whose class weights
(:func:`balanced_class_weights`, from the training cases' voxel counts) lift the
regions smaller than the median region. Early in training the cross-entropy
drives the logits of the rarest classes (here the meniscal segments, a few
dozen voxels each) down everywhere, and a short schedule may end before some
of them come back; weighted up, they come alive hundreds of iterations sooner
(docs/segmentation.md).

Standard library only, so callers can check options without importing torch.
"""

from __future__ import annotations

import math

__all__ = [
    "AUGMENTATIONS",
    "LOSSES",
    "MIRRORING_MODES",
    "OPTIMIZERS",
    "PRECISIONS",
    "balanced_class_weights",
    "check_choice",
    "mirror_axes_for",
]

#: optimizer name -> default initial learning rate
OPTIMIZERS: dict[str, float] = {"sgd": 1e-2, "adam": 1e-3}

#: ``left-right``: along the patient's left-right axis only (default); ``none``; ``all``: nnU-Net's default.
MIRRORING_MODES = ("left-right", "none", "all")

#: ``nnunet``: nnU-Net's training augmentation (default); ``none``: nnU-Net's ``nnUNetTrainerNoDA``
#: but for the mirroring option's axes.

#: ``fp32``: nnU-Net's CPU training (default); ``bf16``: on a CPU, the network's forward pass under
#: bfloat16 autocast (weights, loss and optimizer stay float32). On a GPU nnU-Net's own float16
#: autocast applies either way.
PRECISIONS = ("fp32", "bf16")

#: ``dice+ce``: nnU-Net's Dice + cross-entropy (default); ``dice``: its ``nnUNetTrainerDiceLoss``;
#: ``dice+balanced-ce``: Dice + cross-entropy weighted by :func:`balanced_class_weights`.
LOSSES = ("dice+ce", "dice", "dice+balanced-ce")
AUGMENTATIONS = ("nnunet", "none")


def balanced_class_weights(counts: list[int], *, cap: float = 10.0) -> list[float]:
    """Cross-entropy weight per label (``counts``: voxels of labels 0, 1, ...) for ``dice+balanced-ce``.

    Background (label 0) and the foreground labels at least as large as their median keep
    weight 1; a smaller label weighs ``sqrt(median / count)``, at most ``cap``; a label
    with no voxel weighs 1.

    >>> balanced_class_weights([1000, 400, 100, 25, 0])
    [1.0, 1.0, 1.0, 2.0, 1.0]
    """
    present = sorted(c for c in counts[1:] if c > 0)
    if not present:
        return [1.0] * len(counts)
    mid = len(present) // 2
    median = present[mid] if len(present) % 2 else (present[mid - 1] + present[mid]) / 2
    return [1.0] + [
        1.0 if c <= 0 else min(cap, max(1.0, math.sqrt(median / c))) for c in counts[1:]
    ]


def check_choice(name: str, value: str, choices: tuple[str, ...] | dict[str, float]) -> str:
    """``value`` if it is one of ``choices``, else a ``ValueError`` naming the option and the choices.

    >>> check_choice("optimizer", "lion", OPTIMIZERS)
    Traceback (most recent call last):
    ...
    ValueError: optimizer: expected one of sgd, adam, got 'lion'
    """
    if value not in choices:
        raise ValueError(f"{name}: expected one of {', '.join(choices)}, got {value!r}")
    return value


def mirror_axes_for(
    mode: str, *, lr_axis: int | None, transpose_forward: list[int], dim: int
) -> tuple[int, ...] | None:
    """nnU-Net's ``mirror_axes`` (axes of the patch, after nnU-Net's transpose) for a mirroring mode.

    ``lr_axis``: the NIfTI voxel axis running left-right. nnU-Net's readers
    reverse the NIfTI axes, then preprocessing transposes them by
    ``transpose_forward``; a 2D configuration's patches span the last two.

    >>> mirror_axes_for("left-right", lr_axis=0, transpose_forward=[2, 0, 1], dim=3)
    (0,)
    >>> mirror_axes_for("left-right", lr_axis=0, transpose_forward=[0, 1, 2], dim=3)
    (2,)
    >>> mirror_axes_for("left-right", lr_axis=0, transpose_forward=[2, 0, 1], dim=2) is None
    True
    >>> mirror_axes_for("all", lr_axis=None, transpose_forward=[0, 1, 2], dim=2)
    (0, 1)
    """
    check_choice("mirroring", mode, MIRRORING_MODES)
    if mode == "all":
        return tuple(range(dim))
    if mode == "none" or lr_axis is None:
        return None
    axis = list(transpose_forward).index(2 - int(lr_axis))
    if dim == 2:
        return (axis - 1,) if axis > 0 else None
    return (axis,)
