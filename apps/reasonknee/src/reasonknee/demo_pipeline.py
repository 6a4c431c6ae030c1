"""The whole mission on a phantom cohort, as one Python call (`reasonknee demo` wraps it).

Steps: phantom cohort in the OAI layouts -> ingestion with the real loaders
(:func:`quintuple_builder.build_from_release`) -> label maps (phantom truth, or a short
nnU-Net training on the "manual" subset and pseudo-labels for every scan) ->
dataset -> reference baselines (and an optional model) -> ReasonKnee-Bench
scores -> one report folder.

Phantom numbers are not clinical numbers: the report says so on its first line.
"""

from __future__ import annotations

import json
import math
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

__all__ = ["REFERENCE_MODELS", "DemoConfig", "DemoResult", "run_demo"]

#: The weight-free baselines every demo runs (the floor every model is shown against).
REFERENCE_MODELS: tuple[str, ...] = ("majority", "atlas", "random")

_PHANTOM_NOTE = (
    "All numbers below are measured on a synthetic phantom cohort with known truth. "
    "They test the software, not a model's clinical ability, and must not be compared "
    "with the paper's numbers as if they were."
)


@dataclass(frozen=True)
class DemoConfig:
    """What the demo runs. Defaults finish in well under five minutes on 2 CPU cores."""

    out: Path = Path("reasonknee-demo")
    patients: int = 40
    shape: tuple[int, int, int] = (48, 96, 96)
    seed: int = 0
    setting: str = "instruction"
    models: tuple[str, ...] = ()  # extra model specs (qwen2.5-vl:PATH, openai:MODEL@URL, ...)
    train_segmenter: bool = False
    #: the segmenter's schedule: epochs x iterations, seeded by ``seed`` (docs/segmentation.md)
    segmenter_epochs: int = 24
    segmenter_iterations: int = 25
    #: an optional wall-clock stop on top of the schedule (then the result depends on the machine)
    segmenter_max_seconds: float | None = None
    #: scans with a "manual" label map; the last ``held_out_manual`` of them are not trained on
    manual_maps: int = 10
    held_out_manual: int = 2
    n_boot: int = 1000
    n_previews: int = 3
    device: str = "auto"
    progress: bool = True


@dataclass
class DemoResult:
    """Where everything went, and the headline numbers per model."""

    out: Path
    dataset: Path
    report: Path
    predictions: dict[str, Path] = field(default_factory=dict)
    headline: dict[str, dict[str, Any]] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


def _num(v: Any) -> float | None:
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)


#: the demo segmenter's AdamW learning rate, grid and U-Net width (docs/segmentation.md, "The demo's
#: schedule"): a grid 2x coarser than the phantoms' fits the 5-minute budget on 2 cores, but leaves
#: the meniscal segments too few voxels to learn (the build's quality gate marks their boxes)
_SEGMENTER_LR = 3e-3
_SEGMENTER_SPACING_FACTOR = 2.0
_SEGMENTER_FEATURES = (16, 128)


def _fmt(v: Any, lo: Any = None, hi: Any = None) -> str:
    v, lo, hi = _num(v), _num(lo), _num(hi)
    if v is None:
        return "–"
    return f"{v:.3f}" if lo is None or hi is None else f"{v:.3f} [{lo:.3f}, {hi:.3f}]"


def _train_segmenter(config: DemoConfig, work: Path, console: Console) -> Path:
    """Train nnU-Net on the cohort's "manual" maps but the held-out ones; returns the model folder."""
    import knee_segmenter as ks
    from knee_phantom import CohortLayout

    cohort = CohortLayout.open(work / "phantom")
    manual = cohort.manual_ids
    train_ids = manual[: max(1, len(manual) - config.held_out_manual)]
    pairs = [(cohort.nifti_path(s), cohort.manual_path(s)) for s in train_ids]
    budget = (
        ""
        if config.segmenter_max_seconds is None
        else f", stopped after {config.segmenter_max_seconds:.0f} s"
    )
    console.print(
        f"[bold]segmenter[/]: nnU-Net v2 on {len(pairs)} manual label maps "
        f"({len(manual) - len(pairs)} held out), {config.segmenter_epochs} x "
        f"{config.segmenter_iterations} iterations, seed {config.seed}{budget}"
    )
    # AdamW: nnU-Net's SGD needs thousands of iterations before it tells the regions apart; a coarser grid
    # (nnU-Net resamples the predictions back) and a narrow U-Net make iterations cheap on a CPU; one
    # thread, so the same seed gives the same model on any machine
    model = ks.train_segmenter(
        pairs,
        work / "segmenter-model",
        epochs=config.segmenter_epochs,
        iterations=config.segmenter_iterations,
        val_iterations=2,
        max_seconds=config.segmenter_max_seconds,
        seed=config.seed,
        device=config.device,
        optimizer="adam",
        learning_rate=_SEGMENTER_LR,
        spacing_factor=_SEGMENTER_SPACING_FACTOR,
        root=work / "nnunet",
        base_features=_SEGMENTER_FEATURES[0],
        max_features=_SEGMENTER_FEATURES[1],
        threads=1,
    )
    return model.path


