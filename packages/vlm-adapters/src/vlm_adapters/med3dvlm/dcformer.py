"""The DCFormer 3D encoder (decomposed 3D convolutions), written to the published parameter layout.

Our implementation of the architecture described by mirthAI/Med3DVLM
(``src/model/encoder/dcformer.py``, ``decomp_small``); the module and
attribute names are chosen so that ``state_dict()`` keys and shapes equal the
published checkpoint's (docs/baselines.md, "Med3DVLM state dict"). Facts it
reproduces:

- A *decomposed* convolution is three ``Conv3d`` (with bias) whose kernels lie
  along one axis each (``k x 1 x 1``, ``1 x k x 1``, ``1 x 1 x k``, padding
  ``k // 2`` on that axis, the same stride on all axes), each followed by a
  ``BatchNorm3d`` or nothing, summed (``c1``, ``c2``, ``c3``).
- Stage 0 (stem): four decomposed convolutions (kernel 7 stride 4, then three
  of kernel 3), each with batch norm and, as published, no activation.
- Stages 1-4: ConvNeXt-like blocks; the first block of a stage max-pools
  (3, stride 2, padding 1) and projects channels (1x1x1 ``Conv3d``, no bias);
  every block adds ``scale * MLP(decomposed depthwise conv(x))`` to ``x``
  (MLP ratio 4, GELU).
- The input ``(B, 1, D, H, W)`` is permuted to ``(B, 1, H, W, D)`` first; each
  stage's output is returned as tokens ``(B, D' * H' * W', C)`` in
  ``(D', H', W')`` order.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["ConvBlock", "DCFormer", "DecomposedConv3d", "FeedForward"]


class DecomposedConv3d(nn.Module):
    """Sum of three axis-wise convolutions (``c1``: axis 0, ``c2``: axis 1, ``c3``: axis 2)."""

    def __init__(
        self, cin: int, cout: int, kernel: int, *, stride: int = 1, groups: int = 1, norm: bool
    ) -> None:
        super().__init__()
        for i in range(3):
            size = [1, 1, 1]
            pad = [0, 0, 0]
            size[i], pad[i] = kernel, kernel // 2
            conv = nn.Conv3d(
                cin,
                cout,
                kernel_size=tuple(size),
                padding=tuple(pad),
                stride=stride,
                groups=groups,
            )
            setattr(
                self,
                f"c{i + 1}",
                nn.Sequential(conv, nn.BatchNorm3d(cout) if norm else nn.Identity()),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.c1(x) + self.c2(x) + self.c3(x)


class FeedForward(nn.Module):
    """``Linear(dim, hidden) -> GELU -> Linear(hidden, dim)`` on channels-last tensors (key ``mlp.0`` / ``mlp.3``)."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.mlp = nn.Sequential(
            nn.Linear(dim, hidden),
            nn.GELU(),
            nn.Dropout(0.0),
            nn.Linear(hidden, dim),
            nn.Dropout(0.0),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mlp(x)


class ConvBlock(nn.Module):
    """One encoder block; ``downsample`` adds the stage's max pool and channel projection."""

    def __init__(self, cin: int, cout: int, kernel: int, *, downsample: bool) -> None:
        super().__init__()
        self.downsample = downsample
        if downsample:
            self.pool = nn.MaxPool3d(3, 2, 1)
            self.proj = nn.Conv3d(cin, cout, 1, 1, 0, bias=False)
        self.dwconv = DecomposedConv3d(cout, cout, kernel, groups=cout, norm=True)
        self.mlp = FeedForward(cout, 4 * cout)
        self.scale = nn.Parameter(torch.full((cout,), 1e-6))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.downsample:
            x = self.proj(self.pool(x))
        y = self.dwconv(x).permute(0, 2, 3, 4, 1)
        y = self.scale * self.mlp(y)
        return x + y.permute(0, 4, 1, 2, 3)


def _stem(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        DecomposedConv3d(cin, cout, 7, stride=4, norm=True),
        *[DecomposedConv3d(cout, cout, 3, norm=True) for _ in range(3)],
    )


class _Stages(nn.Module):
    """``s0`` (stem) .. ``s4``: the encoder's five stages."""

    def __init__(
        self, cin: int, channels: Sequence[int], blocks: Sequence[int], kernels: Sequence[int]
    ) -> None:
        super().__init__()
        self.s0 = nn.Sequential(
            _stem(cin, channels[0]),
            *[_stem(channels[0], channels[0]) for _ in range(blocks[0] - 1)],
        )
        for s in range(1, 5):
            layers = [
                ConvBlock(
                    channels[s - 1] if i == 0 else channels[s],
                    channels[s],
                    kernels[s - 1],
                    downsample=i == 0,
                )
                for i in range(blocks[s])
            ]
            setattr(self, f"s{s}", nn.Sequential(*layers))


class DCFormer(nn.Module):
    """The encoder: ``(B, 1, D, H, W)`` -> five token tensors ``(B, n_s, C_s)`` (stages 0-4)."""

    def __init__(
        self,
        *,
        channels: Sequence[int],
        blocks: Sequence[int],
        kernels: Sequence[int],
        in_channels: int = 1,
    ) -> None:
        super().__init__()
        self.channels = [int(c) for c in channels]
        self.encoder = _Stages(
            in_channels, self.channels, [int(b) for b in blocks], [int(k) for k in kernels]
        )

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        x = images.permute(0, 1, 3, 4, 2)  # (B, C, D, H, W) -> (B, C, H, W, D)
        out = []
        for s in range(5):
            x = getattr(self.encoder, f"s{s}")(x)
            # (B, C, H, W, D) -> tokens in (D, H, W) order
            out.append(x.permute(0, 4, 2, 3, 1).flatten(1, 3))
        return out
