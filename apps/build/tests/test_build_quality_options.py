"""The quality-gate options of `reasonknee build` are refused where they cannot apply."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner
from reasonknee_build.cli import build


def test_manual_maps_need_nnunet_labels(tmp_path: Path) -> None:
    res = CliRunner().invoke(
        build,
        ["--phantom", "2", "--manual-maps", str(tmp_path), "--out", str(tmp_path / "x")],
    )
    assert res.exit_code == 2
    assert "--manual-maps measures nnU-Net labels" in res.output
    assert not (tmp_path / "x").exists()


def test_help_states_the_threshold_and_the_option() -> None:
    res = CliRunner().invoke(build, ["--help"])
    assert res.exit_code == 0
    assert "--accept-low-quality" in res.output and "Dice 0.5" in res.output
