"""A small example computed by hand pins every number the scorer reports.

Three patients (one knee each), questions 30 (osteophyte PS, box Patella),
42 (Hoffa, box Synovitis), 61 (PCL, two attributes, no true box), 62
(patellar tendon, box; the model saw a 2x downsampled view), 63 (pes anserine,
never boxed) and 43 (effusion, a missing reading: not scored).
"""

from __future__ import annotations

import json
import math

import moaks_schema as ms
import numpy as np
import polars as pl
import pytest
from bench_metrics import (
    OVERALL_MACRO,
    OVERALL_MICRO,
    compare_runs,
    majority_grades,
    patient_weights,
    score_predictions,
    truth_from_rows,
)

P = ["9000001", "9000002", "9000003"]
S = [f"{p}_00M_1" for p in P]
TBOX = [0, 9, 0, 9, 0, 9]  # 1000 voxels
VIEW = {
    "source_shape": [20, 20, 20],
    "view_shape": [10, 10, 10],
    "offset": [0.0, 0.0, 0.0],
    "scale": [2.0, 2.0, 2.0],
}

TRUTH = {  # question -> per patient grades
    30: [{"osteophyte.PS.grade": 2}, {"osteophyte.PS.grade": 0}, {"osteophyte.PS.grade": 1}],
    42: [{"hoffa.grade": 1}, {"hoffa.grade": 1}, {"hoffa.grade": 0}],
    61: [
        {"pcl.complete_tear": 0, "pcl.bml_cyst": 1},
        {"pcl.complete_tear": 0, "pcl.bml_cyst": 0},
        {"pcl.complete_tear": 0, "pcl.bml_cyst": 0},
    ],
    62: [
        {"patellar_tendon.signal": 0},
        {"patellar_tendon.signal": 1},
        {"patellar_tendon.signal": 0},
    ],
    63: [{"periarticular.pes_anserine_bursitis.presence": g} for g in (0, 0, 1)],
}
REFERENCE = {
    "osteophyte.PS.grade": 0,
    "hoffa.grade": 1,
    "patellar_tendon.signal": 0,
    "periarticular.pes_anserine_bursitis.presence": 0,
    "pcl.complete_tear": 0,
    "pcl.bml_cyst": 0,
}


def truth() -> pl.DataFrame:
    rows = []
    for q, per in TRUTH.items():
        for i, g in enumerate(per):
            rows.append(
                {
                    "scan_id": S[i],
                    "patient_id": P[i],
                    "question_id": q,
                    "split": "test",
                    "grades": g,
                    "box_public": TBOX if q in (30, 42, 62) else None,
                }
            )
    rows.append(
        {
            "scan_id": S[0],
            "patient_id": P[0],
            "question_id": 43,
            "split": "test",
            "grades": {"effusion.grade": None},
        }
    )
    return truth_from_rows(rows)


def rec(i: int, q: int, text: str, view: dict | None = None) -> dict:
    return {
        "scan_id": S[i],
        "question_id": q,
        "raw_text": text,
        "view": view,
        "model": "m",
        "setting": "instruction",
    }


def ans(q: int, body: str, box: list[int] | None = None) -> str:
    return json.dumps(
        {"MOAKS_scores": {q_key(q): json.loads(body)}, **({"bbox": box} if box else {})}
    )


def q_key(q: int) -> str:
    return ms.question(q).answer_key


