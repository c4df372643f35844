"""The GP-HM model: grid values under a Kronecker spectral-mixture prior, and its negative log joint."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import torch
from torch import nn

from pdeml.gp.kernels import SpectralMixture, ToeplitzGrid
from pdeml.gp.kronecker import Kronecker, cholesky_factor, kron_matvec, mode_dot, spd_solve
from pdeml.gp.operators import GridOperator


class KernelTerms(NamedTuple):
    """One evaluation of the per-axis kernel matrices, shared by a profile step's solve for ``U``
    and its loss: ``shifted`` (``K_k + jitter I``) and ``mats`` (``[K_k, K_k', K_k'']``) carry the
    graph to the kernel parameters, ``chol`` (the factors of ``shifted``) does not."""

    shifted: list[torch.Tensor]
    mats: list[list[torch.Tensor]]
    chol: list[torch.Tensor]


class GPField(nn.Module):
    """Grid values ``U`` (n_1, ..., n_D), one spectral-mixture kernel per axis, log noise precisions.

    ``axes`` are the node coordinates per axis (equispaced). Everything is float64.
    """

    def __init__(self, axes: Sequence[torch.Tensor], kernels: Sequence[SpectralMixture], jitter: float = 1e-6):
        super().__init__()
        self.dim = len(axes)
        for k, a in enumerate(axes):
            self.register_buffer(f"axis{k}", a.to(torch.float64))
        self.kernels = nn.ModuleList(kernels)
        self.U = nn.Parameter(torch.zeros(*[len(a) for a in axes], dtype=torch.float64))
        self.log_tau = nn.Parameter(torch.zeros((), dtype=torch.float64))  # boundary precision
        self.log_v = nn.Parameter(torch.zeros((), dtype=torch.float64))    # residual precision
        self.jitter = float(jitter)
        self._toeplitz: dict[Any, ToeplitzGrid] = {}

    @property
    def axes(self) -> list[torch.Tensor]:
        return [getattr(self, f"axis{k}") for k in range(self.dim)]

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.U.shape)

    def _grid(self, k: int) -> ToeplitzGrid:
        a = self.axes[k]
        key = (k, a.device)
        if key not in self._toeplitz:
            self._toeplitz[key] = ToeplitzGrid(len(a), float(a[1] - a[0]), device=a.device, origin=float(a[0]))
        return self._toeplitz[key]

    def kernel_matrices(self, max_order: int = 2) -> tuple[list[torch.Tensor], list[list[torch.Tensor]]]:
        """``([K_k + jitter I per axis], [[K_k, K_k', K_k''] per axis])`` on the grid nodes."""
        mats = [self._grid(k).matrices(kern, max_order) for k, kern in enumerate(self.kernels)]
        eye = [torch.eye(self.shape[k], dtype=self.U.dtype, device=self.U.device) for k in range(self.dim)]
        # jitter relative to the variance k(0), so it means the same at any kernel scale
        shifted = [m[0] + (self.jitter * kern.variance) * e for m, e, kern in zip(mats, eye, self.kernels)]
        return shifted, mats

    def kernel_terms(self, max_order: int = 2) -> KernelTerms:
        """:meth:`kernel_matrices` and the Cholesky factors of the shifted ones (no graph)."""
        shifted, mats = self.kernel_matrices(max_order)
        with torch.no_grad():
            chol = [cholesky_factor(k.detach()) for k in shifted]
        return KernelTerms(shifted, mats, chol)

    def factorize(self, max_order: int = 2, method: str = "inverse") -> tuple[Kronecker, list[list[torch.Tensor]]]:
        """``(Kronecker of K_k + jitter I, [[K_k, K_k', K_k''] per axis])`` on the grid nodes."""
        shifted, mats = self.kernel_matrices(max_order)
        return Kronecker(shifted, method), mats

    def grid_terms(self, needs: Sequence[tuple[int, int]], consistent: bool = True,
                   kernel: KernelTerms | None = None):
        """``(log|K|, {(axis, order): derivative grid}, U^T K^-1 U, values)`` with the factorizations shared.

        ``K`` carries the jitter, so the conditional mean ``u = k(., X) K^-1 U`` is not ``U`` at the
        nodes: ``u(X) = U - jitter K^-1 U``. With ``consistent`` every term is read off that one
        function: the derivative along axis k is ``K_k^(r)`` along k and ``K_l`` (no jitter) along
        the other axes applied to ``K^-1 U``, and ``values`` is ``u(X)``. Without it (the Kronecker
        profile's form) derivatives apply ``K_k^(r) K_k^-1`` along axis k only and ``values`` is
        ``U``. On one axis ``K^-1 U`` and ``log|K|`` come from :func:`spd_solve` (its backward needs
        no matrix products), on more from the factor inverses. ``kernel``: the step's
        :meth:`kernel_terms`, when already evaluated."""
        max_order = max([o for _, o in needs], default=0)
        U = self.U
        if consistent and self.dim == 1:
            (shifted,), (mats,), (low,) = kernel if kernel is not None else self.kernel_terms(max_order)
            alpha, logdet = spd_solve(shifted, U, low)
            derivs = {(0, order): mats[order] @ alpha for _, order in needs}
            return logdet, derivs, (U * alpha).sum(), mats[0] @ alpha
        if kernel is None:
            kron, mats = self.factorize(max_order)
        else:
            kron, mats = Kronecker(kernel.shifted, "inverse"), kernel.mats
        if consistent:
            alpha = kron.solve(U)
            derivs = {}
            for axis, order in needs:
                t = alpha
                for k in range(self.dim):
                    t = mode_dot(mats[k][order if k == axis else 0], t, k)
                derivs[(axis, order)] = t
            return kron.logdet(), derivs, (U * alpha).sum(), kron_matvec([m[0] for m in mats], alpha)
        solved: dict[int, torch.Tensor] = {}
        derivs = {}
        for axis, order in needs:
            if axis not in solved:
                solved[axis] = kron.solve_mode(U, axis)
            derivs[(axis, order)] = mode_dot(mats[axis][order], solved[axis], axis)
        t = solved.get(0, None)
        t = kron.solve_mode(U, 0) if t is None else t
        for axis in range(1, self.dim):
            t = kron.solve_mode(t, axis)
        return kron.logdet(), derivs, (U * t).sum(), U

    def weights(self) -> torch.Tensor:
        """``K^-1 U`` (grid shape): the conditional mean is ``k(x, X) . weights``."""
        kron, _ = self.factorize(0, "cholesky")
        return kron.solve(self.U)

    def cross(self, k: int, x: torch.Tensor, order: int = 0) -> torch.Tensor:
        """``d^order/dx^order k_k(x_i - X_j)``: (len(x), n_k); on the distinct lags only where ``x``
        lies on a refinement of the grid (the nodes, the midpoints: :meth:`ToeplitzGrid.cross`)."""
        return self._grid(k).cross(self.kernels[k], x, order, nodes=self.axes[k])


def negative_log_joint(model: GPField, batch: dict[str, Any],
                       kernel: KernelTerms | None = None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The GP-HM objective for the Trainer; ``batch`` holds the operator, forcing and boundary data;
    ``kernel`` the step's :meth:`GPField.kernel_terms` when already evaluated."""
    op: GridOperator = batch["operator"]
    logdet, derivs, quad, values = model.grid_terms(op.needs, batch.get("consistent", True), kernel)
    residual = op.apply(values, derivs) - batch["forcing"]
    boundary = values[batch["boundary"]] - batch["boundary_values"]
    gap_r, gap_b = (residual * residual).sum(), (boundary * boundary).sum()
    n, nb = residual.numel(), boundary.numel()
    tau, v = model.log_tau.exp(), model.log_v.exp()
    prior = 0.5 * logdet + 0.5 * quad
    boundary_ll = 0.5 * nb * model.log_tau - 0.5 * tau * gap_b
    residual_ll = 0.5 * n * model.log_v - 0.5 * v * gap_r
    loss = prior - batch["boundary_weight"] * boundary_ll - residual_ll
    return loss, {"residual_rms": (gap_r / n).sqrt().detach(), "boundary_rms": (gap_b / nb).sqrt().detach()}


__all__ = ["GPField", "KernelTerms", "negative_log_joint"]
