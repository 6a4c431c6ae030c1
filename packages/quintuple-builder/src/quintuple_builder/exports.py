"""Writers for the dataset folder's formats (docs/formats.md, "Dataset folder").

- ``scans.parquet``, ``quintuples.parquet``, ``quintuples.jsonl``;
- ``public/``: the public release's split CSVs and training JSON items
  (``image``, ``prompt``, ``answer``, ``final_diagnosis``), with absolute paths;
- ``sft/{split}.jsonl``: chat messages for supervised fine-tuning;
- ``hf/``: Parquet per split plus a README whose YAML header lets
  ``datasets.load_dataset("<dataset>/hf")`` read it.

Only complete quintuples (every attribute graded) go into ``public/``,
``sft/`` and the training targets; ``quintuples.*`` and ``hf/`` keep all rows.
"""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
from knee_volumes import PUBLIC_SPLIT_COLUMNS

from quintuple_builder.errors import QuintupleBuilderError
from quintuple_builder.splits import SPLITS

__all__ = [
    "CHUNK_ROWS",
    "PUBLIC_PROMPT_SETTING",
    "SCAN_COLUMNS",
    "SFT_SYSTEM_PROMPT",
    "public_path",
    "write_core",
    "write_hf",
    "write_public",
    "write_sft",
]

#: Columns of scans.parquet (docs/formats.md), in order.
SCAN_COLUMNS: tuple[str, ...] = (
    "scan_id",
    "patient_id",
    "visit",
    "side",
    "study_folder",
    "series_folder",
    "split",
    "image_path",
    "label_path",
    "shape",
    "spacing",
    "label_source",
)
#: The prompt setting used for the public training JSON and the SFT files.
PUBLIC_PROMPT_SETTING = "instruction"
#: System message of the SFT chat format.
SFT_SYSTEM_PROMPT = (
    "You are a musculoskeletal radiologist grading knee MRI with the MOAKS system. Localise the region, "
    "reason step by step, then give the grades."
)

_MOAKS_LINE = "\nMOAKS: "


#: Rows per chunk when writing text formats (bounds memory at any dataset size).
CHUNK_ROWS = 20_000


def _chunks(frame: pl.DataFrame):
    for offset in range(0, frame.height, CHUNK_ROWS):
        yield frame.slice(offset, CHUNK_ROWS)


def _json_str(expr: pl.Expr) -> pl.Expr:
    """The JSON string literal of a string column (quoted and escaped), vectorised."""
    return (
        pl.struct(expr.alias("v"))
        .struct.json_encode()
        .str.strip_prefix('{"v":')
        .str.strip_suffix("}")
    )


def write_core(root: Path, scans: pl.DataFrame, quintuples: pl.DataFrame) -> None:
    """``scans.parquet``, ``quintuples.parquet`` and ``quintuples.jsonl``."""
    scans.write_parquet(root / "scans.parquet", statistics=False)
    quintuples.write_parquet(root / "quintuples.parquet", statistics=False)
    with (root / "quintuples.jsonl").open("wb") as fh:
        for chunk in _chunks(quintuples):
            chunk.write_ndjson(fh)


def _final_diagnosis() -> pl.Expr:
    return pl.col("answer_no_cot").str.split(_MOAKS_LINE).list.last()


def public_path(public_root: str | Path, column: str) -> pl.Expr:
    """An absolute path column: ``public_root / <column>`` (the column is relative to the dataset)."""
    prefix = Path(public_root).as_posix().rstrip("/") + "/"
    return pl.when(pl.col(column).is_null()).then(None).otherwise(pl.lit(prefix) + pl.col(column))


def write_public(
    root: Path, scans: pl.DataFrame, quintuples: pl.DataFrame, *, public_root: str | Path
) -> None:
    """``public/{split}_split.csv`` (public header) and ``public/{split}.json`` (training items).

    The public scripts open ``image_filepath``, ``label_filepath`` and ``image`` as written, so
    these are absolute: ``public_root`` (the dataset folder's absolute path, or where it will be
    mounted) joined with the path inside the dataset folder.
    """
    if not Path(public_root).is_absolute():
        raise QuintupleBuilderError(f"public_root must be an absolute path, got {public_root!r}")
    out = root / "public"
    out.mkdir(parents=True, exist_ok=True)
    csv_frame = scans.select(
        pl.col("patient_id"),
        pl.col("visit").alias("time"),
        pl.col("study_folder"),
        pl.col("series_folder"),
        pl.col("side").alias("knee_side"),
        pl.col("source_path").alias("path"),
        public_path(public_root, "image_path").alias("image_filepath"),
        public_path(public_root, "label_path").alias("label_filepath"),
        pl.col("split"),
    )
    if tuple(csv_frame.columns[:-1]) != PUBLIC_SPLIT_COLUMNS:  # pragma: no cover - a contract check
        raise RuntimeError(
            f"public split columns {csv_frame.columns[:-1]} != {PUBLIC_SPLIT_COLUMNS}"
        )
    images = scans.select("scan_id", public_path(public_root, "image_path").alias("image_path"))
    item = pl.concat_str(
        pl.lit('{"image": '),
        _json_str(pl.col("image_path")),
        pl.lit(', "prompt": '),
        _json_str(pl.col("prompt_instruction")),
        pl.lit(', "answer": '),
        _json_str(pl.col("answer")),
        pl.lit(', "final_diagnosis": '),
        _final_diagnosis(),
        pl.lit("}"),
    )
    for split in SPLITS:
        csv_frame.filter(pl.col("split") == split).drop("split").sort(
            "patient_id", "time", "knee_side"
        ).write_csv(out / f"{split}_split.csv")
        rows = (
            quintuples.filter(pl.col("complete") & (pl.col("split") == split))
            .select("scan_id", "question_id", "prompt_instruction", "answer", "answer_no_cot")
            .join(images, on="scan_id", how="left")
            .sort("scan_id", "question_id")
        )
        with (out / f"{split}.json").open("w", encoding="utf-8") as fh:
            fh.write("[")
            first = True
            for chunk in _chunks(rows):
                lines = chunk.select(item.alias("item"))["item"].to_list()
                fh.write(("\n" if first else ",\n") + ",\n".join(lines))
                first = False
            fh.write("\n]\n" if not first else "]\n")


