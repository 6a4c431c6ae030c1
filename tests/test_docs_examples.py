"""Every ```python block of the docs that promise runnable examples is executed here."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"
_BLOCK = re.compile(r"^```python\n(.*?)^```\n", re.S | re.M)


def _blocks(name: str) -> list[tuple[str, str]]:
    text = (DOCS / name).read_text()
    return [(f"{name}#{i}", m.group(1)) for i, m in enumerate(_BLOCK.finditer(text))]


@pytest.mark.parametrize(
    ("where", "code"), _blocks("api.md"), ids=[w for w, _ in _blocks("api.md")]
)
def test_api_examples_run(where: str, code: str) -> None:
    exec(compile(code, where, "exec"), {"__name__": "__docs__"})
