"""The one split-leakage rule."""

from __future__ import annotations

import doctest

import pytest
from moaks_schema import MoaksSchemaError, check_split_leakage
from moaks_schema import splits as splits_module


def test_doctests() -> None:
    assert doctest.testmod(splits_module).failed == 0


def test_leaks_and_unknown_splits_are_named() -> None:
    pids = ["1", "1", "2", "3"]
    assert check_split_leakage(pids, ["train", "train", "val", "val"]) == {
        "train": 1,
        "val": 2,
        "test": 0,
    }
    with pytest.raises(MoaksSchemaError, match=r"f\.csv: scan 1_00M_1 is in more than one split"):
        check_split_leakage(
            ["1", "1"], ["train", "test"], scan_ids=["1_00M_1", "1_00M_1"], where="f.csv"
        )
    with pytest.raises(MoaksSchemaError, match=r"patient 1 is .*\(and 1 more\)"):
        check_split_leakage(["1", "1", "2", "2"], ["train", "test", "val", "test"])
    with pytest.raises(MoaksSchemaError, match=r"unknown split\(s\) \['dev'\]"):
        check_split_leakage(["1"], ["dev"])
