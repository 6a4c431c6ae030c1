"""Qwen2.5-VL adapter end to end with a tiny random Qwen2.5-VL built offline; texts through bench-metrics."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from vlm_adapters import (
    AdapterError,
    InputSpec,
    iter_batches,
    load_split,
    read_records,
    run_baseline,
)
from vlm_adapters.tiny import build_tiny_qwen

pytestmark = pytest.mark.slow  # a tiny Qwen2.5-VL is built and run: minutes on a CPU

QUESTIONS = [1, 44, 54, 60, 63]
OPTIONS = {"slices": 8, "max_new_tokens": 6, "question_batch": 3}


@pytest.fixture(scope="module")
def tiny_qwen(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # a larger init std makes the random model's replies depend visibly on its input
    return build_tiny_qwen(
        tmp_path_factory.mktemp("qwen") / "tiny-qwen", seed=0, initializer_range=0.5
    )


def test_tiny_qwen_is_deterministic_and_loads(tiny_qwen: Path, tmp_path: Path) -> None:
    from transformers import AutoProcessor

    a = build_tiny_qwen(tmp_path / "a", seed=0, initializer_range=0.5)
    for name in ("model.safetensors", "config.json", "tokenizer.json", "processor_config.json"):
        assert (a / name).read_bytes() == (tiny_qwen / name).read_bytes(), name
    proc = AutoProcessor.from_pretrained(a)
    text = 'Box: [1, 2, 3, 4, 5, 6]\nMOAKS: {"MOAKS_scores": {"ACL": {"Complete Tear": 0}}} é'
    assert proc.tokenizer.decode(proc.tokenizer(text)["input_ids"]) == text


def test_prefix_reuse_gives_the_same_texts_for_fewer_prefill_tokens(
    dataset, tiny_qwen, tmp_path
) -> None:
    from bench_metrics import load_predictions, load_truth, score_predictions

    spec = f"qwen2.5-vl:{tiny_qwen}"
    runs = {}
    for reuse in (True, False):
        out = tmp_path / f"reuse-{reuse}.jsonl"
        s = run_baseline(
            dataset=dataset,
            split="test",
            limit=1,
            model=spec,
            setting="instruction",
            out=out,
            questions=QUESTIONS,
            options={**OPTIONS, "prefix_reuse": reuse},
            progress=False,
        )
        assert s.written == len(QUESTIONS) and s.errors == 0
        runs[reuse] = (s, read_records(out))
    (s_reuse, r_reuse), (s_plain, r_plain) = runs[True], runs[False]
    assert [r.raw_text for r in r_reuse] == [
        r.raw_text for r in r_plain
    ]  # greedy: same tokens either way
    assert len({r.raw_text for r in r_reuse}) > 1  # replies depend on the question
    assert s_reuse.prompt_tokens == s_plain.prompt_tokens
    assert s_plain.prefill_tokens == s_plain.prompt_tokens
    # the video prefix is prefilled once per scan instead of once per question
    prefix = r_reuse[1].usage["prompt_tokens"] - r_reuse[1].usage["prefill_tokens"]
    assert prefix > 0 and all(
        r.usage["prompt_tokens"] - r.usage["prefill_tokens"] == prefix for r in r_reuse[1:]
    )
    assert r_reuse[0].usage["prefill_tokens"] == r_reuse[0].usage["prompt_tokens"]
    assert s_plain.prefill_tokens - s_reuse.prefill_tokens == (len(QUESTIONS) - 1) * prefix
    for r in r_reuse:
        assert r.view is not None and r.view["view_shape"][0] == 8
        assert r.usage["completion_tokens"] >= 1 and r.latency_s > 0
    # the raw texts go through the scorer; a random model's replies are parse failures, counted, never guessed
    truth = load_truth(dataset, "test")
    scores = score_predictions(  # one scan of the split (limit=1): a partial run, scored on purpose
        load_predictions(tmp_path / "reuse-True.jsonl"),
        truth,
        questions=QUESTIONS,
        n_boot=0,
        min_coverage=0,
    )
    failures = dict(zip(scores.failures["kind"], scores.failures["count"], strict=True))
    n_attrs = scores.groups.filter(scores.groups["group"] == "Overall (micro)")["n_items"][0]
    assert (
        sum(
            v
            for k, v in failures.items()
            if k
            in ("no_answer_object", "key_missing", "wrong_region", "not_a_number", "out_of_range")
        )
        >= 1
    )
    assert n_attrs > 0


def test_gt_region_crops_each_question_to_its_box(dataset, tiny_qwen, tmp_path) -> None:
    from bbox3d import Box, ViewGeometry

    out = tmp_path / "gt.jsonl"
    run_baseline(
        dataset=dataset,
        split="test",
        limit=1,
        model=f"qwen2.5-vl:{tiny_qwen}",
        setting="gt-region",
        out=out,
        questions=[1, 54, 63],
        options={**OPTIONS, "slices": "all"},
        progress=False,
    )
    items = {
        it.record_id: it
        for s in load_split(dataset, "test", questions=[1, 54, 63])
        for it in s.items
    }
    for r in read_records(out):
        box = items[r.record_id].box_public
        view = ViewGeometry.from_dict(r.view)
        if box is None:  # periarticular: the whole volume
            assert tuple(r.view["view_shape"]) == tuple(r.view["source_shape"])
            continue
        t, h, w = r.view["view_shape"]
        whole = Box(0, t, 0, h, 0, w)
        assert view.box_to_source(whole).to_public() == list(box)


def test_lora_adapter_is_applied(dataset, tiny_qwen, tmp_path) -> None:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import Qwen2_5_VLForConditionalGeneration

    torch.manual_seed(0)
    base = Qwen2_5_VLForConditionalGeneration.from_pretrained(tiny_qwen)
    cfg = LoraConfig(
        r=4, lora_alpha=64, target_modules=["q_proj", "v_proj"], init_lora_weights=False
    )
    get_peft_model(base, cfg).save_pretrained(tmp_path / "lora")
    texts = {}
    lora = f"qwen2.5-vl:{tiny_qwen}+lora:{tmp_path / 'lora'}"
    for name, spec, merge in (
        ("base", f"qwen2.5-vl:{tiny_qwen}", True),
        ("lora", lora, True),
        ("unmerged", lora, False),
    ):
        out = tmp_path / f"{name}.jsonl"
        run_baseline(
            dataset=dataset,
            split="test",
            limit=1,
            model=spec,
            setting="zero-shot",
            out=out,
            questions=[1, 60],
            options={**OPTIONS, "merge_lora": merge},
            progress=False,
        )
        records = read_records(out)
        assert records[0].model == spec
        texts[name] = [r.raw_text for r in records]
    assert texts["lora"] != texts["base"]
    assert texts["unmerged"] == texts["lora"]  # peft-wrapped or merged: the same model
    with pytest.raises(AdapterError, match=r"adapter_config\.json"):
        run_baseline(
            dataset=dataset,
            split="test",
            limit=1,
            model=f"qwen2.5-vl:{tiny_qwen}+lora:{tmp_path}",
            setting="zero-shot",
            out=tmp_path / "x.jsonl",
            progress=False,
        )


def test_volume_input_for_3d_models(dataset) -> None:
    scans = load_split(dataset, "test", questions=[1, 2], limit=1)
    spec = InputSpec(kind="volume", slices=8, size=(20, 20))
    (batch,) = list(iter_batches(scans, setting="instruction", spec=spec))
    vol = batch.scan.volume
    assert batch.scan.frames is None and batch.scan.kind == "volume"
    assert (
        vol.shape == (8, 20, 20)
        and vol.dtype == np.float32
        and 0.0 <= vol.min() <= vol.max() <= 1.0
    )
    assert batch.scan.view.to_dict()["view_shape"] == [8, 20, 20]
    assert "8 sagittal frames of 20 x 20 pixels" in batch.queries[0].prompt
