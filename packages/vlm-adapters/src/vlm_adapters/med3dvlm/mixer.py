"""The "mixer" projector: stage-3 and stage-4 encoder tokens -> ``proj_out_num`` LM embeddings.

Our implementation of the layout described by mirthAI/Med3DVLM
(``src/model/projector/mlp.py``, ``MixerLowHighHybridMLP``); names chosen so
that the state dict equals the published one. Each branch (``low_mixer`` for
stage 3, ``high_mixer`` for stage 4) is a list of mixer layers; layer ``i``
maps ``(n_i, d_i)`` tokens to ``(n_{i+1}, d_{i+1})`` with ``d_i = hidden //
2**(depth - i)`` (``d_0`` the encoder's channels): layer norm over channels,
an MLP across the *token* axis (``mlp1``), layer norm, an MLP across channels
(``mlp2``). Every MLP is ``Linear`` then ``depth - 1`` x (GELU, ``Linear``).
The two branches' outputs are concatenated along the tokens (low first).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["MixerLayer", "MixerProjector", "ProjectorMLP"]


class ProjectorMLP(nn.Module):
    """``Linear(cin, cout)`` then ``depth - 1`` x (GELU, ``Linear(cout, cout)``) (keys ``mm_projector.*``)."""

    def __init__(self, cin: int, cout: int, depth: int) -> None:
        super().__init__()
        self.mm_projector = nn.Sequential(
            nn.Linear(cin, cout),
            *[nn.Sequential(nn.GELU(), nn.Linear(cout, cout)) for _ in range(depth - 1)],
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mm_projector(x)


class MixerLayer(nn.Module):
    """``(B, n_in, d_in)`` -> ``(B, n_out, d_out)``: token mixing, then channel mixing."""

    def __init__(self, n_in: int, d_in: int, n_out: int, d_out: int, depth: int) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(d_in)
        self.ln2 = nn.LayerNorm(d_in)
        self.mlp1 = ProjectorMLP(n_in, n_out, depth)
        self.mlp2 = ProjectorMLP(d_in, d_out, depth)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.mlp1(self.ln1(x).transpose(1, 2)).transpose(1, 2)
        return self.mlp2(self.ln2(x))


def _branch(first: Sequence[int], outs: Sequence[int], hidden: int, depth: int) -> nn.ModuleList:
    layers = []
    n, d = int(first[0]), int(first[1])
    k = len(outs)
    for i, n_out in enumerate(outs):
        d_out = hidden // 2 ** (k - i - 1)
        layers.append(MixerLayer(n, d, int(n_out), d_out, depth))
        n, d = int(n_out), d_out
    return nn.ModuleList(layers)


class MixerProjector(nn.Module):
    """Both branches; ``forward((low, high))`` returns ``(B, low_out[-1] + high_out[-1], hidden)``."""

    def __init__(
        self,
        *,
        low_input_size: Sequence[int],
        low_output_size: Sequence[int],
        high_input_size: Sequence[int],
        high_output_size: Sequence[int],
        hidden: int,
        mlp_depth: int,
    ) -> None:
        super().__init__()
        self.proj_out_num = int(low_output_size[-1]) + int(high_output_size[-1])
        self.low_mixer = _branch(low_input_size, low_output_size, hidden, mlp_depth)
        self.high_mixer = _branch(high_input_size, high_output_size, hidden, mlp_depth)

    def forward(self, features: Sequence[torch.Tensor]) -> torch.Tensor:
        low, high = features
        for layer in self.low_mixer:
            low = layer(low)
        for layer in self.high_mixer:
            high = layer(high)
        return torch.cat([low, high], dim=1)
