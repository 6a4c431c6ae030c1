"""The docstring examples of every bench_metrics module run and hold."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import bench_metrics
import pytest

MODULES = sorted(m.name for m in pkgutil.iter_modules(bench_metrics.__path__, "bench_metrics."))


@pytest.mark.parametrize("name", ["bench_metrics", *MODULES])
def test_doctests(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
