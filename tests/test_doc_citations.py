"""The project cites only documents it contains (docs/architecture.md, "Enforcement").

Design notes written for the developers are not part of the project: code, help
texts, tests and docs must cite ``docs/*.md`` instead, and every ``docs/X.md``
or relative Markdown link they cite must exist.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: Names of design notes that are not shipped; citing one is allowed only once a
#: docs/ page of that name exists (docs/architecture.md and docs/phantom.md do).
NOT_SHIPPED = (
    "architecture.md",
    "bench.md",
    "moaks.md",
    "data-and-geometry.md",
    "measured-here.md",
    "phantom.md",
    "style.md",
)
SUFFIXES = {".py", ".md", ".toml", ".yml", ".yaml", ".txt", ".cfg"}


def _files() -> list[Path]:
    roots = [ROOT / d for d in ("packages", "apps", "docs", "tests", "benchmarks", ".github")]
    out = [ROOT / "README.md"]
    for r in roots:
        out += [
            p
            for p in r.rglob("*")
            if p.is_file()
            and p.suffix in SUFFIXES
            and not {".venv", "build", "dist"} & set(p.parts)
        ]
    me = Path(__file__).resolve()
    return sorted(p for p in out if p.resolve() != me)


def test_no_citation_of_an_unshipped_note() -> None:
    bad = []
    for path in _files():
        text = path.read_text(encoding="utf-8", errors="replace")
        if "shared/spec" in text:
            bad.append(f"{path.relative_to(ROOT)}: cites shared/spec")
        for m in re.finditer(r"[\w-]+\.md,? *§", text):  # our pages have no numbered sections
            bad.append(f"{path.relative_to(ROOT)}: cites {m.group(0)} (a note's numbered section)")
        for name in NOT_SHIPPED:
            if (ROOT / "docs" / name).is_file():
                continue
            for m in re.finditer(rf"(?<![\w/-]){re.escape(name)}", text):
                line = text.count("\n", 0, m.start()) + 1
                bad.append(f"{path.relative_to(ROOT)}:{line}: cites {name}")
    assert not bad, "cite docs/*.md instead:\n" + "\n".join(bad)


def test_cited_docs_pages_exist() -> None:
    bad = []
    for path in _files():
        text = path.read_text(encoding="utf-8", errors="replace")
        for m in re.finditer(r"docs/([\w.-]+\.md)", text):
            if not (ROOT / "docs" / m.group(1)).is_file():
                bad.append(f"{path.relative_to(ROOT)}: docs/{m.group(1)}")
        if path.suffix == ".md":  # relative Markdown links to other pages
            for m in re.finditer(r"\]\(([^)#:\s]+\.md)(?:#[^)]*)?\)", text):
                if not (path.parent / m.group(1)).resolve().is_file():
                    bad.append(f"{path.relative_to(ROOT)}: link {m.group(1)}")
    assert not bad, "cited pages that do not exist:\n" + "\n".join(bad)


def test_the_check_sees_a_citation() -> None:
    """The pattern finds a bare citation and ignores a docs/ page of another name."""
    pattern = rf"(?<![\w/-]){re.escape('moaks.md')}"
    assert re.search(pattern, "MOAKS variable names (moaks.md §5)")
    assert not re.search(pattern, "see docs/oai-moaks.md")
