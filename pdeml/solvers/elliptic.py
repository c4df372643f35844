"""Second-order finite differences for -div(a grad u) = f on the unit square, u = 0 on the boundary.

Grid: ``s x s`` nodes ``x_i = i / (s - 1)`` including the boundary (the layout of the FNO Darcy
data). Face coefficients are harmonic means of the two nodal values, which keeps the scheme
second order for smooth ``a`` and flux-consistent across jumps of a piecewise-constant ``a``.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla


def _check_grid(name: str, arr: np.ndarray) -> np.ndarray:
    arr = np.asarray(arr, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[0] != arr.shape[1]:
        raise ValueError(f"{name} must be a square 2D array of nodal values (s, s), got shape {arr.shape}")
    if arr.shape[0] < 3:
        raise ValueError(f"{name} needs at least 3 x 3 nodes (one interior node), got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or Inf")
    return arr


def _harmonic(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return 2.0 * a * b / (a + b)


def darcy_matrix(a: np.ndarray) -> sp.csr_matrix:
    """Sparse SPD matrix of ``-div(a grad .)`` on the interior nodes of an ``s x s`` grid.

    Unknowns are ordered row-major over the ``(s-2) x (s-2)`` interior nodes; the homogeneous
    Dirichlet boundary values are eliminated. ``a`` must be positive at every node.
    """
    a = _check_grid("coefficient a", a)
    if np.any(a <= 0):
        raise ValueError(f"coefficient a must be positive everywhere, min is {a.min():.3g}")
    s = a.shape[0]
    n = s - 2
    h2 = (1.0 / (s - 1)) ** 2
    ac = a[1:-1, 1:-1]
    east = _harmonic(ac, a[2:, 1:-1]) / h2   # face (i+1/2, j)
    west = _harmonic(ac, a[:-2, 1:-1]) / h2  # face (i-1/2, j)
    north = _harmonic(ac, a[1:-1, 2:]) / h2  # face (i, j+1/2)
    south = _harmonic(ac, a[1:-1, :-2]) / h2  # face (i, j-1/2)
    idx = np.arange(n * n).reshape(n, n)
    rows = [idx.ravel()]
    cols = [idx.ravel()]
    vals = [(east + west + north + south).ravel()]
    for coef, sl_from, sl_to in (
        (east, (slice(0, -1), slice(None)), (slice(1, None), slice(None))),
        (west, (slice(1, None), slice(None)), (slice(0, -1), slice(None))),
        (north, (slice(None), slice(0, -1)), (slice(None), slice(1, None))),
        (south, (slice(None), slice(1, None)), (slice(None), slice(0, -1))),
    ):
        rows.append(idx[sl_from].ravel())
        cols.append(idx[sl_to].ravel())
        vals.append(-coef[sl_from].ravel())
    return sp.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n * n, n * n)
    )


def solve_darcy(a: np.ndarray, f: np.ndarray | float = 1.0, method: str = "direct",
                rtol: float = 1e-10) -> np.ndarray:
    """Solve ``-div(a grad u) = f`` with ``u = 0`` on the boundary; returns ``u`` on all ``s x s`` nodes.

    ``method``: ``"direct"`` (sparse LU) or ``"amg"`` (pyamg-preconditioned CG to ``rtol``;
    needs the ``amg`` extra).
    """
    a = _check_grid("coefficient a", a)
    s = a.shape[0]
    if np.isscalar(f):
        rhs = np.full((s - 2) ** 2, float(f))
    else:
        f = _check_grid("forcing f", f)
        if f.shape != a.shape:
            raise ValueError(f"forcing f has shape {f.shape}, expected the coefficient's shape {a.shape}")
        rhs = f[1:-1, 1:-1].ravel().copy()
    A = darcy_matrix(a)
    if method == "direct":
        sol = spla.spsolve(A.tocsc(), rhs)
    elif method == "amg":
        try:
            import pyamg
        except ImportError as err:
            raise ImportError("method='amg' needs pyamg: pip install 'pdeml[amg]'") from err
        ml = pyamg.smoothed_aggregation_solver(A)
        sol = ml.solve(rhs, tol=rtol, accel="cg", maxiter=500)
    else:
        raise ValueError(f"unknown method {method!r}; known methods: amg, direct")
    u = np.zeros((s, s))
    u[1:-1, 1:-1] = sol.reshape(s - 2, s - 2)
    return u
