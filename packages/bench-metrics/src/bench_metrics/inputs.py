"""Predictions in: our predictions JSONL, and the public zero-shot scripts' results JSON.

Both become one predictions table (:data:`PREDICTION_SCHEMA`), one row per
(scan, question): ``scan_id, question_id, raw_text, view`` (the
``bbox3d.ViewGeometry`` dict as JSON text, null = volume voxels), ``error``,
``model``, ``setting``. Scoring always parses ``raw_text`` itself.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import moaks_schema as ms
import polars as pl

from bench_metrics.errors import BenchMetricsError

__all__ = [
    "PREDICTION_SCHEMA",
    "PredictionsFile",
    "load_predictions",
    "load_public_results",
    "predictions_frame",
    "read_predictions",
    "read_predictions_file",
]

PREDICTION_SCHEMA: dict[str, pl.DataType] = {
    "scan_id": pl.String(),
    "question_id": pl.Int64(),
    "raw_text": pl.String(),
    "view": pl.String(),
    "error": pl.String(),
    "model": pl.String(),
    "setting": pl.String(),
}


#: fields that make a first line a predictions record (else a JSON object is a public results file)
_RECORD_FIELDS = frozenset({"scan_id", "question_id", "record_id", "raw_text"})


def _as_text(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def predictions_frame(
    records: Iterable[Mapping[str, Any]], *, source: str = "predictions"
) -> pl.DataFrame:
    """A predictions table from records shaped as in docs/formats.md (extra fields ignored).

    >>> predictions_frame([{"scan_id": "9000001_00M_1", "question_id": 30, "raw_text": "{}"}]).shape
    (1, 7)
    """
    cols: dict[str, list[Any]] = {c: [] for c in PREDICTION_SCHEMA}
    for i, r in enumerate(records):
        if not isinstance(r, Mapping):
            raise BenchMetricsError(
                f"{source}: record {i + 1}: expected a JSON object, got {type(r).__name__}"
            )
        try:
            scan_id = r["scan_id"]
            qid = int(r["question_id"])
        except (KeyError, TypeError, ValueError):
            raise BenchMetricsError(
                f"{source}: record {i + 1}: fields 'scan_id' and 'question_id' (an integer 1..69) are required"
            ) from None
        if not 1 <= qid <= len(ms.QUESTIONS):
            raise BenchMetricsError(
                f"{source}: record {i + 1}: field 'question_id' = {qid}; expected 1..69"
            )
        raw = r.get("raw_text")
        cols["scan_id"].append(str(scan_id))
        cols["question_id"].append(qid)
        cols["raw_text"].append(raw if isinstance(raw, str) else _as_text(raw))
        cols["view"].append(_as_text(r.get("view")))
        cols["error"].append(_as_text(r.get("error")))
        cols["model"].append(_as_text(r.get("model")))
        cols["setting"].append(_as_text(r.get("setting")))
    return pl.DataFrame(cols, schema=PREDICTION_SCHEMA)


@dataclass(frozen=True)
class PredictionsFile:
    """A predictions file as read: its table, and the torn last line left unread, if any.

    A run killed mid-write leaves its last line cut short; that line is not a
    record, so it is left out, and counted here (``score_predictions`` puts the
    count in ``meta["n_torn_lines"]`` and the report shows it).
    """

    path: Path
    frame: pl.DataFrame
    #: number of the torn last line (1-based), or None
    torn_line: int | None = None

    @property
    def n_torn_lines(self) -> int:
        """1 if the last line was torn, else 0."""
        return 0 if self.torn_line is None else 1


def _text_lines(path: Path) -> list[str]:
    """The lines of a UTF-8 text file (ends kept), or a :class:`BenchMetricsError` naming it."""
    try:
        return path.read_text(encoding="utf-8").splitlines(keepends=True)
    except UnicodeDecodeError as exc:
        raise BenchMetricsError(
            f"{path}: not UTF-8 text (byte {exc.start}); expected predictions JSONL or JSON"
        ) from None


def _jsonl_records(path: Path) -> tuple[list[Any], int | None]:
    """The records of a JSONL file (blank lines skipped) and the number of a torn last line."""
    records: list[Any] = []
    for n, line in enumerate(_text_lines(path), 1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except ValueError as exc:
            if records and not line.endswith("\n"):  # a run killed mid-write
                return records, n
            raise BenchMetricsError(f"{path}: line {n}: not a JSON object ({exc})") from None
    if not records:
        raise BenchMetricsError(
            f"{path}: no prediction records; expected one JSON object per line (docs/formats.md)"
        )
    return records, None


def _warn_torn(read: PredictionsFile) -> pl.DataFrame:
    if read.torn_line is not None:
        warnings.warn(
            f"{read.path}: line {read.torn_line} is torn (a run cut mid-write) and was not read; "
            "read_predictions_file() counts it for the report",
            UserWarning,
            stacklevel=3,
        )
    return read.frame


def _load_jsonl(path: Path) -> PredictionsFile:
    if not path.is_file():
        raise BenchMetricsError(f"{path}: not found; expected a predictions JSONL file")
    records, torn = _jsonl_records(path)
    return PredictionsFile(path, predictions_frame(records, source=str(path)), torn)


def load_predictions(path: str | Path) -> pl.DataFrame:
    """Read a predictions JSONL file (one record per line; blank lines skipped).

    A torn last line is left out with a warning; :func:`read_predictions_file` counts it.
    """
    return _warn_torn(_load_jsonl(Path(path)))


def _split_public_key(key: str) -> tuple[str, str, str, str, int, int] | None:
    parts = key.split("_")
    if len(parts) != 6:
        return None
    pid, time, study, series, side, qid = parts
    try:
        return pid, time, study, series, int(side), int(qid)
    except ValueError:
        return None


def load_public_results(
    path: str | Path, scans: pl.DataFrame, *, model: str | None = None
) -> pl.DataFrame:
    """The public zero-shot scripts' results JSON as a predictions table.

    Keys ``<patient_id>_<time>_<study_folder>_<series_folder>_<knee_side>_<question_id>``
    are matched to ``scans`` (``scans.parquet``: patient_id, visit, study_folder,
    series_folder, side). ``<model>_result`` is the parsed object (kept as JSON
    text and parsed again by our rules), ``{"response": raw}`` (the raw text) or
    ``{"error": ...}``. ``model`` picks the model when the file holds several.
    Boxes are read in volume voxels (the public scripts do not record a view).
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BenchMetricsError(
            f"{path}: not found; expected a results JSON of the public scripts"
        ) from None
    except ValueError as exc:
        raise BenchMetricsError(f"{path}: not JSON ({exc})") from None
    if not isinstance(data, dict):
        raise BenchMetricsError(
            f"{path}: expected one JSON object keyed by '<patient>_<time>_..._<question_id>'"
        )
    models = sorted(
        {
            k[: -len("_result")]
            for v in data.values()
            if isinstance(v, dict)
            for k in v
            if k.endswith("_result")
        }
    )
    if not models:
        raise BenchMetricsError(
            f"{path}: no entry has a '<model>_result' field; expected the public scripts' "
            "results JSON (or predictions JSONL with 'scan_id' and 'question_id')"
        )
    if model is None:
        if len(models) != 1:
            raise BenchMetricsError(
                f"{path}: field '<model>_result': found models {models}; pass model= to pick one"
            )
        model = models[0]
    elif model not in models:
        raise BenchMetricsError(
            f"{path}: field '{model}_result' not found; models present: {models}"
        )
    index = {
        (
            str(r["patient_id"]),
            str(r["visit"]),
            str(r["study_folder"]),
            str(r["series_folder"]),
            int(r["side"]),
        ): r["scan_id"]
        for r in scans.select(
            "patient_id", "visit", "study_folder", "series_folder", "side", "scan_id"
        ).iter_rows(named=True)
    }
    records: list[dict[str, Any]] = []
    for key, value in data.items():
        parts = _split_public_key(key)
        if parts is None:
            raise BenchMetricsError(
                f"{path}: key {key!r}: expected '<patient_id>_<time>_<study_folder>_<series_folder>_<knee_side>_<question_id>'"
            )
        # unmatched keys keep the scan id the key spells; scoring counts them as unmatched
        scan_id = index.get(parts[:5], f"{parts[0]}_{parts[1]}_{parts[4]}")
        result = value.get(f"{model}_result") if isinstance(value, dict) else None
        raw: str | None
        error: str | None = None
        if isinstance(result, dict) and set(result) == {"response"}:
            raw = (
                result["response"]
                if isinstance(result["response"], str)
                else _as_text(result["response"])
            )
        elif isinstance(result, dict) and set(result) == {"error"}:
            raw, error = None, _as_text(result["error"])
        elif result is None:
            raw, error = None, "no result"
        else:
            raw = json.dumps(result, ensure_ascii=False)
        records.append(
            {
                "scan_id": scan_id,
                "question_id": parts[5],
                "raw_text": raw,
                "error": error,
                "model": model,
                "setting": None,
                "view": None,
            }
        )
    return predictions_frame(records, source=str(path))


