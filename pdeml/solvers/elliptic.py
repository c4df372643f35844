"""Second-order finite differences for ``-div(a grad u) + c u = f`` on boxes in 1D, 2D and 3D.

The scheme is a vertex-centred finite-volume discretization on a uniform node grid: every node
owns a control volume, the flux through the face between two neighbouring nodes is
``a_face (u_i - u_j) / h`` with the harmonic mean ``a_face = 2 a_i a_j / (a_i + a_j)`` (second
order for smooth ``a``, flux-consistent across jumps of a piecewise-constant ``a``). Multiplying
every row by its control volume makes the matrix symmetric, so Poisson problems give SPD
systems (CG and AMG apply) and Helmholtz problems ``c = -k^2`` give symmetric indefinite ones.

Grid conventions, per axis of length ``L`` with ``n`` nodes (``bc`` may differ per axis):

- ``"dirichlet"``: ``n`` nodes ``x_i = low + i h``, ``h = L / (n - 1)``, both ends included; the
  end nodes carry the given values (``boundary``) and are eliminated from the system.
- ``"neumann"``: the same nodes as Dirichlet, both ends included and unknown; the end nodes own
  half control volumes and receive the given outward flux ``g = a du/dn`` (``flux``). With no
  Dirichlet axis and ``c = 0`` the solution is defined up to a constant: it is fixed by a
  zero mean (the trapezoidal integral of ``u`` vanishes), and ``f`` must be compatible,
  ``int f dx + int g ds = 0``.
- ``"periodic"``: ``n`` nodes ``x_i = low + i h``, ``h = L / n``; the right end ``x = high`` is the
  image of ``x = low`` and is not stored.

Inputs are nodal arrays of the full grid shape (values that a boundary condition overrides are
ignored). Everything is float64.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, Union

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

BoundaryKind = Literal["dirichlet", "neumann", "periodic"]
BC_KINDS = ("dirichlet", "neumann", "periodic")
METHODS = ("direct", "amg", "dst")
ArrayOrScalar = Union[np.ndarray, float]

__all__ = [
    "EllipticSystem",
    "assemble_elliptic",
    "axis_nodes",
    "darcy_matrix",
    "grid_coordinates",
    "solve_darcy",
    "solve_elliptic",
    "solve_helmholtz",
    "solve_semilinear",
]


# --------------------------------------------------------------------------- grids


def _normalize_bc(bc: str | Sequence[str], ndim: int) -> tuple[str, ...]:
    kinds = (bc,) * ndim if isinstance(bc, str) else tuple(bc)
    if len(kinds) != ndim:
        raise ValueError(f"bc needs one entry per axis ({ndim}), got {len(kinds)}: {kinds!r}")
    for kind in kinds:
        if kind not in BC_KINDS:
            raise ValueError(f"unknown boundary condition {kind!r}; known: {', '.join(BC_KINDS)}")
    return kinds


def _normalize_lengths(lengths: float | Sequence[float], ndim: int) -> tuple[float, ...]:
    vals = (float(lengths),) * ndim if np.isscalar(lengths) else tuple(float(v) for v in lengths)
    if len(vals) != ndim or not all(np.isfinite(v) and v > 0 for v in vals):
        raise ValueError(f"lengths must be {ndim} positive finite numbers, got {lengths!r}")
    return vals


def axis_nodes(n: int, bc: str = "dirichlet", low: float = 0.0, high: float = 1.0) -> np.ndarray:
    """The ``n`` node coordinates of one axis under the grid convention of ``bc`` (see module doc)."""
    _normalize_bc(bc, 1)
    if n < 3:
        raise ValueError(f"an axis needs at least 3 nodes, got {n}")
    if bc == "periodic":
        return low + (high - low) * np.arange(n) / n
    return np.linspace(low, high, n)


def grid_coordinates(shape: Sequence[int], bc: str | Sequence[str] = "dirichlet",
                     domain: Sequence[tuple[float, float]] | None = None) -> list[np.ndarray]:
    """Node coordinates as ``len(shape)`` arrays of ``shape`` (``indexing="ij"``)."""
    kinds = _normalize_bc(bc, len(shape))
    domain = domain or [(0.0, 1.0)] * len(shape)
    axes = [axis_nodes(n, k, lo, hi) for n, k, (lo, hi) in zip(shape, kinds, domain)]
    return list(np.meshgrid(*axes, indexing="ij"))


def _spacing(n: int, kind: str, length: float) -> float:
    return length / n if kind == "periodic" else length / (n - 1)


# --------------------------------------------------------------------------- validation


def _as_field(name: str, value, shape: tuple[int, ...] | None) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float64)
    if shape is not None:
        if arr.ndim == 0:
            arr = np.full(shape, float(arr))
        elif arr.shape != shape:
            raise ValueError(f"{name} has shape {arr.shape}, expected the grid shape {shape} or a scalar")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or Inf")
    return arr


def _grid_shape(*fields) -> tuple[int, ...]:
    for value in fields:
        if value is not None and np.ndim(value) > 0:
            shape = tuple(np.shape(value))
            if not 1 <= len(shape) <= 3:
                raise ValueError(f"grid arrays must be 1D, 2D or 3D, got shape {shape}")
            if min(shape) < 3:
                raise ValueError(f"every axis needs at least 3 nodes, got grid shape {shape}")
            return shape
    raise ValueError("give at least one of a, f, c as an array of nodal values (the grid shape)")


def _harmonic(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return 2.0 * a * b / (a + b)


# --------------------------------------------------------------------------- assembly


@dataclass
class EllipticSystem:
    """The symmetric FD system ``matrix @ u[unknown] = rhs`` of one elliptic problem.

    ``matrix`` (m, m) and ``rhs`` (m,) are scaled by the control volumes ``volumes`` (m,), i.e.
    ``matrix = K + diag(volumes * c)``; ``unknown`` is a boolean mask of the grid shape (C order);
    ``known`` holds the Dirichlet values on the other nodes. ``singular`` is true for a pure
    Neumann/periodic problem with ``c = 0`` (constant null space, fixed by zero mean);
    ``definite`` is false when ``c < 0`` somewhere (Helmholtz: the matrix may be indefinite).
    """

    matrix: sp.csr_matrix | None
    rhs: np.ndarray
    unknown: np.ndarray
    volumes: np.ndarray
    known: np.ndarray
    singular: bool
    spacing: tuple[float, ...]
    bc: tuple[str, ...]
    definite: bool = True

    def to_grid(self, values: np.ndarray) -> np.ndarray:
        """Scatter unknown values (m,) into a full grid array with the Dirichlet values filled in."""
        u = self.known.copy()
        u[self.unknown] = values
        return u


def _axis_weights(n: int, kind: str) -> np.ndarray:
    # fraction of a full control-volume width owned by each node along one axis
    w = np.ones(n)
    if kind == "neumann":
        w[0] = w[-1] = 0.5
    return w


def _flux_entry(flux, axis: int, side: int, face_shape: tuple[int, ...]) -> np.ndarray:
    if flux is None:
        return np.zeros(face_shape)
    if np.isscalar(flux) or (isinstance(flux, np.ndarray) and flux.ndim == 0):
        return _as_field("flux", flux, face_shape)
    try:
        entry = flux[axis][side]
    except (IndexError, TypeError, KeyError) as err:
        raise ValueError(
            "flux must be a scalar or one (low, high) pair per axis, each a scalar or an array of "
            f"the grid shape without that axis; could not read entry [{axis}][{side}]"
        ) from err
    return _as_field(f"flux[{axis}][{side}]", entry, face_shape)


def assemble_elliptic(a: ArrayOrScalar, f: ArrayOrScalar = 0.0, *, c: ArrayOrScalar | None = None,
                      bc: str | Sequence[str] = "dirichlet", lengths: float | Sequence[float] = 1.0,
                      boundary: ArrayOrScalar | None = None, flux=None,
                      compat_tol: float = 1e-2, with_matrix: bool = True) -> EllipticSystem:
    """Assemble ``-div(a grad u) + c u = f`` on a box (see the module doc for the grids).

    a, f, c: nodal arrays of the grid shape ``(n0[, n1[, n2]])`` or scalars (at least one must be
        an array; ``a > 0`` everywhere).
    bc: one kind for all axes or one per axis: ``"dirichlet"``, ``"neumann"``, ``"periodic"``.
    lengths: side lengths of the box (the coordinate units of ``f``'s derivatives).
    boundary: Dirichlet values, an array of the grid shape (only boundary nodes are read) or a
        scalar; default 0.
    flux: Neumann data ``g = a du/dn`` with ``n`` the outward normal: a scalar, or per axis a pair
        ``(g_low, g_high)`` of scalars or arrays of the grid shape without that axis; default 0.
    compat_tol: for a singular (pure Neumann/periodic, ``c = 0``) problem, the largest relative
        defect ``|int f + int g| / (int |f| + int |g|)`` accepted; sampled compatible data have a
        defect of order ``h^2`` (quadrature error), which is removed by shifting ``f`` by a constant.
    with_matrix: False skips building the sparse matrix (``matrix`` is None), for the fast
        sine-transform solve that needs only the right-hand side.
    """
    shape = _grid_shape(a, f, c, boundary)
    ndim = len(shape)
    kinds = _normalize_bc(bc, ndim)
    lens = _normalize_lengths(lengths, ndim)
    a = _as_field("coefficient a", a, shape)
    if np.any(a <= 0):
        raise ValueError(f"coefficient a must be positive everywhere, min is {a.min():.3g}")
    f = _as_field("forcing f", f, shape)
    c = _as_field("reaction c", 0.0 if c is None else c, shape)
    g_dir = _as_field("boundary values", 0.0 if boundary is None else boundary, shape)
    h = tuple(_spacing(n, k, length) for n, k, length in zip(shape, kinds, lens))

    unknown = np.ones(shape, dtype=bool)
    for ax, kind in enumerate(kinds):
        if kind == "dirichlet":
            sl = [slice(None)] * ndim
            sl[ax] = [0, -1]
            unknown[tuple(sl)] = False
    m = int(unknown.sum())
    if m == 0:
        raise ValueError(f"no unknown nodes on grid shape {shape} with bc {kinds}")
    index = np.full(shape, -1, dtype=np.int64)
    index[unknown] = np.arange(m)

    # width of each node's control volume along every axis, broadcastable to the grid
    widths = []
    for ax, (n, kind) in enumerate(zip(shape, kinds)):
        w = _axis_weights(n, kind) * h[ax]
        widths.append(w.reshape([-1 if i == ax else 1 for i in range(ndim)]))
    volume = np.ones(shape)
    for w in widths:
        volume = volume * w

    rows, cols, vals = [], [], []
    rhs_grid = volume * f
    flat_of_unknown = np.flatnonzero(unknown.ravel())
    known = np.where(unknown, 0.0, g_dir)

    for ax, (n, kind) in enumerate(zip(shape, kinds)):
        area = np.ones(shape)
        for other, w in enumerate(widths):
            if other != ax:
                area = area * w
        lo = [slice(None)] * ndim
        hi = [slice(None)] * ndim
        lo[ax], hi[ax] = slice(0, n - 1), slice(1, n)
        pairs = [(tuple(lo), tuple(hi))]
        if kind == "periodic":
            wrap_lo, wrap_hi = [slice(None)] * ndim, [slice(None)] * ndim
            wrap_lo[ax], wrap_hi[ax] = slice(n - 1, n), slice(0, 1)
            pairs.append((tuple(wrap_lo), tuple(wrap_hi)))
        for s_lo, s_hi in pairs:
            # conductance of each face: a_face * area / h (area is shared by both nodes)
            cond = _harmonic(a[s_lo], a[s_hi]) * area[s_lo] / h[ax]
            i, j = index[s_lo].ravel(), index[s_hi].ravel()
            t = cond.ravel()
            both = (i >= 0) & (j >= 0)
            if with_matrix:
                rows += [i[both], j[both], i[both], j[both]]
                cols += [i[both], j[both], j[both], i[both]]
                vals += [t[both], t[both], -t[both], -t[both]]
            # one side Dirichlet: its known value moves to the right-hand side
            for mine, theirs_val in ((i, known[s_hi].ravel()), (j, known[s_lo].ravel())):
                sel = (mine >= 0) & ~both
                if with_matrix:
                    rows.append(mine[sel])
                    cols.append(mine[sel])
                    vals.append(t[sel])
                np.add.at(rhs_grid.reshape(-1), flat_of_unknown[mine[sel]],
                          t[sel] * theirs_val[sel])
        if kind == "neumann":
            face_shape = shape[:ax] + shape[ax + 1:]
            for side, end in ((0, 0), (1, n - 1)):
                g = _flux_entry(flux, ax, side, face_shape)
                sl = [slice(None)] * ndim
                sl[ax] = end
                sl = tuple(sl)
                # unknown nodes on this face only (Dirichlet corners keep their values)
                contrib = np.where(unknown[sl], g * area[sl], 0.0)
                rhs_grid[sl] = rhs_grid[sl] + contrib

    vol_unknown = volume[unknown]
    diag = vol_unknown * c[unknown]
    rows.append(np.arange(m))
    cols.append(np.arange(m))
    vals.append(diag)
    matrix = None
    if with_matrix:
        matrix = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                               shape=(m, m))
    rhs = rhs_grid[unknown]

    singular = "dirichlet" not in kinds and not np.any(c != 0)
    if singular:
        total = rhs.sum()
        scale = np.abs(vol_unknown * f[unknown]).sum() + np.abs(rhs - vol_unknown * f[unknown]).sum()
        defect = abs(total) / scale if scale > 0 else 0.0
        if defect > compat_tol:
            raise ValueError(
                "pure Neumann/periodic problem without reaction term is incompatible: expected "
                f"int f dx + int g ds = 0, got {total:.4g} (relative defect {defect:.3g} > "
                f"compat_tol={compat_tol:g}); adjust f or the boundary flux"
            )
        rhs = rhs - vol_unknown * (total / vol_unknown.sum())
    return EllipticSystem(matrix, rhs, unknown, vol_unknown, known, bool(singular), h, kinds,
                          definite=not np.any(c < 0))


# --------------------------------------------------------------------------- linear solves


def _amg_solve(system: EllipticSystem, rtol: float, maxiter: int) -> np.ndarray:
    try:
        import pyamg
    except ImportError as err:
        raise ImportError("method='amg' needs pyamg: pip install 'pdeml[amg]'") from err
    A, b = system.matrix, system.rhs
    if system.singular:
        # as in the direct solve: pin one node (b is compatible), which keeps AMG-CG convergent
        A, b = A[1:, 1:].tocsr(), b[1:]
    ml = pyamg.smoothed_aggregation_solver(A)
    # CG needs an SPD matrix; a Helmholtz (c < 0) system is indefinite, so fall back to GMRES
    accel = "cg" if system.definite else "gmres"
    x = ml.solve(b, tol=rtol, accel=accel, maxiter=maxiter)
    bnorm = np.linalg.norm(b)
    res = np.linalg.norm(b - A @ x)
    if bnorm > 0 and res > 10 * rtol * bnorm:
        raise RuntimeError(
            f"AMG-{accel} did not converge: relative residual {res / bnorm:.3g} > 10 * rtol = "
            f"{10 * rtol:.3g} after {maxiter} iterations; try method='direct'"
        )
    return np.concatenate([[0.0], x]) if system.singular else x


def _direct_solve(system: EllipticSystem) -> np.ndarray:
    A, b = system.matrix, system.rhs
    if system.singular:
        # b is compatible (projected in assembly), so the equation of one node is implied by the
        # others: pin that node to 0, solve the SPD rest, and shift to zero mean afterwards.
        # (A bordered system would add a dense row and column that ruins the sparse LU fill-in.)
        x = np.zeros_like(b)
        x[1:] = spla.spsolve(A[1:, 1:].tocsc(), b[1:], permc_spec="MMD_AT_PLUS_A")
    else:
        x = spla.spsolve(A.tocsc(), b, permc_spec="MMD_AT_PLUS_A")
    if not np.all(np.isfinite(x)):
        raise RuntimeError("the sparse direct solve produced NaN/Inf: the system is singular "
                           "(e.g. a Helmholtz wavenumber at a resonance of the grid operator)")
    return x


def _dst_solve(system: EllipticSystem, a: ArrayOrScalar, c: ArrayOrScalar | None) -> np.ndarray:
    from scipy.fft import dstn, idstn

    if system.bc != ("dirichlet",) * len(system.bc):
        raise ValueError(f"method='dst' needs Dirichlet on every axis, got bc {system.bc}")
    a_vals, c_vals = np.unique(np.asarray(a, dtype=float)), np.unique(np.asarray(0.0 if c is None else c, dtype=float))
    if a_vals.size != 1 or c_vals.size != 1:
        raise ValueError("method='dst' needs a constant coefficient a and a constant c "
                         f"(got {a_vals.size} distinct a and {c_vals.size} distinct c values)")
    inner = tuple(n - 2 for n in system.unknown.shape)
    vol = float(system.volumes[0])
    b = (system.rhs / vol).reshape(inner)
    eig = np.zeros(inner)
    for ax, (m, h) in enumerate(zip(inner, system.spacing)):
        lam = (2.0 * np.sin(np.pi * np.arange(1, m + 1) / (2 * (m + 1))) / h) ** 2
        eig = eig + lam.reshape([-1 if i == ax else 1 for i in range(len(inner))])
    denom = a_vals[0] * eig + c_vals[0]
    if np.any(np.abs(denom) < 1e-14 * np.abs(denom).max()):
        raise RuntimeError("the Dirichlet FD operator is singular for this c (a resonance)")
    return idstn(dstn(b, type=1) / denom, type=1).ravel()


def _solve_system(system: EllipticSystem, method: str, rtol: float, maxiter: int,
                  a=None, c=None) -> np.ndarray:
    if method == "direct":
        x = _direct_solve(system)
    elif method == "amg":
        x = _amg_solve(system, rtol, maxiter)
    elif method == "dst":
        x = _dst_solve(system, a, c)
    else:
        raise ValueError(f"unknown method {method!r}; known methods: {', '.join(METHODS)}")
    if system.singular:
        x = x - np.dot(system.volumes, x) / system.volumes.sum()
    return x


def solve_elliptic(a: ArrayOrScalar, f: ArrayOrScalar = 0.0, *, c: ArrayOrScalar | None = None,
                   bc: str | Sequence[str] = "dirichlet", lengths: float | Sequence[float] = 1.0,
                   boundary: ArrayOrScalar | None = None, flux=None, method: str = "direct",
                   rtol: float = 1e-10, maxiter: int = 500, compat_tol: float = 1e-2) -> np.ndarray:
    """Solve ``-div(a grad u) + c u = f``; returns ``u`` on the full grid (the shape of ``a``/``f``).

    Arguments as in :func:`assemble_elliptic`. ``method``: ``"direct"`` (sparse LU),
    ``"amg"`` (pyamg smoothed aggregation as preconditioner of CG, or of GMRES when ``c < 0``
    makes the matrix indefinite; to relative residual ``rtol``; needs ``pip install
    'pdeml[amg]'``), ``"dst"`` (fast sine transform; all-Dirichlet, constant ``a`` and ``c`` only;
    the same discrete solution as ``"direct"`` at O(N log N) cost).
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; known methods: {', '.join(METHODS)}")
    system = assemble_elliptic(a, f, c=c, bc=bc, lengths=lengths, boundary=boundary, flux=flux,
                               compat_tol=compat_tol, with_matrix=method != "dst")
    return system.to_grid(_solve_system(system, method, rtol, maxiter, a=a, c=c))


def solve_helmholtz(k: ArrayOrScalar, f: ArrayOrScalar = 0.0, *, bc: str | Sequence[str] = "dirichlet",
                    lengths: float | Sequence[float] = 1.0, boundary: ArrayOrScalar | None = None,
                    flux=None, method: str = "direct", rtol: float = 1e-10) -> np.ndarray:
    """Solve ``-Lap u - k(x)^2 u = f`` (``k`` in radians per unit length) on the grid of ``k``/``f``."""
    k = np.asarray(k, dtype=np.float64)
    shape = _grid_shape(k, f, boundary)
    return solve_elliptic(np.ones(shape), f, c=-(k**2), bc=bc, lengths=lengths, boundary=boundary,
                          flux=flux, method=method, rtol=rtol)


# --------------------------------------------------------------------------- Newton


def solve_semilinear(a: ArrayOrScalar, f: ArrayOrScalar, reaction: Callable[[np.ndarray], np.ndarray],
                     reaction_prime: Callable[[np.ndarray], np.ndarray], *,
                     bc: str | Sequence[str] = "dirichlet", lengths: float | Sequence[float] = 1.0,
                     boundary: ArrayOrScalar | None = None, flux=None, u0: np.ndarray | None = None,
                     tol: float = 1e-12, maxiter: int = 30,
                     return_history: bool = False):
    """Newton's method for ``-div(a grad u) + reaction(u) = f`` with the FD scheme above.

    ``reaction`` and ``reaction_prime`` act elementwise on arrays; ``u0`` is the initial guess on
    the full grid (default 0 inside, boundary values on Dirichlet nodes). Stops when the
    max-norm of the residual, divided by the control volumes, is below
    ``tol * max(1, max|f|)``. Returns ``u`` (full grid), and the residual history if asked.
    Raises RuntimeError if Newton has not converged after ``maxiter`` steps.
    """
    ndim = np.ndim(f) if np.ndim(f) else np.ndim(a)
    if "dirichlet" not in _normalize_bc(bc, max(ndim, 1)):
        raise ValueError(f"solve_semilinear needs at least one Dirichlet axis, got bc={bc!r} (a pure "
                         "Neumann/periodic semilinear problem has no unique solution in general)")
    system = assemble_elliptic(a, f, bc=bc, lengths=lengths, boundary=boundary, flux=flux)
    K, b, vol = system.matrix, system.rhs, system.volumes
    x = np.zeros_like(b) if u0 is None else _as_field("u0", u0, system.unknown.shape)[system.unknown].copy()
    scale = tol * max(1.0, float(np.abs(np.asarray(f)).max()))
    history = []
    for _ in range(maxiter + 1):
        res = K @ x + vol * reaction(x) - b
        history.append(float(np.abs(res / vol).max()))
        if history[-1] <= scale:
            break
        jac = (K + sp.diags(vol * reaction_prime(x))).tocsc()
        x = x - spla.spsolve(jac, res)
    else:
        raise RuntimeError(f"Newton did not converge in {maxiter} steps: residual history {history}")
    u = system.to_grid(x)
    return (u, history) if return_history else u


# --------------------------------------------------------------------------- Darcy (FNO layout)


def _check_grid(name: str, arr: np.ndarray) -> np.ndarray:
    arr = np.asarray(arr, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[0] != arr.shape[1]:
        raise ValueError(f"{name} must be a square 2D array of nodal values (s, s), got shape {arr.shape}")
    if arr.shape[0] < 3:
        raise ValueError(f"{name} needs at least 3 x 3 nodes (one interior node), got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or Inf")
    return arr


def darcy_matrix(a: np.ndarray) -> sp.csr_matrix:
    """Sparse SPD matrix of ``-div(a grad .)`` on the interior nodes of an ``s x s`` grid of the unit square.

    Unknowns are ordered row-major over the ``(s-2) x (s-2)`` interior nodes; the homogeneous
    Dirichlet boundary values are eliminated. ``a`` must be positive at every node. Rows are
    the plain FD rows (the volume-scaled matrix of :func:`assemble_elliptic` divided by ``h^2``).
    """
    a = _check_grid("coefficient a", a)
    system = assemble_elliptic(a, 0.0, bc="dirichlet", lengths=1.0)
    return (system.matrix / system.volumes[0]).tocsr()


def solve_darcy(a: np.ndarray, f: np.ndarray | float = 1.0, method: str = "direct",
                rtol: float = 1e-10) -> np.ndarray:
    """Solve ``-div(a grad u) = f`` on the unit square with ``u = 0`` on the boundary; returns ``u`` (s, s).

    ``method``: ``"direct"`` (sparse LU) or ``"amg"`` (pyamg-preconditioned CG to ``rtol``;
    needs the ``amg`` extra).
    """
    a = _check_grid("coefficient a", a)
    if not np.isscalar(f):
        f = _check_grid("forcing f", f)
        if f.shape != a.shape:
            raise ValueError(f"forcing f has shape {f.shape}, expected the coefficient's shape {a.shape}")
    if method not in ("direct", "amg"):
        raise ValueError(f"unknown method {method!r}; known methods: amg, direct")
    return solve_elliptic(a, f, bc="dirichlet", lengths=1.0, method=method, rtol=rtol)
