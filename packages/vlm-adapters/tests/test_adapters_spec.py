"""Model spec strings, the protocol types and prompt notes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from vlm_adapters import (
    Adapter,
    AdapterError,
    ModelSpec,
    fit_reference,
    parse_model_spec,
    view_note,
)
from vlm_adapters.openai_api import OpenAIAdapter, OpenAIOptions
from vlm_adapters.spec import make_adapter

_path = (
    st.text(
        st.characters(whitelist_categories=("L", "N"), whitelist_characters="/._-:~ "),
        min_size=1,
        max_size=30,
    )
    .map(str.strip)
    .filter(bool)
)


@given(path=_path, lora=st.none() | _path)
def test_qwen_spec_round_trips(path: str, lora: str | None) -> None:
    spec = ModelSpec(kind="qwen2.5-vl", path=path, lora=lora)
    assert parse_model_spec(spec.text) == spec


@given(
    model=_path,
    url=st.none() | st.from_regex(r"https?://[a-z0-9.]+(:[0-9]{2,5})?/v1", fullmatch=True),
)
def test_openai_spec_round_trips(model: str, url: str | None) -> None:
    spec = ModelSpec(kind="openai", model=model, base_url=url)
    assert parse_model_spec(spec.text) == spec


@pytest.mark.parametrize(
    "bad", ["", "qwen2.5-vl:", "openai:", "openai:gpt@", "qwen2.5-vl:/m+lora:", "gemini:x", "x"]
)
def test_bad_specs_name_what_was_expected(bad: str) -> None:
    with pytest.raises(AdapterError, match="expected"):
        parse_model_spec(bad)


def test_openai_adapter_options_and_protocol(monkeypatch: pytest.MonkeyPatch) -> None:
    a = make_adapter(
        "openai:o1", options={"max_tokens": 100, "max_tokens_field": "max_completion_tokens"}
    )
    assert isinstance(a, OpenAIAdapter) and isinstance(a, Adapter)
    # the public o1 script's slices (32..128 of 160), scaled to the scan given
    assert a.name == "openai:o1" and a.input_spec.slices.resolve(160) == (32, 128, 32)
    body = a.request_body(["data:image/png;base64,AAAA"], "Grade it.")
    assert body["max_completion_tokens"] == 100 and "temperature" not in body
    assert body["messages"][0]["content"][0]["type"] == "image_url"  # images first: a shared prefix
    assert body["messages"][0]["content"][-1] == {"type": "text", "text": "Grade it."}
    monkeypatch.setenv("OPENAI_API_KEY", "sk-x")
    assert a._headers()["Authorization"] == "Bearer sk-x"
    assert "sk-x" not in repr(vars(a))  # the key is read per request, never stored
    with pytest.raises(AdapterError, match="unknown option"):
        make_adapter("openai:o1", options={"slice": 3})
    with pytest.raises(AdapterError, match="max_concurrency"):
        OpenAIAdapter("m", options=OpenAIOptions(max_concurrency=0))


def test_reference_adapters_follow_the_protocol() -> None:
    r = fit_reference("random", "", seed=3)
    assert isinstance(r, Adapter) and r.input_spec.kind == "none" and r.name == "random"


def test_view_note_states_the_frame_convention() -> None:
    note = view_note((160, 392, 392, 3), cropped=False)
    assert "160 sagittal frames of 392 x 392" in note and "frame indices 0..159" in note
    assert "inclusive" in note