def predictions() -> list[dict]:
    return [
        rec(0, 30, ans(30, '{"grade": 3}')),  # a duplicate: the later record wins
        rec(0, 30, ans(30, '{"grade": "Grade 2"}', [0, 9, 0, 9, 0, 4])),  # correct; IoU 0.5
        rec(1, 30, ans(30, '{"grade": 0}', TBOX)),  # correct; IoU 1
        rec(2, 30, ans(30, '{"grade": "small"}')),  # not a number; box missing
        rec(0, 42, ans(42, '{"grade": 1}', [0, 4, 0, 4, 0, 4])),  # correct; IoU 1/8
        rec(1, 42, ans(42, '{"grade": 3}', [5, 14, 0, 9, 0, 9])),  # wrong; IoU 500/1500
        rec(
            2, 42, '{"MOAKS_scores": {"Hoffa-Synovitis": {"grade": 0}}, "bbox": [1, 2, 3]}'
        ),  # correct; malformed
        rec(
            0,
            61,
            ans(
                61,
                '{"Complete Tear": 0, "Associated with BML/cyst at site of insertion or origin": 0}',
            ),
        ),
        rec(
            1,
            61,
            ans(
                61,
                '{"Complete Tear": 0, "Associated with BML/cyst at site of insertion or origin": 0}',
            ),
        ),
        rec(
            2,
            61,
            ans(
                61,
                '{"Complete Tear": 0, "Associated with BML/cyst at site of insertion or origin": 0}',
            ),
        ),
        rec(
            0, 62, ans(62, '{"Signal Abnormality": 0}', [0, 4, 0, 4, 0, 4]), VIEW
        ),  # view x2 -> IoU 1
        rec(1, 62, ans(62, '{"Signal Abnormality": 0}', [20, 29, 20, 29, 20, 29])),  # wrong; IoU 0
        # patient 3 has no record for question 62: no_prediction
        rec(0, 63, ans(63, '{"presence": 0}')),
        rec(1, 63, ans(63, '{"presence": 0}')),
        rec(2, 63, ans(63, '{"presence": "yes"}')),
        rec(0, 43, ans(43, '{"grade": 1}')),
        {"scan_id": "9999999_00M_1", "question_id": 30, "raw_text": "{}"},  # not in the truth
    ]


@pytest.fixture(scope="module")
def scores():
    return score_predictions(predictions(), truth(), reference=REFERENCE, n_boot=200, seed=3)


def g(scores, name: str, col: str = "accuracy") -> float:
    return scores.groups.filter(pl.col("group") == name)[col][0]


def test_counts(scores) -> None:
    m = scores.meta
    assert (m["n_truth_records"], m["n_items"], m["n_items_missing_truth"], m["n_patients"]) == (
        16,
        18,
        1,
        3,
    )
    assert (m["n_predictions"], m["n_duplicate_predictions"], m["n_unmatched_predictions"]) == (
        17,
        1,
        1,
    )
    assert (
        m["n_missing_predictions"] == 1
        and m["n_boxes_scored"] == 9
        and m["majority_reference"] == "given"
    )
    assert scores.label == "m / instruction"


def test_accuracy_categories_columns_overall(scores) -> None:
    assert g(scores, "Osteophytes") == pytest.approx(2 / 3)
    assert g(scores, "Synovitis & Effusion") == pytest.approx(2 / 3)
    assert g(scores, "Ligaments & Tendons") == pytest.approx(6 / 9)
    assert g(scores, "Periarticular") == pytest.approx(1.0)
    for empty in ("BML", "Cartilage", "Menisci"):
        assert g(scores, empty) is None
    assert g(scores, "Osteophyte") == pytest.approx(2 / 3)  # five-column view
    assert g(scores, "Others") == pytest.approx(11 / 15)
    assert scores.overall_micro == pytest.approx(13 / 18)
    assert scores.overall_macro == pytest.approx(0.75)
    assert g(scores, OVERALL_MICRO, "n_items") == 18


def test_failure_rates_and_counts(scores) -> None:
    assert g(scores, OVERALL_MICRO, "failure_rate") == pytest.approx(2 / 18)
    assert g(scores, "Osteophytes", "failure_rate") == pytest.approx(1 / 3)
    assert g(scores, "Ligaments & Tendons", "failure_rate") == pytest.approx(1 / 9)
    f = {(r["scope"], r["kind"]): r["count"] for r in scores.failures.iter_rows(named=True)}
    assert f[("grade", "not_a_number")] == 1 and f[("grade", "no_prediction")] == 1
    assert (
        f[("box", "box_missing")] == 1
        and f[("box", "box_malformed")] == 1
        and f[("box", "no_prediction")] == 1
    )
    assert sum(v for (s, _), v in f.items() if s == "grade") == 2


