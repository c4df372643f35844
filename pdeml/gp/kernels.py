"""Per-dimension spectral-mixture kernels with closed-form derivatives.

One dimension, signed lag ``d = x - x'`` (in the units of x)::

    k(d) = sum_q w_q phi(rho_q d) cos(2 pi mu_q d)

``phi`` is the squared exponential ``exp(-r^2 / 2)`` (``family="gaussian"``: a Gaussian mixture
spectrum) or the Matérn-5/2 ``(1 + sqrt5 r + 5 r^2 / 3) exp(-sqrt5 r)`` (``family="student-t"``: a
Student-t mixture spectrum). ``w_q`` are weights, ``rho_q`` inverse length-scales (1/units of x),
``mu_q`` frequencies in cycles per unit of x. Parameters are ``log_weight``, ``log_inv_lengthscale``
and ``freq`` (Q each).

Derivatives with respect to the first argument, ``d^r/dx^r k(x - x') = k^(r)(d)``, are written in
the signed lag, so they are right on the diagonal ``x = x'`` (autograd through ``|d|`` gives a
zero second derivative there for the Matérn family). With respect to the second argument
``d/dx' = -d/dd``.
"""

from __future__ import annotations

import math

import torch
from torch import nn

FAMILIES = ("student-t", "gaussian")
_ALIASES = {"student-t": "student-t", "student_t": "student-t", "studentt": "student-t", "matern": "student-t",
            "matern52": "student-t", "gaussian": "gaussian", "se": "gaussian", "rbf": "gaussian"}
MAX_ORDER = 2
_SQRT5 = math.sqrt(5.0)


def kernel_family(name: str) -> str:
    """Canonical family name: ``"student-t"`` (Matérn-5/2 x cosine) or ``"gaussian"`` (SE x cosine)."""
    key = str(name).lower().replace(" ", "")
    if key not in _ALIASES:
        raise ValueError(f"unknown kernel {name!r}; known kernels: {', '.join(FAMILIES)}")
    return _ALIASES[key]


def _envelope(d: torch.Tensor, rho: torch.Tensor, family: str, order: int) -> list[torch.Tensor]:
    """``phi(rho d)`` and its d-derivatives up to ``order`` (each broadcast of ``d`` and ``rho``)."""
    if family == "gaussian":
        rd = rho * d
        p0 = torch.exp(-0.5 * rd * rd)
        out = [p0]
        if order >= 1:
            out.append(-rho * rd * p0)
        if order >= 2:
            out.append(rho * rho * (rd * rd - 1.0) * p0)
        return out
    a = _SQRT5 * rho
    r = d.abs()
    ar = a * r
    e = torch.exp(-ar)
    out = [(1.0 + ar + ar * ar / 3.0) * e]
    if order >= 1:
        # odd: written with the signed d, smooth through d = 0
        out.append(-(a * a / 3.0) * d * (1.0 + ar) * e)
    if order >= 2:
        out.append(-(a * a / 3.0) * (1.0 + ar - ar * ar) * e)
    return out


def _cosine(d: torch.Tensor, omega: torch.Tensor, order: int) -> list[torch.Tensor]:
    c, s = torch.cos(omega * d), torch.sin(omega * d)
    return [c, -omega * s, -omega * omega * c][: order + 1]


_BINOMIAL = {0: (1,), 1: (1, 1), 2: (1, 2, 1)}


