"""A normalizing flow on the unit cube with exact density: a Knothe–Rosenblatt map of splines.

:class:`BoxFlow` is a triangular (Knothe–Rosenblatt, KRnet-style) transport of the uniform
density on ``[0, 1]^d``: coordinate ``i`` is pushed through a monotone rational-quadratic spline
(Durkan et al., 2019) of ``[0, 1]`` onto itself whose knots are predicted from coordinates
``0..i-1`` (the first one has free knots). Every sample lies in the cube (bounded support,
nothing to truncate), and ``q(y) = prod_i F_i'(y_i | y_<i)`` is exact and computed in one pass.
Several layers alternate the coordinate order. A new flow is the identity map (density 1).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

MIN_BIN = 1e-3
MIN_DERIVATIVE = 1e-3
# softplus(0 + c) + MIN_DERIVATIVE == 1: a zero-initialised layer is the identity
_DERIVATIVE_SHIFT = math.log(math.expm1(1.0 - MIN_DERIVATIVE))


def rq_spline(x: torch.Tensor, widths: torch.Tensor, heights: torch.Tensor, derivatives: torch.Tensor,
              inverse: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Monotone rational-quadratic spline of ``[0, 1]`` onto itself, elementwise.

    ``x`` (...,); unnormalised ``widths`` and ``heights`` (..., K), interior ``derivatives``
    (..., K - 1); the end derivatives are 1. Returns the image and ``log |dy/dx|`` at ``x``
    (for ``inverse=True``: the preimage and ``log |dx/dy|``).
    """
    K = widths.shape[-1]
    w = MIN_BIN + (1 - MIN_BIN * K) * torch.softmax(widths, dim=-1)
    h = MIN_BIN + (1 - MIN_BIN * K) * torch.softmax(heights, dim=-1)
    d = MIN_DERIVATIVE + F.softplus(derivatives + _DERIVATIVE_SHIFT)
    d = F.pad(d, (1, 1), value=1.0)
    cw = F.pad(torch.cumsum(w, dim=-1), (1, 0))
    ch = F.pad(torch.cumsum(h, dim=-1), (1, 0))
    cw = torch.cat([cw[..., :-1], torch.ones_like(cw[..., -1:])], dim=-1)
    ch = torch.cat([ch[..., :-1], torch.ones_like(ch[..., -1:])], dim=-1)

    knots = ch if inverse else cw
    x = x.clamp(0.0, 1.0)
    idx = ((x[..., None] >= knots[..., :-1]).sum(dim=-1, keepdim=True) - 1).clamp(0, K - 1)

    def at(t: torch.Tensor, i: torch.Tensor = idx) -> torch.Tensor:
        return t.gather(-1, i)[..., 0]

    x_k, y_k, w_k, h_k = at(cw), at(ch), at(w), at(h)
    d_k, d_k1 = at(d), at(d, idx + 1)
    s = h_k / w_k
    if not inverse:
        xi = ((x - x_k) / w_k).clamp(0.0, 1.0)
        t = xi * (1 - xi)
        den = s + (d_k1 + d_k - 2 * s) * t
        y = y_k + h_k * (s * xi**2 + d_k * t) / den
        dydx = s**2 * (d_k1 * xi**2 + 2 * s * t + d_k * (1 - xi) ** 2) / den**2
        return y.clamp(0.0, 1.0), torch.log(dydx)
    dy = x - y_k
    a = h_k * (s - d_k) + dy * (d_k1 + d_k - 2 * s)
    b = h_k * d_k - dy * (d_k1 + d_k - 2 * s)
    c = -s * dy
    disc = (b**2 - 4 * a * c).clamp_min(0.0)
    xi = (2 * c / (-b - torch.sqrt(disc))).clamp(0.0, 1.0)
    t = xi * (1 - xi)
    den = s + (d_k1 + d_k - 2 * s) * t
    dydx = s**2 * (d_k1 * xi**2 + 2 * s * t + d_k * (1 - xi) ** 2) / den**2
    return (x_k + xi * w_k).clamp(0.0, 1.0), -torch.log(dydx)


