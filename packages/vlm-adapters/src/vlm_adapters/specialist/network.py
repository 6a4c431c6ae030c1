"""The specialist's networks (plain torch 3D convolutions).

- :class:`Localiser`: the whole canonical volume, downsampled, -> a normalised
  box per crop group, as the train-split mean box (the atlas, a buffer) plus a
  regressed offset (bounded by ``tanh``, starting at zero).
- :class:`Grader`: one crop (a group's box, or the whole volume) -> a shared
  feature vector, conditioned on the group by an embedding -> the logits of
  every attribute (one slice of the output per attribute; only the crop's own
  attributes are read).
"""

from __future__ import annotations

from typing import Any

__all__ = ["build_networks"]

#: The largest offset of a localised box edge from the atlas, as a fraction of the volume.
_MAX_SHIFT = 0.15


def _block(c_in: int, c_out: int, *, kernel: int = 3) -> Any:
    """Conv (stride 2; a 2-voxel patch stem when ``kernel=2``), batch norm, ReLU."""
    from torch import nn

    return nn.Sequential(
        nn.Conv3d(
            c_in, c_out, kernel_size=kernel, stride=2, padding=1 if kernel == 3 else 0, bias=False
        ),
        nn.BatchNorm3d(c_out),
        nn.ReLU(inplace=True),
    )


def _encoder(width: int, widths: tuple[int, int, int]) -> Any:
    """Three stride-2 stages (patch stem first): a grid 8 times coarser."""
    from torch import nn

    a, b, c = (width * k for k in widths)
    return nn.Sequential(_block(1, a, kernel=2), _block(a, b), _block(b, c))


def build_networks(
    *,
    n_groups: int,
    total_grades: int,
    atlas: Any,
    loc_size: tuple[int, int, int],
    width: int,
) -> tuple[Any, Any]:
    """``(localiser, grader)`` for ``n_groups`` crop groups (group 0 has no box)."""
    import torch
    from torch import nn

    class Localiser(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.features = _encoder(width, (2, 4, 4))
            cells = 1
            for s in loc_size:
                cells *= s // 8
            self.head = nn.Sequential(
                nn.Dropout(0.2), nn.Linear(4 * width * cells, (n_groups - 1) * 6)
            )
            nn.init.zeros_(self.head[1].weight)
            nn.init.zeros_(self.head[1].bias)
            self.register_buffer("atlas", torch.as_tensor(atlas, dtype=torch.float32))

        def forward(self, x: Any) -> Any:
            delta = self.head(self.features(x).flatten(1)).view(x.shape[0], n_groups - 1, 6)
            return self.atlas[None] + _MAX_SHIFT * torch.tanh(delta)

    class Grader(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            w = width
            self.features = _encoder(width, (2, 4, 8))
            self.embed = nn.Embedding(n_groups, 8 * w)
            self.shared = nn.Sequential(nn.Linear(24 * w, 8 * w), nn.ReLU(inplace=True))
            self.heads = nn.Linear(8 * w, total_grades)

        def forward(self, x: Any, group: Any) -> Any:
            f = self.features(x)
            pooled = torch.cat([f.mean(dim=(2, 3, 4)), f.amax(dim=(2, 3, 4))], dim=1)
            return self.heads(self.shared(torch.cat([pooled, self.embed(group)], dim=1)))

    return Localiser(), Grader()
