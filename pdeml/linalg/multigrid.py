"""A symmetric multigrid V-cycle built from the user's matrix, with small learned smoothers.

The hierarchy is algebraic on a grid: level 0 is ``A`` on the unknowns of a grid (every cell, or
the ``True`` cells of a mask). A coarser level takes blocks of ``2^d`` cells; a coarse cell is an
unknown when its block holds one. The prolongation is smoothed aggregation,
``P = (I - omega D^-1 A) Z`` with ``Z`` the indicator of the blocks and
``omega = 4 / (3 rho)`` (``rho`` the Gershgorin bound of ``lambda_max(D^-1 A)``), and the coarse matrix is the Galerkin product
``A_c = P^T A P``: nothing about the coarse operators is learned, so a user's matrix (variable
coefficients, obstacles, Neumann walls) brings its own. The coarsest level (at most
``coarsest`` unknowns) is solved by a dense pseudo-inverse (a singular Neumann matrix included).

The smoother of level ``l`` is ``S_l = (theta / lambda_l) D_l^-1/2 G_l^T G_l D_l^-1/2``: ``G`` a
small convolution (``channels`` output channels, a star or 3x3 box stencil) with the same weights
on every level, ``G_l`` that convolution on level ``l``'s grid restricted to its unknowns,
``lambda_l`` the largest eigenvalue of ``D^-1/2 G^T G D^-1/2 A_l`` (power iteration at set-up)
and ``0 < theta < 1.8``. The V-cycle is ``x = S b``, ``x += P V_c(P^T (b - A x))``,
``x += S (b - A x)``: pre- and post-smoothing are the same symmetric map, so the cycle is a fixed
symmetric linear map, and because ``theta < 2`` each smoothing step contracts the error in the
A-norm, which makes the cycle positive definite. It is therefore a legal ``M=`` for plain
``scipy.sparse.linalg.cg``. With ``G`` the identity and ``theta = 1`` (an untrained
:class:`SmootherNet`) the smoother is damped Jacobi.

Training (:func:`train_multigrid`) runs the same cycle in torch on a few small systems and
minimizes the A-norm error left by one preconditioned step with the best step length,
``||e - alpha B A e||_A^2 / ||e||_A^2``, over errors ``e`` drawn from Ritz vectors of ``A``
(low modes boosted, as for DCDM): the quantity CG minimizes, invariant to the scale of ``B``.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla
import torch
from scipy.linalg import eigh_tridiagonal
from torch import nn

from pdeml.device import resolve_device
from pdeml.linalg.coarse import jacobi_bound, matrix_on_grid
from pdeml.linalg.ritz import ritz_vectors
from pdeml.linalg.training import RitzDraws
from pdeml.solvers.pressure import FluidGrid, PressureLinearSystem, PressureOperator
from pdeml.train import Trainer, TrainResult

MODEL_NAME = "multigrid-smoother"
THETA_MAX = 1.8  # below 2 with room for the power iteration's underestimate of lambda_max
STENCILS = ("star", "box")


# --------------------------------------------------------------------------------------------
# the learned part


class SmootherNet(nn.Module):
    """The learned smoother convolution ``G`` (``channels`` x taps, shared by every level) and ``theta``.

    ``stencil="star"``: the cell and its ``2 d`` face neighbours; ``"box"``: the 3x3(x3) block.
    Initialized to damped Jacobi (channel 0 the identity, further channels small and random,
    ``theta = 1``)."""

    def __init__(self, dim: int = 2, channels: int = 1, stencil: str = "star", seed: int = 0):
        super().__init__()
        if dim not in (2, 3):
            raise ValueError(f"dim must be 2 or 3, got {dim!r}")
        if not 1 <= int(channels) <= 8:
            raise ValueError(f"channels must be in 1..8, got {channels!r}")
        if stencil not in STENCILS:
            raise ValueError(f"unknown stencil {stencil!r}; known: {', '.join(STENCILS)}")
        self.dim, self.channels, self.stencil = int(dim), int(channels), stencil
        self.offsets = stencil_offsets(self.dim, stencil)
        g = torch.Generator().manual_seed(int(seed))
        w = 0.05 * torch.randn(self.channels, len(self.offsets), generator=g, dtype=torch.float64)
        w[0] = 0.0
        w[0, self.offsets.index((0,) * self.dim)] = 1.0
        self.weight = nn.Parameter(w.float())
        # theta = THETA_MAX * sigmoid(s); s chosen so that theta starts at 1
        self.theta_logit = nn.Parameter(torch.tensor(float(np.log(1.0 / (THETA_MAX - 1.0)))))

    @property
    def theta(self) -> torch.Tensor:
        return THETA_MAX * torch.sigmoid(self.theta_logit)

    def effective_weight(self, dtype: torch.dtype | None = None) -> torch.Tensor:
        """``(channels + 1, taps)``: the learned channels and one more, ``sqrt(delta)`` times the
        identity with ``delta = 0.01 ||weight||^2``, so ``G^T G`` is positive definite for any weights
        (1% of a Jacobi step). Computed in ``dtype`` (default the parameters')."""
        weight = self.weight if dtype is None else self.weight.to(dtype)
        centre = self.offsets.index((0,) * self.dim)
        extra = torch.zeros_like(weight[:1])
        extra[0, centre] = 1.0
        return torch.cat([weight, extra * (0.1 * torch.linalg.vector_norm(weight))])

    @property
    def config(self) -> dict[str, Any]:
        return {"dim": self.dim, "channels": self.channels, "stencil": self.stencil}

    def extra_repr(self) -> str:
        return f"dim={self.dim}, channels={self.channels}, stencil={self.stencil!r}"


def stencil_offsets(dim: int, stencil: str) -> list[tuple[int, ...]]:
    """Offsets of the smoother's taps: the centre and face neighbours (``star``) or the 3^d block (``box``)."""
    if stencil == "box":
        return list(itertools.product((-1, 0, 1), repeat=dim))
    out = [(0,) * dim]
    for a in range(dim):
        for s in (-1, 1):
            o = [0] * dim
            o[a] = s
            out.append(tuple(o))
    return out


# --------------------------------------------------------------------------------------------
# the hierarchy (SciPy)


class Level:
    """One level: ``A`` (CSR), the grid ``mask`` of its unknowns, ``d_isqrt = D^-1/2``, the
    neighbour table ``taps`` ``(T, n)`` of the smoother's stencil (``n`` where a tap falls on no
    unknown), and ``P`` / ``R = P^T`` to the next level (``None`` on the coarsest)."""

    def __init__(self, A: sp.csr_matrix, mask: np.ndarray, offsets: Sequence[tuple[int, ...]], depth: int = 0):
        self.A, self.mask = A, mask
        self.n = A.shape[0]
        diag = A.diagonal()
        # a zero diagonal is allowed on an all-zero row only (an isolated cell, or on a coarse level a
        # block holding a whole Neumann pocket): positive semi-definite, and the smoother skips it
        zero_rows = np.asarray(abs(A).sum(axis=1)).ravel() == 0
        bad = ~(diag > 0) & ~zero_rows
        if bad.any():
            where = "the matrix" if depth == 0 else f"the Galerkin matrix of level {depth} (so the input)"
            raise ValueError(f"{where} has {int(bad.sum())} non-positive diagonal entries on rows that are not "
                             f"zero: it is not symmetric positive (semi-)definite")
        self.d_isqrt = np.where(diag > 0, 1.0 / np.sqrt(np.where(diag > 0, diag, 1.0)), 0.0)
        self.taps = neighbour_table(mask, offsets)
        self.P: sp.csr_matrix | None = None
        self.R: sp.csr_matrix | None = None


def neighbour_table(mask: np.ndarray, offsets: Sequence[tuple[int, ...]]) -> np.ndarray:
    """``(T, n)``: the unknown at ``cell + offset_t`` of each unknown (C order), ``n`` where that
    cell is outside the grid or not an unknown."""
    grid = FluidGrid(mask)
    n = grid.n
    padded = np.pad(np.where(grid.mask, grid.index, n), 1, constant_values=n)
    coords = np.nonzero(grid.mask)
    out = np.empty((len(offsets), n), dtype=np.int64)
    for t, off in enumerate(offsets):
        out[t] = padded[tuple(c + 1 + o for c, o in zip(coords, off))]
    return out


def _coarse_grid(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The coarse mask (blocks of 2^d cells holding an unknown) and each fine unknown's coarse unknown."""
    cs = tuple((s + 1) // 2 for s in mask.shape)
    m = np.pad(mask, [(0, 2 * c - s) for s, c in zip(mask.shape, cs)])
    coarse = m.reshape([x for c in cs for x in (c, 2)]).any(axis=tuple(range(1, 2 * mask.ndim, 2)))
    agg = FluidGrid(coarse).index[tuple(c // 2 for c in np.nonzero(mask))]
    return coarse, agg


def _smoother_lambda(A: sp.spmatrix, G: sp.csr_matrix, GT: sp.csr_matrix, d: np.ndarray, steps: int = 20) -> float:
    """``lambda_max(D^-1/2 G^T G D^-1/2 A)`` as ``lambda_max(G Ahat G^T)`` (``Ahat = D^-1/2 A D^-1/2``),
    a symmetric matrix: the largest Ritz value of ``steps`` plain Lanczos steps (seeded start; lost
    orthogonality only duplicates converged extreme Ritz values), times 1.02. Lanczos finds an
    isolated top eigenvalue even when the start vector barely touches it, where power iteration
    can stay 15% below; dense for small levels."""
    m = G.shape[0]
    if m <= 200:
        Ah = sp.diags(d) @ A @ sp.diags(d)
        return float(np.linalg.eigvalsh((G @ Ah @ GT).toarray())[-1])
    v = np.random.default_rng(0).standard_normal(m)
    v /= np.linalg.norm(v)
    v_old = np.zeros(m)
    alpha, beta = [], [0.0]
    for _ in range(min(steps, m)):
        w = G @ (d * (A @ (d * (GT @ v)))) - beta[-1] * v_old
        alpha.append(float(v @ w))
        w -= alpha[-1] * v
        b = float(np.linalg.norm(w))
        if b <= 1e-12 * max(abs(alpha[-1]), 1e-300):
            break
        beta.append(b)
        v_old, v = v, w / b
    a = np.asarray(alpha)
    top = eigh_tridiagonal(a, np.asarray(beta[1:a.size]), eigvals_only=True)[-1] if a.size > 1 else a[0]
    return 1.02 * float(top)


def build_hierarchy(A: sp.spmatrix, mask: np.ndarray, offsets: Sequence[tuple[int, ...]],
                    coarsest: int = 400) -> list[Level]:
    """Galerkin smoothed-aggregation levels of ``A`` on ``mask`` until at most ``coarsest`` unknowns
    (or a side of 1)."""
    levels = [Level(sp.csr_matrix(A, dtype=np.float64), mask, offsets)]
    while levels[-1].n > coarsest and max(levels[-1].mask.shape) > 1:
        lev = levels[-1]
        cmask, agg = _coarse_grid(lev.mask)
        Z = sp.csr_matrix((np.ones(lev.n), (np.arange(lev.n), agg)), shape=(lev.n, int(cmask.sum())))
        dinv = lev.d_isqrt ** 2
        lam = jacobi_bound(lev.A)
        P = (Z - sp.diags((4.0 / 3.0 / lam) * dinv) @ (lev.A @ Z)).tocsr()
        P.eliminate_zeros()
        lev.P, lev.R = P, P.T.tocsr()
        Ac = (lev.R @ lev.A @ P).tocsr()
        Ac = ((Ac + Ac.T) * 0.5).tocsr()  # exact symmetry despite round-off in the products
        levels.append(Level(Ac, cmask, offsets, depth=len(levels)))
    return levels


def _pseudo_inverse(A: sp.spmatrix) -> np.ndarray:
    """Dense pseudo-inverse of a small symmetric positive semi-definite matrix."""
    w, V = np.linalg.eigh(A.toarray())
    keep = w > 1e-12 * max(w.max(), 1e-300)
    return (V[:, keep] / w[keep]) @ V[:, keep].T


# --------------------------------------------------------------------------------------------
# the preconditioner (SciPy application)


class MultigridPreconditioner(spla.LinearOperator):
    """A symmetric V-cycle for ``A`` as a SciPy ``LinearOperator``: ``cg(A, b, M=MultigridPreconditioner(...))``.

    ``A``: a :class:`~pdeml.solvers.pressure.PressureLinearSystem` (its mask places the unknowns)
    or a SciPy/NumPy symmetric matrix with ``grid=`` (a shape, every cell an unknown) or ``mask=``
    (bool grid, unknowns = ``True`` cells in C order). ``smoother``: a trained
    :class:`SmootherNet` (or a path to one saved by :func:`train_multigrid`); ``None`` gives the
    damped-Jacobi V-cycle. ``coarsest``: the size solved densely.

    Set-up builds the Galerkin hierarchy and each level's smoother as sparse matrices; applying
    it is SciPy sparse products only (NumPy in and out, float64). Attributes: ``levels``,
    ``lambdas`` (per level), ``theta``, ``setup_seconds``.
    """

    def __init__(self, A: Any, grid: Any = None, *, mask: Any = None, smoother: SmootherNet | str | os.PathLike | None = None,
                 coarsest: int = 400):
        import time

        start = time.perf_counter()
        A, mask = matrix_on_grid(A, grid, mask)
        if smoother is None:
            smoother = SmootherNet(dim=mask.ndim)
        elif isinstance(smoother, (str, os.PathLike)):
            from pdeml.linalg.training import load_preconditioner

            smoother = load_preconditioner(smoother)
        if not isinstance(smoother, SmootherNet):
            raise TypeError(f"smoother must be a SmootherNet, a path to one, or None; got {type(smoother).__name__}")
        if smoother.dim != mask.ndim:
            raise ValueError(f"the smoother is {smoother.dim}D but the grid {mask.shape} is {mask.ndim}D")
        super().__init__(dtype=np.float64, shape=A.shape)
        with torch.no_grad():
            weight = smoother.effective_weight(torch.float64).detach().cpu().numpy()
            self.theta = float(THETA_MAX * torch.sigmoid(smoother.theta_logit.detach().double()))
        self.levels = build_hierarchy(A, mask, smoother.offsets, coarsest=int(coarsest))
        self._G: list[sp.csr_matrix] = []
        self._GT: list[sp.csr_matrix] = []
        self.lambdas: list[float] = []
        self.scales: list[np.ndarray] = []
        for lev in self.levels[:-1]:
            G = conv_matrix(lev.taps, weight, lev.n)
            GT = G.T.tocsr()
            d = lev.d_isqrt
            lam = _smoother_lambda(lev.A, G, GT, d)
            if not (np.isfinite(lam) and lam > 0):
                raise ValueError(f"the smoother is degenerate on level {len(self._G)}: the largest eigenvalue of "
                                 f"D^-1/2 G^T G D^-1/2 A is {lam!r} (expected positive and finite)")
            self._G.append(G)
            self._GT.append(GT)
            self.lambdas.append(lam)
            # S = scale * G^T G * scale, with scale = sqrt(theta / lambda) D^-1/2
            self.scales.append(np.sqrt(self.theta / lam) * d)
        self._coarse = _pseudo_inverse(self.levels[-1].A)
        self.setup_seconds = time.perf_counter() - start

    def _smooth(self, lv: int, r: np.ndarray) -> np.ndarray:
        s = self.scales[lv] if r.ndim == 1 else self.scales[lv][:, None]
        return s * (self._GT[lv] @ (self._G[lv] @ (s * r)))

    def _cycle(self, lv: int, b: np.ndarray) -> np.ndarray:
        if lv == len(self.levels) - 1:
            return self._coarse @ b
        lev = self.levels[lv]
        x = self._smooth(lv, b)
        x = x + lev.P @ self._cycle(lv + 1, lev.R @ (b - lev.A @ x))
        return x + self._smooth(lv, b - lev.A @ x)

    def _matvec(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64).reshape(-1)
        return self._cycle(0, x)

    def _matmat(self, X: np.ndarray) -> np.ndarray:
        return self._cycle(0, np.asarray(X, dtype=np.float64))

    def _rmatvec(self, x: np.ndarray) -> np.ndarray:
        return self._matvec(x)  # symmetric

    def _adjoint(self) -> MultigridPreconditioner:
        return self

    def __repr__(self) -> str:
        sizes = " -> ".join(str(lev.n) for lev in self.levels)
        return f"MultigridPreconditioner(levels: {sizes}, theta={self.theta:.3f})"


def conv_matrix(taps: np.ndarray, weight: np.ndarray, n: int) -> sp.csr_matrix:
    """The smoother convolution on one level: ``(channels n, n)`` CSR, row ``k n + i`` =
    sum over taps ``t`` of ``weight[k, t]`` at column ``taps[t, i]`` (taps off the unknowns dropped)."""
    rows, cols, vals = [], [], []
    for k in range(weight.shape[0]):
        for t in range(taps.shape[0]):
            ok = taps[t] < n
            rows.append(k * n + np.flatnonzero(ok))
            cols.append(taps[t][ok])
            vals.append(np.full(int(ok.sum()), weight[k, t]))
    return sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                         shape=(weight.shape[0] * n, n))


# --------------------------------------------------------------------------------------------
# the same cycle in torch, for training


def _torch_sparse(M: sp.spmatrix, dtype: torch.dtype) -> torch.Tensor:
    M = M.tocoo()
    index = torch.from_numpy(np.stack([M.row, M.col]).astype(np.int64))
    return torch.sparse_coo_tensor(index, torch.from_numpy(M.data).to(dtype), size=M.shape,
                                   check_invariants=False).coalesce()


class TorchHierarchy:
    """A hierarchy's matrices as torch sparse tensors and the smoother applied by gathers, so that
    the V-cycle is differentiable in the smoother's weights. Vectors are ``(n, B)``."""

    def __init__(self, levels: Sequence[Level], dtype: torch.dtype = torch.float32):
        self.dtype = dtype
        self.device = torch.device("cpu")
        self.A = [_torch_sparse(lev.A, dtype) for lev in levels]
        self.P = [_torch_sparse(lev.P, dtype) for lev in levels[:-1]]
        self.R = [_torch_sparse(lev.R, dtype) for lev in levels[:-1]]
        self.d = [torch.from_numpy(lev.d_isqrt).to(dtype) for lev in levels]
        self.taps = [torch.from_numpy(lev.taps) for lev in levels]
        self.coarse = torch.from_numpy(_pseudo_inverse(levels[-1].A)).to(dtype)
        self.power = [torch.randn(lev.n, 1, generator=torch.Generator().manual_seed(i), dtype=dtype)
                      for i, lev in enumerate(levels[:-1])]
        self.lambdas = [None] * (len(levels) - 1)

    def to(self, device: Any) -> TorchHierarchy:
        self.device = torch.device(device)
        for name in ("A", "P", "R", "d", "taps", "power"):
            setattr(self, name, [t.to(self.device) for t in getattr(self, name)])
        self.coarse = self.coarse.to(self.device)
        return self

    def conv(self, lv: int, weight: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        """``G_l u``: ``u`` ``(n, B)`` -> ``(channels, n, B)``."""
        pad = torch.cat([u, u.new_zeros(1, u.shape[1])])
        gathered = pad[self.taps[lv]]  # (T, n, B)
        return torch.einsum("kt,tnb->knb", weight, gathered)

    def conv_t(self, lv: int, weight: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """``G_l^T v``: ``v`` ``(channels, n, B)`` -> ``(n, B)``."""
        n = v.shape[1]
        per_tap = torch.einsum("kt,knb->tnb", weight, v)
        out = v.new_zeros(n + 1, v.shape[2])
        for t in range(per_tap.shape[0]):
            out = out.index_add(0, self.taps[lv][t], per_tap[t])
        return out[:n]

    def base_smoother(self, lv: int, weight: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
        d = self.d[lv][:, None]
        return d * self.conv_t(lv, weight, self.conv(lv, weight, d * r))

    @torch.no_grad()
    def update_lambdas(self, weight: torch.Tensor, iterations: int) -> None:
        """A few power iterations per level, warm-started from the last call."""
        w = weight.detach()
        for lv in range(len(self.power)):
            x = self.power[lv]
            lam = None
            for _ in range(iterations):
                x = x / torch.linalg.vector_norm(x)
                Ax = self.A[lv] @ x
                y = self.base_smoother(lv, w, Ax)
                lam = float((Ax * y).sum()) / max(float((Ax * x).sum()), 1e-30)
                x = y
            self.power[lv] = x / torch.linalg.vector_norm(x)
            self.lambdas[lv] = lam

    def cycle(self, model: SmootherNet, b: torch.Tensor, lv: int = 0) -> torch.Tensor:
        if lv == len(self.A) - 1:
            return self.coarse @ b
        theta = model.theta / self.lambdas[lv]
        w = model.effective_weight()
        x = theta * self.base_smoother(lv, w, b)
        x = x + self.P[lv] @ self.cycle(model, self.R[lv] @ (b - self.A[lv] @ x), lv + 1)
        return x + theta * self.base_smoother(lv, w, b - self.A[lv] @ x)


def energy_loss(e: torch.Tensor, b: torch.Tensor, q: torch.Tensor, Aq: torch.Tensor) -> torch.Tensor:
    """Per-column ``min_alpha ||e - alpha q||_A^2 / ||e||_A^2`` for errors ``e`` ``(n, B)`` with
    ``b = A e`` and a direction ``q`` (``Aq = A q``): ``1 - (q.b)^2 / (q.Aq e.b)``."""
    qb, qAq, eb = (q * b).sum(0), (q * Aq).sum(0), (e * b).sum(0)
    tiny = torch.finfo(e.dtype).tiny
    return 1.0 - qb * qb / (qAq.clamp_min(tiny) * eb.clamp_min(tiny))


def multigrid_objective(model: SmootherNet, batch: dict[str, Any]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Trainer objective: ``batch = {"e": (n, B) errors, "h": TorchHierarchy}``."""
    h, e = batch["h"], batch["e"]
    h.update_lambdas(model.effective_weight(), batch.get("power_steps", 3))
    b = h.A[0] @ e
    q = h.cycle(model, b)
    per = energy_loss(e, b, q, h.A[0] @ q)
    return per.mean(), {"energy_ratio": per.detach().clamp_min(0).sqrt().mean()}


class ErrorBatches(RitzDraws):
    """Error vectors ``{"e": (n, B), "h": TorchHierarchy}`` drawn from Ritz vectors (see
    :class:`~pdeml.linalg.training.RitzDraws`), one system per batch."""

    def __init__(self, hierarchies: Sequence[TorchHierarchy], vectors: Sequence[np.ndarray], per_system: int,
                 batch_size: int, *, low_boost: float = 9.0, seed: int = 0):
        super().__init__(vectors, per_system, batch_size, low_boost=low_boost, seed=seed)
        self.hierarchies = list(hierarchies)

    def to(self, device: Any) -> ErrorBatches:
        super().to(device)
        self.hierarchies = [h.to(self.device) for h in self.hierarchies]
        return self

    def __iter__(self):
        for s, b in self.draws():
            h = self.hierarchies[s]
            # many power steps the first time a hierarchy is met, a few (warm-started) afterwards
            yield {"e": b.T, "h": h, "power_steps": 20 if h.lambdas[0] is None else 3}


def train_multigrid(systems: Any, *, model: SmootherNet | None = None, channels: int = 1, stencil: str = "star",
                    ritz: int | None = None, samples: int = 200, epochs: int = 20, batch_size: int = 10,
                    lr: float = 1e-2, low_boost: float = 9.0, coarsest: int = 400, seed: int = 0,
                    device: str = "auto", progress: bool | None = None, run_dir: str | os.PathLike | None = None,
                    grid: Any = None, mask: Any = None) -> tuple[SmootherNet, TrainResult]:
    """Train a :class:`SmootherNet` for V-cycles of ``systems`` through the Trainer (Adam, cosine, fp32).

    ``systems``: pressure systems, or SciPy matrices with ``grid=`` / ``mask=`` (one for all).
    ``ritz`` Lanczos steps per system (default ``min(rank, 200)``); ``samples`` error vectors per
    epoch in all. With ``run_dir`` the smoother is saved as ``run_dir/model.pt``
    (:func:`load_preconditioner` reads it). Returns ``(model, result)``.
    """
    if isinstance(systems, (PressureLinearSystem, PressureOperator, np.ndarray)) or sp.issparse(systems):
        systems = [systems]
    systems = [s.system if isinstance(s, PressureOperator) else s for s in systems]
    if not systems:
        raise ValueError("train_multigrid needs at least one system")
    placed = [matrix_on_grid(s, grid if not isinstance(s, PressureLinearSystem) else None,
                       mask if not isinstance(s, PressureLinearSystem) else None) for s in systems]
    dims = {m.ndim for _, m in placed}
    if len(dims) != 1:
        raise ValueError(f"all training systems must have the same dimension, got {sorted(dims)}")
    dim = dims.pop()
    if model is None:
        model = SmootherNet(dim=dim, channels=channels, stencil=stencil, seed=seed)
    if model.dim != dim:
        raise ValueError(f"the smoother is {model.dim}D but the systems are {dim}D")
    hierarchies, bases = [], []
    for i, ((A, m), s) in enumerate(zip(placed, systems)):
        levels = build_hierarchy(A, m, model.offsets, coarsest=coarsest)
        if len(levels) < 2:
            raise ValueError(f"training system {i} has {A.shape[0]} unknowns, at most coarsest={coarsest}: its "
                             f"V-cycle is a direct solve with no smoother to train; use larger systems or a "
                             f"smaller coarsest")
        hierarchies.append(TorchHierarchy(levels))
        null = s.null_space if isinstance(s, PressureLinearSystem) else None
        rank = A.shape[0] - (0 if null is None else null.shape[1])
        steps = min(rank, 200 if ritz is None else int(ritz))
        bases.append(ritz_vectors(A, steps, null_space=null, seed=seed + i, progress=progress)[1])
    per_system = max(1, -(-int(samples) // len(systems)))
    source = ErrorBatches(hierarchies, bases, per_system, batch_size, low_boost=low_boost, seed=seed)
    config = {"name": MODEL_NAME, **model.config}
    info = {"training": {"grids": [list(m.shape) for _, m in placed], "ritz": [int(V.shape[1]) for V in bases],
                         "samples_per_epoch": per_system * len(systems), "low_boost": low_boost,
                         "coarsest": coarsest}}
    torch.manual_seed(seed)
    trainer = Trainer(model, multigrid_objective, source, run_dir=run_dir, model_config=config,
                      extra_config=info, epochs=epochs, lr=lr, optimizer="adam", scheduler="cosine",
                      precision="fp32", device=str(resolve_device(device)), progress=progress, seed=seed)
    result = trainer.fit()
    return model.eval(), result
