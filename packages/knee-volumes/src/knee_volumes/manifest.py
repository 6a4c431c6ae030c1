"""Scan manifests: the OAI release layout and the public release's split CSVs."""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Iterator, Sequence
from os import PathLike
from pathlib import Path
from typing import Any, Literal

import polars as pl

from knee_volumes.errors import VolumeError
from knee_volumes.volume import scan_id_of, side_from_description

__all__ = [
    "CONTENTS_COLUMNS",
    "DESS_SERIES",
    "MANIFEST_SCHEMA",
    "PUBLIC_SPLIT_COLUMNS",
    "read_public_splits",
    "scan_oai_release",
]

#: Series descriptions kept from an OAI release (sagittal 3D DESS, one per knee).
DESS_SERIES: tuple[str, ...] = ("SAG_3D_DESS_RIGHT", "SAG_3D_DESS_LEFT")

#: Columns of a scan manifest (docs/formats.md "Scan manifest"), plus ``flags``:
#: anything unusual about a scan that still loads (e.g. 176 slices), ``; ``-separated.
MANIFEST_SCHEMA: dict[str, pl.DataType] = {
    "scan_id": pl.String(),
    "patient_id": pl.String(),
    "visit": pl.String(),
    "side": pl.Int64(),
    "study_folder": pl.String(),
    "series_folder": pl.String(),
    "image_path": pl.String(),
    "label_path": pl.String(),
    "source_format": pl.String(),
    "status": pl.String(),
    "error": pl.String(),
    "flags": pl.String(),
}

#: Header of the public release's ``train_split.csv`` / ``val_split.csv`` / ``test_split.csv``.
PUBLIC_SPLIT_COLUMNS: tuple[str, ...] = (
    "patient_id", "time", "study_folder", "series_folder", "knee_side", "path", "image_filepath", "label_filepath",
)  # fmt: skip

CONTENTS_COLUMNS = (
    "Folder",
    "ParticipantID",
    "StudyDate",
    "Barcode",
    "StudyDescription",
    "SeriesDescription",
)
Validation = Literal["none", "headers", "full"]


def _release_visits() -> dict[str, str]:
    from moaks_schema import VISITS

    return {r: v.label for v in VISITS for r in v.releases}


def _row(*, patient_id: str, visit: str, side: int, **values: object) -> dict[str, Any]:
    """A manifest row; its ``scan_id`` follows from the patient, visit and side."""
    row = dict.fromkeys(MANIFEST_SCHEMA)
    row.update(
        values,
        scan_id=scan_id_of(patient_id, visit, side),
        patient_id=patient_id,
        visit=visit,
        side=side,
    )
    return row


def _read_contents(path: Path) -> list[dict[str, str]]:
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            header = [h.strip() for h in reader.fieldnames or []]
            missing = [
                c for c in ("Folder", "ParticipantID", "SeriesDescription") if c not in header
            ]
            if missing:
                raise VolumeError(
                    f"contents.csv lacks column(s) {missing}; expected {', '.join(CONTENTS_COLUMNS)}",
                    path=path,
                )
            return [{(k or "").strip(): (v or "").strip() for k, v in r.items()} for r in reader]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise VolumeError(f"unreadable contents.csv ({exc})", path=path) from exc


def _entries_without_contents(release_dir: Path) -> Iterable[dict[str, str]]:
    """Walk ``<participant>/<date>/<series>/`` and read each series' description from its first file."""
    import pydicom

    for series in sorted(release_dir.glob("*/*/*")):
        if not series.is_dir():
            continue
        first = next(
            (p for p in sorted(series.iterdir()) if p.is_file() and not p.name.startswith(".")),
            None,
        )
        description = ""
        if first is not None:
            try:
                description = str(
                    pydicom.dcmread(first, stop_before_pixels=True).get("SeriesDescription") or ""
                )
            except Exception:
                description = ""
        rel = series.relative_to(release_dir.parent).as_posix()
        yield {
            "Folder": rel,
            "ParticipantID": series.parent.parent.name,
            "StudyDate": series.parent.name,
            "SeriesDescription": description.strip(),
        }


def _validate(folder: Path, mode: Validation) -> tuple[str | None, str | None]:
    """``(error, flags)`` for a series folder."""
    from knee_volumes.dicom import read_dicom_series, read_series_header

    if mode == "none":
        return (None, None) if folder.is_dir() else ("series folder is missing", None)
    try:
        flags = (
            read_series_header(folder).flags
            if mode == "headers"
            else read_dicom_series(folder).flags
        )
    except VolumeError as exc:
        return str(exc), None
    return None, "; ".join(flags) or None