def test_majority_reference(scores) -> None:
    a = scores.attributes
    maj = dict(zip(a["attribute"], a["majority"], strict=True))
    assert maj["osteophyte.PS.grade"] == pytest.approx(1 / 3)
    assert maj["pcl.bml_cyst"] == pytest.approx(2 / 3)
    assert g(scores, "Ligaments & Tendons", "majority") == pytest.approx(7 / 9)
    assert g(scores, OVERALL_MICRO, "majority") == pytest.approx(12 / 18)
    # from a reference table (the train split) instead of a mapping
    ref = truth().filter(pl.col("question_id") == 30)
    assert majority_grades(ref) == {"osteophyte.PS.grade": 0}  # tie 2/0/1: the lowest grade
    s2 = score_predictions(predictions(), truth(), reference=ref, n_boot=0)
    assert s2.meta["majority_reference"] == "reference split"
    assert s2.attributes.filter(pl.col("attribute") == "hoffa.grade")["majority"][0] is None


def test_kappa_balanced_accuracy_macro_f1(scores) -> None:
    a = {r["attribute"]: r for r in scores.attributes.iter_rows(named=True)}
    ost, hof = a["osteophyte.PS.grade"], a["hoffa.grade"]
    assert ost["kappa"] == pytest.approx(10 / 37)
    assert ost["balanced_accuracy"] == pytest.approx(2 / 3)
    assert ost["macro_f1"] == pytest.approx(2 / 3)
    assert hof["kappa"] == pytest.approx(0.4)
    assert hof["balanced_accuracy"] == pytest.approx(0.75)
    assert hof["macro_f1"] == pytest.approx(5 / 9)
    assert g(scores, "Osteophytes", "kappa") == pytest.approx(
        10 / 37
    )  # category = mean over its attributes


def test_iou_per_structure(scores) -> None:
    s = {r["structure"]: r for r in scores.structures.iter_rows(named=True)}
    assert s["Patella"]["mean_iou"] == pytest.approx(0.5)
    assert (s["Patella"]["acc_025"], s["Patella"]["acc_050"]) == pytest.approx((2 / 3, 2 / 3))
    assert s["Synovitis"]["mean_iou"] == pytest.approx(11 / 72)
    assert (s["Synovitis"]["acc_025"], s["Synovitis"]["acc_050"]) == pytest.approx((1 / 3, 0.0))
    assert s["Patellar tendon"]["mean_iou"] == pytest.approx(1 / 3)
    assert s["All"]["mean_iou"] == pytest.approx(71 / 216)
    assert (s["All"]["acc_025"], s["All"]["acc_050"]) == pytest.approx((4 / 9, 1 / 3))
    assert s["All"]["box_failure_rate"] == pytest.approx(3 / 9)
    assert s["PCL"]["n_boxes"] == 0 and s["PCL"]["mean_iou"] is None  # no true box: not scored
    ious = scores.records.filter(pl.col("question_id") == 62).sort("scan_id")["iou"].to_list()
    assert ious == pytest.approx([1.0, 0.0, 0.0])  # the view maps [0,4]^3 back to [0,9]^3


def test_iou_vs_accuracy_correlation(scores) -> None:
    c = {r["level"]: r for r in scores.correlation.iter_rows(named=True)}
    assert c["question"]["n"] == 3
    assert c["question"]["pearson"] == pytest.approx((-1 / 648) / math.sqrt(469 / 7776 * 2 / 27))
    assert c["question"]["spearman"] == pytest.approx(0.0, abs=1e-12)
    assert c["record"]["n"] == 9
    assert c["record"]["pearson"] == pytest.approx(0.5555909634626167)
    assert c["record"]["spearman"] == pytest.approx(29.25 / math.sqrt(54.5 * 45.0))


def test_bootstrap_matches_a_naive_patient_resampling(scores) -> None:
    items = scores.items.with_columns(pl.col("correct").cast(pl.Float64))
    w = patient_weights(3, n_boot=200, seed=3)
    reps = []
    for row in w:
        tot = cor = 0.0
        for pi, count in enumerate(row):
            sub = items.filter(pl.col("patient_id") == P[pi])
            tot += count * sub.height
            cor += count * sub["correct"].sum()
        reps.append(cor / tot)
    lo, hi = np.percentile(reps, [2.5, 97.5])
    assert g(scores, OVERALL_MICRO, "ci_low") == pytest.approx(lo)
    assert g(scores, OVERALL_MICRO, "ci_high") == pytest.approx(hi)
    assert g(scores, OVERALL_MICRO, "ci_low") <= 13 / 18 <= g(scores, OVERALL_MICRO, "ci_high")


