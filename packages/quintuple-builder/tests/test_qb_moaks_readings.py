"""The OAI MOAKS loader: codes, missing values, half steps, cartilage a.f, READPRJ priority."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from moaks_schema import ATTRIBUTES, READING_COLUMNS, default_variable_map
from quintuple_builder import (
    EXTRA_READING_COLUMNS,
    QuintupleBuilderError,
    find_moaks_files,
    load_moaks_readings,
    reader_pairs,
)
from quintuple_builder.moaks_readings import readprj_sort_key

HEADER = (
    "ID|SIDE|READPRJ|VERSION|V01MBMSFMC|V01MBMNFMC|V01MBMPFMC|V01MCMPM|V01MOSTM|V01MSYIC|V01MACLTR"
)

#: Two knees read twice (V00 table): same count -> READPRJ 22 < 63A wins; fewer grades -> 15 loses.
TWICE_READ = [
    "9000099|1: Right|63A|1|2|1|3|1.0|1|1|0",
    "9000099|1: Right|22|1|1|1|3|1.0|1|1|0",
    "9000100|2: Left|15|1|1|1| | | | | ",
    "9000100|2: Left|30|1|0|0|0|0.0|0|0|0",
]


def write(
    path: Path,
    rows: list[str],
    *,
    header: str = HEADER,
    newline: str = "\n",
    encoding: str = "utf-8",
) -> Path:
    path.write_bytes(newline.join([header, *rows, ""]).encode(encoding))
    return path


def grade(readings: pl.DataFrame, pid: str, attr: str) -> tuple[int | None, str | None, str | None]:
    row = readings.filter((pl.col("patient_id") == pid) & (pl.col("attribute") == attr)).row(
        0, named=True
    )
    return row["grade"], row["grade_note"], row["raw_value"]


def test_codes_missing_half_steps_and_cartilage(tmp_path: Path) -> None:
    f = write(
        tmp_path / "kMRI_SQ_MOAKS_BICL01.txt",
        [
            "9000099|1: Right|22|1.2|2: 2|1: 1| |2.1: 2.1|.: Missing Form/Incomplete Workbook|3: 3|1: Yes",
            "9000100|2: Left|15|1.2|1.5|-1|.A: Not Expected|3|0.5|x|0: No",
            "9000101|2: Left|15|1.2|4: 4|0: 0|0: 0|1.7|2.0|1: 1|0",
        ],
        newline="\r\n",
    )
    readings, conflicts, missing = load_moaks_readings(f)
    assert readings.columns == [*READING_COLUMNS, *EXTRA_READING_COLUMNS]
    assert readings.schema["grade"] == pl.Int64 and readings.schema["side"] == pl.Int64
    # every attribute for every knee, visit from the V01 prefix
    assert readings.height == 3 * len(ATTRIBUTES)
    assert set(readings["visit"]) == {"12M"}
    assert grade(readings, "9000099", "bml.FMC.size") == (2, None, "2: 2")
    assert grade(readings, "9000099", "bml.FMC.percent")[:2] == (None, "missing_code")
    assert grade(readings, "9000099", "cartilage.PM.size")[0] == 2
    assert grade(readings, "9000099", "cartilage.PM.depth")[0] == 1
    assert grade(readings, "9000099", "osteophyte.TM.grade")[:2] == (None, "missing_code")
    assert grade(readings, "9000099", "acl.complete_tear")[0] == 1
    assert grade(readings, "9000100", "bml.FMC.size") == (1, "half_step", "1.5")
    assert grade(readings, "9000100", "bml.FMC.number")[:2] == (None, "change_code")
    assert grade(readings, "9000100", "cartilage.PM.size")[0] == 3
    assert grade(readings, "9000100", "cartilage.PM.depth")[0] == 0
    assert grade(readings, "9000100", "osteophyte.TM.grade") == (0, "half_step", "0.5")
    assert grade(readings, "9000100", "hoffa.grade")[:2] == (None, "unparseable")
    assert grade(readings, "9000101", "bml.FMC.size")[:2] == (None, "out_of_range")
    assert grade(readings, "9000101", "cartilage.PM.depth")[:2] == (None, "out_of_range")
    assert grade(readings, "9000101", "osteophyte.TM.grade")[0] == 2
    # unmapped items are reported missing, never invented
    unmapped = set(default_variable_map().unmapped_attributes())
    assert unmapped
    got = readings.filter(pl.col("attribute").is_in(list(unmapped)))
    assert got["grade"].null_count() == got.height and set(got["grade_note"]) == {"unmapped"}
    assert grade(readings, "9000099", "bml.FLC.size")[:2] == (None, "column_absent")
    assert missing.height == readings["grade"].null_count()
    assert conflicts.height == 0
    assert readings["source"].to_list()[0] == "22"


def test_readprj_priority_and_conflicts(tmp_path: Path) -> None:
    f = write(
        tmp_path / "kMRI_SQ_MOAKS_BICL00.txt",
        TWICE_READ,
        header=HEADER.replace("V01", "V00"),
    )
    readings, conflicts, _ = load_moaks_readings([f])
    assert set(readings["visit"]) == {"00M"}
    assert grade(readings, "9000099", "bml.FMC.size")[0] == 1
    assert readings.filter(pl.col("patient_id") == "9000099")["source"].unique().to_list() == ["22"]
    assert readings.filter(pl.col("patient_id") == "9000100")["source"].unique().to_list() == ["30"]
    c = {r["patient_id"]: r for r in conflicts.iter_rows(named=True)}
    assert c["9000099"]["chosen_source"] == "22" and c["9000099"]["other_sources"] == ["63A"]
    assert c["9000099"]["n_disagreements"] == 1
    assert c["9000099"]["disagreeing_attributes"] == ["bml.FMC.size"]
    assert c["9000100"]["n_disagreements"] == 2 and c["9000100"]["n_rows"] == 2


def test_every_read_is_kept_and_paired_with_the_chosen_one(tmp_path: Path) -> None:
    f = write(
        tmp_path / "kMRI_SQ_MOAKS_BICL00.txt",
        [*TWICE_READ, "9000101|1: Right|22|1|0|0|0|0.0|0|0|0"],  # read once: no pair
        header=HEADER.replace("V01", "V00"),
    )
    loaded = load_moaks_readings([f])
    assert loaded.reads is not None
    assert (
        loaded.reads.filter(pl.col("rank") == 1)["source"].sort().to_list()
        == ["15"] * 8 + ["63A"] * 8  # 7 columns, cartilage a.f gives two grades
    )
    pairs = reader_pairs(loaded.reads)
    got = {
        (r["patient_id"], r["attribute"]): (
            r["grade_a"],
            r["source_a"],
            r["grade_b"],
            r["source_b"],
        )
        for r in pairs.iter_rows(named=True)
    }
    assert got[("9000099", "bml.FMC.size")] == (1, "22", 2, "63A")
    assert got[("9000099", "acl.complete_tear")] == (0, "22", 0, "63A")
    # a blank cell of the second read leaves that attribute unpaired
    assert {a for p, a in got if p == "9000100"} == {"bml.FMC.size", "bml.FMC.number"}
    assert got[("9000100", "bml.FMC.number")] == (0, "30", 1, "15")
    assert not any(p == "9000101" for p, _ in got)
    # the kept grade of each pair is the grade the readings table holds
    kept = loaded.readings.join(pairs, on=["patient_id", "visit", "side", "attribute"], how="inner")
    assert kept.height == pairs.height and (kept["grade"] == kept["grade_a"]).all()
    with pytest.raises(QuintupleBuilderError, match="rank"):
        reader_pairs(loaded.reads.drop("rank"))


def test_latin1_files_folder_and_codebook(tmp_path: Path) -> None:
    write(
        tmp_path / "kMRI_SQ_MOAKS_BICL00.txt",
        ["9000099|1: Right|22|é|2: 2|1: 1|1|1.0|1|1|0"],
        header=HEADER.replace("V01", "V00"),
        encoding="latin-1",
    )
    write(tmp_path / "kMRI_SQ_MOAKS_BICL01.txt", ["9000099|1: Right|22|1|3|1|1|1.0|1|1|0"])
    (tmp_path / "other.txt").write_text("not moaks")
    assert [p.name for p in find_moaks_files(tmp_path)] == [
        "kMRI_SQ_MOAKS_BICL00.txt",
        "kMRI_SQ_MOAKS_BICL01.txt",
    ]
    codebook = tmp_path / "codebook.csv"
    codebook.write_text("variable,attribute\nV00MPCLTR,pcl.complete_tear\n")
    # without the codebook PCL is unmapped; with it, the (absent) column is reported as such
    vmap = default_variable_map().with_codebook(codebook)
    readings, _, _ = load_moaks_readings(tmp_path, variable_map=vmap)
    assert sorted(set(readings["visit"])) == ["00M", "12M"]
    pcl = readings.filter(pl.col("attribute") == "pcl.complete_tear")
    assert set(pcl["grade_note"]) == {"column_absent"}


def test_bad_files(tmp_path: Path) -> None:
    with pytest.raises(QuintupleBuilderError, match="SIDE"):
        load_moaks_readings(write(tmp_path / "a_MOAKS.txt", ["9000099|1"], header="ID|READPRJ"))
    with pytest.raises(QuintupleBuilderError, match="knee side"):
        load_moaks_readings(write(tmp_path / "b_MOAKS.txt", ["9000099|3: Both|22|1|1|1|1|1|1|1|1"]))
    with pytest.raises(QuintupleBuilderError, match="no MOAKS variable"):
        load_moaks_readings(
            write(tmp_path / "c_MOAKS.txt", ["9000099|1|22"], header="ID|SIDE|READPRJ")
        )
    with pytest.raises(QuintupleBuilderError, match="folder not found"):
        find_moaks_files(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(QuintupleBuilderError, match="no MOAKS files"):
        find_moaks_files(tmp_path / "empty")


def test_readprj_natural_order() -> None:
    assert sorted(["63B", "100", "9", "63A", "22"], key=readprj_sort_key) == [
        "9",
        "22",
        "63A",
        "63B",
        "100",
    ]


_cell = st.one_of(
    st.sampled_from(
        [
            "",
            " ",
            ".: Missing Form/Incomplete Workbook",
            ".A: Not Expected",
            "0: 0",
            "1: Yes",
            "2.1",
            "3.3: 3.3",
            "1.5",
            "-0.5",
            "-1",
            "9",
            "0.25",
        ]
    ),
    st.text(alphabet="0123456789.-: abc", max_size=8),
)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(_cell, _cell, _cell), min_size=1, max_size=4))
def test_any_cell_gives_a_grade_in_space_or_a_reason(
    tmp_path_factory: pytest.TempPathFactory, rows: list[tuple[str, str, str]]
) -> None:
    d = tmp_path_factory.mktemp("fuzz")
    header = "ID|SIDE|READPRJ|V00MBMSFMC|V00MCMPM|V00MMTMA"
    lines = [
        f"{9000000 + i:07d}|1|22|{a}|{b}|{c}".replace("\n", " ") for i, (a, b, c) in enumerate(rows)
    ]
    readings, _, missing = load_moaks_readings(write(d / "x_MOAKS.txt", lines, header=header))
    sizes = {a.key: len(a.grades.meanings) for a in ATTRIBUTES}
    for r in readings.iter_rows(named=True):
        if r["grade"] is None:
            assert r["grade_note"] not in (None, "half_step")
        else:
            assert 0 <= r["grade"] < sizes[r["attribute"]]
    assert missing.height == readings["grade"].null_count()


GOOD = "9000099|1|22|1|1: x|1|1|2.1|1|1|0"


def test_damaged_tables_are_errors_naming_file_and_line(tmp_path: Path) -> None:
    bad_id = write(tmp_path / "id_MOAKS.txt", [GOOD, "abc|1|22|1|1|1|1|1|1|1|0"])
    with pytest.raises(
        QuintupleBuilderError, match=r"id_MOAKS\.txt, line 3: malformed row: ID 'abc'"
    ):
        load_moaks_readings(bad_id)
    short = write(tmp_path / "short_MOAKS.txt", [GOOD, "|".join(GOOD.split("|")[:5])])
    with pytest.raises(
        QuintupleBuilderError,
        match=r"short_MOAKS\.txt, line 3: malformed row: 5 fields, the header has 11",
    ):
        load_moaks_readings(short)
    middle = write(tmp_path / "side_MOAKS.txt", [GOOD.replace("|1|22", "|3: Middle|22")])
    with pytest.raises(
        QuintupleBuilderError, match=r"side_MOAKS\.txt, line 2: malformed row: SIDE"
    ):
        load_moaks_readings(middle)
    dup = write(tmp_path / "dup_MOAKS.txt", [GOOD + "|2"], header=HEADER + "|V01MACLTR")
    with pytest.raises(
        QuintupleBuilderError,
        match=r"line 1: column 'V01MACLTR' appears twice \(fields 11 and 12\)",
    ):
        load_moaks_readings(dup)


def test_damaged_files_are_named(tmp_path: Path) -> None:
    cases = {
        "empty": (b"", "empty MOAKS file"),
        "header": ((HEADER + "\n\n").encode(), "header only, no rows"),
        "binary": (b"\x00\x01\x02MOAKS\xff" * 20, "binary content"),
        "comma": (
            (HEADER.replace("|", ",") + "\n" + GOOD.replace("|", ",")).encode(),
            "separated by commas",
        ),
    }
    for name, (raw, message) in cases.items():
        path = tmp_path / f"{name}_MOAKS.txt"
        path.write_bytes(raw)
        with pytest.raises(QuintupleBuilderError, match=rf"{name}_MOAKS\.txt.*{message}"):
            load_moaks_readings(path)


def test_keep_going_lists_malformed_rows(tmp_path: Path) -> None:
    f = write(
        tmp_path / "k_MOAKS.txt",
        [GOOD, "abc|1|22|1|1|1|1|1|1|1|0", "9000100|2|22", GOOD.replace("9000099|1", "9000101|2")],
    )
    result = load_moaks_readings(f, keep_going=True)
    assert result.malformed.rows() == [
        ("k_MOAKS.txt", 3, "ID 'abc' is not a participant number (up to 7 digits)"),
        ("k_MOAKS.txt", 4, "3 fields, the header has 11"),
    ]
    assert sorted(set(result.readings["patient_id"])) == ["9000099", "9000101"]
    only_bad = write(tmp_path / "b_MOAKS.txt", ["abc|1|22|1|1|1|1|1|1|1|0"])
    with pytest.raises(QuintupleBuilderError, match="no whole row left: all 1 row"):
        load_moaks_readings(only_bad, keep_going=True)


def test_acl_codes_and_unknown_codes_per_variable(tmp_path: Path) -> None:
    f = write(
        tmp_path / "acl_MOAKS.txt",
        [
            GOOD.replace("|0", "|2: code two"),
            GOOD.replace("9000099", "9000100").replace("|0", "|3: ?"),
            GOOD.replace("9000099", "9000101").replace("|1|1|2.1", "|7|1|2.1"),
        ],
    )
    result = load_moaks_readings(f)
    assert grade(result.readings, "9000099", "acl.complete_tear")[:2] == (0, None)
    assert grade(result.readings, "9000100", "acl.complete_tear")[:2] == (None, "out_of_range")
    summary = result.missing_summary()
    row = summary.filter(
        (pl.col("attribute") == "acl.complete_tear") & (pl.col("reason") == "out_of_range")
    ).row(0, named=True)
    assert row["variable"] == "V01MACLTR" and row["values"] == ["3"] and row["len"] == 1
    bml = summary.filter(pl.col("variable") == "V01MBMNFMC").row(0, named=True)
    assert bml["reason"] == "out_of_range" and bml["values"] == ["7"]
    unmapped = summary.filter(pl.col("reason") == "unmapped")
    assert unmapped["variable"].null_count() == unmapped.height


def test_two_variables_for_one_attribute_keep_the_highest_grade(tmp_path: Path) -> None:
    from moaks_schema import OaiVariable

    vmap = default_variable_map().extended(
        [OaiVariable("MACLBML", "acl.bml_cyst"), OaiVariable("MACLCYS", "acl.bml_cyst")]
    )
    f = write(
        tmp_path / "bc_MOAKS.txt",
        ["9000099|1|22|1|0|1", "9000100|1|22|1|0|.: Missing", "9000101|1|22|1| |.: Missing"],
        header="ID|SIDE|READPRJ|VERSION|V00MACLBML|V00MACLCYS",
    )
    r = load_moaks_readings(f, variable_map=vmap).readings
    assert r.filter(pl.col("attribute") == "acl.bml_cyst").height == 3
    assert grade(r, "9000099", "acl.bml_cyst")[0] == 1
    assert grade(r, "9000100", "acl.bml_cyst")[:2] == (0, None)
    assert grade(r, "9000101", "acl.bml_cyst")[:2] == (None, "missing_code")
