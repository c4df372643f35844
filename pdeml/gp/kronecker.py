"""Kronecker algebra for covariances ``K = K_1 (x) K_2 (x) ... (x) K_D`` on tensor grids.

A vector on an ``n_1 x ... x n_D`` grid is held as a tensor of that shape; its flat form is the
C-order (row-major) ``reshape(-1)``, matching ``torch.kron(K_1, K_2)``. Every operation works one
mode (axis) at a time with the ``n_k x n_k`` factors, so the ``N x N`` matrix (``N = prod n_k``)
is never formed: a product or solve costs ``O(N sum n_k)``, a factorization ``O(sum n_k^3)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


def mode_dot(matrix: torch.Tensor, tensor: torch.Tensor, axis: int) -> torch.Tensor:
    """``matrix`` (m, n_axis) applied along ``axis`` of ``tensor``; that axis becomes m long."""
    moved = torch.movedim(tensor, axis, 0)
    out = (matrix @ moved.reshape(moved.shape[0], -1)).reshape(matrix.shape[0], *moved.shape[1:])
    return torch.movedim(out, 0, axis)


def mode_apply(fn, tensor: torch.Tensor, axis: int) -> torch.Tensor:
    """``fn`` (a map of (n_axis, m) matrices, columnwise, such as a solve) applied along ``axis``."""
    moved = torch.movedim(tensor, axis, 0)
    out = fn(moved.reshape(moved.shape[0], -1)).reshape(moved.shape)
    return torch.movedim(out, 0, axis)


class _SPDInverse(torch.autograd.Function):
    """``(K^-1, log|K|)`` from one Cholesky factorization, with the backward
    ``dK = -K^-1 G K^-1 + g K^-1`` in two matrix products (no triangular solves)."""

    @staticmethod
    def forward(ctx, K):
        low = cholesky_factor(K)
        inv = torch.cholesky_inverse(low)
        ctx.save_for_backward(inv)
        return inv, 2.0 * torch.log(torch.diagonal(low)).sum()

    @staticmethod
    def backward(ctx, grad_inv, grad_logdet):
        (inv,) = ctx.saved_tensors
        grad = torch.zeros_like(inv)
        if grad_inv is not None:
            grad = grad - inv @ grad_inv @ inv
        if grad_logdet is not None:
            grad = grad + grad_logdet * inv
        return grad


def spd_inverse(K: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(K^-1, log|K|)`` of a symmetric positive definite ``K`` (n, n), differentiable.

    One Cholesky factorization serves the inverse, the log-determinant and the backward pass,
    so a loss that applies ``K^-1`` many times costs matrix products only.
    """
    return _SPDInverse.apply(K)


class _SPDSolve(torch.autograd.Function):
    """``(K^-1 v, log|K|)`` from one Cholesky factorization, with the backward
    ``dK = -(K^-1 g_x) x^T + g K^-1``, ``dv = K^-1 g_x``: one inverse from the factor and outer
    products, instead of the two matrix products of a general ``K^-1`` backward."""

    @staticmethod
    def forward(ctx, K, v, low=None):
        low = cholesky_factor(K) if low is None else low
        x = torch.cholesky_solve(v.reshape(-1, 1), low).reshape(v.shape)
        ctx.save_for_backward(low, x)
        return x, 2.0 * torch.log(torch.diagonal(low)).sum()

    @staticmethod
    def backward(ctx, grad_x, grad_logdet):
        low, x = ctx.saved_tensors
        grad_v = torch.zeros_like(x) if grad_x is None else \
            torch.cholesky_solve(grad_x.reshape(-1, 1), low).reshape(x.shape)
        grad_K = -torch.outer(grad_v.reshape(-1), x.reshape(-1))
        if grad_logdet is not None:
            grad_K = grad_K + grad_logdet * torch.cholesky_inverse(low)
        return grad_K, grad_v, None