class SpectralMixture(nn.Module):
    """Spectral-mixture kernel of one dimension with ``components`` terms (float64 by default).

    ``freq_scale`` (cycles per unit of x) sets the initial frequencies ``linspace(0, 1, Q) *
    freq_scale``; weights start at ``1 / Q``; inverse length-scales at ``lengthscale_init ** -1``.

    ``smooth`` > 0 adds one fixed component at frequency 0 with length-scale ``smooth_length``
    (units of x) and weight ``smooth`` times the learned weights' sum, so that it keeps its
    share of the prior whatever the scale the kernel learns. It is not a learned parameter: the
    learned spectrum of a high-frequency solution puts (almost) no weight on wavelengths of the
    order of the domain, and the GP's derivatives of such smooth functions are then wrong (the
    second derivative of ``sin(pi x / L)`` on the nodes came out at 11-51% of the exact one on a
    learned ``sin(100x)`` kernel). Collocation cannot then see a smooth error, which is left
    to round-off and the kernel's details (see docs/gp.md). ``weights``, ``freq`` and
    ``inv_lengthscales`` are the learned components only; ``variance`` is ``k(0)``.
    """

    def __init__(self, components: int = 30, family: str = "student-t", freq_scale: float = 1.0,
                 lengthscale_init: float = 1.0, dtype: torch.dtype = torch.float64, smooth: float = 0.0,
                 smooth_length: float = 1.0):
        super().__init__()
        if not isinstance(components, int) or components < 1:
            raise ValueError(f"components must be a positive integer, got {components!r}")
        if not (math.isfinite(freq_scale) and freq_scale >= 0):
            raise ValueError(f"freq_scale must be a finite number >= 0 (cycles per unit), got {freq_scale!r}")
        if not lengthscale_init > 0:
            raise ValueError(f"lengthscale_init must be positive, got {lengthscale_init!r}")
        self.family = kernel_family(family)
        q = components
        self.log_weight = nn.Parameter(torch.full((q,), -math.log(q), dtype=dtype))
        self.log_inv_lengthscale = nn.Parameter(torch.full((q,), -math.log(lengthscale_init), dtype=dtype))
        self.freq = nn.Parameter(torch.linspace(0.0, 1.0, q, dtype=dtype) * float(freq_scale))
        if not (math.isfinite(smooth) and smooth >= 0):
            raise ValueError(f"smooth must be a finite number >= 0 (a share of the weights), got {smooth!r}")
        if not (math.isfinite(smooth_length) and smooth_length > 0):
            raise ValueError(f"smooth_length must be positive (units of x), got {smooth_length!r}")
        self.smooth, self.smooth_length = float(smooth), float(smooth_length)

    @property
    def components(self) -> int:
        return int(self.log_weight.shape[0])

    @property
    def weights(self) -> torch.Tensor:
        return self.log_weight.exp()

    @property
    def inv_lengthscales(self) -> torch.Tensor:
        return self.log_inv_lengthscale.exp()

    @property
    def smooth_weight(self) -> torch.Tensor:
        """The fixed zero-frequency component's weight: ``smooth`` times the learned weights' sum."""
        return self.smooth * self.weights.sum()

    @property
    def variance(self) -> torch.Tensor:
        """``k(0)``: the learned weights' sum, times ``1 + smooth``."""
        return self.weights.sum() * (1.0 + self.smooth)

    def forward(self, d: torch.Tensor, order: int = 0) -> torch.Tensor:
        """``k^(order)(d)`` for signed lags ``d`` of any shape (units of x); same shape as ``d``."""
        return self.derivatives(d, order)[order]

    def derivatives(self, d: torch.Tensor, order: int = 2) -> list[torch.Tensor]:
        """``[k(d), k'(d), ..., k^(order)(d)]``, each the shape of ``d``; ``order <= 2``."""
        if order not in (0, 1, 2):
            raise ValueError(f"derivative order must be 0, 1 or 2 (closed forms), got {order!r}")
        d = torch.as_tensor(d, dtype=self.freq.dtype, device=self.freq.device)
        shape = d.shape
        dq = d.reshape(-1, 1)  # (m, 1) against (Q,)
        env = _envelope(dq, self.inv_lengthscales, self.family, order)
        cos = _cosine(dq, 2.0 * math.pi * self.freq, order)
        w = self.weights
        if self.smooth > 0:  # the fixed zero-frequency component: its envelope alone
            rho = torch.tensor(1.0 / self.smooth_length, dtype=d.dtype, device=d.device)
            smooth = _envelope(dq[:, 0], rho, self.family, order)
        out = []
        for r in range(order + 1):
            # Leibniz rule for (phi * cos)^(r)
            term = sum(b * env[j] * cos[r - j] for j, b in enumerate(_BINOMIAL[r]))
            k = term @ w
            if self.smooth > 0:
                k = k + (self.smooth * w.sum()) * smooth[r]  # the learned terms' w: a recomputed weights.sum() changes the gradient's round-off
            out.append(k.reshape(shape))
        return out

    def matrix(self, x1: torch.Tensor, x2: torch.Tensor, order: int = 0) -> torch.Tensor:
        """``K[i, j] = d^order/dx^order k(x1_i - x2_j)``: (len(x1), len(x2)) for 1D ``x1``, ``x2``."""
        return self(x1.reshape(-1, 1) - x2.reshape(1, -1), order)

    def _density(self, shift: torch.Tensor, rho: torch.Tensor) -> torch.Tensor:
        """The envelope's spectral density (unit weight) at frequency offsets ``shift``."""
        if self.family == "gaussian":
            return math.sqrt(2 * math.pi) / rho * torch.exp(-2 * math.pi**2 * shift**2 / rho**2)
        # Matérn-5/2 with length 1/rho: (16/3) 5^(5/2) rho^5 / (5 rho^2 + 4 pi^2 s^2)^3
        return (16.0 / 3.0) * 5**2.5 * rho**5 / (5 * rho**2 + 4 * math.pi**2 * shift**2) ** 3

    def spectral_density(self, s: torch.Tensor) -> torch.Tensor:
        """Spectral density ``S(s)`` at frequencies ``s`` (cycles per unit): ``k(d) = int S(s) e^{2 pi i s d} ds``."""
        s = torch.as_tensor(s, dtype=self.freq.dtype, device=self.freq.device).reshape(-1, 1)
        rho = self.inv_lengthscales
        dens = 0.5 * (self._density(s - self.freq, rho) + self._density(s + self.freq, rho))
        out = dens @ self.weights
        if self.smooth > 0:
            rho0 = torch.tensor([1.0 / self.smooth_length], dtype=s.dtype, device=s.device)
            out = out + self.smooth_weight * self._density(s, rho0)[:, 0]
        return out.reshape(-1)


