"""A trained DCDM network as a preconditioner for existing CG code.

``DeepPreconditioner(model, system=...)`` maps a residual ``r`` (unknowns ``(n,)``) to the
direction ``rms(r) f(r / rms(r))`` (``rms(r) = ||r|| / sqrt(n)``): the fluid unknowns are scattered onto the grid (0 in solids),
the network runs on its own device and dtype, and the result is gathered back. The map is
positively homogeneous (``M(c r) = c M(r)`` for ``c > 0``) but neither linear nor symmetric.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.sparse.linalg as spla
import torch
from torch import nn

from pdeml.solvers.pressure import FluidGrid, PressureLinearSystem, PressureOperator


def fluid_grid_of(grid: Any = None, *, mask: Any = None,
                  system: PressureLinearSystem | PressureOperator | None = None) -> FluidGrid:
    """A :class:`FluidGrid` from exactly one of ``system``, ``mask`` (bool array) or ``grid``
    (a shape tuple, all cells unknown, or a bool array, read as a mask)."""
    given = [name for name, v in (("grid", grid), ("mask", mask), ("system", system)) if v is not None]
    if len(given) != 1:
        raise ValueError(f"give exactly one of grid=, mask= or system= to place the unknowns on the grid; "
                         f"got {', '.join(given) or 'none'}")
    if system is not None:
        if isinstance(system, PressureOperator):
            system = system.system
        if not isinstance(system, PressureLinearSystem):
            raise TypeError(f"system must be a PressureLinearSystem or PressureOperator, got {type(system).__name__}")
        return system.grid
    if mask is not None:
        return FluidGrid(mask)
    if isinstance(grid, FluidGrid):
        return grid
    if isinstance(grid, np.ndarray) and grid.ndim > 1:
        return FluidGrid(grid)
    if isinstance(grid, (PressureLinearSystem, PressureOperator)):
        return fluid_grid_of(system=grid)
    if not isinstance(grid, Sequence) or not all(isinstance(g, (int, np.integer)) for g in grid):
        raise TypeError(f"grid must be a shape such as (64, 64) or a boolean fluid mask, got {grid!r}")
    shape = tuple(int(g) for g in grid)
    if len(shape) not in (2, 3) or min(shape) < 1:
        raise ValueError(f"grid must have 2 or 3 positive sides, got {shape}")
    return FluidGrid(np.ones(shape, dtype=bool))


class DeepPreconditioner(spla.LinearOperator):
    """A DCDM network as a preconditioner ``M(r) = rms(r) f(r / rms(r))`` on fluid unknowns.

    Place the unknowns with one of ``grid`` (shape: every cell is an unknown), ``mask`` (bool
    grid, unknowns = True cells in C order) or ``system`` (a :class:`PressureLinearSystem` or
    :class:`PressureOperator`; its null space is then projected out of every output).

    ``M(r)``: ``r`` a torch tensor ``(n,)`` or ``(B, n)`` (any device/dtype; the result comes back
    there) or a NumPy array (float64 NumPy back). It is a SciPy ``LinearOperator`` (float64,
    ``shape (n, n)``), so it goes directly into ``M=`` of ``scipy.sparse.linalg.cg``/``minres`` or
    :func:`fcg` (but see :meth:`as_linear_operator` for what plain CG can and cannot promise).
    """

    def __init__(self, model: nn.Module, grid: Any = None, *, mask: Any = None,
                 system: PressureLinearSystem | PressureOperator | None = None):
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be a torch.nn.Module (a DCDMNet), got {type(model).__name__}")
        self.model = model.eval()
        self.fluid = fluid_grid_of(grid, mask=mask, system=system)
        dim = getattr(model, "dim", len(self.fluid.shape))
        if dim != len(self.fluid.shape):
            raise ValueError(f"the network is {dim}D but the grid {self.fluid.shape} is {len(self.fluid.shape)}D")
        self.n = self.fluid.n
        super().__init__(dtype=np.float64, shape=(self.n, self.n))
        # the null space of system= is projected out of every output (self.fluid is then its grid)
        self._project = system is not None and self.fluid.null_space is not None
        param = next(model.parameters(), None)
        self.device = param.device if param is not None else torch.device("cpu")
        self.net_dtype = param.dtype if param is not None else torch.float32

    @torch.no_grad()
    def directions(self, r: torch.Tensor) -> torch.Tensor:
        """``f(r / rms(r))`` for unknowns ``(B, n)`` (rows with ``r = 0`` give 0), in ``r``'s dtype/device.

        Unit root-mean-square rather than unit norm: the values the network sees per cell do not
        shrink on larger grids (the same as the paper's ``r / ||r||`` up to the factor ``sqrt(n)``)."""
        norms = torch.linalg.vector_norm(r, dim=1, keepdim=True) / self.n ** 0.5
        unit = r / torch.where(norms > 0, norms, torch.ones_like(norms))
        u = self.fluid.to_grid(unit.to(device=self.device, dtype=self.net_dtype))
        _, mask = self.fluid.buffers(self.device, self.net_dtype)
        q = self.fluid.to_flat(self.model(u, mask)).to(device=r.device, dtype=r.dtype)
        q = q * (norms > 0)
        if self._project:
            q = self.fluid.project(q)
        return q

    def __call__(self, r: Any) -> Any:
        as_numpy = not torch.is_tensor(r)
        t = torch.from_numpy(np.asarray(r, dtype=np.float64)) if as_numpy else r
        if t.dim() not in (1, 2) or t.shape[-1] != self.n:
            raise ValueError(f"expected a residual of shape ({self.n},) or (B, {self.n}) for this grid, "
                             f"got {tuple(t.shape)}")
        if not t.is_floating_point():
            raise TypeError(f"expected a floating-point residual, got dtype {t.dtype}")
        t2 = t.reshape(-1, self.n)
        norms = torch.linalg.vector_norm(t2, dim=1, keepdim=True) / self.n ** 0.5
        out = (self.directions(t2) * norms).reshape(t.shape)
        return out.numpy() if as_numpy else out

    def _matmat(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        return np.ascontiguousarray(self(X.reshape(self.n, -1).T.copy()).T)

    def _matvec(self, x: np.ndarray) -> np.ndarray:
        return self._matmat(np.asarray(x).reshape(self.n, 1))[:, 0]

    def _adjoint(self) -> spla.LinearOperator:
        raise TypeError("a DCDM network is not a symmetric (nor a linear) map: it has no transpose; a preconditioner "
                        "that needs one is MultigridPreconditioner")

    def as_linear_operator(self) -> spla.LinearOperator:
        """This preconditioner itself (it is a SciPy ``LinearOperator``, float64 NumPy in and out).

        Not a linear map: plain CG/MINRES may still converge with it, but only flexible CG
        (:func:`pdeml.linalg.fcg`) is built for a preconditioner that changes from step to step.
        """
        return self

    def __repr__(self) -> str:
        return f"DeepPreconditioner(grid={self.fluid.shape}, n={self.n}, device={self.device})"
