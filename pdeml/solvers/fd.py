"""Second-order finite differences for a PDE given as an operator function, on a box with Dirichlet data.

The operator is written once as ``L(u, d, x)`` (see :class:`~pdeml.problems.pde.PDE`): pointwise in
``u``, its derivatives ``d[(axis, order)]`` and the coordinates ``x``, linear or not, with
variable coefficients. On the node grid (both ends of every axis, ``shape`` nodes) the
derivatives are central differences, ``(u_{i+1} - u_{i-1}) / 2h`` and ``(u_{i+1} - 2 u_i +
u_{i-1}) / h^2``, at the interior nodes; the boundary nodes carry the Dirichlet data.

The discrete equations ``L(U, D U, x) = f`` are solved by Newton's method. Its Jacobian is exact:
as ``L`` is pointwise, the gradient of ``sum L`` with respect to ``u`` and to each ``d_k`` (torch
autograd, float64) gives the per-node partials ``dL/du`` and ``dL/dd_k``, and ``J = diag(dL/du) +
sum_k diag(dL/dd_k) D_k``. A linear operator converges in one step. Where the partials show a
constant-coefficient ``-c Lap u + c0 u`` the sine-transform solver of
:func:`~pdeml.solvers.elliptic.solve_elliptic` is used instead (same discrete solution, O(N log N)).

Only elliptic operators are accepted: every axis needs a second derivative, with coefficients
of one sign over the grid. A first-order (hyperbolic) operator with Dirichlet data on every side
has no well-posed central-difference reference, and is refused before any work.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

MAX_FD_NODES = 8_000_000
MAX_SPARSE_UNKNOWNS = 2_000_000

Key = tuple[int, int]
# operator(u, derivatives: dict[key, tensor], coordinates: tuple of tensors) -> L[u]
Operator = Callable[[object, dict, tuple], object]


class FDError(ValueError):
    """The operator or the grid is outside what the FD reference handles; says which part and why."""


def node_axes(domain: Sequence[tuple[float, float]], shape: Sequence[int]) -> list[np.ndarray]:
    """Node coordinates per axis: ``shape[k]`` points from ``low`` to ``high``, both included."""
    return [np.linspace(lo, hi, int(n)) for (lo, hi), n in zip(domain, shape)]


def _difference_1d(n: int, h: float, order: int) -> sp.csr_matrix:
    """Rows for the ``n - 2`` interior nodes of a line of ``n`` nodes: the central difference."""
    stencil = (np.array([-0.5, 0.0, 0.5]) / h) if order == 1 else (np.array([1.0, -2.0, 1.0]) / h**2)
    return sp.diags(stencil, [0, 1, 2], shape=(n - 2, n), format="csr")


def _interior_rows(n: int) -> sp.csr_matrix:
    return sp.eye(n - 2, n, k=1, format="csr")


def difference_matrix(shape: Sequence[int], spacing: Sequence[float], key: Key) -> sp.csr_matrix:
    """``d^order/dx_axis^order`` from all nodes (C order) to the interior nodes, sparse."""
    axis, order = key
    mats = [_difference_1d(n, h, order) if k == axis else _interior_rows(n)
            for k, (n, h) in enumerate(zip(shape, spacing))]
    out = mats[0]
    for m in mats[1:]:
        out = sp.kron(out, m, format="csr")
    return out


def _partials(operator: Operator, u: np.ndarray, d: dict[Key, np.ndarray], x: tuple, f: np.ndarray):
    """Residual ``L - f`` and the pointwise partials ``dL/du``, ``dL/dd_k`` (NumPy, float64)."""
    import torch

    ut = torch.as_tensor(u, dtype=torch.float64).requires_grad_(True)
    dt = {k: torch.as_tensor(v, dtype=torch.float64).requires_grad_(True) for k, v in d.items()}
    xt = tuple(torch.as_tensor(c, dtype=torch.float64) for c in x)
    L = operator(ut, dt, xt)
    L = torch.as_tensor(L, dtype=torch.float64)
    if L.ndim == 0:
        L = L.expand(ut.shape)
    if L.shape != ut.shape:
        raise FDError(f"the operator returned shape {tuple(L.shape)} for {ut.shape[0]} nodes; it must act "
                      "pointwise and return one value per node")
    inputs = [ut, *dt.values()]
    grads = torch.autograd.grad(L.sum(), inputs, allow_unused=True) if L.requires_grad else [None] * len(inputs)
    zero = np.zeros_like(u)
    parts = [zero if g is None else g.detach().numpy() for g in grads]
    residual = L.detach().numpy() - f
    return residual, parts[0], dict(zip(dt, parts[1:]))


def _check_elliptic(needs: Sequence[Key], partials: dict[Key, np.ndarray], dim: int, name: str) -> None:
    for axis in range(dim):
        c = partials.get((axis, 2))
        if c is None or not np.all(c != 0):
            raise FDError(f"the FD reference needs an elliptic operator, with a second derivative along every "
                          f"axis; {name}'s operator has no d^2u/dx_{axis}^2 term"
                          + (" at some nodes" if c is not None else "")
                          + " (first-order or degenerate operators need their own reference)")
    signs = np.concatenate([np.sign(partials[(k, 2)]) for k in range(dim)])
    if not (np.all(signs > 0) or np.all(signs < 0)):
        raise FDError(f"the FD reference needs an elliptic operator: the coefficients of the second "
                      f"derivatives of {name}'s operator change sign on the grid")


def solve_fd(operator: Operator, needs: Sequence[Key], forcing: np.ndarray, boundary: np.ndarray,
             domain: Sequence[tuple[float, float]], *, tol: float = 1e-12, maxiter: int = 30,
             name: str = "the PDE", return_history: bool = False):
    """Solve ``L(u, d, x) = forcing`` with Dirichlet ``boundary`` values; both are node arrays of the
    grid's shape (only boundary nodes of ``boundary`` are read). Returns ``u`` on all nodes
    (float64), and the history of the max-norm residual if asked. Newton stops when that residual
    is below ``tol * max(1, max|forcing|)`` or a step moves ``U`` by less than ``1e-13 max|U|`` (the
    residual's round-off floor); :class:`FDError` if neither happens in ``maxiter`` steps.
    """
    forcing = np.asarray(forcing, dtype=np.float64)
    shape = forcing.shape
    dim = len(shape)
    if len(domain) != dim:
        raise FDError(f"the grid has {dim} axes but the domain {list(domain)} has {len(domain)}")
    if any(n < 3 for n in shape):
        raise FDError(f"the FD grid needs at least 3 nodes per axis, got {shape}")
    if math.prod(shape) > MAX_FD_NODES:
        raise FDError(f"the FD grid {shape} has {math.prod(shape):,} nodes, more than {MAX_FD_NODES:,}")
    boundary = np.broadcast_to(np.asarray(boundary, dtype=np.float64), shape)
    needs = sorted({(int(a), int(o)) for a, o in needs})
    axes = node_axes(domain, shape)
    spacing = [a[1] - a[0] for a in axes]
    inner = tuple(slice(1, -1) for _ in range(dim))
    coords = np.meshgrid(*axes, indexing="ij")
    x_in = tuple(c[inner].ravel() for c in coords)
    f_in = forcing[inner].ravel()
    U = boundary.copy()
    U[inner] = 0.0

    # one probe at U = 0 decides between the sine transform and the general Newton solve
    u0 = U[inner].ravel()
    zeros = {k: np.zeros_like(u0) for k in needs}
    _, pu, pd = _partials(operator, u0, zeros, x_in, f_in)
    _check_elliptic(needs, pd, dim, name)
    first = [k for k in needs if k[1] == 1 and np.any(pd[k] != 0)]
    second = np.stack([pd[(k, 2)] for k in range(dim)])
    if not first and np.ptp(second) == 0 and np.ptp(pu) == 0 and _is_affine(operator, needs, x_in, u0):
        from pdeml.solvers.elliptic import solve_elliptic

        c2, c0 = float(second.flat[0]), float(pu.flat[0])
        # L = c2 Lap u + c0 u + L(0): -div(a grad u) + c u = f with a = -c2, c = c0, f = forcing - L(0)
        base = _residual_at_zero(operator, needs, x_in, f_in)
        rhs = np.zeros(shape)
        rhs[inner] = -base.reshape(tuple(n - 2 for n in shape))
        u = solve_elliptic(-c2, rhs, c=c0 if c0 else None, bc="dirichlet",
                           lengths=[hi - lo for lo, hi in domain], boundary=boundary, method="dst")
        return (u, [0.0]) if return_history else u

    n_in = int(np.prod([n - 2 for n in shape]))
    if n_in > MAX_SPARSE_UNKNOWNS:
        raise FDError(f"{name} needs a sparse Newton solve on {n_in:,} unknowns, more than {MAX_SPARSE_UNKNOWNS:,}")
    mats = {k: difference_matrix(shape, spacing, k) for k in needs}
    flat = np.arange(U.size).reshape(shape)
    interior = flat[inner].ravel()
    scale = tol * max(1.0, float(np.abs(forcing).max()))
    history: list[float] = []
    last_step = np.inf
    for _ in range(maxiter + 1):
        Uf = U.ravel()
        d = {k: m @ Uf for k, m in mats.items()}
        residual, pu, pd = _partials(operator, Uf[interior], d, x_in, f_in)
        history.append(float(np.abs(residual).max()))
        if not np.isfinite(history[-1]):
            raise FDError(f"the FD residual of {name} became non-finite; history {history}")
        # converged: the residual is below the tolerance, or at its round-off floor (a Newton step that
        # no longer moves U; the floor grows like max|U| / h^2, so a fixed tolerance cannot always be met)
        if history[-1] <= scale or last_step <= 1e-13 * max(1.0, float(np.abs(U).max())):
            break
        jac = sp.diags(pu)
        for k, m in mats.items():
            jac = jac + sp.diags(pd[k]) @ m[:, interior]
        step = spla.spsolve(jac.tocsc(), residual)
        U[inner] -= step.reshape(tuple(n - 2 for n in shape))
        last_step = float(np.abs(step).max())
    else:
        raise FDError(f"Newton on the FD system of {name} did not converge in {maxiter} steps: residual "
                      f"history {history}")
    return (U, history) if return_history else U


def _residual_at_zero(operator: Operator, needs, x_in, f_in) -> np.ndarray:
    z = np.zeros_like(f_in)
    residual, _, _ = _partials(operator, z, {k: z for k in needs}, x_in, f_in)
    return residual


def _is_affine(operator: Operator, needs, x_in, u0) -> bool:
    """Whether ``L`` is affine in ``(u, d)``: its partials at a random point equal those at zero."""
    rng = np.random.default_rng(0)
    z = np.zeros_like(u0)
    probe = {k: rng.standard_normal(z.shape) for k in needs}
    _, pu0, pd0 = _partials(operator, z, {k: z for k in needs}, x_in, z)
    _, pu1, pd1 = _partials(operator, rng.standard_normal(z.shape), probe, x_in, z)
    return bool(np.allclose(pu0, pu1, rtol=1e-12, atol=0) and all(np.allclose(pd0[k], pd1[k], rtol=1e-12, atol=0)
                                                                  for k in needs))


__all__ = ["FDError", "MAX_FD_NODES", "difference_matrix", "node_axes", "solve_fd"]
