"""From an OAI-style release to a dataset folder: the one Python route that ``reasonknee build`` wraps.

Steps: scans of the release (:func:`knee_volumes.scan_oai_release`) -> MOAKS
readings (:func:`load_moaks_readings`) (and the reader pairs of
knees read twice) -> the scans that have a reading ->
label maps (a :data:`LabelProvider`: a folder of maps, or pseudo-labels from a
segmenter) -> the quality gate of pseudo-labels
(:mod:`quintuple_builder.label_quality`) -> :func:`build_dataset`. Nothing is
printed: progress goes through ``notify`` (one line of text per event) and the
progress bars of the steps.

>>> from quintuple_builder.release import ReleaseInputs
>>> ReleaseInputs(oai_root="oai", moaks=["moaks"]).moaks
(PosixPath('moaks'),)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from quintuple_builder.build import _FAILURE_SCHEMA, LABEL_SOURCES, BuildResult, build_dataset
from quintuple_builder.errors import QuintupleBuilderError
from quintuple_builder.label_quality import (
    DEFAULT_MIN_DICE,
    LabelQuality,
    QualityGate,
    QualityMeasure,
    gate_labels,
)
from quintuple_builder.moaks_readings import MoaksReadings, load_moaks_readings
from quintuple_builder.reader_pairs import reader_pairs

__all__ = [
    "LabelProvider",
    "ReleaseBuild",
    "ReleaseInputs",
    "build_from_release",
    "labels_from_folder",
]

#: Adds ``label_path`` (str or null) to a scan table; may also set ``status="failed"`` and
#: ``error`` for scans it could not label, and may replace ``image_path``.
LabelProvider = Callable[[pl.DataFrame], pl.DataFrame]


@dataclass(frozen=True)
class ReleaseInputs:
    """Where the release is: image root (``contents.csv`` + series folders), MOAKS files, codebook."""

    oai_root: Path
    moaks: tuple[Path, ...]
    codebook: Path | None = None

    def __init__(
        self,
        oai_root: str | Path,
        moaks: Sequence[str | Path],
        codebook: str | Path | None = None,
    ) -> None:
        object.__setattr__(self, "oai_root", Path(oai_root))
        object.__setattr__(self, "moaks", tuple(Path(m) for m in moaks))
        object.__setattr__(self, "codebook", None if codebook is None else Path(codebook))


@dataclass(frozen=True)
class ReleaseBuild:
    """What :func:`build_from_release` did: the build's result, the readings, the scan counts and
    the verdict of the label-quality gate (``quality.refused``: nothing was written)."""

    build: BuildResult
    readings: MoaksReadings
    scans_found: int
    scans_without_reading: int
    quality: QualityGate

    @property
    def ok(self) -> bool:
        """True when the dataset was written and no scan failed."""
        return self.build.ok and not self.quality.refused


def labels_from_folder(folder: str | Path) -> LabelProvider:
    """A provider that takes ``FOLDER/<scan_id>.nii.gz`` for each scan.

    The path is given even where no file exists, so that the scan's failure
    names the file that was looked for.
    """
    root = Path(folder)

    def provide(scans: pl.DataFrame) -> pl.DataFrame:
        paths = [str(root / f"{scan_id}.nii.gz") for scan_id in scans["scan_id"].to_list()]
        return scans.with_columns(pl.Series("label_path", paths, dtype=pl.String))

    return provide


def _relative(path: str, root: Path) -> str:
    try:
        return Path(path).resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return Path(path).name


def _readings(release: ReleaseInputs, *, keep_going: bool) -> MoaksReadings:
    from moaks_schema import default_variable_map

    variable_map = default_variable_map()
    if release.codebook is not None:
        variable_map = variable_map.with_codebook(release.codebook)
    return load_moaks_readings(
        list(release.moaks), variable_map=variable_map, keep_going=keep_going
    )


def _release_scans(
    release: ReleaseInputs, readings: MoaksReadings, *, progress: bool
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The release's scans split into (with a MOAKS reading, without one)."""
    from knee_volumes import scan_oai_release

    scans = scan_oai_release(release.oai_root, progress=progress).with_columns(
        pl.col("image_path")
        .map_elements(lambda p: _relative(p, release.oai_root), return_dtype=pl.String)
        .alias("source_path")
    )
    knees = readings.readings.select("patient_id", "visit", "side").unique()
    key = ["patient_id", "visit", "side"]
    return scans.join(knees, on=key, how="semi"), scans.join(knees, on=key, how="anti")


def _announce(gate: QualityGate, say: Callable[[str], None]) -> None:
    """One line on the label-quality verdict (the app prints the region table)."""
    if gate.status == "unmeasured":
        say(f"pseudo-label quality unmeasured: {gate.note}")
    elif gate.status == "passed":
        say(
            f"pseudo-label quality: every region's mean Dice >= {gate.min_dice:g} on "
            f"{len(gate.held_out_ids)} held-out scan(s)"
        )
    elif gate.status == "low_quality":
        what = "accepted, their boxes marked low_quality" if gate.accepted else "build refused"
        low = gate.low_quality_regions
        names = ", ".join(low[:8]) + (", ..." if len(low) > 8 else "")
        say(
            f"pseudo-label quality: {len(low)} region(s) below Dice {gate.min_dice:g} on "
            f"{len(gate.held_out_ids)} held-out scan(s) ({names}): {what}"
        )