def _dice_report(work: Path, model: Path, console: Console, report: Path) -> dict[str, Any]:
    """Dice of the build's nnU-Net pseudo-labels against phantom truth, on the scans not trained on.

    Returns the figures the demo's targets are stated in (docs/segmentation.md): median Dice
    over (scan, region) pairs and the lowest mean Dice of a region.
    """
    import knee_segmenter as ks
    from knee_phantom import CohortLayout

    cohort = CohortLayout.open(work / "phantom")
    trained = set(ks.ModelDir.open(model).training_cases or cohort.manual_ids)
    held_out = [
        s
        for s in cohort.scan_ids
        if s not in trained and (work / "predictions" / f"{s}.nii.gz").is_file()
    ]
    table = ks.dice_table(
        [work / "predictions" / f"{s}.nii.gz" for s in held_out],
        [cohort.label_path(s) for s in held_out],
        scan_ids=held_out,
    )
    seg = report / "segmentation"
    seg.mkdir(parents=True, exist_ok=True)
    table.write_csv(seg / "dice_per_scan.csv")
    summary = ks.dice_summary(table)
    summary.write_csv(seg / "dice_per_region.csv")
    ks.dice_barplot(
        summary,
        seg / "dice_per_region.png",
        title="nnU-Net Dice per region (phantom, held-out scans)",
    )
    worst = summary.sort("mean_dice", nulls_last=False).row(0, named=True)
    figures = {
        "held_out_scans": len(held_out),
        "mean_dice": _num(table["dice"].mean()),
        "median_dice": _num(table["dice"].median()),
        "lowest_region": worst["region"],
        "lowest_region_mean_dice": _num(worst["mean_dice"]),
    }
    (seg / "summary.json").write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    console.print(
        f"segmenter: mean Dice {_fmt(figures['mean_dice'])}, median {_fmt(figures['median_dice'])} "
        f"over {len(held_out)} held-out scans; lowest region {worst['region']} "
        f"{_fmt(figures['lowest_region_mean_dice'])} (see docs/segmentation.md)"
    )
    return figures


def _build(config: DemoConfig, console: Console, report: Path) -> Path:
    """Phantom cohort (DICOM in the OAI layout) -> label maps -> dataset, through the real loaders."""
    from knee_phantom import write_cohort
    from quintuple_builder import build_from_release, labels_from_folder

    work = config.out / "work"
    dataset = config.out / "dataset"
    console.print(f"writing a phantom cohort of {config.patients} patients to {work / 'phantom'}")
    layout = write_cohort(
        work / "phantom",
        n_patients=config.patients,
        sides=(1, 2),
        seed=config.seed,
        shape=config.shape,
        n_manual=config.manual_maps,
        dicom=True,
        progress=config.progress,
        overwrite=True,
    )
    label_source, labels = "phantom", labels_from_folder(layout.labels_dir)
    model, quality = None, None
    if config.train_segmenter:
        from knee_segmenter import pseudo_label_provider, pseudo_label_quality

        model = _train_segmenter(config, work, console)
        label_source = "nnunet"
        labels = pseudo_label_provider(
            work=work,
            model_dir=model,
            device=config.device,
            mirroring=False,
            progress=config.progress,
        )
        # measured on the held-out manual maps; the demo goes on, boxes of low regions marked
        quality = pseudo_label_quality(layout.root / "manual", model_dir=model)
    result = build_from_release(
        layout.release(),
        dataset,
        labels=labels,
        label_source=label_source,
        seed=config.seed,
        keep_going=config.train_segmenter,
        overwrite=True,
        progress=config.progress,
        notify=console.print,
        extra_manifest={"phantom_patients": config.patients},
        quality=quality,
        accept_low_quality=True,
    )
    if model is not None:
        _dice_report(work, model, console, report)
    if not result.build.written:
        failures = result.build.failures.head(5).to_dicts()
        raise RuntimeError(f"the build failed ({failures}); work folder {work}")
    return dataset