def read_predictions_file(
    path: str | Path, *, scans: pl.DataFrame | None = None, model: str | None = None
) -> PredictionsFile:
    """Either input, told apart by content: JSONL (the first line is a record: an object with
    ``scan_id``, ``question_id``, ``record_id`` or ``raw_text``), else the public results JSON
    (needs ``scans``).
    Returns the table with the count of a torn last line (:class:`PredictionsFile`)."""
    path = Path(path)
    if not path.is_file():
        raise BenchMetricsError(
            f"{path}: not found; expected predictions JSONL or a public results JSON"
        )
    lines = _text_lines(path)
    first = lines[0] if lines else ""
    try:
        head = json.loads(first)
    except ValueError:
        head = None
    is_jsonl = isinstance(head, dict) and bool(_RECORD_FIELDS & set(head))
    if not is_jsonl and first.lstrip()[:1] == "{":
        if scans is None:
            raise BenchMetricsError(
                f"{path}: a public results JSON needs the dataset's scans.parquet to match ids"
            )
        return PredictionsFile(path, load_public_results(path, scans, model=model))
    return _load_jsonl(path)


def read_predictions(
    path: str | Path, *, scans: pl.DataFrame | None = None, model: str | None = None
) -> pl.DataFrame:
    """The table of :func:`read_predictions_file` (a torn last line is left out with a warning)."""
    return _warn_torn(read_predictions_file(path, scans=scans, model=model))