def _not_written(out: Path) -> BuildResult:
    """The result of a build refused before it started (nothing written)."""
    empty = pl.DataFrame(schema=_FAILURE_SCHEMA)
    skipped = pl.DataFrame(schema={"scan_id": pl.String, "reason": pl.String})
    return BuildResult(
        out_dir=out, written=False, failures=empty, skipped=skipped, counts=pl.DataFrame()
    )


def _quality_reports(gate: QualityGate, measured: LabelQuality | None) -> dict[str, pl.DataFrame]:
    """``pseudo_label_quality`` (per region) and ``pseudo_label_dice_per_scan``, when measured."""
    if measured is None or gate.regions.height == 0:
        return {}
    return {
        "pseudo_label_quality": gate.regions.with_columns(pl.lit(gate.min_dice).alias("min_dice")),
        "pseudo_label_dice_per_scan": measured.per_scan,
    }


def build_from_release(
    release: ReleaseInputs,
    out_dir: str | Path,
    *,
    labels: LabelProvider,
    label_source: str,
    seed: int = 0,
    executor: str = "local",
    workers: int = 1,
    question_ids: Sequence[int] | None = None,
    keep_going: bool = False,
    overwrite: bool = False,
    progress: bool = True,
    notify: Callable[[str], None] | None = None,
    extra_manifest: dict[str, Any] | None = None,
    public_root: str | Path | None = None,
    quality: QualityMeasure | None = None,
    min_dice: float = DEFAULT_MIN_DICE,
    accept_low_quality: bool = False,
) -> ReleaseBuild:
    """Build the dataset folder ``out_dir`` from ``release``; label maps come from ``labels``.

    ``label_source`` (``manual``, ``nnunet`` or ``phantom``) is recorded as the
    boxes' provenance. Raises :class:`QuintupleBuilderError` when ``out_dir``
    exists without ``overwrite`` or when an input cannot be read; failed scans
    are reported in the result (and written with ``keep_going``). With
    ``keep_going`` malformed MOAKS rows are left out and listed in
    ``reports/moaks_malformed``; scans without a reading are not labelled and are
    listed in ``reports/skipped.csv``. ``public_root``: see :func:`build_dataset`.

    ``quality`` measures the labelled scans against held-out manual maps (e.g.
    ``knee_segmenter.pseudo_label_quality``); regions with mean Dice below
    ``min_dice`` make their questions' boxes ``<source>:low_quality``, and the
    build is refused (``result.quality.refused``, nothing written) unless
    ``accept_low_quality``. The verdict goes into the manifest
    (``label_quality``) and ``reports/pseudo_label_quality.parquet``; an
    ``nnunet`` build without a measurement is recorded as ``unmeasured``.
    """
    out = Path(out_dir)
    say = notify or (lambda _line: None)
    if label_source not in LABEL_SOURCES:
        raise QuintupleBuilderError(
            f"label_source {label_source!r}: expected one of {', '.join(LABEL_SOURCES)}"
        )
    if out.exists() and not overwrite:
        raise QuintupleBuilderError(f"{out} exists: choose a new output folder or overwrite it")
    readings = _readings(release, keep_going=keep_going)
    if readings.malformed.height:
        say(
            f"{readings.malformed.height} malformed MOAKS row(s) left out (reports/moaks_malformed)"
        )
    read, unread = _release_scans(release, readings, progress=progress)
    found = read.height + unread.height
    if unread.height:
        say(f"{unread.height} of {found} scan(s) have no MOAKS reading: left out")
    labelled = labels(read)
    measured = None if quality is None else quality(labelled)
    gate = gate_labels(
        measured,
        label_source=label_source,
        min_dice=min_dice,
        accept_low_quality=accept_low_quality,
    )
    _announce(gate, say)
    if gate.refused:
        return ReleaseBuild(
            build=_not_written(out),
            readings=readings,
            scans_found=found,
            scans_without_reading=unread.height,
            quality=gate,
        )
    unlabelled = unread.with_columns(pl.lit(None, pl.String).alias("label_path"))
    scans = pl.concat([labelled, unlabelled], how="diagonal_relaxed")
    manifest_inputs = {
        "oai_root": str(release.oai_root),
        "moaks": [str(m) for m in release.moaks],
        "codebook": None if release.codebook is None else str(release.codebook),
        "labels": label_source,
    }
    result = build_dataset(
        scans,
        readings.readings,
        out,
        label_source=label_source,
        seed=seed,
        executor=executor,
        workers=workers,
        question_ids=question_ids,
        keep_going=keep_going,
        overwrite=overwrite,
        progress=progress,
        reports={
            "moaks_conflicts": readings.conflicts,
            "moaks_missing_summary": readings.missing_summary(),
            "moaks_malformed": readings.malformed,
            **_quality_reports(gate, measured),
        },
        extra_manifest={
            "inputs": manifest_inputs,
            "label_quality": gate.manifest_entry(),
            **(extra_manifest or {}),
        },
        public_root=public_root,
        reader_pairs=None if readings.reads is None else reader_pairs(readings.reads),
        low_quality_regions=gate.low_quality_regions,
    )
    return ReleaseBuild(
        build=result,
        readings=readings,
        scans_found=found,
        scans_without_reading=unread.height,
        quality=gate,
    )