class ToeplitzGrid:
    """Kernel matrices on ``n`` equispaced nodes ``origin + j h``: ``k`` is evaluated on the
    ``2n - 1`` distinct lags only and gathered into (n, n), so a matrix costs O(Q n + n^2).

    :meth:`cross` does the same for points that lie on a refinement of the grid (spacing ``h / m``,
    ``m <= MAX_REFINE``, such as the nodes and the midpoints): their lags to the nodes take
    ``O(len(x) + m n)`` distinct values, against ``len(x) n`` kernel evaluations otherwise."""

    MAX_REFINE = 8
    # a point counts as on the refined lattice when it is this close to it (units of h / m): round-off only
    LATTICE_TOL = 1e-11

    def __init__(self, n: int, h: float, device=None, dtype: torch.dtype = torch.float64, origin: float = 0.0):
        self.n, self.h, self.origin = n, float(h), float(origin)
        self.lags = torch.arange(-(n - 1), n, device=device, dtype=dtype) * self.h

    def matrices(self, kernel: SpectralMixture, order: int = 2) -> list[torch.Tensor]:
        """``[K, K', ..., K^(order)]`` on the nodes, each (n, n), derivatives in the first argument.

        ``K[i, j] = k(lag i - j)``: the Hankel windows of the reversed lags, rows reversed (views and
        one copy, several times faster than a gather, forward and backward)."""
        return [k.flip(0).unfold(0, self.n, 1).flip(0) for k in kernel.derivatives(self.lags, order)]

    def lattice(self, x: torch.Tensor) -> tuple[int, torch.Tensor] | None:
        """``(m, i)`` with ``x = origin + i h / m`` (integers ``i``, the smallest ``m <= MAX_REFINE``),
        or None when ``x`` is not on such a lattice."""
        t = (x.detach().to(torch.float64) - self.origin) / self.h
        for m in range(1, self.MAX_REFINE + 1):
            s = t * m
            idx = torch.round(s)
            if bool(((s - idx).abs() <= self.LATTICE_TOL * torch.clamp(idx.abs(), min=1.0)).all()):
                return m, idx.to(torch.long)
        return None

    def cross(self, kernel: SpectralMixture, x: torch.Tensor, order: int = 0,
              nodes: torch.Tensor | None = None) -> torch.Tensor:
        """``d^order/dx^order k(x_i - X_j)`` against the nodes ``X`` (default ``origin + j h``):
        (len(x), n). Off the lattice, or where the lattice saves nothing, the kernel is evaluated
        at every ``x_i - X_j``."""
        x = x.reshape(-1)
        found = self.lattice(x) if len(x) > 1 else None
        if found is not None:
            m, idx = found
            low = int(idx.min()) - m * (self.n - 1)
            count = int(idx.max()) + 1 - low
            if count < len(x) * self.n:
                lags = torch.arange(low, low + count, device=x.device, dtype=x.dtype) * (self.h / m)
                j = torch.arange(self.n, device=x.device) * m
                return kernel(lags, order)[idx[:, None] - j[None, :] - low]
        if nodes is None:
            nodes = self.origin + torch.arange(self.n, device=x.device, dtype=x.dtype) * self.h
        return kernel.matrix(x, nodes, order)
