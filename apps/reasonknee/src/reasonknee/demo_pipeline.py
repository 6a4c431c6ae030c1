"""The whole mission on a phantom cohort, as one Python call (`reasonknee demo` wraps it).

Steps: phantom cohort in the OAI layouts -> ingestion with the real loaders
(:func:`quintuple_builder.build_from_release`) -> label maps (phantom truth, or a short
nnU-Net training on the "manual" subset and pseudo-labels for every scan) ->
dataset -> reference baselines (and an optional model) -> ReasonKnee-Bench
scores -> one report folder.

The references frame every model's row (docs/benchmark-protocol.md): the floor
(`majority`), the prior (`atlas`), the pixels (a supervised `specialist`) and the
ceiling (`second reader`: the cohort's second MOAKS reads scored against the
kept ones); `random` is the chance line.

Phantom numbers are not clinical numbers: the report says so on its first line.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

__all__ = ["REFERENCE_MODELS", "DemoConfig", "DemoResult", "run_demo", "segmenter_options"]

#: The weight-free baselines every demo runs (the floor every model is shown against).
REFERENCE_MODELS: tuple[str, ...] = ("majority", "atlas", "random")
#: The supervised model that reads the voxels (docs/baselines.md), trained on the demo's train split.
SPECIALIST = "specialist"
#: The human-ceiling row's key in ``summary.json`` (``headline``) and its models/ folder.
SECOND_READER = "second reader"

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
    options: dict[str, Any] = field(default_factory=dict)  # adapter options of those models
    train_segmenter: bool = False
    #: the segmenter's schedule: epochs x iterations, seeded by ``seed`` (docs/segmentation.md)
    segmenter_epochs: int = 12
    segmenter_iterations: int = 50
    #: an optional wall-clock stop on top of the schedule (then the result depends on the machine)
    segmenter_max_seconds: float | None = None
    #: scans with a "manual" label map; the last ``held_out_manual`` of them are not trained on
    manual_maps: int = 10
    held_out_manual: int = 2
    n_boot: int = 1000
    specialist: bool = True  # train and run the supervised specialist (the "pixels" row)
    second_reads: float = 0.5  # share of knees read twice: the second-reader row's sample
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


#: torch threads of the demo segmenter's training and prediction: fixed, so a seed gives one model
_SEGMENTER_THREADS = 2
#: processes writing the phantom cohort (its files do not depend on the number)
_COHORT_WORKERS = 2


def segmenter_options() -> dict[str, Any]:
    """The demo segmenter's settings beside its schedule: ``train_segmenter`` keyword arguments.

    docs/segmentation.md ("The demo's schedule") says why each: AdamW, where nnU-Net's SGD
    needs thousands of iterations to tell the regions apart; a grid 1.8x coarser than the
    phantoms' (2x leaves the meniscal bodies too thin to come back) and a narrow U-Net, for cheap
    iterations on a CPU; no augmentation but left-right mirroring (the phantoms share one
    protocol and grid); a cross-entropy weighted up for the small regions (the meniscal segments
    are learnt hundreds of iterations sooner); bfloat16 forward passes where the CPU has them
    natively, else float32; nnU-Net's torch resampling of the predictions.
    """
    import knee_segmenter as ks

    return {
        "optimizer": "adam",
        "learning_rate": 6e-3,
        "spacing_factor": 1.8,
        "base_features": 16,
        "max_features": 128,
        "augmentation": "none",
        "loss": "dice+balanced-ce",
        "precision": "bf16" if ks.cpu_has_native_bf16() else "fp32",
        "export_resampling": "torch",
        "threads": _SEGMENTER_THREADS,
    }


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
    options = segmenter_options()
    console.print(
        f"[bold]segmenter[/]: nnU-Net v2 on {len(pairs)} manual label maps "
        f"({len(manual) - len(pairs)} held out), {config.segmenter_epochs} x "
        f"{config.segmenter_iterations} iterations, seed {config.seed}, {options['precision']}, "
        f"loss {options['loss']}{budget}"
    )
    model = ks.train_segmenter(
        pairs,
        work / "segmenter-model",
        epochs=config.segmenter_epochs,
        iterations=config.segmenter_iterations,
        val_iterations=2,
        max_seconds=config.segmenter_max_seconds,
        seed=config.seed,
        device=config.device,
        root=work / "nnunet",
        plot_every=config.segmenter_epochs,  # progress.png once, at the end
        progress=config.progress,
        **options,
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
    from bench_metrics import finite_or_none as _num

    def _fmt(value: float | None) -> str:
        return "–" if value is None else f"{value:.3f}"

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
        second_reads=config.second_reads,
        progress=config.progress,
        overwrite=True,
        workers=_COHORT_WORKERS,
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
            threads=_SEGMENTER_THREADS,
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


def _train_specialist(config: DemoConfig, dataset: Path, console: Console) -> str:
    """The specialist plugs in here: train it on the dataset's train split; its model spec."""
    from vlm_adapters.specialist import train_specialist

    result = train_specialist(
        dataset,
        config.out / "specialist",
        seed=config.seed,
        device=config.device,
        overwrite=True,
        progress=config.progress,
    )
    console.print(
        f"{SPECIALIST}: trained in {result.seconds:.1f} s on {result.device} "
        f"(val accuracy {result.val_accuracy:.3f}, val box IoU {result.val_iou:.3f})"
    )
    return f"specialist:{result.path}"


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


