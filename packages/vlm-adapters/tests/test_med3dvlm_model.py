"""Med3DVLM architecture: the published state-dict fact table, the tiny checkpoint, input checks."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("einops")

from vlm_adapters import AdapterError

TABLE = Path(__file__).parent / "data" / "med3dvlm_published_state_dict.tsv"


def _table(vocab_size: int) -> list[tuple[str, tuple[int, ...]]]:
    rows = []
    for line in TABLE.read_text().splitlines():
        if not line or line.startswith("#"):
            continue
        key, shape = line.split("\t")
        dims = (
            ()
            if shape == "()"
            else tuple(vocab_size if d == "vocab_size" else int(d) for d in shape.split(","))
        )
        rows.append((key, dims))
    return rows


def test_published_config_gives_exactly_the_fact_table() -> None:
    import torch
    from vlm_adapters.med3dvlm.config import published_config
    from vlm_adapters.med3dvlm.model import Med3DVLMForCausalLM

    config = published_config(vocab_size=151666)
    with torch.device("meta"):
        model = Med3DVLMForCausalLM(config)
    ours = [(k, tuple(v.shape)) for k, v in model.state_dict().items()]
    expected = _table(151666)
    assert len(expected) == 813
    assert sorted(ours) == sorted(expected)
    tower = sum(v.numel() for k, v in model.state_dict().items() if ".vision_tower." in k)
    proj = sum(v.numel() for k, v in model.state_dict().items() if ".mm_projector." in k)
    assert (tower, proj) == (
        sum(_numel(s) for k, s in expected if ".vision_tower." in k),
        sum(_numel(s) for k, s in expected if ".mm_projector." in k),
    )


def _numel(shape: tuple[int, ...]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def test_published_geometry_256_plus_32_tokens_and_256_visual_embeddings() -> None:
    from vlm_adapters.med3dvlm.config import published_config, stage_grid

    config = published_config()
    assert config.image_shape == (128, 256, 256)
    assert stage_grid(config.image_shape, 3) == (4, 8, 8)
    assert stage_grid(config.image_shape, 4) == (2, 4, 4)
    # the transposed volume yields the same token counts: only the shape check catches it
    assert stage_grid((256, 256, 128), 3) == (8, 8, 4)


def test_config_refuses_what_it_does_not_implement() -> None:
    from vlm_adapters.med3dvlm.config import published_config

    with pytest.raises(AdapterError, match="mm_projector_type"):
        published_config().__class__(mm_projector_type="mlp").check()
    bad = published_config()
    bad.low_input_size = [128, 384]
    with pytest.raises(AdapterError, match="low_input_size"):
        bad.check()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from vlm_adapters.med3dvlm.tiny import build_tiny_med3dvlm

    return build_tiny_med3dvlm(tmp_path_factory.mktemp("m3d") / "tiny", seed=0)


def test_tiny_writer_is_deterministic_and_the_model_refuses_a_transposed_volume(
    tiny: Path, tmp_path: Path
) -> None:
    import torch
    from vlm_adapters.med3dvlm.model import Med3DVLMForCausalLM
    from vlm_adapters.med3dvlm.tiny import main

    assert main([str(tmp_path / "again"), "--seed", "0"]) == 0
    for name in ("model.safetensors", "config.json", "tokenizer.json"):
        assert (tmp_path / "again" / name).read_bytes() == (tiny / name).read_bytes(), name
    model = Med3DVLMForCausalLM.from_pretrained(tiny).eval()
    ids = torch.full((1, 12), 65)
    ids[0, :8] = model.config.vocab_size - 1
    d, h, w = model.config.image_shape
    with torch.no_grad():
        out = model(input_ids=ids, images=torch.rand(1, 1, d, h, w))
        assert out.logits.shape == (1, 12, model.config.vocab_size)
        with pytest.raises(AdapterError, match="slices first"):
            model(input_ids=ids, images=torch.rand(1, 1, h, w, d))
