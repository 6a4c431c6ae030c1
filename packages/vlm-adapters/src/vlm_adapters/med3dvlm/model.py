"""`Med3DVLMForCausalLM`: Qwen2 causal LM with the DCFormer encoder and mixer projector spliced in.

The module tree gives the published state-dict keys: ``model.vision_tower.vision_tower.encoder.*``
(:class:`~vlm_adapters.med3dvlm.dcformer.DCFormer` inside :class:`VisionTower`),
``model.mm_projector.*`` (:class:`~vlm_adapters.med3dvlm.mixer.MixerProjector`),
``model.embed_tokens``, ``model.layers.*``, ``model.norm``, ``lm_head``.

Image splicing (the M3D convention the published model was trained with): the
text starts with ``proj_out_num`` ``<im_patch>`` tokens; the input embeddings
keep position 0, take the ``proj_out_num`` visual embeddings at positions
``1 .. proj_out_num`` and continue with the text from position
``proj_out_num + 1``. The token at position ``proj_out_num`` (the first text
token; Qwen adds no BOS) is thereby overwritten, in training and inference
alike; the sequence length is unchanged. Positions ``0 .. proj_out_num`` are
the same for every question about a scan: the image prefix.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from transformers import Qwen2ForCausalLM, Qwen2Model
from transformers import initialization as init
from transformers.models.qwen2.modeling_qwen2 import Qwen2PreTrainedModel

from vlm_adapters.errors import AdapterError
from vlm_adapters.med3dvlm.config import Med3DVLMConfig
from vlm_adapters.med3dvlm.dcformer import ConvBlock, DCFormer
from vlm_adapters.med3dvlm.mixer import MixerProjector

__all__ = ["Med3DVLMForCausalLM", "Med3DVLMModel", "VisionTower"]


class VisionTower(nn.Module):
    """The encoder (``vision_tower``) returning its last two stages (``vision_select_layer=-2``)."""

    def __init__(self, config: Med3DVLMConfig) -> None:
        super().__init__()
        self.image_shape = config.image_shape
        self.vision_tower = DCFormer(
            channels=config.dcformer_channels,
            blocks=config.dcformer_blocks,
            kernels=config.dcformer_kernels,
        )

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        if images.dim() != 5 or tuple(images.shape[1:]) != (1, *self.image_shape):
            raise AdapterError(
                f"Med3DVLM images: expected (B, 1, D, H, W) = (B, 1, {', '.join(map(str, self.image_shape))}) "
                f"(slices first), got {tuple(images.shape)}"
            )
        return self.vision_tower(images)[-2:]


class Med3DVLMModel(Qwen2Model):
    """Qwen2 decoder + ``vision_tower`` + ``mm_projector``."""

    config: Med3DVLMConfig
    config_class = Med3DVLMConfig

    def __init__(self, config: Med3DVLMConfig) -> None:
        super().__init__(config)
        config.check()
        self.vision_tower = VisionTower(config)
        self.mm_projector = MixerProjector(
            low_input_size=config.low_input_size,
            low_output_size=config.low_output_size,
            high_input_size=config.high_input_size,
            high_output_size=config.high_output_size,
            hidden=config.hidden_size,
            mlp_depth=config.mm_mlp_depth,
        )


class Med3DVLMForCausalLM(Qwen2ForCausalLM):
    """The whole model; ``forward(..., images=...)`` splices the volume's embeddings into the text."""

    config: Med3DVLMConfig
    config_class = Med3DVLMConfig

    def __init__(self, config: Med3DVLMConfig) -> None:
        Qwen2PreTrainedModel.__init__(self, config)
        self.model = Med3DVLMModel(config)
        self.vocab_size = config.vocab_size
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        self.post_init()

    def _init_weights(self, module: nn.Module) -> None:
        super()._init_weights(module)
        if isinstance(module, ConvBlock):
            init.constant_(module.scale, 1e-6)

    def encode_images(self, images: torch.Tensor) -> torch.Tensor:
        """``(B, 1, D, H, W)`` in [0, 1] -> ``(B, proj_out_num, hidden)`` visual embeddings."""
        tower = self.model.vision_tower
        dtype = next(tower.parameters()).dtype
        return self.model.mm_projector(tower(images.to(dtype)))

    def splice(self, input_ids: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
        """Input embeddings with the visual embeddings at positions ``1 .. proj_out_num`` (module doc)."""
        n = int(self.config.proj_out_num)
        if input_ids.shape[1] < n + 1:
            raise AdapterError(
                f"Med3DVLM input_ids: expected at least {n + 1} tokens ({n} image tokens + text), "
                f"got {input_ids.shape[1]}"
            )
        feats = self.encode_images(images)
        embeds = self.model.embed_tokens(input_ids)
        return torch.cat([embeds[:, :1], feats.to(embeds.dtype), embeds[:, n + 1 :]], dim=1)

    def forward(  # type: ignore[override]
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        cache: Any = None,
        inputs_embeds: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        use_cache: bool | None = None,
        logits_to_keep: int | torch.Tensor = 0,
        images: torch.Tensor | None = None,
        **kwargs: Any,
    ) -> Any:
        if images is not None and inputs_embeds is None:
            if input_ids is None:
                raise AdapterError("Med3DVLM forward: images need input_ids (the image tokens)")
            inputs_embeds, input_ids = self.splice(input_ids, images), None
        return super().forward(
            input_ids=input_ids,
            attention_mask=attention_mask,
            position_ids=position_ids,
            cache=cache,
            inputs_embeds=inputs_embeds,
            labels=labels,
            use_cache=use_cache,
            logits_to_keep=logits_to_keep,
            **kwargs,
        )

    @torch.no_grad()
    def generate_with_images(
        self, input_ids: torch.Tensor, images: torch.Tensor, **kwargs: Any
    ) -> torch.Tensor:
        """``generate`` on the spliced embeddings (returns the new tokens only)."""
        embeds = self.splice(input_ids, images)
        return self.generate(inputs_embeds=embeds, **kwargs)
