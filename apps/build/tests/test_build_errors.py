"""`reasonknee build` on a corpus of broken inputs: a one-line message naming the file or option,
exit 2 for usage and 1 for failure, never a traceback."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner
from reasonknee_build.cli import build

MOAKS = "kMRI_SQ_MOAKS_BICL00.txt"
HEADER = "ID|SIDE|READPRJ|VERSION|V00MBMSFMC"


@pytest.fixture(scope="module")
def release(tmp_path_factory: pytest.TempPathFactory):
    """A one-patient phantom release in the OAI layout (DICOM, MOAKS, codebook)."""
    from knee_phantom import write_cohort

    return write_cohort(
        tmp_path_factory.mktemp("release") / "cohort",
        n_patients=1,
        visits=("00M",),
        sides=(1, 2),
        seed=0,
        shape=(16, 32, 32),
        dicom=True,
        progress=False,
    )


def _moaks(text: str | bytes) -> Callable[[Path, object], list[str]]:
    """Arguments building from an empty release with one MOAKS file holding ``text``."""

    def args(tmp: Path, _release) -> list[str]:
        (tmp / "oai").mkdir()
        (tmp / "moaks").mkdir()
        f = tmp / "moaks" / MOAKS
        f.write_bytes(text if isinstance(text, bytes) else text.encode())
        return ["--oai-root", str(tmp / "oai"), "--moaks", str(f), "--labels", f"manual:{tmp}"]

    return args


def _empty_oai(tmp: Path, release) -> list[str]:
    (tmp / "oai").mkdir()
    return ["--oai-root", str(tmp / "oai"), "--moaks", str(release.moaks_dir),
            "--codebook", str(release.codebook_path), "--labels", f"manual:{tmp}"]  # fmt: skip


def _empty_moaks_folder(tmp: Path, release) -> list[str]:
    (tmp / "moaks").mkdir()
    return ["--oai-root", str(release.oai_dir), "--moaks", str(tmp / "moaks"),
            "--labels", f"manual:{tmp}"]  # fmt: skip


def _every_scan_failing(tmp: Path, release) -> list[str]:
    labels = tmp / ("a-label-folder-with-a-long-name-" * 3)
    labels.mkdir()
    return ["--oai-root", str(release.oai_dir), "--moaks", str(release.moaks_dir),
            "--codebook", str(release.codebook_path), "--labels", f"manual:{labels}"]  # fmt: skip


def _phantom(*extra: str) -> Callable[[Path, object], list[str]]:
    return lambda tmp, _release: ["--phantom", "2", *extra]


CASES = [
    pytest.param(_empty_oai, 1, ["oai", "no OAI release folders"], id="empty-oai-root"),
    pytest.param(_empty_moaks_folder, 1, ["moaks", "no MOAKS files"], id="empty-moaks-folder"),
    pytest.param(
        _moaks("SIDE|READPRJ|VERSION|V00MBMSFMC\n1: Right|22|1|1\n"),
        1,
        [MOAKS, "'ID'"],
        id="moaks-without-ID",
    ),
    pytest.param(
        _moaks("ID|READPRJ|VERSION|V00MBMSFMC\n9000011|22|1|1\n"),
        1,
        [MOAKS, "'SIDE'"],
        id="moaks-without-SIDE",
    ),
    pytest.param(
        _moaks(f"{HEADER}\n9000011|3: Middle|22|1|1\n"),
        1,
        [MOAKS, "3: Middle"],
        id="moaks-middle-side",
    ),
    pytest.param(_moaks(""), 1, [MOAKS, "empty"], id="moaks-empty"),
    pytest.param(_moaks(f"{HEADER}\n"), 1, [MOAKS], id="moaks-header-only"),
    pytest.param(_moaks(bytes(range(256)) * 8), 1, [MOAKS], id="moaks-binary"),
    pytest.param(
        _moaks(HEADER.replace("|", ",") + "\n9000011,1: Right,22,1,1\n"),
        1,
        [MOAKS],
        id="moaks-comma-separated",
    ),
    pytest.param(
        _every_scan_failing,
        1,
        [
            "2 failed scan(s)",
            "a-label-folder-with-a-long-name-" * 3,
            "ds.failures.csv",
            "nothing written",
        ],
        id="every-scan-failing",
    ),
    pytest.param(_phantom("--visits", "99M"), 2, ["--visits", "99M"], id="phantom-visit-99M"),
    pytest.param(_phantom("--shape", "4,4,4"), 2, ["--shape", "4,4,4"], id="shape-too-small"),
    pytest.param(_phantom("--labels", "atlas:x"), 2, ["--labels", "atlas:x"], id="labels-kind"),
    pytest.param(_phantom("--questions", "70"), 2, ["--questions", "70"], id="question-70"),
]


@pytest.mark.parametrize(("make_args", "code", "words"), CASES)
def test_broken_input_gives_one_message_and_an_exit_code(
    release, tmp_path: Path, make_args, code: int, words: list[str]
) -> None:
    args = [*make_args(tmp_path, release), "--out", str(tmp_path / "ds"), "--quiet"]
    res = CliRunner().invoke(build, args)
    output = res.output
    assert res.exit_code == code, output
    assert res.exception is None or isinstance(res.exception, SystemExit), repr(res.exception)
    assert "Traceback" not in output
    for word in words:
        assert word in output, output
    errors = [line for line in output.splitlines() if line.startswith("Error")]
    if code == 1 and "failed scan" not in output:
        assert len(errors) == 1 and all(w in errors[0] for w in words), output
    assert not (tmp_path / "ds").exists()
