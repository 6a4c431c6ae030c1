"""A missing optional dependency is an AdapterError that names the extra to install."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# Import the real modules first: transformers records at its first import whether torch is
# there, so a first import while a test blocks torch would break every later test of the session.
pytest.importorskip("torch")
pytest.importorskip("transformers")

from vlm_adapters import AdapterError, QwenVLAdapter, run_sharded
from vlm_adapters.errors import needs_extra
from vlm_adapters.tiny import build_tiny_qwen, qwen_tokenizer


def test_missing_torch_names_the_qwen_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "config.json").write_text(
        "{}"
    )  # a model folder, so that loading gets to the imports
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` now fails
    with pytest.raises(AdapterError, match=r"torch.*pip install 'vlm-adapters\[qwen\]'"):
        QwenVLAdapter.load(tmp_path)
    with pytest.raises(AdapterError, match=r"vlm-adapters\[qwen\]"):
        build_tiny_qwen(tmp_path / "tiny")


def test_missing_transformers_names_the_qwen_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "transformers", None)
    with pytest.raises(AdapterError, match=r"transformers.*pip install 'vlm-adapters\[qwen\]'"):
        qwen_tokenizer()


def test_missing_ray_names_the_ray_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(AdapterError, match=r"pip install 'vlm-adapters\[ray\]'"):
        run_sharded(shards=2, out=tmp_path / "p.jsonl", executor="ray")


def test_needs_extra_lets_other_errors_through() -> None:
    with pytest.raises(KeyError), needs_extra("qwen"):
        raise KeyError("not an import")