def test_agreement_intervals_match_a_naive_patient_resampling(scores) -> None:
    from bench_metrics import balanced_accuracy, confusion, macro_f1, weighted_kappa

    items = scores.items.filter(pl.col("attribute") == "hoffa.grade")
    n_grades = next(len(a.grades.meanings) for a in ms.ATTRIBUTES if a.key == "hoffa.grade")
    w = patient_weights(3, n_boot=200, seed=3)
    reps = []
    for row in w:
        truth_g, pred_g = [], []
        for pi, count in enumerate(row):
            sub = items.filter(pl.col("patient_id") == P[pi])
            truth_g += sub["truth"].to_list() * int(count)
            pred_g += [-1 if p is None else p for p in sub["pred"].to_list()] * int(count)
        c = confusion(truth_g, pred_g, n_grades)
        reps.append((weighted_kappa(c), balanced_accuracy(c), macro_f1(c)))
    a = scores.attributes.filter(pl.col("attribute") == "hoffa.grade").row(0, named=True)
    for j, name in enumerate(("kappa", "balanced_accuracy", "macro_f1")):
        lo, hi = np.nanpercentile([r[j] for r in reps], [2.5, 97.5])
        assert (a[f"{name}_low"], a[f"{name}_high"]) == pytest.approx((lo, hi))
        # its category scores that one attribute (effusion has no reading): its interval is the attribute's
        cat = "Synovitis & Effusion"
        assert (g(scores, cat, f"{name}_low"), g(scores, cat, f"{name}_high")) == pytest.approx(
            (lo, hi)
        )
    assert g(scores, OVERALL_MICRO, "kappa_low") <= g(scores, OVERALL_MICRO, "kappa_high")
    none = score_predictions(predictions(), truth(), reference=REFERENCE, n_boot=0)
    assert (
        none.groups["kappa_low"].is_null().all()
        and none.attributes["macro_f1_high"].is_null().all()
    )
    assert none.groups["kappa"].equals(
        scores.groups["kappa"]
    )  # point values do not depend on the bootstrap


def test_bootstrap_is_seeded() -> None:
    a = score_predictions(predictions(), truth(), reference=REFERENCE, n_boot=100, seed=7)
    b = score_predictions(predictions(), truth(), reference=REFERENCE, n_boot=100, seed=7)
    c = score_predictions(predictions(), truth(), reference=REFERENCE, n_boot=100, seed=8)
    assert a.groups.equals(b.groups)
    assert not a.groups.equals(c.groups)


def test_paired_comparison(scores) -> None:
    perfect = [
        rec(i, q, json.dumps({**ms.question(q).answer_object(grades), "bbox": TBOX}))
        for q, per in TRUTH.items()
        for i, grades in enumerate(per)
    ]
    best = score_predictions(
        perfect, truth(), reference=REFERENCE, n_boot=200, seed=3, label="perfect"
    )
    assert best.overall_micro == 1.0 and best.mean_iou() == 1.0
    cmp = compare_runs(scores, best, n_boot=200, seed=3)
    row = cmp.filter((pl.col("metric") == "accuracy") & (pl.col("group") == OVERALL_MICRO)).row(
        0, named=True
    )
    assert row["diff"] == pytest.approx(13 / 18 - 1) and row["n"] == 18
    assert row["ci_low"] <= row["diff"] <= row["ci_high"] <= 0
    macro = cmp.filter(pl.col("group") == OVERALL_MACRO).row(0, named=True)
    assert macro["diff"] == pytest.approx(-0.25)
    iou_all = cmp.filter((pl.col("metric") == "mean_iou") & (pl.col("group") == "All")).row(
        0, named=True
    )
    assert iou_all["diff"] == pytest.approx(71 / 216 - 1)
    same = compare_runs(scores, scores, n_boot=50, seed=0)
    assert same.filter(pl.col("n") > 0)["diff"].abs().max() == 0.0