def _previews(dataset: Path, predictions: Path, report: Path, n: int) -> list[Path]:
    """3-plane previews of a few test quintuples: the true box and the model's box mapped to voxels."""
    import polars as pl
    from bbox3d import Box, ViewGeometry
    from bench_metrics import parse_answer
    from knee_volumes import read_volume
    from moaks_schema import question
    from quintuple_builder import Dataset

    ds = Dataset.open(dataset)
    quints = ds.quintuples(split="test").filter(pl.col("box_public").is_not_null())
    from vlm_adapters import read_records

    records = {(r.scan_id, r.question_id): r for r in read_records(predictions)}
    out: list[Path] = []
    wanted = [42, 4, 60, 50, 19]  # Hoffa, femur BML, ACL, meniscus, cartilage
    picked = (
        quints.filter(pl.col("question_id").is_in(wanted))
        .unique(subset="question_id", keep="first", maintain_order=True)
        .head(n)
    )
    pdir = report / "previews"
    pdir.mkdir(parents=True, exist_ok=True)
    for row in picked.iter_rows(named=True):
        q = question(row["question_id"])
        boxes = {"truth": Box.from_public(row["box_public"])}
        rec = records.get((row["scan_id"], row["question_id"]))
        if rec is not None:
            parsed = parse_answer(rec.raw_text or "", q.id)
            if parsed.box is not None:
                box = parsed.box
                if rec.view:
                    box = ViewGeometry.from_dict(rec.view).box_to_source(box)
                boxes["predicted"] = box
        volume = read_volume(ds.image_path(row["scan_id"]))
        path = pdir / f"{row['scan_id']}_q{q.id}.png"
        from knee_volumes import preview_png

        extent_mm = max(n * d for n, d in zip(volume.shape, volume.spacing, strict=True))
        preview_png(
            volume,
            path,
            boxes=boxes,
            panel_mm=extent_mm / 300,
            title=f"{row['scan_id']} · Q{q.id} {q.answer_key} · phantom: truth vs predicted box",
        )
        out.append(path)
    return out


def _summary_tables(all_scores: list[Any]) -> tuple[str, str]:
    """Table 2 and Table 3 of this run, each cell with its 95 % patient-bootstrap interval."""
    import polars as pl

    cols2 = [
        "BML",
        "Cartilage",
        "Osteophyte",
        "Meniscus",
        "Others",
        "Overall (micro)",
        "Overall (macro)",
    ]
    lines2 = [
        "| model | majority ref. (overall) | " + " | ".join(cols2) + " |",
        "|---" * (len(cols2) + 2) + "|",
    ]
    cols3 = ["Patella", "Femur", "Tibia", "Meniscus", "ACL", "PCL", "Synovitis", "Patellar tendon"]
    lines3 = [
        "| model | " + " | ".join(cols3) + " | Acc@0.25 (all) | Acc@0.5 (all) |",
        "|---" * (len(cols3) + 3) + "|",
    ]
    for s in all_scores:
        g = {r["group"]: r for r in s.groups.iter_rows(named=True)}
        overall = g.get("Overall (micro)", {})
        cells = []
        for c in cols2:
            r = g.get(c)
            cells.append("–" if r is None else _fmt(r["accuracy"], r["ci_low"], r["ci_high"]))
        lines2.append(
            f"| {s.label} | {_fmt(overall.get('majority'))} | " + " | ".join(cells) + " |"
        )
        st = {
            r["structure"]: r
            for r in s.structures.filter(pl.col("n_boxes") > 0).iter_rows(named=True)
        }
        cells3 = [
            ("–" if c not in st else _fmt(st[c]["mean_iou"], st[c]["ci_low"], st[c]["ci_high"]))
            for c in cols3
        ]
        al = st.get("All", {})
        lines3.append(
            f"| {s.label} | "
            + " | ".join(cells3)
            + f" | {_fmt(al.get('acc_025'))} | {_fmt(al.get('acc_050'))} |"
        )
    return "\n".join(lines2), "\n".join(lines3)


