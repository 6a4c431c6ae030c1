"""`reasonknee demo --train-segmenter`: the schedule is epochs x iterations and a seed; a clock stop
only when asked for."""

from __future__ import annotations

from click.testing import CliRunner
from reasonknee.cli import main
from reasonknee.demo_pipeline import DemoConfig


def test_schedule_options() -> None:
    res = CliRunner().invoke(main, ["demo", "--help"])
    assert res.exit_code == 0
    assert "--segmenter-epochs" in res.output and "--segmenter-iterations" in res.output
    assert "--max-seconds" in res.output and "--segmenter-seconds" not in res.output
    config = DemoConfig()
    assert config.segmenter_max_seconds is None  # bounded by iterations unless asked
    assert 0 < config.held_out_manual < config.manual_maps


def test_max_seconds_must_be_positive(tmp_path) -> None:
    res = CliRunner().invoke(main, ["demo", "--out", str(tmp_path / "d"), "--max-seconds", "0"])
    assert res.exit_code == 2 and not (tmp_path / "d").exists()
