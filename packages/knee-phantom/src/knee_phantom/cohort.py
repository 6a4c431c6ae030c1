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
import datetime as _dt
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from knee_volumes.atomic import atomic_folder
from knee_volumes.manifest import CONTENTS_COLUMNS
from knee_volumes.volume import scan_id_of
from moaks_schema import ATTRIBUTES, visit

from knee_phantom.errors import PhantomError
from knee_phantom.lesions import stream
from knee_phantom.moaks_table import (
    PHANTOM_STEMS,
    file_name,
    phantom_variable_map,
    stem_attributes,
    table_lines,
)
from knee_phantom.model import SMALL_SHAPE, make_phantom
from knee_phantom.prior import GradePrior, complete_grades

__all__ = ["COHORT_FORMAT", "CohortLayout", "write_cohort"]

if TYPE_CHECKING:
    from quintuple_builder.release import ReleaseInputs

COHORT_FORMAT = 1
TRUE_READPRJ = ("22", "30")
CONFLICT_READPRJ = ("65", "63A")
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


def _progressed(g: dict[str, int], rng: np.random.Generator, visit_label: str) -> dict[str, int]:
    """Follow-up grades: a few ordinal grades worsen by one."""
    out = dict(g)
    for a in ATTRIBUTES:
        k = a.key
        if not a.grades.ordinal or k.split(".")[-1] in ("number", "percent", "depth"):
            continue
        top = len(a.grades.values) - 1
        if out[k] < top and rng.random() < (0.12 if out[k] else 0.03):
            out[k] += 1
    for a in ATTRIBUTES:
        if a.key.startswith("morphology.") and out[a.key] == 6 and rng.random() < 0.3:
            out[a.key] = 7
    return complete_grades(out, visit=visit_label, strict=False)


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
    progress: bool = True,
    overwrite: bool = False,
) -> CohortLayout:
    """Write ``n_patients`` × ``visits`` × ``sides`` phantom scans and their truth (atomically).

    Deterministic: the same arguments give the same files. ``n_manual`` scans
    (chosen by the seed) also get a "manual" label map.
    """
    import polars as pl
    from knee_volumes.dicom import write_dicom_series
    from knee_volumes.nifti import write_nifti

    if n_patients < 1:
        raise PhantomError(f"write_cohort: n_patients must be >= 1, got {n_patients}")
    visit_labels = [visit(v).label for v in visits]
    if sorted(set(visit_labels), key=visit_labels.index) != visit_labels:
        raise PhantomError(f"write_cohort: visits repeat: {list(visits)}")
    if not sides or any(s not in (1, 2) for s in sides):
        raise PhantomError(f"write_cohort: sides must be 1 and/or 2, got {list(sides)}")
    pr = GradePrior.named(prior) if isinstance(prior, str) else prior
    rng = stream(seed, "cohort")
    pids = [
        str(9_000_000 + int(x))
        for x in np.sort(rng.choice(999_999, size=n_patients, replace=False))
    ]
    scans: list[tuple[int, str, str, int]] = [
        (i, p, v, s) for i, p in enumerate(pids) for v in visit_labels for s in sides
    ]
    scan_ids = [scan_id_of(p, v, s) for _, p, v, s in scans]
    series_pool = (
        rng.choice(90_000_000, size=len(scans) + 4 * n_patients * len(visit_labels), replace=False)
        + 10_000_000
    )
    series = {sid: int(series_pool[k]) for k, sid in enumerate(scan_ids)}
    extra_series = iter(int(x) for x in series_pool[len(scans) :])
    dates: dict[str, dict[str, str]] = {}
    barcodes: dict[str, str] = {}
    for p in pids:
        base = _dt.date(2004, 2, 1) + _dt.timedelta(days=int(rng.integers(0, 700)))
        dates[p] = {}
        for v in visit_labels:
            d = base + _dt.timedelta(
                days=int(np.rint(visit(v).months * 30.44))
                + (int(rng.integers(-20, 21)) if v != "00M" else 0)
            )
            dates[p][v] = d.strftime("%Y%m%d")
        barcodes[p] = f"0166{int(rng.integers(0, 10**8)):08d}"
    n_manual = max(0, min(int(n_manual), len(scans)))
    manual = sorted(scan_ids[k] for k in rng.permutation(len(scans))[:n_manual])
    # grades: a baseline draw per knee, follow-ups progress from it
    grades: dict[str, dict[str, int]] = {}
    for (_, p, v, s), key in zip(scans, scan_ids, strict=True):
        vi = visit_labels.index(v)
        if vi == 0:
            grades[key] = pr.sample(stream(seed, f"grades/{p}/{s}"), visit=v)
        else:
            grades[key] = _progressed(
                grades[scan_id_of(p, visit_labels[vi - 1], s)], stream(seed, f"progress/{key}"), v
            )
    # reading rows: the true row (READPRJ 22 or 30, a few missing cells) and some conflicting reads
    stems = stem_attributes()
    stem_names = list(stems)
    moaks_rows: dict[str, list[dict]] = {v: [] for v in visit_labels}
    missing_of: dict[str, set[str]] = {}
    source_of: dict[str, str] = {}
    for (_, p, v, s), key in zip(scans, scan_ids, strict=True):
        r = stream(seed, f"reads/{key}")
        true_prj = TRUE_READPRJ[int(r.random() < 0.3)]
        missing = (
            set(r.choice(stem_names, size=int(r.integers(1, 3)), replace=False))
            if r.random() < 0.08
            else set()
        )
        missing_of[key] = {a for st in missing for a in stems[st]}
        source_of[key] = true_prj
        true_row = {
            "id": p,
            "side": s,
            "readprj": true_prj,
            "grades": grades[key],
            "missing": missing,
        }
        rows = [true_row]
        if r.random() < 0.15:
            other = dict(grades[key])
            for st in r.choice([n for n in stem_names if n not in missing], size=2, replace=False):
                for a in stems[st]:
                    vals = [
                        g
                        for g in next(x for x in ATTRIBUTES if x.key == a).grades.values
                        if g != other[a]
                    ]
                    other[a] = int(r.choice(vals))
            other = complete_grades(other, visit=v, strict=False)
            conflict = {
                "id": p,
                "side": s,
                "readprj": CONFLICT_READPRJ[int(r.random() < 0.5)],
                "grades": other,
                "missing": missing,
            }
            rows = [conflict, true_row] if r.random() < 0.5 else [true_row, conflict]
        moaks_rows[v].extend(rows)
    out_dir = Path(out_dir)
    if out_dir.exists() and not overwrite:
        raise PhantomError("cohort folder exists (pass overwrite=True to replace it)", path=out_dir)
    with atomic_folder(out_dir, overwrite=overwrite) as tmp:
        layout = CohortLayout(tmp, {})
        readings = []
        contents: dict[str, list[list[str]]] = {}
        dicom_folders: dict[str, str] = {}
        for (i, p, v, s), key in _progress(
            list(zip(scans, scan_ids, strict=True)), len(scans), progress
        ):
            scan_seed = int(
                np.random.SeedSequence([seed, i, s, visit(v).months]).generate_state(1)[0]
            )
            anatomy = int(np.random.SeedSequence([seed, i, s, 99]).generate_state(1)[0])
            ph = make_phantom(
                scan_seed,
                shape=shape,
                side=s,
                grades=grades[key],
                visit=v,
                anatomy_seed=anatomy,
                patient_id=p,
            )
            vol = ph.volume
            from dataclasses import replace

            vol = replace(vol, study_date=dates[p][v], series_number=series[key], source=None)
            write_nifti(vol, layout.nifti_path(key))
            write_nifti(ph.labels, layout.label_path(key), affine=vol.affine)
            if key in manual:
                write_nifti(ph.labels, layout.manual_path(key), affine=vol.affine)
            _write_npz(
                layout.lesions_path(key), {k: ph.lesion_masks[k] for k in sorted(ph.lesion_masks)}
            )
            readings.append(ph.readings(p, v, s, source_of[key], missing=missing_of[key]))
            release = visit(v).releases[0]
            folder = f"{release}/{p}/{dates[p][v]}/{series[key]:08d}"
            desc = "SAG_3D_DESS_RIGHT" if s == 1 else "SAG_3D_DESS_LEFT"
            study = "OAI^MR^ENROLLMENT" if v == "00M" else f"OAI^MR^{visit(v).months} MONTH"
            contents.setdefault(release, []).append(
                [folder, p, dates[p][v], barcodes[p], study, desc]
            )
            if dicom:
                write_dicom_series(
                    vol,
                    tmp / "oai" / folder,
                    series_description=desc,
                    patient_id=p,
                    study_date=dates[p][v],
                    series_number=series[key],
                )
                dicom_folders[key] = folder
        # a few non-DESS series in each index (not downloaded: index rows only)
        for p in pids:
            for v in visit_labels:
                release = visit(v).releases[0]
                desc = _NON_DESS[int(p) % len(_NON_DESS)]
                num = next(extra_series)
                study = "OAI^MR^ENROLLMENT" if v == "00M" else f"OAI^MR^{visit(v).months} MONTH"
                contents[release].append(
                    [
                        f"{release}/{p}/{dates[p][v]}/{num:08d}",
                        p,
                        dates[p][v],
                        barcodes[p],
                        study,
                        desc,
                    ]
                )
        if dicom:
            for release, rows in contents.items():
                buf = io.StringIO()
                w = csv.writer(buf, lineterminator="\n")
                w.writerow(CONTENTS_COLUMNS)
                w.writerows(sorted(rows))
                path = layout.contents_path(release)
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(buf.getvalue(), encoding="utf-8")
        layout.moaks_dir.mkdir(parents=True, exist_ok=True)
        for v in visit_labels:
            lines = table_lines(v, moaks_rows[v])
            layout.moaks_path(v).write_bytes(("\r\n".join(lines) + "\r\n").encode("utf-8"))
        cb = io.StringIO()
        w = csv.writer(cb, lineterminator="\n")
        w.writerow(["variable", "attribute", "decoder"])
        for e in phantom_variable_map().entries:
            if e.stem in PHANTOM_STEMS.values():
                w.writerow([e.stem, e.attribute, e.decoder.value])
        layout.codebook_path.write_text(cb.getvalue(), encoding="utf-8")
        table = pl.concat(readings)
        layout.readings_path.parent.mkdir(parents=True, exist_ok=True)
        table.write_parquet(layout.readings_path)
        from knee_phantom.grid import FOV_MM

        info = {
            "format": COHORT_FORMAT,
            "generator": "knee_phantom",
            "note": "phantom data: numbers measured on it are phantom numbers, not clinical results",
            "seed": int(seed),
            "shape": list(shape),
            "spacing": [f / n for f, n in zip(FOV_MM, shape, strict=True)],
            "prior": pr.name,
            "patients": pids,
            "visits": visit_labels,
            "sides": list(sides),
            "scan_ids": scan_ids,
            "manual": manual,
            "study_dates": dates,
            "series_numbers": series,
            "barcodes": barcodes,
            "dicom": bool(dicom),
            "dicom_folders": dicom_folders,
            "moaks_files": {v: f"moaks/{file_name(v)}" for v in visit_labels},
            "true_readprj": source_of,
            "conflicting_reads": sum(len(r) for r in moaks_rows.values()) - len(scans),
        }
        (tmp / "cohort.json").write_text(
            json.dumps(info, indent=1, sort_keys=True), encoding="utf-8"
        )
    return CohortLayout.open(out_dir)
