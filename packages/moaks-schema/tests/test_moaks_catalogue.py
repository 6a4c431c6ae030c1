"""The catalogue's totals, public spellings and lookups are pinned here."""

from __future__ import annotations

import collections
import json
import subprocess
import sys

import moaks_schema as ms
import pytest


def test_totals() -> None:
    assert len(ms.QUESTIONS) == 69
    assert len(ms.ATTRIBUTES) == 118
    assert len(ms.REGIONS) == 25
    assert [q.id for q in ms.QUESTIONS] == list(range(1, 70))
    per_cat = collections.Counter(ms.question(a.question_id).category for a in ms.ATTRIBUTES)
    assert per_cat == {
        ms.Category.BML: 45,
        ms.Category.CARTILAGE: 28,
        ms.Category.OSTEOPHYTES: 12,
        ms.Category.MENISCI: 18,
        ms.Category.LIGAMENTS_TENDONS: 6,
        ms.Category.SYNOVITIS_EFFUSION: 2,
        ms.Category.PERIARTICULAR: 7,
    }


@pytest.mark.parametrize(
    ("ids", "category"),
    [
        (range(1, 16), ms.Category.BML),
        (range(16, 30), ms.Category.CARTILAGE),
        (range(30, 42), ms.Category.OSTEOPHYTES),
        (range(44, 60), ms.Category.MENISCI),
        (range(60, 63), ms.Category.LIGAMENTS_TENDONS),
        (range(42, 44), ms.Category.SYNOVITIS_EFFUSION),
        (range(63, 70), ms.Category.PERIARTICULAR),
    ],
)
def test_category_ranges(ids: range, category: ms.Category) -> None:
    assert {ms.question(i).category for i in ids} == {category}


def test_columns_view() -> None:
    cols = collections.Counter(q.column for q in ms.QUESTIONS)
    assert cols[ms.Column.OTHERS] == 3 + 2 + 7
    assert ms.question(42).column is ms.Column.OTHERS
    assert ms.question(50).column is ms.Column.MENISCUS


def test_public_spellings() -> None:
    assert ms.question(3).answer_key == "femur medial trochlea BML"
    assert ms.question(15).answer_key == "tibia subspinous BML"
    assert [a.name for a in ms.question(15).attributes] == [
        "Size of BML (including cyst)",
        "Number of BML within subregion",
        "% of lesion that is BML (excluding cyst)",
    ]
    assert ms.question(16).answer_key == "patella medial cartilage lesion"
    assert [a.name for a in ms.question(29).attributes] == ["Size of lesion", "Depth of lesion"]
    assert ms.question(30).answer_key == "patella superior osteophyte"
    assert ms.question(34).answer_key == "femur medial anterior osteophyte"
    assert ms.question(41).answer_key == "tibia lateral osteophyte"
    assert ms.question(42).answer_key == "Hoffa-Synovitis"
    assert ms.question(43).answer_key == "effusion-synovitis"
    assert [ms.question(i).answer_key for i in range(44, 48)] == [
        "medial meniscus anterior extrusion",
        "medial meniscus medial extrusion",
        "lateral meniscus anterior extrusion",
        "lateral meniscus lateral extrusion",
    ]
    assert ms.question(48).answer_key == "medial meniscus anterior morphology"
    assert ms.question(48).attributes[0].name == "morphology"
    assert ms.question(54).answer_key == "medial_meniscal_cyst"
    assert [a.name for a in ms.question(54).attributes] == ["presence", "tear_location"]
    assert ms.question(59).answer_key == "lateral_meniscal_root_tear"
    assert [a.name for a in ms.question(60).attributes] == [
        "Complete Tear",
        "Associated with BML/cyst at site of insertion or origin",
        "ACL Repair",
    ]
    assert ms.question(62).answer_key == "Patellar_Tendon"
    assert ms.question(62).attributes[0].name == "Signal Abnormality"
    assert ms.question(63).answer_key == "pes_anserine_bursitis_presence"
    assert ms.question(69).answer_key == "loose_bodies_presence"


def test_answer_shapes() -> None:
    assert ms.question(44).answer_object({"extrusion.MMA.grade": 1}) == {
        "MOAKS_scores": {"medial meniscus anterior extrusion": 1}
    }
    assert ms.question(46).answer_object({"extrusion.LMA.grade": 3}) == {
        "MOAKS_scores": {"lateral meniscus anterior extrusion": {"grade": 3}}
    }
    with pytest.raises(ms.MoaksSchemaError, match="no grade given"):
        ms.question(4).answer_object({"bml.FMC.size": 1})


def test_box_regions() -> None:
    assert ms.question(30).box_regions == ("PM", "PL")  # patella superior: whole patella
    assert ms.question(32).box_regions == ("PM",)
    assert ms.question(40).box_regions == ("TMA", "TMC", "TMP")
    assert ms.question(45).box_regions == ("MMB",)
    assert ms.question(54).box_regions == ("MMA", "MMB", "MMP")
    assert ms.question(58).box_regions == ("MMP",)
    assert ms.question(43).box_regions == ()
    assert all(not ms.question(i).has_box for i in range(63, 70))
    for q in ms.QUESTIONS:
        for code in q.box_regions:
            ms.region(code)  # every code is a labelled region


def test_regions_and_labels() -> None:
    assert [r.label for r in ms.REGIONS] == list(range(1, 26))
    assert ms.region("SS").label == 15
    assert ms.region_by_label(25).code == "HFP"
    assert ms.region("TLP").structure is ms.Structure.TIBIA
    with pytest.raises(ms.MoaksSchemaError, match="unknown region code"):
        ms.region("XYZ")


