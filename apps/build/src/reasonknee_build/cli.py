"""``reasonknee build``: scans and MOAKS readings to a ReasonKnee dataset folder.

The command only parses options and calls
:func:`quintuple_builder.build_from_release` with a label provider (a folder of
maps, or :func:`knee_segmenter.pseudo_label_provider`); with ``--phantom`` it
first writes a phantom cohort (:func:`knee_phantom.write_cohort`) as the release.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click
from moaks_schema.app_errors import ProjectErrorsAsMessages

__all__ = ["build"]


class _Command(ProjectErrorsAsMessages, click.Command):
    """The build command: the project's errors end in a one-line message and exit 1."""


def _shape(value: str) -> tuple[int, int, int]:
    from knee_volumes import VolumeError, parse_size

    try:
        return parse_size(value, n=3, minimum=8)  # type: ignore[return-value]
    except VolumeError:
        raise click.BadParameter(
            f"{value!r}: expected three sizes >= 8, e.g. 32,64,64", param_hint="--shape"
        ) from None


def _visits(value: str) -> tuple[str, ...]:
    from moaks_schema import MoaksSchemaError, visit

    try:
        return tuple(visit(v.strip()).label for v in value.split(",") if v.strip())
    except MoaksSchemaError as exc:
        raise click.BadParameter(str(exc), param_hint="--visits") from None


def _check_moaks(moaks: tuple[Path, ...], codebook: Path | None) -> None:
    """Print what the MOAKS files provide (quintuple_builder.check_moaks); exit 1 on a damaged file."""
    from moaks_schema import MoaksSchemaError, default_variable_map
    from quintuple_builder import QuintupleBuilderError, check_moaks

    if not moaks:
        raise click.UsageError(
            "--check-moaks needs --moaks (file or folder of kMRI_SQ_MOAKS_BICL*.txt)"
        )
    try:
        vmap = default_variable_map()
        if codebook is not None:
            vmap = vmap.with_codebook(codebook)
        click.echo(check_moaks(list(moaks), variable_map=vmap).summary())
    except (QuintupleBuilderError, MoaksSchemaError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)


def _question_ids(value: str | None) -> list[int] | None:
    from moaks_schema import MoaksSchemaError, parse_question_ids

    try:
        return list(parse_question_ids(value)) if value else None
    except MoaksSchemaError as exc:
        raise click.BadParameter(str(exc), param_hint="--questions") from None


