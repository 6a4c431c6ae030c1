"""Med3DVLM adapter with a tiny random checkpoint: preprocessing, prefix reuse, settings, scoring."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("einops")

from vlm_adapters import (
    AdapterError,
    InputSpec,
    iter_batches,
    load_split,
    read_records,
    run_baseline,
)

QUESTIONS = [1, 44, 54, 60, 63]
OPTIONS = {"max_new_tokens": 6, "question_batch": 3}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from vlm_adapters.med3dvlm.tiny import build_tiny_med3dvlm

    # a larger init std makes the random model's replies depend visibly on its input
    return build_tiny_med3dvlm(
        tmp_path_factory.mktemp("m3d") / "tiny", seed=0, initializer_range=0.5
    )


def test_linear_resize_equals_torch_trilinear() -> None:
    import torch
    from vlm_adapters.volume import resize_linear

    rng = np.random.default_rng(0)
    a = rng.random((7, 10, 13), dtype=np.float32)
    for shape in ((4, 16, 5), (7, 3, 26), (1, 1, 1)):
        ref = torch.nn.functional.interpolate(
            torch.from_numpy(a)[None, None], size=shape, mode="trilinear", align_corners=False
        )[0, 0].numpy()
        np.testing.assert_allclose(resize_linear(a, shape), ref, atol=1e-5)


def test_volume_is_scaled_cropped_resized_and_a_transposed_volume_is_refused() -> None:
    from bbox3d import Box
    from vlm_adapters.volume import prepare_volume

    vol = np.zeros((10, 20, 30), dtype=np.float32)
    vol[2:8, 5:15, 10:30] = np.linspace(100, 500, 20, dtype=np.float32)
    tensor, view = prepare_volume(vol, shape=(4, 8, 8), expected_shape=(10, 20, 30))
    assert tensor.shape == (4, 8, 8) and tensor.dtype == np.float32
    assert tensor.min() >= 0.0 and tensor.max() <= 1.0
    # the foreground crop and the resize are in the geometry: the whole tensor is the foreground
    assert view.box_to_source(Box(0, 4, 0, 8, 0, 8)) == Box(2, 8, 5, 15, 10, 30)
    with pytest.raises(AdapterError, match="axis order"):
        prepare_volume(vol.transpose(1, 2, 0), shape=(4, 8, 8), expected_shape=(10, 20, 30))


def test_adapter_refuses_a_tensor_in_the_wrong_axis_order(tiny: Path) -> None:
    from vlm_adapters import ScanInput
    from vlm_adapters.med3dvlm.adapter import Med3DVLMAdapter

    adapter = Med3DVLMAdapter.load(tiny)
    d, h, w = adapter.image_shape
    assert adapter.input_spec.volume_shape == (d, h, w)
    ok = ScanInput("s", (d, h, w), volume=np.zeros((d, h, w), np.float32))
    assert tuple(adapter.images(ok).shape) == (1, 1, d, h, w)
    bad = ScanInput("s", (d, h, w), volume=np.zeros((h, w, d), np.float32))
    with pytest.raises(AdapterError, match="slices first"):
        adapter.images(bad)


def test_prefix_reuse_gives_the_same_greedy_tokens_for_fewer_prefill_tokens(
    dataset, tiny, tmp_path
) -> None:
    from bench_metrics import load_predictions, load_truth, score_predictions

    runs = {}
    for reuse in (True, False):
        out = tmp_path / f"reuse-{reuse}.jsonl"
        s = run_baseline(
            dataset=dataset,
            split="test",
            limit=1,
            model=f"med3dvlm:{tiny}",
            setting="instruction",
            out=out,
            questions=QUESTIONS,
            options={**OPTIONS, "prefix_reuse": reuse},
            progress=False,
        )
        assert s.written == len(QUESTIONS) and s.errors == 0
        runs[reuse] = (s, read_records(out))
    (s_reuse, r_reuse), (s_plain, r_plain) = runs[True], runs[False]
    assert [r.raw_text for r in r_reuse] == [r.raw_text for r in r_plain]
    assert [r.usage["completion_tokens"] for r in r_reuse] == [
        r.usage["completion_tokens"] for r in r_plain
    ]
    assert len({r.raw_text for r in r_reuse}) > 1  # replies depend on the question
    assert s_reuse.prompt_tokens == s_plain.prompt_tokens == s_plain.prefill_tokens
    prefix = 8 + 1  # proj_out_num image positions + the kept position 0
    for r in r_reuse[1:]:
        assert r.usage["prompt_tokens"] - r.usage["prefill_tokens"] == prefix
    assert s_plain.prefill_tokens - s_reuse.prefill_tokens == (len(QUESTIONS) - 1) * prefix
    for r in r_reuse:
        assert r.view["view_shape"] == [32, 64, 128]
    truth = load_truth(dataset, "test")
    scores = score_predictions(
        load_predictions(tmp_path / "reuse-True.jsonl"),
        truth,
        questions=QUESTIONS,
        n_boot=0,
        min_coverage=0,  # one scan of the split, on purpose
    )
    assert int(scores.failures["count"].sum()) >= 1  # a random model's replies: failures, counted


def test_replies_depend_on_the_volume(tiny) -> None:
    from vlm_adapters import Batch, Query, ScanInput
    from vlm_adapters.med3dvlm.adapter import Med3DVLMAdapter, Med3DVLMOptions

    adapter = Med3DVLMAdapter.load(tiny, options=Med3DVLMOptions(max_new_tokens=8))
    shape = adapter.image_shape
    texts = []
    for vol in (np.zeros(shape, np.float32), np.random.default_rng(0).random(shape, np.float32)):
        batch = Batch(ScanInput("s", shape, volume=vol), (Query("r", "s", 1, "Grade the ACL."),))
        texts.append([r.raw_text for r in adapter.run([batch])])
    assert texts[0] != texts[1]


def test_gt_region_resizes_the_crop_to_the_model_input(dataset, tiny, tmp_path) -> None:
    from bbox3d import Box, ViewGeometry

    out = tmp_path / "gt.jsonl"
    run_baseline(
        dataset=dataset,
        split="test",
        limit=1,
        model=f"med3dvlm:{tiny}",
        setting="gt-region",
        out=out,
        questions=[1, 54, 63],
        options=OPTIONS,
        progress=False,
    )
    items = {
        it.record_id: it
        for s in load_split(dataset, "test", questions=[1, 54, 63])
        for it in s.items
    }
    records = read_records(out)
    assert len(records) == 3
    for r in records:
        assert r.view["view_shape"] == [32, 64, 128]
        box = items[r.record_id].box_public
        if box is None:
            continue
        whole = ViewGeometry.from_dict(r.view).box_to_source(Box(0, 32, 0, 64, 0, 128))
        region = Box.from_public(list(box))
        # the tensor shows (the foreground of) the question's box, nothing outside it
        assert all(a >= b for a, b in zip(whole.start, region.start, strict=True))
        assert all(a <= b for a, b in zip(whole.stop, region.stop, strict=True))


def test_volume_spec_in_iter_batches_states_the_tensor_geometry(dataset) -> None:
    scans = load_split(dataset, "test", questions=[1], limit=1)
    spec = InputSpec(kind="volume", volume_shape=(16, 24, 24))
    (batch,) = list(iter_batches(scans, setting="instruction", spec=spec))
    assert batch.scan.volume.shape == (16, 24, 24) and batch.scan.frames is None
    assert "16 sagittal frames of 24 x 24 pixels" in batch.queries[0].prompt


def test_trust_remote_code_runs_the_folders_own_code_only_when_asked(tiny, tmp_path) -> None:
    import json
    import shutil

    from vlm_adapters import Batch, Query, ScanInput
    from vlm_adapters.med3dvlm.adapter import Med3DVLMAdapter, Med3DVLMOptions

    folder = tmp_path / "remote"
    shutil.copytree(tiny, folder)
    # a folder shipping its own model code (here: a subclass of ours)
    (folder / "modeling_shipped.py").write_text(
        "from vlm_adapters.med3dvlm.config import Med3DVLMConfig\n"
        "from vlm_adapters.med3dvlm.model import Med3DVLMForCausalLM\n\n\n"
        "class Shipped(Med3DVLMForCausalLM):\n    pass\n"
    )
    config = json.loads((folder / "config.json").read_text())
    config["auto_map"] = {
        "AutoConfig": "modeling_shipped.Med3DVLMConfig",
        "AutoModelForCausalLM": "modeling_shipped.Shipped",
    }
    (folder / "config.json").write_text(json.dumps(config))
    options = Med3DVLMOptions(max_new_tokens=4)
    with pytest.warns(UserWarning, match="runs the model code shipped"):
        remote = Med3DVLMAdapter.load(
            folder, options=Med3DVLMOptions(max_new_tokens=4, trust_remote_code=True)
        )
    ours = Med3DVLMAdapter.load(folder, options=options)  # default: our code, no warning
    assert type(ours.model).__module__ == "vlm_adapters.med3dvlm.model"
    assert type(remote.model).__name__ == "Shipped"
    shape = ours.image_shape
    vol = np.random.default_rng(2).random(shape, dtype=np.float32)
    batch = Batch(ScanInput("s", shape, volume=vol), (Query("r", "s", 1, "Grade the ACL."),))
    assert [r.raw_text for r in remote.run([batch])] == [r.raw_text for r in ours.run([batch])]
