"""Problems with a closed-form solution, evaluated pointwise: exact solution, forcing, the PDE
residual of any torch function by autograd (for PINNs), and a grid reference solve."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from pdeml.problems.base import Problem
from pdeml.solvers.elliptic import grid_coordinates, solve_elliptic


def values_at(u_fn: Callable, points):
    u = u_fn(points)
    if u.ndim == 2 and u.shape[1] == 1:
        u = u[:, 0]
    if u.ndim != 1 or u.shape[0] != points.shape[0]:
        raise ValueError(f"u_fn must map points (n, d) to (n,) or (n, 1), got {tuple(u.shape)} "
                         f"for points {tuple(points.shape)}")
    return u


def check_points(points, dim: int | None):
    import torch

    if not isinstance(points, torch.Tensor):
        raise TypeError(f"points must be a torch tensor (n, d), got {type(points).__name__}")
    if points.ndim != 2 or (dim is not None and points.shape[1] != dim):
        raise ValueError(f"points must have shape (n, {dim if dim is not None else 'd'}), got {tuple(points.shape)}")
    if not points.requires_grad:
        raise ValueError("points must require grad (points.requires_grad_(True)) to differentiate u")


def autograd_gradient(u, points):
    """``grad u`` (n, d) of values ``u`` (n,) computed from ``points`` (n, d), keeping the graph."""
    import torch

    (g,) = torch.autograd.grad(u.sum(), points, create_graph=True)
    return g


def autograd_hessian_diagonal(u, points, grad=None):
    """``d^2 u / dx_i^2`` (n, d) by one backward pass per dimension; the full Hessian is never formed."""
    import torch

    g = autograd_gradient(u, points) if grad is None else grad
    diag = []
    for i in range(points.shape[1]):
        # row i of the Hessian is computed, only its diagonal entry is kept
        (gi,) = torch.autograd.grad(g[:, i].sum(), points, create_graph=True)
        diag.append(gi[:, i])
    return torch.stack(diag, dim=1)


def autograd_laplacian(u, points, grad=None):
    """``Lap u`` (n,): the sum of :func:`autograd_hessian_diagonal`."""
    return autograd_hessian_diagonal(u, points, grad).sum(dim=1)



class ExactProblem(Problem):
    """A deterministic problem with closed-form ``exact`` and ``forcing`` (NumPy or torch).

    Defaults, for ``-Lap u = f`` with Dirichlet data from ``exact``: :meth:`operator` is
    ``-Lap u`` by autograd, :meth:`reference` the second-order FD solve on the node grid, and a
    sample is ``x`` = forcing, ``y`` = reference, both ``(1, *space)`` float32 (``rng`` unused).
    Subclasses with another operator override :meth:`operator` and :meth:`reference`.
    """

    has_exact = True
    min_resolution = 5

    def grid(self, resolution: int) -> list[np.ndarray]:
        """Node coordinates, ``resolution`` per axis with both ends: ``dim`` arrays."""
        return grid_coordinates((resolution,) * self.dim, "dirichlet", self.domain)

    def exact_on_points(self, points):
        """The exact solution at ``points`` (n, d), NumPy or torch; returns (n,)."""
        return self.exact(*[points[:, i] for i in range(points.shape[1])])

    def residual(self, u_fn: Callable, points):
        """PDE residual ``L[u_fn] - f`` (n,) at torch ``points`` (n, dim) requiring grad."""
        check_points(points, self.dim)
        return self.operator(u_fn, points) - self.forcing(*[points[:, i] for i in range(self.dim)])

    def operator(self, u_fn: Callable, points):
        """``L[u_fn]`` (n,) at ``points`` (n, dim) by autograd; here ``-Lap u``."""
        check_points(points, self.dim)
        return -autograd_laplacian(values_at(u_fn, points), points)

    def reference(self, resolution: int) -> np.ndarray:
        """Grid reference solution (``(resolution,) * dim``, float64)."""
        coords = self.grid(resolution)
        lengths = [hi - lo for lo, hi in self.domain]
        return solve_elliptic(1.0, self.forcing(*coords), bc="dirichlet", lengths=lengths,
                              boundary=self.exact(*coords), method="dst")

    def solve_sample(self, rng: np.random.Generator, resolution: int) -> tuple[np.ndarray, np.ndarray]:
        coords = self.grid(resolution)
        f = np.broadcast_to(self.forcing(*coords), coords[0].shape)
        return f[None].astype(np.float32), self.reference(resolution)[None].astype(np.float32)