@click.command(cls=_Command, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--phantom",
    "phantom",
    type=click.IntRange(min=1),
    default=None,
    metavar="N",
    help="Write a phantom cohort of N patients (DICOM in the OAI layout) and build from it.",
)
@click.option(
    "--oai-root",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="OAI image release root (folders 0.C.2, 1.C.2, ... with contents.csv).",
)
@click.option(
    "--moaks",
    "moaks",
    type=click.Path(exists=True, path_type=Path),
    multiple=True,
    help="MOAKS file or folder (kMRI_SQ_MOAKS_BICL*.txt); repeatable.",
)
@click.option(
    "--codebook",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="CSV variable,attribute[,decoder] adding OAI variable names to the default map.",
)
@click.option(
    "--labels",
    "labels",
    default=None,
    metavar="manual:DIR|nnunet:MODEL_DIR|phantom",
    help="Where label maps come from (default with --phantom: phantom).",
)
@click.option(
    "--out",
    "out",
    type=click.Path(path_type=Path),
    default=None,
    help="Dataset folder to write (required unless --check-moaks).",
)
@click.option(
    "--work",
    type=click.Path(path_type=Path),
    default=None,
    help="Working folder (phantom cohort, converted volumes, predictions); default OUT.work.",
)
@click.option(
    "--executor",
    type=click.Choice(["local", "ray"]),
    default="local",
    show_default=True,
    help="Run per-scan work in process or as Ray tasks (RAY_ADDRESS or a local instance).",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Processes for --executor local.",
)
@click.option("--keep-going", is_flag=True, help="Write the dataset without the scans that failed.")
@click.option(
    "--seed", type=int, default=0, show_default=True, help="Seed (phantom, reasoning wording)."
)
@click.option(
    "--shape", "shape", default="32,64,64", show_default=True, help="Phantom volume size S,R,C."
)
@click.option("--visits", default="00M", show_default=True, help="Phantom visits, comma-separated.")
@click.option(
    "--questions", default=None, help="Subset of question ids, e.g. 1-15,42 (default all 69)."
)
@click.option("--device", default="auto", show_default=True, help="Device for nnU-Net prediction.")
@click.option(
    "--mirroring/--no-mirroring",
    default=True,
    show_default=True,
    help="nnU-Net test-time mirroring (several times slower, slightly better).",
)
@click.option(
    "--check-moaks",
    is_flag=True,
    help="Only read the --moaks files and report what they provide for the catalogue; no scan "
    "is touched and nothing is written.",
)
@click.option(
    "--public-root",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Absolute folder the public/ CSV and JSON paths start with (default: OUT's absolute path).",
)
@click.option(
    "--manual-maps",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="Manual label maps (<scan_id>.nii.gz) to measure nnU-Net labels on, where the model was not "
    "trained on them (default with --phantom: the cohort's manual maps).",
)
@click.option(
    "--accept-low-quality",
    is_flag=True,
    help="Build even when pseudo-labels of some regions score below Dice 0.5 on held-out manual "
    "maps; their boxes are marked nnunet:low_quality (docs/segmentation.md).",
)
@click.option("--overwrite", is_flag=True, help="Replace OUT if it exists.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
def build(
    phantom: int | None,
    oai_root: Path | None,
    moaks: tuple[Path, ...],
    codebook: Path | None,
    labels: str | None,
    out: Path,
    work: Path | None,
    executor: str,
    workers: int,
    keep_going: bool,
    seed: int,
    shape: str,
    visits: str,
    questions: str | None,
    device: str,
    mirroring: bool,
    check_moaks: bool,
    public_root: Path | None,
    manual_maps: Path | None,
    accept_low_quality: bool,
    overwrite: bool,
    quiet: bool,
) -> None:
    """Build a ReasonKnee dataset from scans and MOAKS readings.

    \b
    Examples:
      reasonknee build --phantom 8 --out runs/dataset
      reasonknee build --oai-root /data/OAI --moaks /data/MOAKS \\
          --labels nnunet:runs/segmenter --out runs/dataset --executor ray
      reasonknee build --check-moaks --moaks /data/MOAKS --codebook my_codebook.csv
    """
    from rich.console import Console

    console = Console(stderr=True, quiet=False)
    if check_moaks:
        _check_moaks(moaks, codebook)
        return
    if out is None:
        raise click.UsageError("Missing option '--out'.")
    kind, where = _check_sources(phantom, oai_root, moaks, labels)
    if manual_maps is not None and kind != "nnunet":
        raise click.UsageError(
            "--manual-maps measures nnU-Net labels: it needs --labels nnunet:MODEL"
        )
    shape_, visits_ = _shape(shape), _visits(visits)  # usage errors before any work
    work = work or out.with_name(out.name + ".work")
    result = _run(
        console,
        phantom=phantom,
        oai_root=oai_root,
        moaks=moaks,
        codebook=codebook,
        kind=kind,
        where=where,
        out=out,
        work=work,
        executor=executor,
        workers=workers,
        keep_going=keep_going,
        seed=seed,
        shape=shape_,
        visits=visits_,
        question_ids=_question_ids(questions),
        device=device,
        mirroring=mirroring,
        public_root=public_root,
        manual_maps=manual_maps,
        accept_low_quality=accept_low_quality,
        overwrite=overwrite,
        progress=not quiet,
    )
    sys.exit(0 if result else 1)


def _check_sources(
    phantom: int | None, oai_root: Path | None, moaks: tuple[Path, ...], labels: str | None
) -> tuple[str, str]:
    """The label kind and its place, after the option combinations are checked."""
    if (phantom is None) == (oai_root is None):
        raise click.UsageError("give exactly one of --phantom N or --oai-root DIR")
    if oai_root is not None and not moaks:
        raise click.UsageError(
            "--oai-root needs --moaks (file or folder of kMRI_SQ_MOAKS_BICL*.txt)"
        )
    if phantom is not None and moaks:
        raise click.UsageError("--moaks is read from the phantom cohort with --phantom")
    if labels is None:
        if phantom is None:
            raise click.UsageError(
                "--labels is required with --oai-root: manual:DIR or nnunet:MODEL_DIR"
            )
        labels = "phantom"
    kind, _, where = labels.partition(":")
    if kind not in ("manual", "nnunet", "phantom") or (kind != "phantom" and not where):
        raise click.BadParameter(
            f"{labels!r}: expected manual:DIR, nnunet:MODEL_DIR or phantom", param_hint="--labels"
        )
    if kind == "phantom" and phantom is None:
        raise click.BadParameter("phantom labels need --phantom N", param_hint="--labels")
    return kind, where


def _release(console, *, phantom, oai_root, moaks, codebook, where, work, seed, shape, visits,
             progress):  # fmt: skip
    """The release to build from (a phantom cohort written first with --phantom) and its label folder."""
    from quintuple_builder import ReleaseInputs

    if phantom is None:
        return ReleaseInputs(oai_root=oai_root, moaks=moaks, codebook=codebook), Path(where)
    from knee_phantom import write_cohort

    console.print(f"writing a phantom cohort of {phantom} patients to {work / 'phantom'}")
    layout = write_cohort(work / "phantom", n_patients=phantom, visits=visits, sides=(1, 2),
                          seed=seed, shape=shape, dicom=True, progress=progress,
                          overwrite=True)  # fmt: skip
    return layout.release(), layout.labels_dir


def _run(console, *, phantom, oai_root, moaks, codebook, kind, where, out, work, executor, workers,
         keep_going, seed, shape, visits, question_ids, device, mirroring, public_root,
         manual_maps, accept_low_quality, overwrite, progress) -> bool:  # fmt: skip
    """One library call (after the phantom cohort, when asked); False when the build failed."""
    from quintuple_builder import build_from_release, labels_from_folder

    from reasonknee_build.report import print_build

    release, label_dir = _release(console, phantom=phantom, oai_root=oai_root, moaks=moaks,
                                  codebook=codebook, where=where, work=work, seed=seed,
                                  shape=shape, visits=visits, progress=progress)  # fmt: skip
    quality = None
    if kind == "nnunet":
        from knee_segmenter import pseudo_label_provider, pseudo_label_quality

        provider = pseudo_label_provider(work=work, model_dir=where, device=device,
                                         mirroring=mirroring, progress=progress)  # fmt: skip
        if manual_maps is None and phantom is not None:
            manual_maps = work / "phantom" / "manual"
        quality = pseudo_label_quality(manual_maps, model_dir=where)
    else:
        provider = labels_from_folder(label_dir)
    result = build_from_release(release, out, labels=provider, label_source=kind, seed=seed,
                                executor=executor, workers=workers, question_ids=question_ids,
                                keep_going=keep_going, overwrite=overwrite, progress=progress,
                                notify=console.print, public_root=public_root, quality=quality,
                                accept_low_quality=accept_low_quality,
                                extra_manifest={"phantom_patients": phantom})  # fmt: skip
    print_build(console, result)
    return result.ok