def _run_baselines(
    config: DemoConfig, dataset: Path, specs: dict[str, str], console: Console
) -> dict[str, Path]:
    """Run each model spec on the test split; row name -> its predictions JSONL."""
    from vlm_adapters import run_baseline

    preds_dir = config.out / "predictions"
    preds_dir.mkdir(parents=True, exist_ok=True)
    predictions: dict[str, Path] = {}
    for row, spec in specs.items():
        name = row.replace(":", "_").replace("/", "_").replace("@", "_")[:80]
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
            options=config.options if row in config.models else None,
            progress=config.progress,
        )
        console.print(
            f"{row}: {summary.written} records in {summary.wall_s:.1f} s ({summary.errors} errors)"
        )
        predictions[row] = out
    return predictions


def _score_runs(
    config: DemoConfig, dataset: Path, predictions: dict[str, Path]
) -> tuple[dict[str, Any], Any]:
    """Every run scored on the test split, and the second-reader row (None: no knee read twice)."""
    import bench_metrics as bm

    truth = bm.load_truth(dataset, "test")
    reference = bm.load_truth(dataset, "train")
    runs = {
        row: bm.score_predictions(
            bm.read_predictions_file(path),
            truth,
            reference=reference,
            n_boot=config.n_boot,
            seed=config.seed,
            label=row,
        )
        for row, path in predictions.items()
    }
    ceiling = bm.second_reader_scores(
        dataset, "test", reference=reference, n_boot=config.n_boot, seed=config.seed
    )
    return runs, ceiling


def _intro(config: DemoConfig, manifest: dict[str, Any]) -> str:
    """What the report rests on, and how to read its rows."""
    return (
        f"Phantom cohort: {config.patients} patients × 2 knees, volumes {config.shape[0]}×"
        f"{config.shape[1]}×{config.shape[2]}, seed {config.seed}; labels: "
        f"{'nnU-Net pseudo-labels' if config.train_segmenter else 'phantom truth'}; setting "
        f"`{config.setting}`; test split scored, majority reference from the train split. Dataset "
        f"content hash `{manifest.get('content_hash', '?')}`.\n\n"
        "`majority` is the floor, `atlas` the prior (majority grades, side-aware mean box), "
        "`specialist` the pixels (a small supervised 3D model trained on the train split, "
        "docs/baselines.md), `random` the chance line; `second reader` scores the phantom's "
        "second MOAKS reads against the kept ones on the test knees read twice: the human ceiling "
        "(its disagreement model is calibrated to published reader agreement, docs/phantom.md; "
        "how to read the four references: docs/benchmark-protocol.md)."
    )


def _write_demo_report(
    config: DemoConfig,
    dataset: Path,
    report: Path,
    predictions: dict[str, Path],
    scored: tuple[dict[str, Any], Any],
    seconds: dict[str, float],
    t_all: float,
) -> None:
    """Previews, statistics and the comparison report (README.md, tables, summary.json, models/).

    ``seconds`` gains ``report`` (previews and statistics) and ``total`` (the run up to here).
    """
    import bench_metrics as bm

    t = time.perf_counter()
    runs, ceiling = scored
    box_model = next(
        (m for m in (*config.models, SPECIALIST, "atlas") if m in predictions), "atlas"
    )
    previews = _previews(dataset, predictions[box_model], report, config.n_previews)
    stats = dataset / "statistics"
    if stats.is_dir():
        shutil.copytree(stats, report / "statistics")
    manifest = json.loads((dataset / "manifest.json").read_text())
    seconds["report"] = time.perf_counter() - t
    seconds["total"] = time.perf_counter() - t_all
    files = [
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
    ]
    summary = {
        "phantom": True,
        "config": {
            "patients": config.patients,
            "shape": list(config.shape),
            "seed": config.seed,
            "setting": config.setting,
            "models": list(predictions),
            "train_segmenter": config.train_segmenter,
            "second_reads": config.second_reads,
            "n_boot": config.n_boot,
        },
        "dataset": str(dataset),
        "content_hash": manifest.get("content_hash"),
        "seconds": seconds,
        "previews": [str(p) for p in previews],
    }
    extra = [] if ceiling is None else [bm.AgreementRow(SECOND_READER, ceiling)]
    bm.write_comparison_report(
        runs,
        report,
        title="ReasonKnee demo report",
        note=_PHANTOM_NOTE,
        intro=_intro(config, manifest),
        extra_rows=extra,
        sections=files,
        summary=summary,
        model_folders={row: path.stem for row, path in predictions.items()},
        n_boot=config.n_boot,
        seed=config.seed,
    )


def run_demo(config: DemoConfig, *, console: Console | None = None) -> DemoResult:
    """Run every stage on a phantom cohort and write ``config.out/report``."""
    import bench_metrics as bm

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
    specs = {m: m for m in (*REFERENCE_MODELS, *config.models)}  # row name -> model spec
    if config.specialist:
        t_spec = time.perf_counter()
        specs = {**specs, SPECIALIST: _train_specialist(config, dataset, console)}
        seconds["specialist training"] = time.perf_counter() - t_spec
    predictions = _run_baselines(config, dataset, specs, console)
    seconds["baselines"] = time.perf_counter() - t

    console.rule("[bold]3. ReasonKnee-Bench scores")
    t = time.perf_counter()
    runs, ceiling = _score_runs(config, dataset, predictions)
    seconds["scoring"] = time.perf_counter() - t

    console.rule("[bold]4. report")
    _write_demo_report(config, dataset, report, predictions, (runs, ceiling), seconds, t_all)
    headline = {row: bm.headline(s) for row, s in runs.items()}
    if ceiling is not None:
        row = bm.AgreementRow(SECOND_READER, ceiling)
        headline[SECOND_READER] = {**bm.headline(ceiling), "n_knees": row.n_knees}
    return DemoResult(config.out, dataset, report, predictions, headline, seconds)