def test_lookups_both_ways() -> None:
    q = ms.question("4")
    assert q.site == "FMC" and q.feature is ms.Feature.BML
    assert ms.questions_for(feature="cartilage", region_code="FMC") == (ms.question(19),)
    assert {x.id for x in ms.questions_for(region_code="MMP")} == {50, 54, 56, 58}
    assert ms.attribute("cartilage.FMC.depth").question_id == 19
    with pytest.raises(ms.MoaksSchemaError, match="out of range"):
        ms.question(70)
    with pytest.raises(ms.MoaksSchemaError):
        ms.attribute("nope")


def test_grade_validation() -> None:
    assert ms.is_valid_grade("bml.FMC.size", 3)
    assert not ms.is_valid_grade("bml.FMC.size", 4)
    assert not ms.is_valid_grade("bml.FMC.size", -1)
    assert not ms.is_valid_grade("bml.FMC.size", 1.0)
    assert not ms.is_valid_grade("bml.FMC.size", True)
    assert ms.is_valid_grade("morphology.MMA.code", 8)
    assert not ms.is_valid_grade("acl.complete_tear", 2)
    for a in ms.ATTRIBUTES:
        assert a.grades.meanings and all(a.grades.meaning(g) for g in a.grades.values)


def test_oai_variable_map() -> None:
    m = ms.default_variable_map()
    assert [v.attribute for v in m.variables_for_column("V00MBMSFMC")] == ["bml.FMC.size"]
    assert [v.attribute for v in m.variables_for_column("V06MBMNSS")] == ["bml.SS.number"]
    cart = m.variables_for_column("V01MCMTLA")
    assert [(v.attribute, v.decoder) for v in cart] == [
        ("cartilage.TLA.size", ms.Decoder.CARTILAGE_SIZE),
        ("cartilage.TLA.depth", ms.Decoder.CARTILAGE_DEPTH),
    ]
    assert m.variables_for_column("ID") == ()
    assert m.column_for("hoffa.grade", "24M") == "V03MSYIC"
    assert m.column_for("effusion.grade", "00M") == "V00MEFFWK"
    assert m.column_for("morphology.LMP.code", "12M") == "V01MMTLP"
    assert m.column_for("extrusion.LML.grade", "00M") == "V00MMXLL"
    assert m.column_for("periarticular.popliteal_cyst.presence", "00M") == "V00MPOPCYS"
    assert m.column_for("pcl.complete_tear", "00M") is None
    unmapped = set(m.unmapped_attributes())
    assert "pcl.complete_tear" in unmapped and "acl.complete_tear" not in unmapped
    assert len(unmapped) == 17
    by = {(e.stem, e.attribute): e for e in m.entries}
    assert (
        by[("MBMNSS", "bml.SS.number")].confirmed and not by[("MBMPSS", "bml.SS.percent")].confirmed
    )
    assert by[("MOSFLP", "osteophyte.FLP.grade")].confirmed
    assert not by[("MOSTM", "osteophyte.TM.grade")].confirmed
    assert by[("MACLTR", "acl.complete_tear")].codes == ((0, 0), (1, 1), (2, 0))
    assert all(e.source == (ms.CONFIRMED_IN if e.confirmed else ms.ASSUMED) for e in m.entries)


def test_codebook_extension(tmp_path) -> None:
    book = tmp_path / "codebook.csv"
    book.write_text(
        "variable,attribute,decoder,codes\nV00MPCLTR,pcl.complete_tear,plain,\n"
        "V00MACLTR,acl.complete_tear,plain,0->0 1->0 2->1\n"
    )
    m = ms.default_variable_map().with_codebook(book)
    assert m.column_for("pcl.complete_tear", "12M") == "V01MPCLTR"
    assert m.variables_for_column("V00MACLTR")[-1].codes == ((0, 0), (1, 0), (2, 1))
    assert m.variables_for_column("V01MPCLTR")[0].confirmed is False
    bad = tmp_path / "bad.csv"
    bad.write_text("variable,attribute\nV00X,not.an.attribute\n")
    with pytest.raises(ms.MoaksSchemaError, match=r"bad\.csv, row 2"):
        ms.default_variable_map().with_codebook(bad)
    extended = ms.default_variable_map().extended([ms.OaiVariable("XPT", "patellar_tendon.signal")])
    assert extended.stems_for("patellar_tendon.signal") == ("XPT",)


def test_visits_and_sides() -> None:
    assert ms.visit("V03").label == "24M"
    assert ms.visit("1.E.1").label == "12M"
    assert ms.visit(48).prefix == "V06"
    assert ms.side_code("1: Right") == 1 and ms.side_code(2) == 2 and ms.side_code("left") == 2
    assert ms.split_prefix("V01MBMSFMC") == ("V01", "MBMSFMC")
    assert ms.split_prefix("READPRJ") == (None, "READPRJ")
    with pytest.raises(ms.MoaksSchemaError):
        ms.side_code("3: Both")


def test_catalogue_is_json_serialisable() -> None:
    rows = ms.catalogue()
    assert len(json.loads(json.dumps(rows))) == 69


def test_imports_only_the_standard_library() -> None:
    code = (
        "import sys; before = set(sys.modules); import moaks_schema; "
        "new = {m.split('.')[0] for m in set(sys.modules) - before}; "
        "bad = sorted(n for n in new if n not in sys.stdlib_module_names and n != 'moaks_schema'); "
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


@pytest.mark.parametrize(
    "module", ["regions", "grades", "questions", "oai", "settings", "__init__"]
)
def test_doctests(module: str) -> None:
    import doctest
    import importlib

    mod = importlib.import_module(
        "moaks_schema" if module == "__init__" else f"moaks_schema.{module}"
    )
    result = doctest.testmod(mod)
    assert result.failed == 0 and result.attempted > 0
