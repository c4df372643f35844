"""MgNO: the multigrid-parameterized neural operator (He, Liu, Xu, ICLR 2024).

Every layer is ``u <- act(MgConv(u) + Conv1x1(u))``, where ``MgConv`` is one V-cycle of a
learned multigrid solver whose right-hand side ``f`` is the layer input:

* smoothing step on level ``l``: ``u <- u + S(f - A u)`` with ``A``: 3x3 conv C_u -> C_f and
  ``S``: 3x3 conv C_f -> C_u, both without bias, a separate pair for every step and level;
  the very first step on the finest level starts from ``u = 0`` and is therefore ``u = S(f)``;
* restriction: ``u <- Pi(u)``, ``f <- R(f)``, learned 3x3 stride-2 convolutions;
* prolongation on the way up: ``u_l <- u_l + RT_l(u_{l+1})``, a learned 4x4 stride-2
  transposed convolution (then post-smoothing, if any).

There is no lifting layer: the first layer's ``f`` is the input itself (so C_f equals
``in_channels`` there; later layers take the previous layer's C_u-channel output as ``f``).
The output head is a 1x1 convolution without bias. Boundary conditions enter only through the
padding mode of the convolutions: ``"zeros"`` (Dirichlet), ``"circular"`` (periodic, with a
normalization after every prolongation and a global residual, as the paper does for
Navier–Stokes) or ``"reflect"``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from pdeml.config import check_arguments
from pdeml.models.operator import with_preset

PADDING_MODES = ("zeros", "circular", "reflect")
ACTIVATIONS = {"gelu": nn.GELU, "relu": nn.ReLU, "tanh": nn.Tanh, "silu": nn.SiLU}

# The paper's Darcy model (their repository's `MgNO_DC` with `--num_layer 4 --num_channel_u 24
# --num_iteration 10 10 10 10 10 20`, parsed digit by digit into [pre, post] pairs per level).
PRESETS: dict[str, dict[str, Any]] = {
    "darcy": {
        "n_layers": 4,
        "channels_u": 24,
        "levels": 6,
        "pre_smoothing": [1, 1, 1, 1, 1, 2],
        "post_smoothing": [0, 0, 0, 0, 0, 0],
        "padding_mode": "zeros",
        "activation": "gelu",
        "dim": 2,
    },
}

_CONV = {1: nn.Conv1d, 2: nn.Conv2d}
_CONV_T = {1: nn.ConvTranspose1d, 2: nn.ConvTranspose2d}


def level_sizes(size: int, levels: int) -> list[int]:
    """Grid points per axis on each level: a stride-2 3x3 conv (padding 1) maps n to ceil(n/2)."""
    sizes = [int(size)]
    for _ in range(levels - 1):
        sizes.append((sizes[-1] + 1) // 2)
    return sizes


def min_grid_size(levels: int) -> int:
    """Smallest grid (points per axis) on which ``levels`` levels keep >= 2 points on the coarsest.

    A coarsest level of one point stops halving (ceil(1/2) = 1), so further levels would add
    cost without coarsening, and reflect padding needs 2 points.
    """
    return 2 ** (levels - 1) + 1


def _per_level(value: int | Sequence[int] | None, levels: int, name: str, default: list[int]) -> list[int]:
    if value is None:
        return list(default)
    if isinstance(value, int):
        return [int(value)] * levels
    out = [int(v) for v in value]
    if len(out) != levels:
        raise ValueError(f"{name} needs one entry per level ({levels}), got {len(out)}: {out}")
    if any(v < 0 for v in out):
        raise ValueError(f"{name} entries must be >= 0, got {out}")
    return out


class Smoother(nn.Module):
    """One learned smoothing step ``u <- u + S(f - A u)``; without ``A`` it is ``u = S(f)``.

    ``u``: (batch, C_u, *space), ``f``: (batch, C_f, *space), same spatial shape.
    """

    def __init__(self, channels_u: int, channels_f: int, dim: int, padding_mode: str, first: bool = False):
        super().__init__()
        conv = _CONV[dim]
        self.S = conv(channels_f, channels_u, 3, padding=1, bias=False, padding_mode=padding_mode)
        self.A = None if first else conv(channels_u, channels_f, 3, padding=1, bias=False,
                                         padding_mode=padding_mode)

    def forward(self, u: torch.Tensor | None, f: torch.Tensor) -> torch.Tensor:
        if self.A is None:
            return self.S(f)
        return u + self.S(f - self.A(u))


class Prolongation(nn.Module):
    """Learned 4x4 stride-2 transposed convolution from a coarse level to the next finer one.

    ``forward(u, size)``: (batch, C, *coarse) -> (batch, C, *size) where every fine size ``n``
    has coarse size ``ceil(n/2)``. With padding 1 a 4-tap stencil yields ``2m`` points; an odd
    fine grid ``n = 2m - 1`` drops the last one, which keeps coarse node ``i`` on fine node
    ``2i`` (the alignment of the restriction) and equals the 3-tap kernel the authors use on odd
    levels plus one extra learned tap. On periodic grids the taps that leave the domain wrap
    around (the transposed conv of a circularly padded restriction) instead of being cut off.
    """

    def __init__(self, channels: int, dim: int, periodic: bool):
        super().__init__()
        self.dim, self.periodic = dim, periodic
        # the module only holds the weight and its default initialization; the call is functional
        self.conv = _CONV_T[dim](channels, channels, 4, stride=2, padding=1, bias=False)

    def forward(self, u: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
        transposed = F.conv_transpose1d if self.dim == 1 else F.conv_transpose2d
        if not self.periodic:
            out = transposed(u, self.conv.weight, stride=2, padding=1)
            index = tuple(slice(0, n) for n in size)
            return out[(..., *index)]
        out = transposed(u, self.conv.weight, stride=2, padding=0)  # fine index -1 .. 2m per axis
        for axis, n in enumerate(size):
            out = _fold_periodic(out, out.ndim - self.dim + axis, n)
        return out


def _fold_periodic(x: torch.Tensor, axis: int, n: int) -> torch.Tensor:
    """Wrap an axis holding fine indices -1 .. L-2 onto 0 .. n-1 (periodic sum)."""
    inner = x.narrow(axis, 1, n).clone()
    # index -1 is fine node n-1; indices n, n+1, ... are fine nodes 0, 1, ...
    last = inner.narrow(axis, n - 1, 1)
    last += x.narrow(axis, 0, 1)
    tail = x.shape[axis] - 1 - n
    if tail > 0:
        head = inner.narrow(axis, 0, tail)
        head += x.narrow(axis, n + 1, tail)
    return inner


class MgConv(nn.Module):
    """One V-cycle: (batch, C_f, *space) -> (batch, C_u, *space).

    ``pre``/``post``: smoothing steps per level (finest first). The coarsest level has no
    prolongation between its pre- and post-smoothing, so its post steps simply follow its pre
    steps.
    """

    def __init__(self, channels_f: int, channels_u: int, pre: Sequence[int], post: Sequence[int], dim: int,
                 padding_mode: str, norm: bool):
        super().__init__()
        levels = len(pre)
        if pre[0] < 1:
            raise ValueError(f"the finest level needs at least one pre-smoothing step (it creates u), got {list(pre)}")
        conv = _CONV[dim]
        self.levels = levels
        self.pre = nn.ModuleList(
            nn.ModuleList(Smoother(channels_u, channels_f, dim, padding_mode, first=(lev == 0 and i == 0))
                          for i in range(pre[lev] + (post[lev] if lev == levels - 1 else 0)))
            for lev in range(levels))
        self.post = nn.ModuleList(
            nn.ModuleList(Smoother(channels_u, channels_f, dim, padding_mode) for _ in range(post[lev]))
            for lev in range(levels - 1))
        self.restrict_u = nn.ModuleList(conv(channels_u, channels_u, 3, stride=2, padding=1, bias=False,
                                             padding_mode=padding_mode) for _ in range(levels - 1))
        self.restrict_f = nn.ModuleList(conv(channels_f, channels_f, 3, stride=2, padding=1, bias=False,
                                             padding_mode=padding_mode) for _ in range(levels - 1))
        self.prolong = nn.ModuleList(Prolongation(channels_u, dim, padding_mode == "circular")
                                     for _ in range(levels - 1))
        # GroupNorm(1, C) normalizes over channels and space per sample like the authors'
        # LayerNorm([C, H, W]), but with per-channel affine weights, so it works on any grid
        self.norms = nn.ModuleList(nn.GroupNorm(1, channels_u) for _ in range(levels - 1)) if norm else None

    def forward(self, f: torch.Tensor, sizes: Sequence[Sequence[int]]) -> torch.Tensor:
        """``sizes[lev]``: the spatial shape of level ``lev`` (from :func:`level_sizes`)."""
        us: list[torch.Tensor] = []
        fs: list[torch.Tensor] = []
        u: torch.Tensor | None = None
        for lev in range(self.levels):
            if lev > 0:
                u, f = self.restrict_u[lev - 1](u), self.restrict_f[lev - 1](f)
            for step in self.pre[lev]:
                u = step(u, f)
            us.append(u)
            fs.append(f)
        u = us[-1]
        for lev in range(self.levels - 2, -1, -1):
            u = us[lev] + self.prolong[lev](u, sizes[lev])
            if self.norms is not None:
                u = self.norms[lev](u)
            for step in self.post[lev]:
                u = step(u, fs[lev])
        return u


class MgNO(nn.Module):
    """Multigrid neural operator: (batch, in_channels, *space) -> (batch, out_channels, *space).

    ``dim`` spatial axes (1 or 2), each with at least ``min_grid_size(levels)`` points; any
    size, odd or even, and non-square grids. ``pre_smoothing``/``post_smoothing``: steps per
    level, finest first (an int applies to every level; default one pre-smoothing step per
    level and two on the coarsest, no post-smoothing). ``channels_f`` is the paper's C_f, which
    in MgNO is the channel count of the first layer's right-hand side, i.e. ``in_channels``
    (there is no lifting); it may be given only as a check. ``norm`` (normalize after each
    prolongation) and ``residual`` (add the input to the output; needs ``in_channels ==
    out_channels``) default to on for ``padding_mode="circular"`` (the paper's Navier–Stokes
    model; the residual only where the channels match), off otherwise.
    """

    def __init__(self, in_channels: int = 1, out_channels: int = 1, channels_u: int = 24,
                 channels_f: int | None = None, n_layers: int = 4, levels: int = 5,
                 pre_smoothing: int | Sequence[int] | None = None,
                 post_smoothing: int | Sequence[int] | None = 0, dim: int = 2, padding_mode: str = "zeros",
                 activation: str = "gelu", norm: bool | None = None, residual: bool | None = None):
        super().__init__()
        if dim not in _CONV:
            raise ValueError(f"MgNO supports dim 1 or 2, got dim={dim!r}")
        if padding_mode not in PADDING_MODES:
            raise ValueError(f"padding_mode must be one of {', '.join(PADDING_MODES)}, got {padding_mode!r}")
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {', '.join(ACTIVATIONS)}, got {activation!r}")
        if levels < 1 or n_layers < 1 or channels_u < 1 or in_channels < 1 or out_channels < 1:
            raise ValueError(f"levels, n_layers, channels_u, in_channels and out_channels must be >= 1, got "
                             f"{levels}, {n_layers}, {channels_u}, {in_channels}, {out_channels}")
        if channels_f is not None and channels_f != in_channels:
            raise ValueError(f"channels_f is the first layer's right-hand-side channel count, which in MgNO "
                             f"(no lifting layer) is in_channels={in_channels}; got channels_f={channels_f}")
        periodic = padding_mode == "circular"
        norm = periodic if norm is None else bool(norm)
        # the global residual needs matching channels; by default it is used where it can be
        residual = (periodic and in_channels == out_channels) if residual is None else bool(residual)
        if residual and in_channels != out_channels:
            raise ValueError(f"residual=True adds the input to the output and needs in_channels == out_channels, "
                             f"got {in_channels} and {out_channels}")
        pre = _per_level(pre_smoothing, levels, "pre_smoothing", [1] * (levels - 1) + [2] if levels > 1 else [1])
        post = _per_level(post_smoothing, levels, "post_smoothing", [0] * levels)
        self.dim, self.levels, self.residual = dim, levels, residual
        self.in_channels, self.out_channels = in_channels, out_channels
        conv = _CONV[dim]
        widths = [in_channels] + [channels_u] * n_layers
        self.mgconvs = nn.ModuleList(MgConv(widths[i], channels_u, pre, post, dim, padding_mode, norm)
                                     for i in range(n_layers))
        self.linears = nn.ModuleList(conv(widths[i], channels_u, 1) for i in range(n_layers))
        self.act = ACTIVATIONS[activation]()
        self.head = conv(channels_u, out_channels, 1, bias=False)

    def check_input(self, x: torch.Tensor) -> list[list[int]]:
        """Validate ``x`` and return the spatial shape of every level, finest first."""
        if x.ndim != self.dim + 2 or x.shape[1] != self.in_channels:
            raise ValueError(f"MgNO expects input (batch, {self.in_channels}, {self.dim} spatial axes), "
                             f"got shape {tuple(x.shape)}")
        need = min_grid_size(self.levels)
        if min(x.shape[2:]) < need:
            raise ValueError(f"MgNO with {self.levels} levels needs at least {need} grid points per axis "
                             f"(the coarsest level must keep 2), got spatial shape {tuple(x.shape[2:])}; "
                             f"use a finer grid or fewer levels")
        per_axis = [level_sizes(n, self.levels) for n in x.shape[2:]]
        return [list(s) for s in zip(*per_axis)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        sizes = self.check_input(x)
        u = x
        for mgconv, linear in zip(self.mgconvs, self.linears):
            u = self.act(mgconv(u, sizes) + linear(u))
        out = self.head(u)
        return out + x if self.residual else out


def mgno_arguments(preset: str | None = None, **config: Any) -> dict[str, Any]:
    """MgNO constructor arguments: ``preset="darcy"`` fills in the paper's Darcy configuration
    (explicit arguments override it)."""
    values = with_preset("MgNO", PRESETS, preset, config)
    check_arguments(MgNO, values, "MgNO")
    return values


def build_mgno(preset: str | None = None, **config: Any) -> MgNO:
    """MgNO from keyword arguments (see :func:`mgno_arguments` for ``preset``)."""
    return MgNO(**mgno_arguments(preset, **config))


build_mgno.arguments = mgno_arguments  # type: ignore[attr-defined]


__all__ = ["MgConv", "MgNO", "PRESETS", "Prolongation", "Smoother", "build_mgno", "level_sizes",
           "mgno_arguments", "min_grid_size"]
