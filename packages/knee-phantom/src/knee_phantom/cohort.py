"""Write a phantom cohort in the layouts the real loaders read (see docs/phantom.md).

::

    <cohort>/
      oai/<release>/<participant>/<YYYYMMDD>/<8-digit series>/001..NNN   DICOM (dicom=True)
      oai/<release>/contents.csv                                         OAI index (dicom=True)
      nifti/<scan_id>.nii.gz            images (always)
      moaks/kMRI_SQ_MOAKS_BICL00.txt    one OAI-shaped MOAKS table per visit
      moaks/phantom_codebook.csv        invented PH… names of the unmapped attributes
      labels/<scan_id>.nii.gz           true 25-region maps
      manual/<scan_id>.nii.gz           the "manual" subset (segmenter training)
      truth/readings.parquet            true grades after the priority rule
      truth/lesions/<scan_id>.npz       lesion masks
      cohort.json                       what was written
"""

from __future__ import annotations

import csv
import io
import json
import multiprocessing
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from knee_volumes.atomic import atomic_folder
from knee_volumes.manifest import CONTENTS_COLUMNS
from knee_volumes.volume import scan_id_of
from moaks_schema import visit

from knee_phantom.cohort_plan import CohortPlan, ScanKey, check_arguments, plan_cohort
from knee_phantom.errors import PhantomError
from knee_phantom.moaks_table import PHANTOM_STEMS, file_name, phantom_variable_map, table_lines
from knee_phantom.model import SMALL_SHAPE, make_phantom
from knee_phantom.prior import GradePrior

__all__ = ["COHORT_FORMAT", "CohortLayout", "write_cohort"]

if TYPE_CHECKING:
    import polars as pl
    from quintuple_builder.release import ReleaseInputs

COHORT_FORMAT = 1
_NON_DESS = ("SAG_IW_TSE_RIGHT", "COR_MPR_LEFT", "AX_T1_THIGH", "SAG_T2_MAP_RIGHT")


@dataclass(frozen=True)
class CohortLayout:
    """Paths of a written phantom cohort, and what ``cohort.json`` says about it."""

    root: Path
    info: dict[str, Any]

    @classmethod
    def open(cls, root: str | PathLike[str]) -> CohortLayout:
        """Read ``cohort.json`` of a cohort folder."""
        root = Path(root)
        try:
            info = json.loads((root / "cohort.json").read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise PhantomError(
                f"not a phantom cohort (cohort.json unreadable: {exc})", path=root
            ) from exc
        return cls(root, info)

    @property
    def scan_ids(self) -> list[str]:
        return list(self.info["scan_ids"])

    @property
    def manual_ids(self) -> list[str]:
        return list(self.info["manual"])

    @property
    def oai_dir(self) -> Path:
        return self.root / "oai"

    @property
    def moaks_dir(self) -> Path:
        return self.root / "moaks"

    @property
    def codebook_path(self) -> Path:
        return self.moaks_dir / "phantom_codebook.csv"

    @property
    def readings_path(self) -> Path:
        return self.root / "truth" / "readings.parquet"

    @property
    def labels_dir(self) -> Path:
        """The true label maps, one ``<scan_id>.nii.gz`` per scan."""
        return self.root / "labels"

    def release(self) -> ReleaseInputs:
        """The cohort as the inputs of ``quintuple_builder.build_from_release`` (needs ``dicom=True``)."""
        from quintuple_builder.release import ReleaseInputs

        if not any(self.oai_dir.glob("*/contents.csv")):
            raise PhantomError(
                "this cohort has no OAI release (write it with dicom=True)", path=self.root
            )
        codebook = self.codebook_path if self.codebook_path.is_file() else None
        return ReleaseInputs(oai_root=self.oai_dir, moaks=[self.moaks_dir], codebook=codebook)

    def nifti_path(self, scan_id: str) -> Path:
        return self.root / "nifti" / f"{scan_id}.nii.gz"

    def label_path(self, scan_id: str) -> Path:
        return self.labels_dir / f"{scan_id}.nii.gz"

    def manual_path(self, scan_id: str) -> Path:
        return self.root / "manual" / f"{scan_id}.nii.gz"

    def lesions_path(self, scan_id: str) -> Path:
        return self.root / "truth" / "lesions" / f"{scan_id}.npz"

    def moaks_path(self, visit_label: str) -> Path:
        return self.moaks_dir / file_name(visit_label)

    def contents_path(self, release: str) -> Path:
        return self.oai_dir / release / "contents.csv"

    def dicom_folder(self, scan_id: str) -> Path | None:
        """The scan's DICOM series folder (None when the cohort has no DICOM)."""
        d = self.info.get("dicom_folders", {}).get(scan_id)
        return None if d is None else self.oai_dir / d


def _write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """``np.savez_compressed`` with fixed zip timestamps, so the same masks give the same bytes."""
    import zipfile

    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, arr in arrays.items():
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.ascontiguousarray(arr), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, buf.getvalue())


