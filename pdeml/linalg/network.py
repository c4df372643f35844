"""The DCDM network: a small fully convolutional map from a residual field to a search direction.

Layout (Kaneda et al., ICML 2023): a 3x3(x3) convolution lifts the input to ``channels``
feature maps; residual blocks at full resolution; one 2x average pool, residual blocks at half
resolution; nearest 2x upsampling added to the full-resolution features (skip); more residual
blocks; a pointwise linear layer to one channel. ReLU activations, 'same' zero padding, so
any grid size works (odd sizes are padded by one cell before pooling and cropped after).

Input ``(B, *grid)`` (or ``(*grid)``), output the same shape, 0 on solid cells when a fluid
mask is given. With ``mask_channel`` (the default here; the paper feeds the residual alone)
the mask is a second input channel, so the network sees where the obstacles are even where
the residual happens to vanish.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn


class ResidualBlock(nn.Module):
    """``x + conv(relu(conv(x)))`` followed by ReLU, at constant width."""

    def __init__(self, dim: int, channels: int, bias: bool = True):
        super().__init__()
        conv = nn.Conv2d if dim == 2 else nn.Conv3d
        self.conv1 = conv(channels, channels, 3, padding=1, bias=bias)
        self.conv2 = conv(channels, channels, 3, padding=1, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(x + self.conv2(F.relu(self.conv1(x))))


class DCDMNet(nn.Module):
    """DCDM network for ``dim``-dimensional grids (2 or 3).

    ``blocks = (full, half, after)``: residual blocks before the pool, at half resolution and
    after the skip. ``forward(b, mask=None)``: ``b`` ``(B, *grid)`` or ``(*grid)`` float, ``mask``
    bool/float ``(*grid)`` or ``(B, *grid)`` (1 = fluid); returns a tensor shaped like ``b``.
    """

    def __init__(self, dim: int = 2, channels: int = 16, blocks: tuple[int, int, int] | list[int] = (2, 3, 2),
                 mask_channel: bool = True, bias: bool = True, levels: int = 1):
        super().__init__()
        if int(levels) < 1:
            raise ValueError(f"levels must be >= 1 (1 = the paper's single pooling level), got {levels!r}")
        if dim not in (2, 3):
            raise ValueError(f"DCDMNet dim must be 2 or 3, got {dim!r}")
        blocks = tuple(int(b) for b in blocks)
        if len(blocks) != 3 or min(blocks) < 0:
            raise ValueError(f"blocks must be three counts >= 0 (full, half, after), got {blocks!r}")
        if int(channels) < 1:
            raise ValueError(f"channels must be >= 1, got {channels!r}")
        self.dim, self.channels, self.blocks = int(dim), int(channels), blocks
        self.mask_channel, self.bias, self.levels = bool(mask_channel), bool(bias), int(levels)
        conv = nn.Conv2d if dim == 2 else nn.Conv3d
        self.lift = conv(2 if mask_channel else 1, channels, 3, padding=1, bias=bias)
        self.full = nn.Sequential(*[ResidualBlock(dim, channels, bias) for _ in range(blocks[0])])
        self.coarse = nn.Sequential(*[ResidualBlock(dim, channels, bias) for _ in range(blocks[1])])
        # levels > 1: one residual block before and one after each further 2x pooling level
        self.down = nn.ModuleList([ResidualBlock(dim, channels, bias) for _ in range(self.levels - 1)])
        self.up = nn.ModuleList([ResidualBlock(dim, channels, bias) for _ in range(self.levels - 1)])
        self.after = nn.Sequential(*[ResidualBlock(dim, channels, bias) for _ in range(blocks[2])])
        self.out = conv(channels, 1, 1, bias=bias)

    @property
    def config(self) -> dict[str, Any]:
        """Constructor arguments (JSON-able): ``DCDMNet(**net.config)`` rebuilds the architecture."""
        return {"dim": self.dim, "channels": self.channels, "blocks": list(self.blocks),
                "mask_channel": self.mask_channel, "bias": self.bias, "levels": self.levels}

    def forward(self, b: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        d = self.dim
        if b.dim() not in (d, d + 1):
            raise ValueError(f"DCDMNet(dim={d}) expects a field (*grid) or (B, *grid) with {d} grid axes, "
                             f"got shape {tuple(b.shape)}")
        single = b.dim() == d
        x = b.unsqueeze(0) if single else b
        grid = tuple(x.shape[1:])
        m = None
        if mask is not None:
            m = mask.to(device=x.device, dtype=x.dtype)
            if tuple(m.shape[m.dim() - d:]) != grid:
                raise ValueError(f"mask shape {tuple(mask.shape)} does not match the grid {grid}")
            m = m.reshape(-1, *grid).expand(x.shape[0], *grid)
        channels = [x]
        if self.mask_channel:
            channels.append(m if m is not None else torch.ones_like(x))
        h = torch.stack(channels, dim=1)
        full = self.full(F.relu(self.lift(h)))
        y = self.out(self.after(self._upsample(self._coarse(self._pool(full), 1), full)))[:, 0]
        if m is not None:
            y = y * m
        return y[0] if single else y

    def _pool(self, h: torch.Tensor) -> torch.Tensor:
        # odd sides are padded by one cell so the pooled grid covers every cell; cropped in _upsample
        pad = []
        for n in reversed(h.shape[2:]):
            pad += [0, n % 2]
        if any(pad):
            h = F.pad(h, pad)
        return F.avg_pool2d(h, 2) if self.dim == 2 else F.avg_pool3d(h, 2)

    @staticmethod
    def _upsample(coarse: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        up = F.interpolate(coarse, scale_factor=2, mode="nearest")
        return up[(slice(None), slice(None), *(slice(0, n) for n in skip.shape[2:]))] + skip

    def _coarse(self, h: torch.Tensor, level: int) -> torch.Tensor:
        if level == self.levels or min(h.shape[2:]) < 2:
            return self.coarse(h)
        pre = self.down[level - 1](h)
        return self.up[level - 1](self._upsample(self._coarse(self._pool(pre), level + 1), pre))
