"""The second-reader row: one read scored against the other with the models' metrics."""

from __future__ import annotations

from pathlib import Path

import moaks_schema as ms
import numpy as np
import polars as pl
import pytest
from bench_metrics import (
    BenchMetricsError,
    confusion,
    load_reader_pairs,
    score_reader_pairs,
    second_reader_scores,
    weighted_kappa,
)
from hypothesis import given, settings
from hypothesis import strategies as st

QIDS = (4, 19, 44, 50)  # BML, cartilage, extrusion (bare int), meniscal morphology


def _pairs(rng: np.random.Generator, n_scans: int, flip: float) -> pl.DataFrame:
    rows = []
    for s in range(n_scans):
        pid = f"90000{s // 2:02d}"
        for qid in QIDS:
            for a in ms.question(qid).attributes:
                k = len(a.grades.values)
                g = int(rng.integers(0, k))
                h = g if rng.random() >= flip else int(rng.integers(0, k))
                rows.append(
                    {
                        "scan_id": f"{pid}_00M_{1 + s % 2}",
                        "patient_id": pid,
                        "split": "test" if s < n_scans - 2 else "train",
                        "question_id": qid,
                        "attribute": a.key,
                        "grade_a": g,
                        "grade_b": h,
                        "source_a": "22",
                        "source_b": "63A",
                    }
                )
    return pl.DataFrame(rows)


def test_identical_reads_agree_perfectly() -> None:
    pairs = _pairs(np.random.default_rng(0), 6, flip=0.0)
    s = score_reader_pairs(pairs, n_boot=0)
    assert s.label == "second reader" and s.overall_micro == 1.0
    assert s.meta["n_knees"] == 6 and s.meta["n_patients"] == 3
    attrs = s.attributes.filter(pl.col("n_items") > 0)
    assert attrs.height == sum(len(ms.question(q).attributes) for q in QIDS)
    assert (attrs["failure_rate"] == 0).all()
    # the second reader gives no box: nothing to localise
    assert (s.structures["n_boxes"] == 0).all()


def test_accuracy_and_kappa_are_the_plain_agreement_of_the_two_reads() -> None:
    pairs = _pairs(np.random.default_rng(1), 12, flip=0.4)
    s = score_reader_pairs(pairs, n_boot=50, seed=1)
    agree = (pairs["grade_a"] == pairs["grade_b"]).mean()
    assert s.overall_micro == pytest.approx(agree)
    row = s.groups.filter(pl.col("group") == "Overall (micro)").row(0, named=True)
    assert row["n_items"] == pairs.height and row["ci_low"] <= agree <= row["ci_high"]
    for r in s.attributes.filter(pl.col("n_items") > 0).iter_rows(named=True):
        a = ms.attribute(r["attribute"])
        sub = pairs.filter(pl.col("attribute") == r["attribute"])
        conf = confusion(sub["grade_a"].to_numpy(), sub["grade_b"].to_numpy(), len(a.grades.values))
        want = weighted_kappa(conf, ordinal=bool(a.grades.ordinal))
        assert (r["kappa"] is None and np.isnan(want)) or r["kappa"] == pytest.approx(
            want, nan_ok=True
        )


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 8), st.floats(0.0, 1.0))
def test_micro_accuracy_is_the_share_of_pairs_that_agree(seed: int, n: int, flip: float) -> None:
    pairs = _pairs(np.random.default_rng(seed), n, flip)
    s = score_reader_pairs(pairs, n_boot=0)
    assert s.overall_micro == pytest.approx((pairs["grade_a"] == pairs["grade_b"]).mean())
    assert s.meta["n_knees"] == pairs["scan_id"].n_unique()


def test_dataset_file_split_and_absence(tmp_path: Path) -> None:
    assert second_reader_scores(tmp_path) is None  # no file: no row
    assert load_reader_pairs(tmp_path).height == 0
    pairs = _pairs(np.random.default_rng(2), 8, flip=0.2)
    pairs.write_parquet(tmp_path / "reader_pairs.parquet")
    test = load_reader_pairs(tmp_path, "test")
    assert test["scan_id"].n_unique() == 6
    s = second_reader_scores(tmp_path, "test", n_boot=0)
    assert s is not None and s.meta["n_knees"] == 6
    assert second_reader_scores(tmp_path, "val") is None  # no pairs in that split: no row


def test_bad_pairs_are_refused() -> None:
    pairs = _pairs(np.random.default_rng(3), 2, flip=0.2)
    with pytest.raises(BenchMetricsError, match="no attribute"):
        score_reader_pairs(pairs.head(0))
    with pytest.raises(BenchMetricsError, match="grade_b"):
        score_reader_pairs(pairs.drop("grade_b"))
    with pytest.raises(BenchMetricsError, match="duplicate"):
        score_reader_pairs(pl.concat([pairs, pairs.head(1)]))