def _validate_all(
    folders: list[Path], mode: Validation, *, workers: int, progress: bool
) -> Iterator[tuple[str | None, str | None]]:
    from tqdm.auto import tqdm

    bar = dict(total=len(folders), desc="checking OAI series", unit="series", disable=not progress)
    if workers <= 1 or len(folders) < 2:
        return iter([_validate(f, mode) for f in tqdm(folders, **bar)])  # type: ignore[call-overload]
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=workers) as pool:
        results = list(
            tqdm(pool.map(_validate, folders, [mode] * len(folders), chunksize=4), **bar)  # type: ignore[call-overload]
        )
    return iter(results)


def scan_oai_release(
    root: str | PathLike[str],
    *,
    validate: Validation = "headers",
    series: Sequence[str] = DESS_SERIES,
    workers: int = 1,
    progress: bool = True,
) -> pl.DataFrame:
    """Build a scan manifest from an OAI image release tree.

    ``root`` holds release folders (``0.C.2``, ``1.C.2``, …, or is one);
    each release's ``contents.csv`` lists ``release/participant/date/series``
    folders with their series description; only ``series`` (the sagittal
    DESS, right and left) are kept. Releases map to visits through
    ``moaks_schema.visit``. Without a ``contents.csv`` the folders are walked
    and the description read from each series' first file.

    ``validate``: ``"headers"`` (default) reads every slice header and checks
    one consistent series with no missing, duplicated or truncated slices;
    ``"full"`` also decodes the pixels; ``"none"`` only checks the folder
    exists. A scan that fails gets ``status="failed"`` and the reason in
    ``error`` (naming the file); scanning goes on. A repeated
    (patient, visit, side) keeps the first valid one and fails the others.
    ``workers > 1`` checks series in that many processes. Columns: see
    :data:`MANIFEST_SCHEMA`; rows sorted by scan id.
    """
    root = Path(root)
    if not root.is_dir():
        raise VolumeError("OAI release root is not a folder", path=root)
    visits = _release_visits()
    releases = (
        [root]
        if root.name in visits
        else sorted(p for p in root.iterdir() if p.name in visits and p.is_dir())
    )
    if not releases:
        raise VolumeError(f"no OAI release folders ({', '.join(sorted(visits))}) found", path=root)
    keep = {s.upper() for s in series}
    todo: list[tuple[Path, dict[str, str], str]] = []
    for release in releases:
        contents = release / "contents.csv"
        entries = (
            _read_contents(contents) if contents.is_file() else _entries_without_contents(release)
        )
        for entry in entries:
            if entry.get("SeriesDescription", "").upper() in keep:
                todo.append(
                    (
                        release,
                        entry,
                        contents.as_posix() if contents.is_file() else release.as_posix(),
                    )
                )
    rows: list[dict[str, Any]] = []
    folders: list[Path] = []
    for release, entry, index in todo:
        parts = [p for p in re.split(r"[\\/]+", entry["Folder"]) if p]
        folder = (
            release.parent.joinpath(*parts)
            if parts and parts[0] == release.name
            else release.joinpath(*parts)
        )
        description = entry["SeriesDescription"]
        patient = entry.get("ParticipantID") or (parts[-3] if len(parts) >= 3 else "")
        study = entry.get("StudyDate") or ""
        if not re.fullmatch(r"\d{8}", study) and len(parts) >= 2:
            study = parts[-2]
        visit = visits[release.name]
        side = side_from_description(description)
        problems = []
        if len(parts) < 3:
            problems.append(
                f"{index}: Folder {entry['Folder']!r} is not release/participant/date/series"
            )
        if not re.fullmatch(r"\d{7}", patient):
            problems.append(f"{index}: ParticipantID {patient!r} is not 7 digits")
        rows.append(
            _row(
                patient_id=patient,
                visit=visit,
                side=side,
                study_folder=study,
                series_folder=parts[-1] if parts else "",
                image_path=folder.as_posix(),
                source_format="dicom",
                error="; ".join(problems) or None,
            )
        )
        folders.append(folder)
    checks = _validate_all(
        [f for f, r in zip(folders, rows, strict=True) if r["error"] is None],
        validate,
        workers=workers,
        progress=progress,
    )
    seen: dict[str, str] = {}
    for row in rows:
        if row["error"] is None:
            row["error"], row["flags"] = next(checks)
        if row["error"] is None:
            if row["scan_id"] in seen:
                row["error"] = (
                    f"duplicate scan {row['scan_id']}: already listed at {seen[row['scan_id']]}"
                )
            else:
                seen[row["scan_id"]] = row["image_path"]
        row["status"] = "failed" if row["error"] else "ok"
    return pl.DataFrame(rows, schema=MANIFEST_SCHEMA).sort("scan_id", maintain_order=True)