def run_demo(config: DemoConfig, *, console: Console | None = None) -> DemoResult:
    """Run every stage on a phantom cohort and write ``config.out/report``."""
    import bench_metrics as bm
    from vlm_adapters import run_baseline

    console = console or Console()
    t_all = time.perf_counter()
    config.out.mkdir(parents=True, exist_ok=True)
    report = config.out / "report"
    if report.exists():
        shutil.rmtree(report)
    report.mkdir(parents=True)
    seconds: dict[str, float] = {}

    t = time.perf_counter()
    console.rule("[bold]1. phantom cohort → dataset")
    dataset = _build(config, console, report)
    seconds["build"] = time.perf_counter() - t

    console.rule("[bold]2. baselines")
    t = time.perf_counter()
    preds_dir = config.out / "predictions"
    preds_dir.mkdir(parents=True, exist_ok=True)
    predictions: dict[str, Path] = {}
    for spec in (*REFERENCE_MODELS, *config.models):
        name = spec.replace(":", "_").replace("/", "_").replace("@", "_")[:80]
        out = preds_dir / f"{name}.{config.setting}.jsonl"
        if out.exists():
            out.unlink()  # a demo starts clean; `reasonknee baseline` is the resumable tool
        summary = run_baseline(
            dataset=dataset,
            split="test",
            model=spec,
            setting=config.setting,
            out=out,
            seed=config.seed,
            progress=config.progress,
        )
        console.print(
            f"{spec}: {summary.written} records in {summary.wall_s:.1f} s ({summary.errors} errors)"
        )
        predictions[spec] = out
    seconds["baselines"] = time.perf_counter() - t

    console.rule("[bold]3. ReasonKnee-Bench scores")
    t = time.perf_counter()
    truth = bm.load_truth(dataset, "test")
    reference = bm.load_truth(dataset, "train")
    all_scores = []
    headline: dict[str, dict[str, Any]] = {}
    for spec, path in predictions.items():
        scores = bm.score_predictions(
            bm.read_predictions(path),
            truth,
            reference=reference,
            n_boot=config.n_boot,
            seed=config.seed,
            label=spec,
        )
        bm.write_report(
            scores, report / "models" / path.stem, n_boot=config.n_boot, seed=config.seed
        )
        all_scores.append(scores)
        g = {r["group"]: r for r in scores.groups.iter_rows(named=True)}
        micro = g["Overall (micro)"]
        headline[spec] = {
            "overall_micro": _num(micro["accuracy"]),
            "ci_low": _num(micro["ci_low"]),
            "ci_high": _num(micro["ci_high"]),
            "overall_macro": _num(g["Overall (macro)"]["accuracy"]),
            "majority_reference": _num(micro["majority"]),
            "mean_iou": _num(scores.mean_iou("All")),
            "failure_rate": _num(micro["failure_rate"]),
            "items": int(micro["n_items"]),
        }
    seconds["scoring"] = time.perf_counter() - t

    console.rule("[bold]4. report")
    t = time.perf_counter()
    box_model = next((m for m in (*config.models, "atlas") if m in predictions), "atlas")
    previews = _previews(dataset, predictions[box_model], report, config.n_previews)
    stats = dataset / "statistics"
    if stats.is_dir():
        shutil.copytree(stats, report / "statistics")
    t2, t3 = _summary_tables(all_scores)
    table2_paper = bm.to_markdown(bm.paper_table2())
    seconds["report"] = time.perf_counter() - t
    seconds["total"] = time.perf_counter() - t_all
    manifest = json.loads((dataset / "manifest.json").read_text())
    md = [
        "# ReasonKnee demo report",
        "",
        f"> {_PHANTOM_NOTE}",
        "",
        f"Phantom cohort: {config.patients} patients × 2 knees, volumes {config.shape[0]}×{config.shape[1]}×"
        f"{config.shape[2]}, seed {config.seed}; labels: "
        f"{'nnU-Net pseudo-labels' if config.train_segmenter else 'phantom truth'}; setting `{config.setting}`; "
        f"test split scored, majority reference from the train split. Dataset content hash "
        f"`{manifest.get('content_hash', '?')}`.",
        "",
        "## Accuracy (Table 2 layout), 95 % bootstrap intervals resampled by patient",
        "",
        "Overall (micro) averages over every (scan, attribute) pair; Overall (macro) is the mean of the "
        "seven category accuracies (docs/benchmark-protocol.md).",
        "",
        t2,
        "",
        "## Mean IoU per structure (Table 3 layout, plus the patellar tendon)",
        "",
        t3,
        "",
        "## The paper's Table 2, for orientation only (real OAI scans, not comparable)",
        "",
        table2_paper,
        "",
        "## Files",
        "",
        "- `models/<run>/report.md`: per-model report (kappa, balanced accuracy, macro-F1, failures, "
        "confusion matrices, IoU vs accuracy)",
        "- `statistics/`: grade distribution per region and counts per split",
        *[f"- `previews/{p.name}`: truth (and {box_model} box)" for p in previews],
        *(["- `segmentation/`: nnU-Net Dice per region"] if config.train_segmenter else []),
        "",
        "## Time",
        "",
        *[f"- {k}: {v:.1f} s" for k, v in seconds.items()],
        "",
    ]
    (report / "README.md").write_text("\n".join(md), encoding="utf-8")
    summary = {
        "phantom": True,
        "note": _PHANTOM_NOTE,
        "config": {
            "patients": config.patients,
            "shape": list(config.shape),
            "seed": config.seed,
            "setting": config.setting,
            "models": list(predictions),
            "train_segmenter": config.train_segmenter,
            "n_boot": config.n_boot,
        },
        "dataset": str(dataset),
        "content_hash": manifest.get("content_hash"),
        "headline": headline,
        "seconds": seconds,
        "previews": [str(p) for p in previews],
    }
    (report / "summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    return DemoResult(config.out, dataset, report, predictions, headline, seconds)
