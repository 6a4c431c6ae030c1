"""The umbrella ``reasonknee`` command.

Subcommands are registered by import path and imported only when invoked, so
``reasonknee --help`` never imports torch. Adding a command is one line in
``COMMANDS``.
"""

from __future__ import annotations

import importlib

import click
from moaks_schema.app_errors import ProjectErrorsAsMessages

from reasonknee import __version__

__all__ = ["COMMANDS", "main"]

#: name -> (``module:attribute`` of a click command, one-line help).
COMMANDS: dict[str, tuple[str, str]] = {
    "schema": ("reasonknee.schema_cmd:schema", "Print the MOAKS question catalogue."),
    "build": (
        "reasonknee_build.cli:build",
        "Build a ReasonKnee dataset from scans and MOAKS readings.",
    ),
    "train": ("reasonknee_train.cli:train", "Train the segmenter or fine-tune a VLM (LoRA)."),
    "baseline": (
        "reasonknee_baseline.cli:baseline",
        "Run a model or reference baseline on a dataset split.",
    ),
    "score": (
        "reasonknee_score.cli:score",
        "Score predictions against a dataset (ReasonKnee-Bench).",
    ),
    "demo": ("reasonknee.demo:demo", "Run the whole pipeline on a phantom cohort."),
}


class LazyGroup(ProjectErrorsAsMessages, click.Group):
    """A click group whose subcommands are imported on first use.

    Every subcommand's project errors end in a one-line message and exit 1.
    """

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        target, short = COMMANDS[cmd_name]
        module_name, attr = target.split(":")
        module = importlib.import_module(module_name)
        cmd = getattr(module, attr)
        cmd.short_help = cmd.short_help or short
        return cmd

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Listing uses the static help so that `--help` imports no subcommand module.
        with formatter.section("Commands"):
            formatter.write_dl([(name, short) for name, (_, short) in COMMANDS.items()])


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="reasonknee")
def main() -> None:
    """ReasonKnee: 3D grounded clinical reasoning on knee MRI.

    Build the dataset, run baselines, fine-tune VLMs and score them on
    ReasonKnee-Bench. `reasonknee demo` runs everything on a phantom cohort.
    """
