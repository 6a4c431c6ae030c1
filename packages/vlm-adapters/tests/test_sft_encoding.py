"""SFT encoding: only the answer (and its end-of-turn token) carries labels; targets follow the view."""

from __future__ import annotations

import unicodedata

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from vlm_adapters.errors import AdapterError
from vlm_adapters.sft import (
    ANSWER_END,
    IGNORE_INDEX,
    SftConfig,
    collate,
    encode_example,
    target_in_view,
)

ANSWER = (
    "Box: [3, 9, 10, 20, 4, 12]\n"
    "Reasoning:\n1. Locate the medial meniscus anterior horn.\n2. Grades: extrusion = 1.\n"
    'MOAKS: {"MOAKS_scores": {"medial meniscus anterior extrusion": 1}}'
)


@pytest.fixture(scope="module")
def processor(tmp_path_factory):
    from transformers import AutoProcessor
    from vlm_adapters.tiny import build_tiny_qwen

    folder = build_tiny_qwen(tmp_path_factory.mktemp("tiny-enc") / "qwen", seed=0)
    return AutoProcessor.from_pretrained(folder)


def _frames(t: int = 4, size: int = 28, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (t, size, size, 3), dtype=np.uint8)


def test_unmasked_tokens_decode_to_exactly_the_answer(processor):
    enc = encode_example(processor, _frames(), "Grade the medial meniscus extrusion.", ANSWER)
    kept = enc.input_ids[enc.labels != IGNORE_INDEX]
    assert processor.tokenizer.decode(kept, skip_special_tokens=False) == ANSWER + ANSWER_END
    # the labelled tokens are one run right before the final newline
    idx = (enc.labels != IGNORE_INDEX).nonzero().flatten()
    assert idx.tolist() == list(range(int(idx[0]), int(idx[-1]) + 1))
    assert int(idx[-1]) == enc.input_ids.numel() - 2
    # every video token is masked, and the prompt is before the answer
    video_id = processor.tokenizer.convert_tokens_to_ids("<|video_pad|>")
    video_pos = (enc.input_ids == video_id).nonzero().flatten()
    assert video_pos.numel() > 0 and int(video_pos.max()) < int(idx[0])
    assert bool((enc.labels[enc.input_ids == video_id] == IGNORE_INDEX).all())
    prompt = processor.tokenizer.decode(enc.input_ids[: int(idx[0])], skip_special_tokens=False)
    assert (
        prompt.endswith("<|im_start|>assistant\n")
        and "Grade the medial meniscus extrusion." in prompt
    )


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(answer=st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=80))
def test_any_answer_text_round_trips_through_the_mask(processor, answer):
    enc = encode_example(processor, _frames(t=2), "Q?", answer)
    kept = enc.input_ids[enc.labels != IGNORE_INDEX]
    # the Qwen tokenizer normalises text to NFC (e.g. U+F900 becomes U+8C48), as the real one does
    expected = unicodedata.normalize("NFC", answer) + ANSWER_END
    assert processor.tokenizer.decode(kept, skip_special_tokens=False) == expected


def test_collate_pads_with_ignored_labels(processor):
    a = encode_example(processor, _frames(seed=1), "Short?", "A")
    b = encode_example(processor, _frames(seed=2), "A longer question text?", ANSWER)
    pad = processor.tokenizer.pad_token_id
    batch = collate([a, b], pad_token_id=pad)
    n_a = a.input_ids.numel()
    assert batch["input_ids"].shape == (2, b.input_ids.numel())
    assert bool((batch["labels"][0, n_a:] == IGNORE_INDEX).all())
    assert bool((batch["input_ids"][0, n_a:] == pad).all())
    assert batch["attention_mask"][0].sum().item() == n_a
    assert (
        batch["pixel_values_videos"].shape[0]
        == a.pixel_values_videos.shape[0] + b.pixel_values_videos.shape[0]
    )
    assert batch["video_grid_thw"].shape == (2, 3)
    assert batch["mm_token_type_ids"].shape == batch["input_ids"].shape


def test_encode_rejects_bad_frames_and_empty_answers(processor):
    with pytest.raises(AdapterError, match="uint8"):
        encode_example(processor, np.zeros((2, 28, 28), dtype=np.uint8), "Q", "A")
    with pytest.raises(AdapterError, match="non-empty"):
        encode_example(processor, _frames(), "Q", "")


def test_target_box_is_rewritten_in_frame_coordinates():
    from bbox3d import Box, ViewGeometry

    box = (8, 15, 40, 79, 20, 59)
    text = "Box: [8, 15, 40, 79, 20, 59]\nMOAKS: {}"
    identity = ViewGeometry.identity((16, 128, 128))
    assert target_in_view(text, box, identity) == text
    half = identity.then_resize((16, 64, 64))
    mapped = half.box_to_view(Box.from_public(list(box))).to_public()
    assert target_in_view(text, box, half) == f"Box: {mapped}\nMOAKS: {{}}"
    assert mapped == [8, 15, 20, 39, 10, 29]
    twice = "Box: [8, 15, 40, 79, 20, 59]\n1. Found it at [8, 15, 40, 79, 20, 59].\nMOAKS: {}"
    assert target_in_view(twice, box, half).count(str(mapped)) == 2
    with pytest.raises(AdapterError, match="found none"):
        target_in_view("Box: none\nMOAKS: {}", box, half)


def test_config_validation_names_the_field(tmp_path):
    with pytest.raises(AdapterError, match="setting"):
        SftConfig(dataset=tmp_path, base=tmp_path, out=tmp_path, setting="few-shot")
    with pytest.raises(AdapterError, match="grad_accum"):
        SftConfig(dataset=tmp_path, base=tmp_path, out=tmp_path, grad_accum=0)
    cfg = SftConfig(
        dataset=tmp_path,
        base=tmp_path,
        out=tmp_path,
        cot=False,
        max_frames=32,
        frame_size=(224, 224),
    )
    assert cfg.target_column == "answer_no_cot"
    assert cfg.input_spec().slices == 32 and cfg.qwen_options().size == (224, 224)
