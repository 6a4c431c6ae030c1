"""One phantom knee: :class:`Phantom` and :func:`make_phantom`."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from knee_volumes.volume import Volume
from moaks_schema import ATTRIBUTES, READING_COLUMNS, attribute

from knee_phantom.anatomy import Canvas, build_anatomy, finish_bone, make_knee
from knee_phantom.errors import PhantomError
from knee_phantom.grid import Grid, Subject
from knee_phantom.lesions import plant_lesions, stream
from knee_phantom.prior import GradePrior, complete_grades
from knee_phantom.render import render_image

if TYPE_CHECKING:
    import polars as pl
    from bbox3d import LabelBoxes

__all__ = ["LesionMasks", "Phantom", "make_phantom"]

#: Default (test) size; the full OAI size is (160, 384, 384).
SMALL_SHAPE: tuple[int, int, int] = (48, 96, 96)


class LesionMasks(Mapping[str, np.ndarray]):
    """Lesion masks by name (``"bml.FMC"``, ``"cartilage.TMC.full"``, ``"effusion"`` ...).

    Stored as crops; ``masks[name]`` gives the full-size boolean array,
    ``masks.crop(name)`` the ``(slices, crop)`` pair without the copy.
    """

    def __init__(
        self,
        shape: tuple[int, int, int],
        crops: Mapping[str, tuple[tuple[slice, ...], np.ndarray]],
        *,
        flip: bool = False,
    ) -> None:
        self._shape = shape
        self._crops = dict(crops)
        self._flip = flip

    def crop(self, name: str) -> tuple[tuple[slice, slice, slice], np.ndarray]:
        """``(slices, mask)``: the mask inside its crop of the (already mirrored) volume."""
        sl, m = self._crops[name]
        if self._flip:
            n = self._shape[0]
            s0 = sl[0]
            sl = (slice(n - s0.stop, n - s0.start), sl[1], sl[2])
            m = m[::-1]
        return sl, m  # type: ignore[return-value]

    def __getitem__(self, name: str) -> np.ndarray:
        sl, m = self.crop(name)
        out = np.zeros(self._shape, bool)
        out[sl] = m
        return out

    def __iter__(self) -> Iterator[str]:
        return iter(self._crops)

    def __len__(self) -> int:
        return len(self._crops)

    def count(self, name: str) -> int:
        """Number of voxels of a mask."""
        return int(np.count_nonzero(self._crops[name][1]))


@dataclass(frozen=True, eq=False)
class Phantom:
    """One phantom knee scan with its truth.

    ``volume`` is the DESS-like image (canonical layout, int16), ``labels`` the
    25-region map (uint8, :data:`moaks_schema.REGIONS` labels, 0 background),
    ``tissues`` what each voxel is (:class:`~knee_phantom.Tissue`),
    ``lesion_masks`` the exact voxels of each planted lesion and ``grades`` the
    true grade of all 118 attributes.
    """

    volume: Volume
    labels: np.ndarray
    tissues: np.ndarray
    lesion_masks: LesionMasks
    grades: Mapping[str, int]
    seed: int
    subject: Subject = field(repr=False)

    @property
    def spacing(self) -> tuple[float, float, float]:
        return self.volume.spacing

    @property
    def affine(self) -> np.ndarray:
        return self.volume.affine

    @property
    def side(self) -> int:
        return int(self.volume.side or 1)

    @property
    def image(self) -> np.ndarray:
        """The image array (same as ``volume.array``)."""
        return self.volume.array

    def label_volume(self) -> Volume:
        """The label map as a :class:`~knee_volumes.Volume` with the image's geometry."""
        return self.volume.with_array(self.labels)

    def boxes(self) -> LabelBoxes:
        """True boxes of the 25 regions (largest 26-connected component, as the paper does)."""
        from bbox3d import boxes_from_labels

        return boxes_from_labels(self.labels)

    def readings(
        self,
        patient_id: str,
        visit: str | None = None,
        side: int | None = None,
        source: str = "phantom",
        *,
        missing: frozenset[str] | set[str] = frozenset(),
    ) -> pl.DataFrame:
        """True grades as the long MOAKS readings table (``moaks_schema.READING_COLUMNS``).

        Attributes in ``missing`` get a null grade (as a missing OAI cell does).
        """
        import polars as pl

        visit = visit or self.volume.visit or "00M"
        side = side or self.side
        rows = {c: [] for c in READING_COLUMNS}
        for a in ATTRIBUTES:
            rows["patient_id"].append(str(patient_id))
            rows["visit"].append(visit)
            rows["side"].append(int(side))
            rows["question_id"].append(a.question_id)
            rows["attribute"].append(a.key)
            rows["grade"].append(None if a.key in missing else int(self.grades[a.key]))
            rows["source"].append(source)
        schema = {"patient_id": pl.String, "visit": pl.String, "side": pl.Int64, "question_id": pl.Int64,
                  "attribute": pl.String, "grade": pl.Int64, "source": pl.String}  # fmt: skip
        return pl.DataFrame(rows, schema=schema)


