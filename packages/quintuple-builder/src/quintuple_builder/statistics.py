"""Dataset statistics: grade distribution per region (the paper's Fig. 4a) and counts per split."""

from __future__ import annotations

from pathlib import Path

import polars as pl
from moaks_schema import ATTRIBUTES, QUESTIONS

from quintuple_builder.splits import SPLITS

__all__ = [
    "FIG4A_ATTRIBUTES",
    "counts_per_split",
    "grade_distribution",
    "plot_grade_distribution",
    "write_statistics",
]

#: The "main" MOAKS grades of Fig. 4a: (feature, attribute short key, panel title).
FIG4A_ATTRIBUTES: tuple[tuple[str, str, str], ...] = (
    ("bml", "size", "BML size"),
    ("bml", "number", "BML number"),
    ("bml", "percent", "BML % (excluding cyst)"),
    ("cartilage", "size", "Cartilage lesion size"),
    ("cartilage", "depth", "Cartilage lesion depth"),
    ("osteophyte", "grade", "Osteophyte grade"),
)


def grade_distribution(quintuples: pl.DataFrame) -> pl.DataFrame:
    """Counts and fractions of every grade per attribute (null grades counted as ``missing``).

    Columns: ``question_id, feature, site, attribute, grade (null = missing), count, fraction``
    where ``fraction`` is over the graded (non-null) readings of that attribute.
    """
    meta = pl.DataFrame(
        [
            (
                a.key,
                a.question_id,
                QUESTIONS[a.question_id - 1].feature.value,
                QUESTIONS[a.question_id - 1].site or QUESTIONS[a.question_id - 1].site_name,
                i,
            )
            for i, a in enumerate(ATTRIBUTES)
        ],
        orient="row",
        schema={
            "attribute": pl.String,
            "question_id": pl.Int64,
            "feature": pl.String,
            "site": pl.String,
            "order": pl.Int64,
        },
    )
    long = quintuples.select(pl.col("grades").explode()).unnest("grades")
    counts = long.group_by("attribute", "grade").len("count")
    graded = (
        counts.filter(pl.col("grade").is_not_null())
        .group_by("attribute")
        .agg(pl.col("count").sum().alias("n_graded"))
    )
    return (
        counts.join(graded, on="attribute", how="left")
        .join(meta, on="attribute", how="left")
        .with_columns(
            pl.when(pl.col("grade").is_not_null())
            .then(pl.col("count") / pl.col("n_graded"))
            .alias("fraction")
        )
        .sort("order", "grade", nulls_last=True)
        .select(
            "question_id",
            "feature",
            "site",
            "attribute",
            "grade",
            pl.col("count").cast(pl.Int64),
            "fraction",
        )
    )


def counts_per_split(scans: pl.DataFrame, quintuples: pl.DataFrame) -> pl.DataFrame:
    """Patients, scans, quintuples and complete quintuples per split (and in total)."""
    rows = []
    for split in (*SPLITS, "all"):
        s = scans if split == "all" else scans.filter(pl.col("split") == split)
        q = quintuples if split == "all" else quintuples.filter(pl.col("split") == split)
        rows.append(
            {
                "split": split,
                "patients": s["patient_id"].n_unique(),
                "scans": s.height,
                "quintuples": q.height,
                "complete_quintuples": int(q["complete"].sum()),
            }
        )
    return pl.DataFrame(
        rows,
        schema={
            "split": pl.String,
            "patients": pl.Int64,
            "scans": pl.Int64,
            "quintuples": pl.Int64,
            "complete_quintuples": pl.Int64,
        },
    )


def plot_grade_distribution(dist: pl.DataFrame, path: str | Path) -> Path:
    """Stacked bars of the fractions of grades 1-3 per site (the rest is grade 0), one panel per
    main attribute of Fig. 4a; PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    fig, axes = plt.subplots(2, 3, figsize=(16, 8), constrained_layout=True)
    colours = {1: "#fdae61", 2: "#f46d43", 3: "#a50026"}
    for ax, (feature, short, title) in zip(axes.ravel(), FIG4A_ATTRIBUTES, strict=True):
        part = dist.filter(
            (pl.col("feature") == feature) & pl.col("attribute").str.ends_with(f".{short}")
        )
        sites = part.sort("question_id")["site"].unique(maintain_order=True).to_list()
        bottom = [0.0] * len(sites)
        for g in (1, 2, 3):
            frac = dict(part.filter(pl.col("grade") == g).select("site", "fraction").iter_rows())
            vals = [float(frac.get(s) or 0.0) for s in sites]
            ax.bar(sites, vals, bottom=bottom, color=colours[g], label=f"grade {g}")
            bottom = [b + v for b, v in zip(bottom, vals, strict=True)]
        ax.set_title(title)
        ax.set_ylabel("fraction of knees")
        ax.tick_params(axis="x", rotation=60, labelsize=8)
        ax.set_ylim(0, max([0.05, *bottom]) * 1.1)
    axes[0, 0].legend(loc="upper right", fontsize=8)
    fig.suptitle("Distribution of main MOAKS grades per region (remaining fraction: grade 0)")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, metadata={"Software": None})
    plt.close(fig)
    return path


def write_statistics(root: Path, scans: pl.DataFrame, quintuples: pl.DataFrame) -> dict[str, Path]:
    """``statistics/grade_distribution.{csv,png}`` and ``statistics/counts_per_split.csv``."""
    out = root / "statistics"
    out.mkdir(parents=True, exist_ok=True)
    dist = grade_distribution(quintuples)
    dist.write_csv(out / "grade_distribution.csv")
    counts_per_split(scans, quintuples).write_csv(out / "counts_per_split.csv")
    png = plot_grade_distribution(dist, out / "grade_distribution.png")
    return {
        "grade_distribution": out / "grade_distribution.csv",
        "counts_per_split": out / "counts_per_split.csv",
        "figure": png,
    }
