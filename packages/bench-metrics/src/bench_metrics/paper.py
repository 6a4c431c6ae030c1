"""The paper's published numbers (3DReasonKnee, Tables 2 and 3), for side-by-side tables.

Always shown labelled as the paper's: they were measured on the authors' data
and code, not reproduced here.
"""

from __future__ import annotations

import polars as pl

__all__ = [
    "PAPER_TABLE2",
    "PAPER_TABLE3",
    "TABLE2_COLUMNS",
    "TABLE3_COLUMNS",
    "paper_table2",
    "paper_table3",
]

#: Table 2 columns (the paper's five-column view plus Overall).
TABLE2_COLUMNS: tuple[str, ...] = ("BML", "Cart.", "Ost.", "Men.", "Others", "Overall")
#: Table 3 columns (mean IoU per structure).
TABLE3_COLUMNS: tuple[str, ...] = (
    "Patella",
    "Femur",
    "Tibia",
    "Meniscus",
    "ACL",
    "PCL",
    "Synovitis",
)

#: (model, setting, BML, Cart., Ost., Men., Others, Overall) as printed in the paper.
PAPER_TABLE2: tuple[tuple[str, str, float, float, float, float, float, float], ...] = (
    ("Qwen2.5VL-3B", "zero-shot", 0.081, 0.253, 0.251, 0.093, 0.159, 0.158),
    ("Qwen2.5VL-7B", "zero-shot", 0.642, 0.309, 0.348, 0.347, 0.469, 0.470),
    ("o1", "zero-shot", 0.479, 0.553, 0.353, 0.332, 0.476, 0.477),
    ("Qwen2.5VL-3B", "instruction", 0.092, 0.149, 0.253, 0.205, 0.146, 0.146),
    ("Qwen2.5VL-7B", "instruction", 0.629, 0.466, 0.342, 0.297, 0.503, 0.504),
    ("o1", "instruction", 0.635, 0.579, 0.345, 0.391, 0.567, 0.568),
    ("Qwen2.5VL-7B", "instruction + GT region", 0.697, 0.549, 0.338, 0.166, 0.563, 0.556),
    ("Qwen2.5VL-3B", "SFT w/o CoT", 0.706, 0.602, 0.345, 0.387, 0.616, 0.613),
    ("Med3DVLM", "SFT w/o CoT", 0.670, 0.578, 0.330, 0.346, 0.600, 0.596),
    ("Qwen2.5VL-3B", "SFT w/ CoT", 0.667, 0.600, 0.342, 0.340, 0.590, 0.588),
    ("Med3DVLM", "SFT w/ CoT", 0.671, 0.579, 0.333, 0.343, 0.605, 0.581),
)
#: (model, Patella, Femur, Tibia, Meniscus, ACL, PCL, Synovitis) as printed in the paper.
PAPER_TABLE3: tuple[tuple[str, float, float, float, float, float, float, float], ...] = (
    ("Qwen2.5VL-3B", 0.293, 0.275, 0.322, 0.174, 0.299, 0.305, 0.519),
    ("Med3DVLM", 0.298, 0.314, 0.359, 0.197, 0.319, 0.384, 0.470),
)


def paper_table2() -> pl.DataFrame:
    """The paper's Table 2, one row per (model, setting), ``source`` = ``"paper"``."""
    return pl.DataFrame(
        [dict(zip(("model", "setting", *TABLE2_COLUMNS), row, strict=True)) for row in PAPER_TABLE2]
    ).with_columns(pl.lit("paper").alias("source"))


def paper_table3() -> pl.DataFrame:
    """The paper's Table 3, one row per model, ``source`` = ``"paper"``."""
    return pl.DataFrame(
        [dict(zip(("model", *TABLE3_COLUMNS), row, strict=True)) for row in PAPER_TABLE3]
    ).with_columns(pl.lit("paper").alias("source"))