def spd_solve(K: torch.Tensor, v: torch.Tensor, low: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """``(K^-1 v, log|K|)`` for a symmetric positive definite ``K`` (n, n) and one vector ``v``
    (n,), differentiable in both: the cheapest form when ``K^-1`` is applied to one vector only
    (a one-axis grid), ``O(n^3)`` once forward and once backward, with no matrix products.
    ``low``: ``K``'s Cholesky factor when already at hand (not differentiated)."""
    return _SPDSolve.apply(K, v, low)


def cholesky_factor(K: torch.Tensor) -> torch.Tensor:
    """The lower Cholesky factor of ``K``, with an error that says to raise the jitter."""
    low, info = torch.linalg.cholesky_ex(K)
    if int(info) != 0:
        raise torch.linalg.LinAlgError(
            f"a {K.shape[0]}x{K.shape[0]} kernel matrix is not positive definite (Cholesky failed at "
            f"column {int(info)}); increase the jitter")
    return low


def _check_factors(factors: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    factors = list(factors)
    if not factors:
        raise ValueError("need at least one Kronecker factor")
    for i, f in enumerate(factors):
        if f.ndim != 2 or f.shape[0] != f.shape[1]:
            raise ValueError(f"Kronecker factor {i} must be a square matrix, got shape {tuple(f.shape)}")
    return factors


class Kronecker:
    """``K = K_1 (x) ... (x) K_D`` from symmetric positive definite factors.

    ``method="cholesky"`` gives :meth:`solve`, :meth:`logdet`, :meth:`quad` and :meth:`solve_mode`
    for ``K`` itself; ``method="inverse"`` the same through explicit factor inverses
    (:func:`spd_inverse`: one factorization per factor, then only matrix products, forward and
    backward: the fastest for training); ``method="eigh"`` also handles a
    diagonal shift, ``(K + noise I)^-1`` and ``log|K + noise I|``, through per-factor
    eigendecompositions. Vectors are tensors of shape :attr:`shape` or flat (N,).
    """

    def __init__(self, factors: Sequence[torch.Tensor], method: str = "cholesky"):
        self.factors = _check_factors(factors)
        self.shape = tuple(int(f.shape[0]) for f in self.factors)
        self.method = method
        if method == "cholesky":
            self.chol = [cholesky_factor(f) for f in self.factors]
        elif method == "inverse":
            self.inverses, self.factor_logdets = zip(*[spd_inverse(f) for f in self.factors])
        elif method == "eigh":
            self.eig = [torch.linalg.eigh(f) for f in self.factors]
        else:
            raise ValueError(f"method must be 'cholesky', 'inverse' or 'eigh', got {method!r}")

    @property
    def size(self) -> int:
        n = 1
        for s in self.shape:
            n *= s
        return n

    def _as_grid(self, v: torch.Tensor) -> tuple[torch.Tensor, bool]:
        if tuple(v.shape) == self.shape:
            return v, False
        if v.ndim == 1 and v.shape[0] == self.size:
            return v.reshape(self.shape), True
        raise ValueError(f"expected a vector of shape {self.shape} or ({self.size},), got {tuple(v.shape)}")

    def matvec(self, v: torch.Tensor) -> torch.Tensor:
        """``K v``."""
        t, flat = self._as_grid(v)
        for axis, f in enumerate(self.factors):
            t = mode_dot(f, t, axis)
        return t.reshape(-1) if flat else t

    def solve_mode(self, v: torch.Tensor, axis: int) -> torch.Tensor:
        """``K_axis^-1`` applied along ``axis`` only (Cholesky or inverse)."""
        if self.method == "inverse":
            return mode_dot(self.inverses[axis], v, axis)
        self._need("cholesky", "solve_mode")
        low = self.chol[axis]
        return mode_apply(lambda m: torch.cholesky_solve(m, low), v, axis)

    def solve(self, v: torch.Tensor, noise: float | torch.Tensor = 0.0) -> torch.Tensor:
        """``(K + noise I)^-1 v`` (``noise`` needs ``method="eigh"``)."""
        t, flat = self._as_grid(v)
        if self.method in ("cholesky", "inverse"):
            if not _is_zero(noise):
                raise ValueError("a noise shift needs Kronecker(..., method='eigh')")
            for axis in range(len(self.factors)):
                t = self.solve_mode(t, axis)
        else:
            for axis, (_, vec) in enumerate(self.eig):
                t = mode_dot(vec.T, t, axis)
            t = t / (self.eigenvalues() + noise)
            for axis, (_, vec) in enumerate(self.eig):
                t = mode_dot(vec, t, axis)
        return t.reshape(-1) if flat else t

    def eigenvalues(self) -> torch.Tensor:
        """Eigenvalues of ``K`` as a tensor of :attr:`shape` (outer product of the factors')."""
        self._need("eigh", "eigenvalues")
        return outer_product([val for val, _ in self.eig])

    def logdet(self, noise: float | torch.Tensor = 0.0) -> torch.Tensor:
        """``log |K + noise I|``; without noise ``sum_k (N / n_k) log |K_k|``."""
        if self.method == "eigh" and not _is_zero(noise):
            return torch.log(self.eigenvalues() + noise).sum()
        if not _is_zero(noise):
            raise ValueError("a noise shift needs Kronecker(..., method='eigh')")
        total = 0.0
        for n, f in zip(self.shape, self._factor_logdets()):
            total = total + (self.size // n) * f
        return total

    def _factor_logdets(self) -> list[torch.Tensor]:
        if self.method == "cholesky":
            return [2.0 * torch.log(torch.diagonal(low)).sum() for low in self.chol]
        if self.method == "inverse":
            return list(self.factor_logdets)
        return [torch.log(val).sum() for val, _ in self.eig]

    def quad(self, v: torch.Tensor) -> torch.Tensor:
        """``v^T K^-1 v`` (a scalar)."""
        t, _ = self._as_grid(v)
        return (t * self.solve(t)).sum()

    def dense(self) -> torch.Tensor:
        """The full ``N x N`` matrix (for checks on small grids only)."""
        out = self.factors[0]
        for f in self.factors[1:]:
            out = torch.kron(out, f)
        return out

    def _need(self, method: str, what: str) -> None:
        if self.method != method:
            raise ValueError(f"{what} needs Kronecker(..., method={method!r}), this one uses {self.method!r}")


def _is_zero(x) -> bool:
    return (not torch.is_tensor(x) and x == 0) or (torch.is_tensor(x) and bool((x == 0).all()))


def outer_product(vectors: Sequence[torch.Tensor]) -> torch.Tensor:
    """``v_1 (x) ... (x) v_D`` as a tensor of shape ``(len(v_1), ..., len(v_D))``: the diagonal of a
    Kronecker product of diagonal matrices."""
    out = vectors[0]
    for v in vectors[1:]:
        out = out[..., None] * v
    return out


def outer_sum(vectors: Sequence[torch.Tensor]) -> torch.Tensor:
    """``out[i_1, ..., i_D] = v_1[i_1] + ... + v_D[i_D]``: the diagonal of a Kronecker sum of
    diagonal matrices."""
    out = vectors[0]
    for v in vectors[1:]:
        out = out[..., None] + v
    return out


def kron_matvec(factors: Sequence[torch.Tensor], v: torch.Tensor) -> torch.Tensor:
    """``(A_1 (x) ... (x) A_D) v`` for any (also rectangular) factors; ``v`` has shape
    ``(cols_1, ..., cols_D)`` and the result ``(rows_1, ..., rows_D)``."""
    factors = list(factors)
    if v.ndim != len(factors) or any(v.shape[k] != f.shape[1] for k, f in enumerate(factors)):
        raise ValueError(f"vector of shape {tuple(v.shape)} does not match factors "
                         f"{[tuple(f.shape) for f in factors]}")
    for axis, f in enumerate(factors):
        v = mode_dot(f, v, axis)
    return v
