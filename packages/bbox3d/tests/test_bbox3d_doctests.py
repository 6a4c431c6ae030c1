"""The docstring examples of every bbox3d module run and hold."""

from __future__ import annotations

import doctest
import importlib

import numpy as np
import pytest

MODULES = ["box", "overlap", "public_form", "view_geometry", "label_boxes"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(f"bbox3d.{name}")
    result = doctest.testmod(module, extraglobs={"np": np}, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0
