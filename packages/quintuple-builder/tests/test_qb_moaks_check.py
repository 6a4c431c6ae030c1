"""check_moaks on the phantom's MOAKS files and on a hand-damaged copy."""

from __future__ import annotations

import shutil
from pathlib import Path

import polars as pl
import pytest
from moaks_schema import ATTRIBUTES, default_variable_map
from quintuple_builder import QuintupleBuilderError, check_moaks


@pytest.fixture(scope="module")
def phantom_moaks(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    from knee_phantom import write_cohort

    root = tmp_path_factory.mktemp("moaks_check")
    layout = write_cohort(
        root / "c",
        n_patients=3,
        visits=("00M", "12M"),
        shape=(16, 32, 32),
        n_manual=0,
        progress=False,
    )
    return layout.moaks_dir, layout.codebook_path


def test_check_on_the_phantom_files(phantom_moaks: tuple[Path, Path]) -> None:
    folder, codebook = phantom_moaks
    plain = check_moaks(folder)
    lacking = dict(zip(plain.lacking["attribute"], plain.lacking["reason"], strict=True))
    assert set(lacking.values()) <= {"unmapped", "column_absent"}
    assert lacking["pcl.complete_tear"] == "unmapped"
    assert len(plain.provided) + len(lacking) == len(ATTRIBUTES)
    assert all(c[3:].startswith("PH") for c in plain.unused_columns)  # the phantom's own names
    assert plain.per_visit["visit"].to_list() == ["00M", "12M"]
    assert (plain.per_visit["knee_visits"] == 6).all()
    assert (plain.per_visit["reads"] >= plain.per_visit["knee_visits"]).all()
    mapped = check_moaks(folder, variable_map=default_variable_map().with_codebook(codebook))
    assert mapped.provided == tuple(a.key for a in ATTRIBUTES) and mapped.lacking.height == 0
    assert mapped.unused_columns == () and mapped.unknown_codes.height == 0
    text = mapped.summary()
    assert f"provided: {len(ATTRIBUTES)} of {len(ATTRIBUTES)}" in text
    assert "visit 00M: 6 knee-visits" in text


def test_check_on_a_hand_damaged_copy(phantom_moaks: tuple[Path, Path], tmp_path: Path) -> None:
    folder, codebook = phantom_moaks
    copy = tmp_path / "moaks"
    shutil.copytree(folder, copy)
    path = copy / "kMRI_SQ_MOAKS_BICL00.txt"
    lines = path.read_bytes().decode("utf-8").split("\r\n")
    header = lines[0].split("|")
    col = header.index("V00MBMSFMC")
    row = lines[1].split("|")
    row[col] = "9: not a grade"
    lines[1] = "|".join(row)
    lines[2] = "|".join(lines[2].split("|")[:20])  # a row cut short
    lines[3] = "abc|" + lines[3].split("|", 1)[1]  # a garbage ID
    header[header.index("V00MEFFWK")] = "V00MXYZ"  # a column renamed: effusion absent, XYZ unused
    lines[0] = "|".join(header)
    path.write_bytes("\r\n".join(lines).encode("utf-8"))
    check = check_moaks(copy, variable_map=default_variable_map().with_codebook(codebook))
    assert "V00MXYZ" in check.unused_columns
    assert "effusion.grade" in check.provided  # the 12M file still has V01MEFFWK
    codes = check.unknown_codes.filter(pl.col("variable") == "V00MBMSFMC").row(0, named=True)
    assert codes["values"] == ["9"] and codes["reason"] == "out_of_range"
    assert check.malformed["line"].to_list() == [3, 4]
    text = check.summary()
    assert "codes not in the codebook: V00MBMSFMC" in text and "malformed rows: 2" in text
    assert "unused columns" in text and "V00MXYZ" in text
    with pytest.raises(QuintupleBuilderError, match=r"line 3: malformed row"):
        from quintuple_builder import load_moaks_readings

        load_moaks_readings(copy)