def _split_name(path: Path) -> str:
    m = re.match(r"^(train|val|valid|validation|test)(_split)?\.csv$", path.name.lower())
    if not m:
        raise VolumeError(
            "split CSV name must be train_split.csv, val_split.csv or test_split.csv", path=path
        )
    return {"valid": "val", "validation": "val"}.get(m[1], m[1])


def read_public_splits(
    source: str | PathLike[str] | Sequence[str | PathLike[str]],
    *,
    root: str | PathLike[str] | None = None,
) -> pl.DataFrame:
    """Read the public release's split CSVs into the scan-manifest shape plus a ``split`` column.

    ``source`` is a folder holding ``train_split.csv``, ``val_split.csv`` and
    ``test_split.csv`` (any present), or a list of such files. The ``path``
    column is optional (older code writes the CSV without it). Relative image
    and label paths are resolved against ``root`` when given. Patient ids
    are zero-padded to 7 digits, series folders to 8.
    """
    if isinstance(source, str | PathLike):
        src = Path(source)
        if src.is_dir():
            files = [
                src / f"{s}_split.csv"
                for s in ("train", "val", "test")
                if (src / f"{s}_split.csv").is_file()
            ]
            if not files:
                raise VolumeError(
                    "no train_split.csv, val_split.csv or test_split.csv in folder", path=src
                )
        else:
            files = [src]
    else:
        files = [Path(p) for p in source]
    base = None if root is None else Path(root)
    rows: list[dict[str, Any]] = []
    visits = {v for v in _release_visits().values()}
    for path in files:
        split = _split_name(path)
        try:
            with path.open(newline="", encoding="utf-8-sig") as fh:
                reader = csv.DictReader(fh)
                header = [h.strip() for h in reader.fieldnames or []]
                required = [c for c in PUBLIC_SPLIT_COLUMNS if c != "path"]
                missing = [c for c in required if c not in header]
                if missing:
                    raise VolumeError(
                        f"missing column(s) {missing}; expected header {','.join(PUBLIC_SPLIT_COLUMNS)}",
                        path=path,
                    )
                records = [
                    {(k or "").strip(): (v or "").strip() for k, v in r.items()} for r in reader
                ]
        except (OSError, UnicodeDecodeError, csv.Error) as exc:
            raise VolumeError(f"unreadable split CSV ({exc})", path=path) from exc
        for line, rec in enumerate(records, start=2):
            where = f"line {line}"
            patient = rec["patient_id"].split(".")[0]
            if not patient.isdigit():
                raise VolumeError(
                    f"{where}: patient_id {rec['patient_id']!r} is not a number", path=path
                )
            patient = patient.zfill(7)
            visit = rec["time"]
            if visit not in visits:
                raise VolumeError(
                    f"{where}: time {visit!r} is not one of {sorted(visits)}", path=path
                )
            try:
                side = int(float(rec["knee_side"]))
            except ValueError:
                side = 0
            if side not in (1, 2):
                raise VolumeError(
                    f"{where}: knee_side {rec['knee_side']!r}; expected 1 or 2", path=path
                )
            series = rec["series_folder"].split(".")[0]
            series = series.zfill(8) if series.isdigit() else series

            def resolve(value: str) -> str | None:
                if not value:
                    return None
                p = Path(value)
                return (
                    (base / p).as_posix()
                    if base is not None and not p.is_absolute()
                    else p.as_posix()
                )

            rows.append(
                _row(
                    patient_id=patient,
                    visit=visit,
                    side=side,
                    study_folder=rec["study_folder"].split(".")[0],
                    series_folder=series,
                    image_path=resolve(rec["image_filepath"]),
                    label_path=resolve(rec["label_filepath"]),
                    source_format="nifti",
                    status="ok",
                )
                | {"split": split}
            )
    schema = {**MANIFEST_SCHEMA, "split": pl.String()}
    table = pl.DataFrame(rows, schema=schema)
    _check_leakage(table, files)
    return table


def _check_leakage(table: pl.DataFrame, files: Sequence[Path]) -> None:
    """A scan or patient in two split files (or twice in one) is an error naming the files."""
    from moaks_schema import MoaksSchemaError, check_split_leakage

    where = ", ".join(str(f) for f in files)
    try:
        check_split_leakage(
            table["patient_id"].to_list(),
            table["split"].to_list(),
            scan_ids=table["scan_id"].to_list(),
            where=where,
        )
    except MoaksSchemaError as exc:
        raise VolumeError(str(exc)) from None
    repeated = table.filter(pl.col("scan_id").is_duplicated())["scan_id"].unique().sort()
    if repeated.len():
        raise VolumeError(
            f"{where}: scan {repeated[0]} is listed {table['scan_id'].eq(repeated[0]).sum()} times "
            f"({repeated.len()} scan(s) repeated); expected each scan once"
        )
