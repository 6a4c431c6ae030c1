"""Pseudo-label quality: Dice per region on scans with a manual map the model was not trained on.

:func:`measure_pseudo_labels` compares predictions with manual maps on the
held-out scans; :func:`pseudo_label_quality` binds it to a model and a folder
of manual maps, as a function of the build's labelled scan table (what
``quintuple_builder.build_from_release(quality=...)`` takes). The held-out
scans are the manual maps whose scan is not among the cases the model was
trained on (``ModelDir.training_cases``, written by
:func:`knee_segmenter.train_segmenter`). Where none is held out, the quality is
*unmeasured*, and the result says why.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import polars as pl

from knee_segmenter.errors import SegmenterError

__all__ = ["PseudoLabelQuality", "measure_pseudo_labels", "pseudo_label_quality"]

PathLike = str | os.PathLike[str]


@dataclass(frozen=True)
class PseudoLabelQuality:
    """Dice of pseudo-labels against manual maps on held-out scans.

    ``per_scan``: :func:`knee_segmenter.dice_table` of the held-out scans;
    ``per_region``: its :func:`knee_segmenter.dice_summary` (``label, region,
    name, structure, mean_dice, std_dice, n``; empty when unmeasured).
    ``note`` says what was measured, or why nothing could be.
    """

    held_out_ids: tuple[str, ...]
    per_scan: pl.DataFrame
    per_region: pl.DataFrame
    note: str

    @property
    def measured(self) -> bool:
        """True when at least one held-out scan was compared."""
        return len(self.held_out_ids) > 0


def _unmeasured(note: str) -> PseudoLabelQuality:
    from knee_segmenter.dice import dice_summary, dice_table

    empty = dice_table([], [])
    return PseudoLabelQuality((), empty, dice_summary(empty), note)


def measure_pseudo_labels(
    predictions: Mapping[str, PathLike],
    manual_maps: Mapping[str, PathLike],
    held_out_ids: Iterable[str],
) -> PseudoLabelQuality:
    """Dice per region of ``predictions`` against ``manual_maps`` on ``held_out_ids`` (scan id -> path maps).

    Every held-out id needs a prediction and a manual map
    (:class:`SegmenterError` naming the scan otherwise). No held-out id gives an
    unmeasured result.

    >>> measure_pseudo_labels({}, {}, []).measured
    False
    """
    from knee_segmenter.dice import dice_summary, dice_table

    ids = sorted(dict.fromkeys(held_out_ids))
    if not ids:
        return _unmeasured("no manual map held out from training: pseudo-label quality unmeasured")
    for sid in ids:
        if sid not in manual_maps:
            raise SegmenterError(f"held-out scan {sid!r}: no manual label map given")
        if sid not in predictions:
            raise SegmenterError(f"held-out scan {sid!r}: no pseudo-label map (prediction) given")
    table = dice_table([predictions[s] for s in ids], [manual_maps[s] for s in ids], scan_ids=ids)
    note = f"Dice against {len(ids)} manual map(s) of scans the model was not trained on"
    return PseudoLabelQuality(tuple(ids), table, dice_summary(table), note)


def _training_cases(model_dir: PathLike) -> tuple[str, ...] | None:
    from knee_segmenter.training import ModelDir

    return ModelDir.open(model_dir).training_cases


def pseudo_label_quality(
    manual_dir: PathLike | None, *, model_dir: PathLike
) -> Callable[[pl.DataFrame], PseudoLabelQuality]:
    """A function of the build's labelled scans (``scan_id``, ``label_path``) -> :class:`PseudoLabelQuality`.

    ``manual_dir``: manual maps named ``<scan_id>.nii.gz`` (None: there are
    none). Held out: the manual maps of scans in the table, with a pseudo-label
    map, that the model in ``model_dir`` was not trained on. A model without a
    training record (not trained by :func:`knee_segmenter.train_segmenter`)
    cannot say which scans it saw: the quality is then unmeasured.
    """
    trained = _training_cases(model_dir)

    def measure(scans: pl.DataFrame) -> PseudoLabelQuality:
        if manual_dir is None:
            return _unmeasured("no manual maps given: pseudo-label quality unmeasured")
        if trained is None:
            return _unmeasured(
                f"model {model_dir} has no training record (which scans it was trained on): "
                "pseudo-label quality unmeasured"
            )
        folder = Path(manual_dir)
        manual = {
            row["scan_id"]: folder / f"{row['scan_id']}.nii.gz"
            for row in scans.select("scan_id").iter_rows(named=True)
            if (folder / f"{row['scan_id']}.nii.gz").is_file()
        }
        predictions = {
            row["scan_id"]: row["label_path"]
            for row in scans.select("scan_id", "label_path").iter_rows(named=True)
            if row["label_path"] is not None
        }
        untrained = [s for s in manual if s not in set(trained)]
        held_out = [s for s in untrained if s in predictions]
        if not untrained and manual:
            return _unmeasured(
                f"all {len(manual)} manual map(s) in {folder} were used for training: "
                "pseudo-label quality unmeasured"
            )
        quality = measure_pseudo_labels(predictions, manual, held_out)
        unlabelled = sorted(set(untrained) - set(held_out))
        if unlabelled:  # failed scans: the build reports them; the note says they are not counted
            note = f"{quality.note}; {len(unlabelled)} held-out scan(s) without a pseudo-label map "
            note += f"(failed, not counted): {', '.join(unlabelled[:5])}"
            quality = replace(quality, note=note)
        return quality

    return measure