class _KRLayer(nn.Module):
    """One triangular map on the cube, in the coordinate order ``order``.

    ``forward(y)`` (density direction) gives ``z_i = F_i(y_i | y_<i)`` and ``sum_i log F_i'``
    in one pass; ``inverse(z)`` solves coordinate by coordinate (sampling).
    """

    def __init__(self, dim: int, order: list[int], bins: int, hidden: int):
        super().__init__()
        self.register_buffer("order", torch.tensor(order, dtype=torch.long))
        self.bins = bins
        n_out = 3 * bins - 1
        self.first = nn.Parameter(torch.zeros(n_out))
        nets = []
        for i in range(1, dim):
            net = nn.Sequential(nn.Linear(i, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh(),
                                nn.Linear(hidden, n_out))
            nn.init.zeros_(net[-1].weight)
            nn.init.zeros_(net[-1].bias)
            nets.append(net)
        self.nets = nn.ModuleList(nets)

    def _params(self, i: int, previous: torch.Tensor, n: int):
        raw = self.first.expand(n, -1) if i == 0 else self.nets[i - 1](2 * previous - 1)
        K = self.bins
        return raw[:, None, :K], raw[:, None, K:2 * K], raw[:, None, 2 * K:]

    def forward(self, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        y = y[:, self.order]
        n = y.shape[0]
        zs, logdet = [], torch.zeros(n, dtype=y.dtype, device=y.device)
        for i in range(y.shape[1]):
            w, h, d = self._params(i, y[:, :i], n)
            z, ld = rq_spline(y[:, i:i + 1], w, h, d)
            zs.append(z)
            logdet = logdet + ld[:, 0]
        z = torch.cat(zs, dim=1)
        return z[:, torch.argsort(self.order)], logdet

    def inverse(self, z: torch.Tensor) -> torch.Tensor:
        z = z[:, self.order]
        n = z.shape[0]
        ys: list[torch.Tensor] = []
        for i in range(z.shape[1]):
            previous = torch.cat(ys, dim=1) if ys else z[:, :0]
            w, h, d = self._params(i, previous, n)
            yi, _ = rq_spline(z[:, i:i + 1], w, h, d, inverse=True)
            ys.append(yi)
        y = torch.cat(ys, dim=1)
        return y[:, torch.argsort(self.order)]


class BoxFlow(nn.Module):
    """Density ``q`` on ``[0, 1]^dim``: the uniform density through ``layers`` triangular spline maps.

    ``sample(n)`` draws (n, dim) points in the cube; ``log_prob(y)`` is ``log q(y)`` (n,),
    exact; ``gradient_penalty(y)`` estimates ``int |grad q|^2`` from uniform points ``y``.
    """

    def __init__(self, dim: int, layers: int | None = None, bins: int = 16, hidden: int = 64, seed: int = 0):
        super().__init__()
        if dim < 1:
            raise ValueError(f"dim must be >= 1, got {dim}")
        self.dim = int(dim)
        layers = 1 if layers is None else int(layers)
        if layers < 1:
            raise ValueError(f"layers must be >= 1, got {layers}")
        self.config = {"dim": self.dim, "layers": layers, "bins": bins, "hidden": hidden, "seed": seed}
        g = torch.Generator().manual_seed(seed)
        orders = [list(range(dim))] + [torch.randperm(dim, generator=g).tolist() for _ in range(layers - 1)]
        self.blocks = nn.ModuleList(_KRLayer(dim, order, bins, hidden) for order in orders)

    def _dtype(self) -> torch.dtype:
        return next(self.parameters()).dtype

    def _device(self) -> torch.device:
        return next(self.parameters()).device

    def log_prob(self, y: torch.Tensor) -> torch.Tensor:
        """``log q(y)`` (n,) for points ``y`` (n, dim) in the unit cube."""
        if y.ndim != 2 or y.shape[1] != self.dim:
            raise ValueError(f"points must have shape (n, {self.dim}), got {tuple(y.shape)}")
        logq = torch.zeros(y.shape[0], dtype=y.dtype, device=y.device)
        for block in self.blocks:  # the density direction runs from the data to the base
            y, ld = block(y)
            logq = logq + ld
        return logq

    def transform(self, z: torch.Tensor) -> torch.Tensor:
        """Base points ``z`` (n, dim) to flow points (the sampling direction)."""
        for block in reversed(self.blocks):
            z = block.inverse(z)
        return z

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` points (n, dim) from ``q``, inside the cube (clamped against round-off)."""
        z = torch.rand(n, self.dim, generator=generator, dtype=torch.float64)
        return self.transform(z.to(self._device(), self._dtype())).clamp(0.0, 1.0)

    def gradient_penalty(self, y: torch.Tensor, mix: float = 0.0) -> torch.Tensor:
        """Monte Carlo ``int_[0,1]^d |grad q|^2`` from points ``y`` (n, dim) drawn from
        ``(1 - mix) U + mix q`` (importance weights ``1 / ((1 - mix) + mix q)``; ``mix = 0``: uniform
        points); differentiable in the flow's parameters. Zero for the uniform density."""
        y = y.detach().requires_grad_(True)
        q = self.log_prob(y).exp()
        (grad,) = torch.autograd.grad(q.sum(), y, create_graph=True)
        return ((grad**2).sum(dim=1) / ((1.0 - mix) + mix * q.detach())).mean()
