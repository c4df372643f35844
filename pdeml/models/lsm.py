"""LSM: Latent Spectral Models (Wu, Hu, Luo, Wang, Long, ICML 2023).

Pipeline, for ``(batch, in_channels, *space)`` on a uniform grid of the unit box:

1. append the grid coordinates (``linspace(0, 1, n)`` per axis) as channels, ``Linear`` to
   ``d_model`` channels, zero-pad every axis at its end to a multiple of ``16 * patch_size``
   (so the four 2x poolings divide evenly and the coarsest level is a multiple of the patch);
2. a U-Net: two (3x3 conv, BatchNorm, ReLU) per stage, four max-pool downsamplings with
   channels ``w, 2w, 4w, 8w, 8w``, bilinear upsampling with concatenation of the skip feature;
3. a neural spectral block on each of the 5 features the decoder consumes (4 skips and the
   bottleneck): fold ``p x p`` patches into the batch (the coarsest level is one global patch),
   encode each patch into ``num_token`` latent tokens by attention (learned token queries,
   keys/values from a 1x1 conv, softmax, residual), transform each latent value by a learned
   per-channel trigonometric series ``z + sum_{k<K} a_ck sin(k pi z / K) + b_ck cos(k pi z / K)``,
   decode back by attention with the pixels as queries (residual), un-patchify;
4. crop the padding, 1x1 conv, then ``Linear(w, 128)``, GELU, ``Linear(128, out_channels)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from pdeml.config import check_arguments
from pdeml.models.operator import with_preset

# The authors' Darcy settings (scripts/darcy_lsm.sh: 85x85 padded to 96, patch 6, d_model 64).
PRESETS: dict[str, dict[str, Any]] = {
    "darcy": {"d_model": 64, "patch_size": 6, "num_token": 4, "num_basis": 12, "heads": 8, "dim": 2},
}

_CONV = {2: nn.Conv2d, 3: nn.Conv3d}
_NORM = {2: nn.BatchNorm2d, 3: nn.BatchNorm3d}
_POOL = {2: nn.MaxPool2d, 3: nn.MaxPool3d}
_UPSAMPLE = {2: "bilinear", 3: "trilinear"}
N_DOWN = 4  # U-Net poolings: padding to a multiple of 2**4 * patch_size keeps every level exact


def _patchify(x: torch.Tensor, patch: Sequence[int]) -> torch.Tensor:
    """(B, C, *space) -> (B * n_patches, C, prod(patch)); every space axis divisible by its patch."""
    b, c, *space = x.shape
    d = len(space)
    split = [b, c]
    for n, p in zip(space, patch):
        split += [n // p, p]
    # axes now: batch, channel, (count_i, size_i) per spatial axis
    order = [0] + [2 + 2 * i for i in range(d)] + [1] + [3 + 2 * i for i in range(d)]
    return x.reshape(split).permute(order).reshape(-1, c, math.prod(patch))


def _unpatchify(x: torch.Tensor, batch: int, space: Sequence[int], patch: Sequence[int]) -> torch.Tensor:
    """Inverse of :func:`_patchify`: (B * n_patches, C, prod(patch)) -> (B, C, *space)."""
    d, c = len(space), x.shape[1]
    counts = [n // p for n, p in zip(space, patch)]
    x = x.reshape(batch, *counts, c, *patch)
    order = [0, d + 1]
    for i in range(d):
        order += [1 + i, d + 2 + i]
    return x.permute(order).reshape(batch, c, *space)


class NeuralSpectralBlock(nn.Module):
    """Patchwise latent-token spectral block: (B, C, *space) -> (B, C, *space).

    ``forward(x, patch)``: ``patch`` per axis divides the spatial shape; ``None`` is one global
    patch. Attention uses no 1/sqrt(d) scaling, as in the reference implementation.
    """

    def __init__(self, width: int, num_basis: int = 12, num_token: int = 4, heads: int = 8, dim: int = 2):
        super().__init__()
        if width % heads:
            raise ValueError(f"the spectral block width must be divisible by heads={heads}, got width={width}")
        self.width, self.num_basis, self.num_token, self.heads = width, num_basis, num_token, heads
        # small positive initial values, as the authors use (1/width * U[0, 1))
        self.latent = nn.Parameter(torch.rand(heads, num_token, width // heads) / width)
        self.weights = nn.Parameter(torch.rand(width, 2 * num_basis) / width)
        # 1x1 convs act on the flattened patch (B*, C, L): a Conv1d is a per-pixel linear map
        self.encoder_kv = nn.Conv1d(width, 2 * width, 1)
        self.decoder_q = nn.Conv1d(width, width, 1)

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, L) -> (B, heads, L, C/heads)."""
        b, c, n = x.shape
        return x.reshape(b, self.heads, c // self.heads, n).transpose(2, 3)

    def transition(self, z: torch.Tensor) -> torch.Tensor:
        """Per-channel trigonometric series of the latent values ``z``: (B, C, T) -> (B, C, T)."""
        k = torch.arange(self.num_basis, device=z.device, dtype=z.dtype) * (math.pi / self.num_basis)
        arg = z.unsqueeze(-1) * k
        basis = torch.cat([torch.sin(arg), torch.cos(arg)], dim=-1)  # (B, C, T, 2K)
        return z + torch.einsum("bctk,ck->bct", basis, self.weights)

    def forward(self, x: torch.Tensor, patch: Sequence[int] | None = None) -> torch.Tensor:
        batch, c, *space = x.shape
        patch = list(space) if patch is None else list(patch)
        tokens_in = _patchify(x, patch)  # (B*, C, L)
        k, v = self.encoder_kv(tokens_in).chunk(2, dim=1)
        k, v = self._heads(k), self._heads(v)  # (B*, h, L, C/h)
        q = self.latent.unsqueeze(0)  # (1, h, T, C/h), broadcast over patches
        attn = torch.softmax(q @ k.transpose(-1, -2), dim=-1)  # (B*, h, T, L)
        latent = attn @ v + q  # (B*, h, T, C/h)
        z = latent.transpose(2, 3).reshape(latent.shape[0], c, self.num_token)  # (B*, C, T)
        z = self.transition(z)
        z = self._heads(z)  # (B*, h, T, C/h)
        qx = self._heads(self.decoder_q(tokens_in))  # (B*, h, L, C/h)
        out = torch.softmax(qx @ z.transpose(-1, -2), dim=-1) @ z  # (B*, h, L, C/h)
        out = out.transpose(2, 3).reshape(tokens_in.shape) + tokens_in
        return _unpatchify(out, batch, space, patch)


class DoubleConv(nn.Module):
    """(3x3 conv without bias, BatchNorm, ReLU) twice: (B, c_in, *s) -> (B, c_out, *s)."""

    def __init__(self, c_in: int, c_out: int, c_mid: int | None = None, dim: int = 2):
        super().__init__()
        c_mid = c_mid or c_out
        conv, norm = _CONV[dim], _NORM[dim]
        self.net = nn.Sequential(conv(c_in, c_mid, 3, padding=1, bias=False), norm(c_mid), nn.ReLU(inplace=True),
                                 conv(c_mid, c_out, 3, padding=1, bias=False), norm(c_out), nn.ReLU(inplace=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class Up(nn.Module):
    """Upsample 2x (multilinear, corners aligned), concatenate the skip, DoubleConv."""

    def __init__(self, c_in: int, c_out: int, dim: int = 2):
        super().__init__()
        self.mode = _UPSAMPLE[dim]
        self.conv = DoubleConv(c_in, c_out, c_in // 2, dim)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, size=skip.shape[2:], mode=self.mode, align_corners=True)
        return self.conv(torch.cat([skip, x], dim=1))


class LSM(nn.Module):
    """Latent Spectral Model: (batch, in_channels, *space) -> (batch, out_channels, *space).

    ``dim`` = 2 (or 3) spatial axes of any size; ``d_model`` (the U-Net width w) must be
    divisible by ``heads``. ``patch_size``: an int or one per axis.
    """

    def __init__(self, in_channels: int = 1, out_channels: int = 1, d_model: int = 32,
                 patch_size: int | Sequence[int] = 3, num_token: int = 4, num_basis: int = 12, heads: int = 8,
                 head_channels: int = 128, dim: int = 2):
        super().__init__()
        if dim not in _CONV:
            raise ValueError(f"LSM supports dim 2 or 3, got dim={dim!r}")
        patch = [int(patch_size)] * dim if isinstance(patch_size, int) else [int(p) for p in patch_size]
        if len(patch) != dim or min(patch) < 1:
            raise ValueError(f"patch_size must be a positive int or {dim} positive ints, got {patch_size!r}")
        if d_model % heads:
            raise ValueError(f"d_model must be divisible by heads={heads}, got d_model={d_model}")
        self.dim, self.patch, self.in_channels = dim, patch, in_channels
        w = d_model
        widths = [w, 2 * w, 4 * w, 8 * w, 8 * w]  # the bilinear U-Net halves the bottleneck width
        self.lift = nn.Linear(in_channels + dim, w)
        self.inc = DoubleConv(w, w, dim=dim)
        self.downs = nn.ModuleList(nn.Sequential(_POOL[dim](2), DoubleConv(widths[i], widths[i + 1], dim=dim))
                                   for i in range(N_DOWN))
        self.ups = nn.ModuleList([Up(16 * w, 4 * w, dim), Up(8 * w, 2 * w, dim), Up(4 * w, w, dim),
                                  Up(2 * w, w, dim)])
        self.spectral = nn.ModuleList(NeuralSpectralBlock(c, num_basis, num_token, heads, dim) for c in widths)
        self.outc = _CONV[dim](w, w, 1)
        self.fc1 = nn.Linear(w, head_channels)
        self.fc2 = nn.Linear(head_channels, out_channels)

    def padded_shape(self, space: Sequence[int]) -> list[int]:
        """Spatial shape after zero-padding each axis to a multiple of ``16 * patch``."""
        return [math.ceil(n / (2**N_DOWN * p)) * 2**N_DOWN * p for n, p in zip(space, self.patch)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != self.dim + 2 or x.shape[1] != self.in_channels:
            raise ValueError(f"LSM expects input (batch, {self.in_channels}, {self.dim} spatial axes), "
                             f"got shape {tuple(x.shape)}")
        batch, _, *space = x.shape
        axes = [torch.linspace(0, 1, n, device=x.device, dtype=x.dtype) for n in space]
        grid = torch.stack(torch.meshgrid(*axes, indexing="ij")).expand(batch, self.dim, *space)
        h = self.lift(torch.cat([x, grid], dim=1).movedim(1, -1)).movedim(-1, 1)
        pad = [p - n for n, p in zip(space, self.padded_shape(space))]
        # F.pad takes (last axis first) pairs; pad at the end only, as the reference does
        h = F.pad(h, [v for extra in reversed(pad) for v in (0, extra)])
        feats = [self.inc(h)]
        for down in self.downs:
            feats.append(down(feats[-1]))
        feats = [block(f, self.patch if i < N_DOWN else None) for i, (block, f) in enumerate(zip(self.spectral, feats))]
        h = feats[-1]
        for up, skip in zip(self.ups, reversed(feats[:-1])):
            h = up(h, skip)
        h = self.outc(h)[(..., *(slice(0, n) for n in space))]
        return self.fc2(F.gelu(self.fc1(h.movedim(1, -1)))).movedim(-1, 1)


def lsm_arguments(preset: str | None = None, **config: Any) -> dict[str, Any]:
    """LSM constructor arguments: ``preset="darcy"`` fills in the authors' Darcy settings
    (explicit arguments override it)."""
    values = with_preset("LSM", PRESETS, preset, config)
    check_arguments(LSM, values, "LSM")
    return values


def build_lsm(preset: str | None = None, **config: Any) -> LSM:
    """LSM from keyword arguments (see :func:`lsm_arguments` for ``preset``)."""
    return LSM(**lsm_arguments(preset, **config))


build_lsm.arguments = lsm_arguments  # type: ignore[attr-defined]

__all__ = ["LSM", "PRESETS", "NeuralSpectralBlock", "build_lsm", "lsm_arguments"]