def make_phantom(
    seed: int,
    *,
    shape: tuple[int, int, int] = SMALL_SHAPE,
    side: int = 1,
    prior: GradePrior | str = "realistic",
    grades: Mapping[str, int] | None = None,
    visit: str = "00M",
    anatomy_seed: int | None = None,
    patient_id: str | None = None,
) -> Phantom:
    """A phantom knee from a seed: same seed, shape and options give the same bytes.

    ``grades`` plants exactly these grades (unspecified attributes healthy);
    otherwise they are drawn from ``prior``. ``anatomy_seed`` (default: ``seed``)
    fixes the subject, so one person can be scanned at several visits. The
    field of view is always the OAI one (112 × 140 × 140 mm): a smaller shape
    means coarser voxels. Side 2 (left) is the mirror image of side 1.

    >>> p = make_phantom(3, shape=(24, 48, 48), grades={"effusion.grade": 2})
    >>> p.volume.shape, p.grades["effusion.grade"], int(p.labels.max())
    ((24, 48, 48), 2, 25)
    """
    if side not in (1, 2):
        raise PhantomError(f"make_phantom: side must be 1 (right) or 2 (left), got {side!r}")
    shape = tuple(int(n) for n in shape)  # type: ignore[assignment]
    if len(shape) != 3 or min(shape) < 16:
        raise PhantomError(
            f"make_phantom: shape must be 3 sizes of at least 16 voxels, got {shape!r}"
        )
    if grades is not None:
        truth = complete_grades(grades, visit=visit)
    else:
        pr = GradePrior.named(prior) if isinstance(prior, str) else prior
        truth = pr.sample(stream(seed, f"grades/{visit}"), visit=visit)
    subject = Subject.draw(stream(seed if anatomy_seed is None else anatomy_seed, "anatomy"))
    grid = Grid(shape, subject)  # type: ignore[arg-type]
    knee = make_knee(grid)
    canvas = Canvas.empty(grid)
    build_anatomy(canvas, knee, truth)
    crops, overlays = plant_lesions(canvas, knee, truth, lambda name: stream(seed, name))
    finish_bone(canvas)
    from knee_phantom.tissues import Tissue

    fluid = canvas.tissues == Tissue.JOINT_FLUID
    crops["effusion"] = (grid.full(), fluid)
    image = render_image(grid, canvas.tissues, overlays, stream(seed, "noise"))
    labels, tissues = canvas.labels, canvas.tissues
    if side == 2:
        image, labels, tissues = (np.ascontiguousarray(a[::-1]) for a in (image, labels, tissues))
    description = "SAG_3D_DESS_LEFT" if side == 2 else "SAG_3D_DESS_RIGHT"
    volume = Volume(
        image,
        spacing=grid.spacing,
        side=side,
        series_description=description,
        visit=visit,
        patient_id=patient_id,
        source=f"phantom:seed={seed}",
    )
    for k in truth:
        attribute(k)
    return Phantom(
        volume,
        labels,
        tissues,
        LesionMasks(shape, crops, flip=side == 2),
        dict(truth),
        int(seed),
        subject,
    )  # type: ignore[arg-type]
