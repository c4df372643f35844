"""An algebraic coarse space: the coarse-grid correction ``Q r = Z (Z^T A Z)^+ Z^T r``.

``Z`` is the indicator of aggregates of unknowns: blocks of ``block`` cells per side of the grid,
each split into the pieces that ``A``'s graph connects inside the block (so a thin obstacle
through a block gives two aggregates, one per side). ``Z^T A Z`` is the Galerkin coarse matrix,
factorized once by sparse LU when it has at most ``direct_limit`` unknowns and approximated by
one smoothed-aggregation AMG V-cycle (pyamg) above that, so the cost of ``Q r`` stays
proportional to the number of unknowns. A singular ``A`` (Neumann walls) makes ``Z^T A Z``
singular too; one coarse unknown per null vector is grounded, which changes ``Q r`` for ``r`` in
range(A) only by a null vector of ``A`` (projected out by the solvers).

:func:`~pdeml.linalg.dcdm_solve` and :func:`~pdeml.linalg.fcg` take it as ``coarse=``: ``Q r``
is then searched as a second direction every step, which holds the lowest modes of the system
(the ones a local network or smoother does not reach) in every step's search space.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
import scipy.sparse.csgraph as csgraph
import scipy.sparse.linalg as spla
import torch

from pdeml.solvers.pressure import PressureLinearSystem, PressureOperator, check_mask


def constant_null_space(A: sp.spmatrix, tol: float = 1e-10) -> np.ndarray | None:
    """Orthonormal ``(n, k)`` indicators of the connected components of ``A``'s graph on which the
    constant vector is in the null space (``A 1_C = 0``), or ``None``: the null space of a
    Neumann Laplacian, found without being told."""
    A = sp.csr_matrix(A)
    k, labels = csgraph.connected_components(A, directed=False)
    sums = np.bincount(labels, weights=np.abs(A @ np.ones(A.shape[0])), minlength=k)
    scale = np.bincount(labels, weights=np.abs(A.diagonal()), minlength=k)
    singular = np.flatnonzero(sums <= tol * np.maximum(scale, 1e-300))
    if singular.size == 0:
        return None
    N = np.zeros((A.shape[0], singular.size))
    for j, c in enumerate(singular):
        on = labels == c
        N[on, j] = 1.0 / np.sqrt(on.sum())
    return N


def jacobi_bound(A: sp.spmatrix) -> float:
    """Gershgorin bound of ``lambda_max(D^-1 A)``: one pass, never below the true value (all-zero
    rows, such as isolated cells, are skipped)."""
    diag = A.diagonal()
    rows = np.asarray(abs(A).sum(axis=1)).ravel()
    return float(np.max(rows / np.where(diag > 0, diag, np.inf)))


def aggregates(A: sp.spmatrix, mask: np.ndarray, block: int) -> np.ndarray:
    """Aggregate label ``(n,)`` of each unknown: its block of ``block^d`` cells, split into the
    pieces of ``A``'s graph inside the block."""
    coords = np.nonzero(mask)
    blocks = np.ravel_multi_index(tuple(c // block for c in coords),
                                  tuple(-(-s // block) for s in mask.shape))
    A = sp.coo_matrix(A)
    inside = blocks[A.row] == blocks[A.col]
    graph = sp.csr_matrix((np.ones(int(inside.sum())), (A.row[inside], A.col[inside])), shape=A.shape)
    _, labels = csgraph.connected_components(graph, directed=False)
    return labels


def matrix_on_grid(A: Any, grid: Any = None, mask: Any = None) -> tuple[sp.csr_matrix, np.ndarray]:
    """``(A as float64 CSR, bool mask of its unknowns)`` from a pressure system, or from a symmetric
    SciPy/NumPy matrix with ``grid=`` (a shape: every cell an unknown) or ``mask=`` (a bool grid:
    the unknowns are its True cells in C order). Checks size, symmetry and finiteness."""
    if isinstance(A, PressureOperator):
        A = A.system
    if isinstance(A, PressureLinearSystem):
        if grid is not None or mask is not None:
            raise ValueError("a pressure system places its own unknowns: pass grid= or mask= only with a plain matrix")
        return A.matrix.tocsr(), A.mask
    if not sp.issparse(A) and not isinstance(A, np.ndarray):
        raise TypeError(f"A must be a SciPy sparse matrix, a dense NumPy array or a PressureLinearSystem, "
                        f"got {type(A).__name__}")
    if A.ndim != 2 or A.shape[0] != A.shape[1]:
        raise ValueError(f"A must be a square matrix (n, n), got shape {A.shape}")
    if (grid is None) == (mask is None):
        raise ValueError("give exactly one of grid= (a shape: every cell an unknown) or mask= (a boolean grid: "
                         "the unknowns are its True cells in C order) to place the unknowns of A on a grid")
    if mask is None:
        shape = tuple(int(g) for g in grid)
        if len(shape) not in (2, 3) or min(shape) < 1:
            raise ValueError(f"grid must have 2 or 3 positive sides, got {grid!r}")
        mask = np.ones(shape, dtype=bool)
    mask = check_mask(mask)
    if int(mask.sum()) != A.shape[0]:
        raise ValueError(f"the grid has {int(mask.sum())} unknowns but A is {A.shape[0]} x {A.shape[1]}")
    A = sp.csr_matrix(A, dtype=np.float64)
    if not np.all(np.isfinite(A.data)):
        raise ValueError("A contains NaN or Inf entries")
    asym = abs(A - A.T).max() if A.nnz else 0.0
    if asym > 1e-10 * max(abs(A).max(), 1e-300):
        raise ValueError(f"A must be symmetric (max |A - A^T| = {asym:.3e}); CG-type solvers and their "
                         f"preconditioners need a symmetric positive (semi-)definite matrix")
    return A, mask


class CoarseSpace:
    """``Q r = Z (Z^T A Z)^+ Z^T r`` for ``A`` on a grid (see the module docstring).

    ``A``: a :class:`~pdeml.solvers.pressure.PressureLinearSystem` (mask and null space from it)
    or a symmetric SciPy matrix with ``grid=`` (a shape) or ``mask=`` (bool grid, unknowns = True
    cells in C order). ``null_space``: ``(n, k)`` basis when ``A`` is singular (found from the
    graph when not given: constants on components with zero row sums). ``Q(r)`` takes NumPy
    ``(n,)`` / ``(B, n)`` or a torch tensor (returned on its device and dtype). Attributes:
    ``n_coarse``, ``block``, ``method`` (``"splu"`` or ``"amg"``).
    """

    def __init__(self, A: Any, grid: Any = None, *, mask: Any = None, block: int = 4, null_space: Any = None,
                 direct_limit: int = 50_000, smoothing: bool = True):
        if isinstance(A, PressureOperator):
            A = A.system
        if isinstance(A, PressureLinearSystem) and null_space is None and A.null_space is not None:
            null_space = A.null_space
        A, mask = matrix_on_grid(A, grid, mask)
        diag = A.diagonal()
        rho = jacobi_bound(A)
        # the additive Jacobi term of a two-level map; zero rows (isolated cells) get none
        self._jacobi = np.where(diag > 0, 1.0 / (rho * np.where(diag > 0, diag, 1.0)), 0.0) if smoothing else None
        if int(block) < 2:
            raise ValueError(f"block must be >= 2 cells per side, got {block!r}")
        self.block, self.n = int(block), A.shape[0]
        labels = aggregates(A, mask, self.block)
        self.n_coarse = int(labels.max()) + 1
        self.Z = sp.csr_matrix((np.ones(self.n), (np.arange(self.n), labels)), shape=(self.n, self.n_coarse))
        self.ZT = self.Z.T.tocsr()
        Ac = (self.ZT @ A @ self.Z).tocsr()
        if null_space is None:
            null_space = constant_null_space(A)
        if null_space is not None:
            N = null_space.toarray() if sp.issparse(null_space) else np.asarray(null_space, dtype=np.float64)
            N = N.reshape(self.n, -1)
            # the coarse null vectors: N fitted in range(Z) (exact for constants on components)
            W = (self.ZT @ N) / np.asarray(self.Z.sum(axis=0)).reshape(-1, 1)
            # ground one coarse unknown per null vector (where it is largest): for a right-hand side in
            # range(A) the grounded solve is exact up to a null vector, which the solvers project out
            pins = []
            for k in range(W.shape[1]):
                order = np.argsort(-np.abs(W[:, k]))
                pins.append(next(int(i) for i in order if int(i) not in pins))
            bump = np.zeros(self.n_coarse)
            bump[pins] = float(Ac.diagonal().mean())
            Ac = (Ac + sp.diags(bump)).tocsr()
        if self.n_coarse <= int(direct_limit):
            lu = spla.splu(Ac.tocsc())
            self._solve = lu.solve
            self.method = "splu"
        else:
            try:
                import pyamg
            except ImportError as err:
                raise ImportError(f"the coarse matrix has {self.n_coarse} unknowns (> direct_limit={direct_limit}); "
                                  f"solving it approximately needs pyamg (pip install pyamg), or pass a larger "
                                  f"block") from err
            ml = pyamg.smoothed_aggregation_solver(Ac)
            self._solve = ml.aspreconditioner(cycle="V").matvec
            self.method = "amg"

    def apply_numpy(self, r: np.ndarray) -> np.ndarray:
        r = np.asarray(r, dtype=np.float64)
        if r.shape[-1] != self.n or r.ndim not in (1, 2):
            raise ValueError(f"expected a residual of shape ({self.n},) or (B, {self.n}), got {r.shape}")
        rhs = self.ZT @ r.T
        y = self._solve(rhs) if rhs.ndim == 1 else np.stack([self._solve(c) for c in rhs.T], axis=1)
        out = np.asarray(self.Z @ y).T
        return out if self._jacobi is None else out + self._jacobi * r

    def __call__(self, r: Any) -> Any:
        if torch.is_tensor(r):
            out = self.apply_numpy(r.detach().cpu().numpy())
            return torch.from_numpy(np.ascontiguousarray(out)).to(device=r.device, dtype=r.dtype)
        return self.apply_numpy(r)

    def __repr__(self) -> str:
        return f"CoarseSpace(n={self.n}, n_coarse={self.n_coarse}, block={self.block}, method={self.method!r})"