def _progress(it, total: int, on: bool):
    if not on:
        return it
    from tqdm import tqdm

    return tqdm(it, total=total, desc="phantom cohort", unit="scan")


def _study(v: str) -> str:
    return "OAI^MR^ENROLLMENT" if v == "00M" else f"OAI^MR^{visit(v).months} MONTH"


def _write_scan(
    layout: CohortLayout,
    plan: CohortPlan,
    scan: ScanKey,
    *,
    seed: int,
    shape: tuple[int, int, int],
    dicom: bool,
) -> tuple[pl.DataFrame, list[str], str | None]:
    """Render one scan and write its NIfTI, labels, lesion masks (and DICOM series).

    Returns its true readings, its ``contents.csv`` row and its DICOM folder (or None).
    """
    from dataclasses import replace

    from knee_volumes.dicom import write_dicom_series
    from knee_volumes.nifti import write_nifti

    i, p, v, s = scan
    key = scan_id_of(p, v, s)
    scan_seed = int(np.random.SeedSequence([seed, i, s, visit(v).months]).generate_state(1)[0])
    anatomy = int(np.random.SeedSequence([seed, i, s, 99]).generate_state(1)[0])
    ph = make_phantom(
        scan_seed,
        shape=shape,
        side=s,
        grades=plan.grades[key],
        visit=v,
        anatomy_seed=anatomy,
        patient_id=p,
    )
    date, series = plan.dates[p][v], plan.series[key]
    vol = replace(ph.volume, study_date=date, series_number=series, source=None)
    write_nifti(vol, layout.nifti_path(key))
    write_nifti(ph.labels, layout.label_path(key), affine=vol.affine)
    if key in plan.manual:
        write_nifti(ph.labels, layout.manual_path(key), affine=vol.affine)
    _write_npz(layout.lesions_path(key), {k: ph.lesion_masks[k] for k in sorted(ph.lesion_masks)})
    readings = ph.readings(p, v, s, plan.source_of[key], missing=plan.missing_of[key])
    folder = f"{visit(v).releases[0]}/{p}/{date}/{series:08d}"
    desc = "SAG_3D_DESS_RIGHT" if s == 1 else "SAG_3D_DESS_LEFT"
    row = [folder, p, date, plan.barcodes[p], _study(v), desc]
    if not dicom:
        return readings, row, None
    write_dicom_series(
        vol,
        layout.root / "oai" / folder,
        series_description=desc,
        patient_id=p,
        study_date=date,
        series_number=series,
    )
    return readings, row, folder


def _write_scans(
    layout: CohortLayout,
    plan: CohortPlan,
    *,
    seed: int,
    shape: tuple[int, int, int],
    dicom: bool,
    progress: bool,
    workers: int = 1,
) -> tuple[list[pl.DataFrame], dict[str, list[list[str]]], dict[str, str]]:
    """Every scan written (by ``workers`` processes); returns the true readings, ``contents.csv``
    rows per release (with the non-DESS index rows) and the DICOM folder of each scan."""
    readings = []
    contents: dict[str, list[list[str]]] = {}
    dicom_folders: dict[str, str] = {}
    keyed = plan.keyed_scans()
    scans = [scan for scan, _ in keyed]
    write = partial(_write_scan, layout, plan, seed=seed, shape=shape, dicom=dicom)
    with _scan_pool(workers) as pool:
        done = pool.map(write, scans) if pool is not None else map(write, scans)
        written = zip(keyed, _progress(done, len(scans), progress), strict=True)
        for (scan, key), (table, row, folder) in written:
            readings.append(table)
            contents.setdefault(visit(scan[2]).releases[0], []).append(row)
            if folder is not None:
                dicom_folders[key] = folder
    for release, row in _non_dess_rows(plan):
        contents[release].append(row)
    return readings, contents, dicom_folders


@contextmanager
def _scan_pool(workers: int) -> Iterator[ProcessPoolExecutor | None]:
    """``workers`` processes (forked where the platform can: nothing to import again), or None for one."""
    if workers <= 1:
        yield None
        return
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else None)
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        yield pool


def _non_dess_rows(plan: CohortPlan) -> list[tuple[str, list[str]]]:
    """A non-DESS series per patient and visit (index rows only, never downloaded)."""
    extra = iter(plan.extra_series)
    rows = []
    for p in plan.pids:
        for v in plan.visit_labels:
            release = visit(v).releases[0]
            desc = _NON_DESS[int(p) % len(_NON_DESS)]
            date = plan.dates[p][v]
            folder = f"{release}/{p}/{date}/{next(extra):08d}"
            rows.append((release, [folder, p, date, plan.barcodes[p], _study(v), desc]))
    return rows


