"""``replaced``: an attribute swapped for a block, the owner as it was afterwards."""

from __future__ import annotations

import types

import pytest
from knee_segmenter.patching import replaced


class _Base:
    flag = "base"

    def method(self) -> str:
        return "method"


class _Child(_Base):
    pass


@pytest.mark.parametrize("fail", [False, True])
def test_own_inherited_instance_and_absent_attributes_come_back(fail):
    module = types.SimpleNamespace(pool="processes")
    obj = _Child()
    try:
        with (
            replaced(module, "pool", "threads") as old_pool,
            replaced(_Child, "flag", "child") as old_flag,
            replaced(obj, "method", lambda: "patched") as old_method,
            replaced(_Child, "show_progress_bar", False) as old_bar,
        ):
            assert (module.pool, _Child.flag, obj.method(), _Child.show_progress_bar) == (
                "threads",
                "child",
                "patched",
                False,
            )
            assert (old_pool, old_flag, old_bar) == ("processes", "base", None)
            assert old_method() == "method"
            if fail:
                raise RuntimeError("inside the block")
    except RuntimeError:
        assert fail
    assert module.pool == "processes" and _Child.flag == "base" and obj.method() == "method"
    assert "flag" not in vars(_Child) and "method" not in vars(obj)  # inherited again, not copied
    assert not hasattr(_Child, "show_progress_bar")
