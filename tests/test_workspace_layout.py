"""Workspace-level checks: the dependency direction, the CLI's start-up cost,
the CI workflow files and that a package builds to a wheel that installs alone."""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: import name -> workspace modules it may import (docs/architecture.md).
ALLOWED: dict[str, set[str]] = {
    "moaks_schema": set(),
    "bbox3d": set(),
    "knee_volumes": {"moaks_schema", "bbox3d"},
    # test and demo data: a phantom dataset goes through the real builder; no library imports it
    "knee_phantom": {"moaks_schema", "bbox3d", "knee_volumes", "quintuple_builder"},
    "knee_segmenter": {"moaks_schema", "bbox3d", "knee_volumes"},
    "quintuple_builder": {"moaks_schema", "bbox3d", "knee_volumes"},
    "bench_metrics": {"moaks_schema", "bbox3d"},
    "vlm_adapters": {"moaks_schema", "bbox3d", "knee_volumes", "quintuple_builder"},
}
LIBRARIES = set(ALLOWED)
APPS = {"reasonknee_build", "reasonknee_train", "reasonknee_baseline", "reasonknee_score"}


def _members() -> list[tuple[str, Path, dict]]:
    out = []
    for pyproject in sorted(ROOT.glob("*/*/pyproject.toml")):
        if pyproject.parent.parent.name not in ("packages", "apps"):
            continue
        meta = tomllib.loads(pyproject.read_text())
        out.append((meta["project"]["name"], pyproject.parent, meta))
    return out


def _import_name(member_dir: Path) -> str:
    (pkg,) = [
        p.name
        for p in (member_dir / "src").iterdir()
        if p.is_dir() and not p.name.startswith((".", "_"))
    ]
    return pkg


def _imported_modules(src: Path) -> set[str]:
    found: set[str] = set()
    for py in src.rglob("*.py"):
        tree = ast.parse(py.read_text(), filename=str(py))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize("member", [m[1].name for m in _members()])
def test_import_direction(member: str) -> None:
    (dist, path, _meta) = next(m for m in _members() if m[1].name == member)
    name = _import_name(path)
    imported = _imported_modules(path / "src") & (LIBRARIES | APPS | {"reasonknee"})
    imported.discard(name)
    if name in ALLOWED:
        assert imported <= ALLOWED[name], (
            f"{dist} imports {sorted(imported - ALLOWED[name])} against the dependency direction"
        )
    else:  # apps use every library but never another app (the umbrella names them as strings)
        others = imported & (APPS | {"reasonknee"})
        assert not others, f"{dist} imports another app: {sorted(others)}"


@pytest.mark.parametrize("member", [m[1].name for m in _members()])
def test_workspace_imports_are_declared(member: str) -> None:
    """A workspace module imported in src must be a declared dependency (by range)."""
    (dist, path, meta) = next(m for m in _members() if m[1].name == member)
    dist_of = {_import_name(p): d for d, p, _ in _members()}
    declared = {
        d.split(">")[0].split("[")[0].split("=")[0].strip() for d in meta["project"]["dependencies"]
    }
    imported = _imported_modules(path / "src") & set(dist_of)
    imported.discard(_import_name(path))
    missing = {dist_of[m] for m in imported} - declared
    assert not missing, f"{dist} imports {sorted(missing)} without declaring it"
    for dep in meta["project"]["dependencies"]:
        base = dep.split(">")[0].split("[")[0].strip()
        if base in set(dist_of.values()):
            assert ">=" in dep and "<" in dep, f"{dist}: sibling {dep!r} must be pinned by range"


def test_members_follow_conventions() -> None:
    for dist, path, meta in _members():
        name = _import_name(path)
        assert (path / "src" / name / "py.typed").exists(), dist
        assert (path / "README.md").exists() and (path / "CHANGELOG.md").exists(), dist
        assert (path / "tests").is_dir(), dist
        assert meta["project"]["version"], dist


def test_cli_help_is_light() -> None:
    code = (
        "import sys; from click.testing import CliRunner; from reasonknee.cli import main; "
        "r = CliRunner().invoke(main, ['--help']); assert r.exit_code == 0, r.output; "
        "heavy = [m for m in ('torch', 'transformers', 'nnunetv2', 'polars', 'ray') if m in sys.modules]; "
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_schema_json_lists_69_questions() -> None:
    from click.testing import CliRunner
    from reasonknee.cli import main

    result = CliRunner().invoke(main, ["schema", "--json"])
    assert result.exit_code == 0, result.output
    questions = json.loads(result.output)["questions"]
    assert [q["id"] for q in questions] == [str(i) for i in range(1, 70)]
    assert questions[41]["answer_key"] == "Hoffa-Synovitis"
    version = CliRunner().invoke(main, ["--version"])
    assert version.exit_code == 0 and "0.1.0" in version.output


def test_workflows_are_valid() -> None:
    exe = Path(sys.executable).parent / "check-jsonschema"
    files = sorted(str(p) for p in (ROOT / ".github" / "workflows").glob("*.yml"))
    assert len(files) >= 2
    out = subprocess.run(
        [str(exe), "--builtin-schema", "vendor.github-workflows", *files],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    ci = (ROOT / ".github" / "workflows" / "ci.yml").read_text()
    for dist, _, _ in _members():
        if dist.startswith("reasonknee"):
            continue
        assert f"name: {dist}," in ci, f"{dist} missing from the per-package matrix"
    release = (ROOT / ".github" / "workflows" / "release.yml").read_text()
    assert "--no-sources" in release and "id-token: write" in release


def test_ci_runs_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "uv run pytest" in readme and "uv run reasonknee demo" in readme
    assert ci.strip().splitlines()[-1] == "uv run pytest"


@pytest.mark.skipif(shutil.which("uv") is None, reason="uv not on PATH")
def test_moaks_schema_wheel_installs_alone(tmp_path: Path) -> None:
    uv = shutil.which("uv")
    assert uv
    env = {
        k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT")
    }
    subprocess.run(
        [
            uv,
            "build",
            "--package",
            "moaks-schema",
            "--no-sources",
            "--wheel",
            "--out-dir",
            str(tmp_path / "dist"),
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
        env=env,
    )
    (wheel,) = (tmp_path / "dist").glob("moaks_schema-0.1.0-*.whl")
    subprocess.run(
        [uv, "venv", "-q", str(tmp_path / "venv"), "--python", sys.executable], check=True, env=env
    )
    py = tmp_path / "venv" / "bin" / "python"
    subprocess.run(
        [uv, "pip", "install", "-q", "--python", str(py), str(wheel)], check=True, env=env
    )
    out = subprocess.run(
        [
            str(py),
            "-c",
            "import moaks_schema as m; print(len(m.QUESTIONS), len(m.ATTRIBUTES), m.__version__)",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.split() == ["69", "118", "0.1.0"]


def test_every_members_tests_are_collected() -> None:
    """pytest skips folders matching `norecursedirs` (by default `build`): no member may match."""
    import fnmatch

    opts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    patterns = opts.get("norecursedirs")
    assert patterns is not None, "set norecursedirs: pytest's default skips apps/build"
    for _, path, _ in _members():
        for part in (path.name, "tests"):
            assert not any(fnmatch.fnmatch(part, p) for p in patterns), (
                f"{path}/tests would not be collected"
            )