def _write_contents(layout: CohortLayout, contents: dict[str, list[list[str]]]) -> None:
    """One OAI ``contents.csv`` index per release, rows sorted."""
    for release, rows in contents.items():
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(CONTENTS_COLUMNS)
        w.writerows(sorted(rows))
        path = layout.contents_path(release)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(buf.getvalue(), encoding="utf-8")


def _write_moaks(layout: CohortLayout, plan: CohortPlan) -> None:
    """The MOAKS table of each visit (CRLF, as OAI ships it) and the phantom codebook."""
    layout.moaks_dir.mkdir(parents=True, exist_ok=True)
    for v in plan.visit_labels:
        lines = table_lines(v, plan.moaks_rows[v])
        layout.moaks_path(v).write_bytes(("\r\n".join(lines) + "\r\n").encode("utf-8"))
    cb = io.StringIO()
    w = csv.writer(cb, lineterminator="\n")
    w.writerow(["variable", "attribute", "decoder"])
    for e in phantom_variable_map().entries:
        if e.stem in PHANTOM_STEMS.values():
            w.writerow([e.stem, e.attribute, e.decoder.value])
    layout.codebook_path.write_text(cb.getvalue(), encoding="utf-8")


def _cohort_info(
    plan: CohortPlan,
    *,
    seed: int,
    shape: tuple[int, int, int],
    prior: GradePrior,
    sides: Sequence[int],
    dicom: bool,
    dicom_folders: dict[str, str],
    second_reads: float,
) -> dict[str, Any]:
    """What ``cohort.json`` says about the cohort."""
    from knee_phantom.grid import FOV_MM

    return {
        "format": COHORT_FORMAT,
        "generator": "knee_phantom",
        "note": "phantom data: numbers measured on it are phantom numbers, not clinical results",
        "seed": int(seed),
        "shape": list(shape),
        "spacing": [f / n for f, n in zip(FOV_MM, shape, strict=True)],
        "prior": prior.name,
        "patients": plan.pids,
        "visits": plan.visit_labels,
        "sides": list(sides),
        "scan_ids": plan.scan_ids,
        "manual": plan.manual,
        "study_dates": plan.dates,
        "series_numbers": plan.series,
        "barcodes": plan.barcodes,
        "dicom": bool(dicom),
        "dicom_folders": dicom_folders,
        "moaks_files": {v: f"moaks/{file_name(v)}" for v in plan.visit_labels},
        "true_readprj": plan.source_of,
        "conflicting_reads": sum(len(r) for r in plan.moaks_rows.values()) - len(plan.scans),
        "second_reads": second_reads,
    }


def write_cohort(
    out_dir: str | PathLike[str],
    *,
    n_patients: int,
    visits: Sequence[str] = ("00M",),
    sides: Sequence[int] = (1, 2),
    seed: int = 0,
    shape: tuple[int, int, int] = SMALL_SHAPE,
    n_manual: int = 4,
    dicom: bool = False,
    prior: GradePrior | str = "realistic",
    second_reads: float = 0.15,
    progress: bool = True,
    overwrite: bool = False,
    workers: int = 1,
) -> CohortLayout:
    """Write ``n_patients`` × ``visits`` × ``sides`` phantom scans and their truth (atomically).

    Deterministic: the same arguments give the same files, with any number of
    ``workers`` (processes rendering and writing scans in parallel). ``n_manual`` scans
    (chosen by the seed) also get a "manual" label map. ``second_reads``: the
    share of knee-visits that a second reading project also grades (its grades
    drawn from the calibrated disagreement model of docs/phantom.md).
    """
    import polars as pl

    visit_labels = check_arguments(n_patients, visits, sides, second_reads)
    pr = GradePrior.named(prior) if isinstance(prior, str) else prior
    plan = plan_cohort(
        n_patients=n_patients,
        visit_labels=visit_labels,
        sides=sides,
        seed=seed,
        n_manual=n_manual,
        prior=pr,
        second_reads=second_reads,
    )
    out_dir = Path(out_dir)
    if out_dir.exists() and not overwrite:
        raise PhantomError("cohort folder exists (pass overwrite=True to replace it)", path=out_dir)
    with atomic_folder(out_dir, overwrite=overwrite) as tmp:
        layout = CohortLayout(tmp, {})
        readings, contents, dicom_folders = _write_scans(
            layout, plan, seed=seed, shape=shape, dicom=dicom, progress=progress, workers=workers
        )
        if dicom:
            _write_contents(layout, contents)
        _write_moaks(layout, plan)
        layout.readings_path.parent.mkdir(parents=True, exist_ok=True)
        pl.concat(readings).write_parquet(layout.readings_path)
        info = _cohort_info(
            plan,
            seed=seed,
            shape=shape,
            prior=pr,
            sides=sides,
            dicom=dicom,
            dicom_folders=dicom_folders,
            second_reads=second_reads,
        )
        (tmp / "cohort.json").write_text(
            json.dumps(info, indent=1, sort_keys=True), encoding="utf-8"
        )
    return CohortLayout.open(out_dir)
