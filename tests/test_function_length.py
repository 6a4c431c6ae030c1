"""No function in a library or an app is longer than 120 lines (docs/architecture.md, "Conventions")."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAX_LINES = 120

#: Functions being split on other branches right now; the lead empties this list after merging.
#: ``path:qualified name``, paths relative to the repository root.
BEING_SPLIT: set[str] = set()


def _functions(tree: ast.AST, prefix: str = "") -> list[tuple[str, int]]:
    """``(qualified name, lines)`` of every function, methods and nested functions included."""
    out: list[tuple[str, int]] = []
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            name = f"{prefix}{node.name}"
            out.append((name, node.end_lineno - node.lineno + 1))  # type: ignore[operator]
            out += _functions(node, f"{name}.")
        elif isinstance(node, ast.ClassDef):
            out += _functions(node, f"{prefix}{node.name}.")
        else:
            out += _functions(node, prefix)
    return out


def over_long() -> dict[str, int]:
    """``path:function -> lines`` of every function over :data:`MAX_LINES`."""
    found: dict[str, int] = {}
    for src in sorted([*ROOT.glob("packages/*/src"), *ROOT.glob("apps/*/src")]):
        for py in sorted(src.rglob("*.py")):
            tree = ast.parse(py.read_text(encoding="utf-8"), filename=str(py))
            for name, lines in _functions(tree):
                if lines > MAX_LINES:
                    found[f"{py.relative_to(ROOT).as_posix()}:{name}"] = lines
    return found


def test_no_function_is_over_120_lines() -> None:
    long = {k: v for k, v in over_long().items() if k not in BEING_SPLIT}
    assert not long, f"functions over {MAX_LINES} lines (split them): {long}"


def test_the_allow_list_names_real_functions() -> None:
    """An entry that no longer exists or is short again must leave the list."""
    stale = BEING_SPLIT - set(over_long())
    assert not stale, (
        f"no longer over {MAX_LINES} lines or gone, remove from BEING_SPLIT: {sorted(stale)}"
    )