def write_sft(root: Path, scans: pl.DataFrame, quintuples: pl.DataFrame) -> None:
    """``sft/{split}.jsonl``: one chat per complete quintuple.

    Each line: ``id, scan_id, question_id, image, setting, messages`` (system, user
    with the volume as a video plus the prompt, assistant with the answer with
    reasoning) and ``answer_no_cot`` (the target without reasoning).
    """
    out = root / "sft"
    out.mkdir(parents=True, exist_ok=True)
    prompt_col = f"prompt_{PUBLIC_PROMPT_SETTING.replace('-', '_')}"
    image = _json_str(pl.col("image_path"))
    line = pl.concat_str(
        pl.lit('{"id": '),
        _json_str(pl.col("quintuple_id")),
        pl.lit(', "scan_id": '),
        _json_str(pl.col("scan_id")),
        pl.lit(', "question_id": '),
        pl.col("question_id").cast(pl.String),
        pl.lit(', "image": '),
        image,
        pl.lit(
            f', "setting": {json.dumps(PUBLIC_PROMPT_SETTING)}, "messages": [{{"role": "system", "content": '
            f'[{{"type": "text", "text": {json.dumps(SFT_SYSTEM_PROMPT)}}}]}}, {{"role": "user", "content": '
            '[{"type": "video", "video": '
        ),
        image,
        pl.lit('}, {"type": "text", "text": '),
        _json_str(pl.col(prompt_col)),
        pl.lit('}]}, {"role": "assistant", "content": [{"type": "text", "text": '),
        _json_str(pl.col("answer")),
        pl.lit('}]}], "answer_no_cot": '),
        _json_str(pl.col("answer_no_cot")),
        pl.lit("}"),
    )
    images = scans.select("scan_id", "image_path")
    for split in SPLITS:
        rows = (
            quintuples.filter(pl.col("complete") & (pl.col("split") == split))
            .select("quintuple_id", "scan_id", "question_id", prompt_col, "answer", "answer_no_cot")
            .join(images, on="scan_id", how="left")
            .sort("scan_id", "question_id")
        )
        with (out / f"{split}.jsonl").open("w", encoding="utf-8") as fh:
            for chunk in _chunks(rows):
                lines = chunk.select(line.alias("line"))["line"].to_list()
                if lines:
                    fh.write("\n".join(lines) + "\n")


_HF_README = """---
configs:
- config_name: default
  data_files:
{files}
---

# ReasonKnee quintuples

One row per (knee scan, question): prompts in three settings, the box in the
public form `[start_slice, end_slice, x_min, x_max, y_min, y_max]` (inclusive,
x = column, y = row), reasoning steps, grades and the answer texts. `image` and
`label` are paths relative to the dataset folder (the parent of this folder).

```python
import datasets
ds = datasets.load_dataset("path/to/dataset/hf")
```
"""


def write_hf(root: Path, scans: pl.DataFrame, quintuples: pl.DataFrame) -> None:
    """``hf/data/{split}.parquet`` and ``hf/README.md`` (``datasets.load_dataset`` layout)."""
    out = root / "hf"
    (out / "data").mkdir(parents=True, exist_ok=True)
    frame = quintuples.join(
        scans.select(
            "scan_id", pl.col("image_path").alias("image"), pl.col("label_path").alias("label")
        ),
        on="scan_id",
        how="left",
    ).sort("scan_id", "question_id")
    files = []
    for split in SPLITS:
        part = frame.filter(pl.col("split") == split)
        if part.height == 0:
            continue
        part.write_parquet(out / "data" / f"{split}.parquet", statistics=False)
        files.append(f"  - split: {split}\n    path: data/{split}.parquet")
    (out / "README.md").write_text(_HF_README.format(files="\n".join(files)), encoding="utf-8")
