"""One PDE description for every method: domain, operator, forcing, Dirichlet data, optional exact solution.

A PDE is a subclass of :class:`PDE` that writes its operator once::

    class Reaction(PDE):
        domain = [(0.0, 1.0), (0.0, 1.0)]            # a box, or geometry = a deepxde geometry

        def operator(self, u, d, x):                  # L[u]: pointwise in u, its derivatives, x
            xp = xp_of(u)
            a = 1.0 + 0.5 * xp.sin(3 * x[0])          # variable coefficients are fine
            return -a * d.laplacian() + u**3

        def forcing(self, x, y):                      # f, NumPy arrays or torch tensors
            return 1.0 + 0 * x

        def dirichlet(self, x, y):                    # boundary data (default: exact)
            return 0 * x

``d`` holds the derivatives the operator asks for: ``d["x"]``, ``d["xx"]``, ``d["y"]``, ... (or
``d[(axis, order)]`` in any dimension, order 1 or 2) and ``d.laplacian()``. Which ones it needs,
and whether it is linear, is found by evaluating it once, so nothing is declared twice. The same
function then serves every method:

- the PINN evaluates it at points, derivatives by autograd (:meth:`PDE.residual`);
- GP-HM on its tensor grid, derivatives from the kernel;
- the FD reference assembles it on a box (:meth:`PDE.reference`, :func:`~pdeml.solvers.fd.solve_fd`),
  so a PDE without a closed-form solution is still checked against a numerical solution.

Write coefficient functions with :func:`~pdeml.problems.base.xp_of` (``xp.sin``, ``xp.exp``): they are
called with NumPy arrays and with torch tensors.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator, Mapping
from typing import Any, ClassVar

import numpy as np

from pdeml.problems.base import Problem

AXIS_LETTERS = "xyz"
Key = tuple[int, int]


def derivative_key(key: Any, dim: int) -> Key:
    """``"x"``, ``"xx"``, ``"y"``, ... or ``(axis, order)`` as ``(axis, order)``; a clear KeyError otherwise."""
    if isinstance(key, str):
        if 1 <= len(key) <= 2 and len(set(key)) == 1 and key[0] in AXIS_LETTERS[:dim]:
            return AXIS_LETTERS.index(key[0]), len(key)
    elif isinstance(key, tuple) and len(key) == 2 and all(isinstance(v, (int, np.integer)) for v in key):
        axis, order = int(key[0]), int(key[1])
        if 0 <= axis < dim and order in (1, 2):
            return axis, order
    letters = ", ".join(repr(c * n) for c in AXIS_LETTERS[:dim] for n in (1, 2))
    raise KeyError(f"unknown derivative {key!r} in {dim}D: use {letters} or (axis, order) with "
                   f"0 <= axis < {dim} and order 1 or 2 (mixed derivatives are not supported)")


class Derivatives(Mapping):
    """The derivatives of ``u`` an operator reads: ``d["xx"]``, ``d[(0, 2)]``, ``d.laplacian()``."""

    def __init__(self, values: Mapping[Key, Any], dim: int, fill: Callable[[], Any] | None = None):
        self._values = dict(values)
        self.dim = dim
        self._fill = fill          # set while tracing: every key read is recorded and filled
        self.read: set[Key] = set()

    def __getitem__(self, key: Any):
        k = derivative_key(key, self.dim)
        self.read.add(k)
        if k not in self._values:
            if self._fill is None:
                raise KeyError(f"derivative {key!r} was not computed: the operator read a derivative it did "
                               "not read when it was traced (keep its derivatives the same on every call)")
            self._values[k] = self._fill()
        return self._values[k]

    def __iter__(self) -> Iterator[Key]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def laplacian(self):
        """``sum_k d^2u/dx_k^2``."""
        terms = [self[(k, 2)] for k in range(self.dim)]
        if type(terms[0]).__module__.startswith("torch"):
            import torch

            terms = [torch.as_tensor(t) for t in terms]
            return torch.stack(torch.broadcast_tensors(*terms), dim=-1).sum(dim=-1)
        return np.sum(np.stack(np.broadcast_arrays(*terms), axis=-1), axis=-1)


# --------------------------------------------------------------------------- autograd helpers


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


def autograd_derivatives(u, points, needs) -> dict[Key, Any]:
    """``d^order u / dx_axis^order`` (n,) for each ``(axis, order)`` in ``needs``, keeping the graph."""
    import torch

    if not needs:
        return {}
    (g,) = torch.autograd.grad(u.sum(), points, create_graph=True)
    out = {}
    for axis, order in needs:
        if order == 1:
            out[(axis, 1)] = g[:, axis]
        else:  # row ``axis`` of the Hessian; only its diagonal entry is kept
            (h,) = torch.autograd.grad(g[:, axis].sum(), points, create_graph=True)
            out[(axis, 2)] = h[:, axis]
    return out


# --------------------------------------------------------------------------- the description


class PDE(Problem):
    """A PDE on a box (``domain``) or a deepxde ``geometry``, with Dirichlet data; see the module doc.

    Subclasses define :meth:`operator` (default ``-Lap u``), :meth:`forcing`, and either
    :meth:`exact` (then the Dirichlet data default to it, and errors are measured against it) or
    :meth:`dirichlet`. ``sample`` gives x = the forcing and y = the FD reference on the node grid
    (``(1, *space)``, float32), so a PDE is also a data set of one deterministic sample.
    """

    solver: ClassVar[str] = "scipy-fd2"
    min_resolution: ClassVar[int] = 5
    geometry: Any = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls.has_exact = cls.exact is not Problem.exact
        if "name" not in cls.__dict__:  # a user's PDE is named after its class
            cls.name = cls.__name__

    name: ClassVar[str] = "pde"

    # -- description ------------------------------------------------------------------------
    @property
    def domain(self) -> list[tuple[float, float]]:
        """The box ``[(low, high), ...]``: set ``domain`` in a subclass, or ``geometry`` (its bounding box)."""
        if self.geometry is not None:
            lo, hi = (np.atleast_1d(np.asarray(b, dtype=np.float64)) for b in self.geometry.bbox)
            return [(float(a), float(b)) for a, b in zip(lo, hi)]
        raise AttributeError(f"{type(self).__name__} has no domain: set domain = [(low, high), ...] per axis, "
                             "or geometry = a deepxde geometry")

    @property
    def dim(self) -> int:  # type: ignore[override]
        return len(self.domain)

    @property
    def is_box(self) -> bool:
        """Whether the domain is the box ``domain`` itself (no ``geometry``, or a deepxde box)."""
        if self.geometry is None:
            return True
        return type(self.geometry).__name__ in ("Interval", "Rectangle", "Cuboid", "Hypercube")

    def operator(self, u, d: Derivatives, x: tuple):
        """``L[u]`` from ``u``, its derivatives ``d`` and the coordinates ``x`` (one array per axis)."""
        return -d.laplacian()

    def dirichlet(self, *x):
        """Dirichlet data at boundary points given as one array per coordinate (default: ``exact``)."""
        if self.has_exact:
            return self.exact(*x)
        raise AttributeError(f"{type(self).__name__} defines neither dirichlet(*x) nor exact(*x): the boundary "
                             "data are needed")

    @property
    def params(self) -> dict[str, Any]:
        """The constructor's arguments, read back from attributes of the same name (override if needed)."""
        names = [p for p in inspect.signature(type(self).__init__).parameters if p != "self"]
        return {p: getattr(self, p) for p in names if hasattr(self, p) and not p.startswith("_")}

    # -- structure found by evaluation ---------------------------------------------------------
    def _probe(self) -> tuple[tuple[Key, ...], bool]:
        """The derivatives the operator reads and whether it is affine in ``(u, d)``, from three
        evaluations at points inside the domain's box (cached per instance)."""
        cached = self.__dict__.get("_structure")
        if cached is not None:
            return cached
        import torch

        # float64 torch tensors, as every method calls the operator with (FD, GP-HM, the PINN)
        rng = np.random.default_rng(0)
        lo = np.array([a for a, _ in self.domain])
        hi = np.array([b for _, b in self.domain])
        pts = torch.as_tensor(lo + (hi - lo) * (0.1 + 0.8 * rng.random((7, self.dim))))
        x = tuple(pts[:, k] for k in range(self.dim))

        def tensor(n=7):
            return torch.as_tensor(rng.standard_normal(n))

        def run(u, fill, values=None):
            d = Derivatives(values or {}, self.dim, fill)
            out = torch.as_tensor(self.operator(u, d, x), dtype=torch.float64).expand(u.shape)
            return out.numpy(), d.read

        zero = torch.zeros(7, dtype=torch.float64)
        base, read = run(zero, lambda: torch.zeros(7, dtype=torch.float64))
        needs = tuple(sorted(read))
        a = {k: tensor() for k in needs}
        b = {k: tensor() for k in needs}
        ua, ub = tensor(), tensor()
        la, _ = run(ua, None, a)
        lb, _ = run(ub, None, b)
        lab, _ = run(ua + ub, None, {k: a[k] + b[k] for k in needs})
        scale = max(1.0, float(np.abs(np.concatenate([la, lb, lab])).max()))
        linear = bool(np.allclose(lab - base, (la - base) + (lb - base), rtol=0, atol=1e-10 * scale))
        self.__dict__["_structure"] = (needs, linear)
        return needs, linear

    @property
    def needs(self) -> tuple[Key, ...]:
        """The ``(axis, order)`` derivatives the operator reads."""
        return self._probe()[0]

    @property
    def linear(self) -> bool:
        """Whether the operator is affine in ``u`` and its derivatives."""
        return self._probe()[1]

    def apply_operator(self, u, derivatives: Mapping[Key, Any], x: tuple):
        """The operator on given values (grid arrays, point arrays; NumPy or torch)."""
        return self.operator(u, Derivatives(derivatives, self.dim), tuple(x))

    # -- pointwise evaluation (PINN) ----------------------------------------------------------
    def exact_on_points(self, points):
        """The exact solution at ``points`` (n, d), NumPy or torch; returns (n,)."""
        return self.exact(*[points[:, i] for i in range(points.shape[1])])

    def dirichlet_on_points(self, points):
        """The Dirichlet data at ``points`` (n, d), NumPy or torch; returns (n,)."""
        cols = [points[:, i] for i in range(points.shape[1])]
        out = self.dirichlet(*cols)
        return out if getattr(out, "shape", ()) == cols[0].shape else out + 0 * cols[0]

    def operator_at(self, u_fn: Callable, points):
        """``L[u_fn]`` (n,) at torch ``points`` (n, dim) requiring grad, derivatives by autograd."""
        check_points(points, self.dim)
        u = values_at(u_fn, points)
        derivs = autograd_derivatives(u, points, self.needs)
        return self.apply_operator(u, derivs, tuple(points[:, i] for i in range(self.dim)))

    def residual(self, u_fn: Callable, points):
        """PDE residual ``L[u_fn] - f`` (n,) at torch ``points`` (n, dim) requiring grad."""
        return self.operator_at(u_fn, points) - self.forcing(*[points[:, i] for i in range(self.dim)])

    # -- grids and the FD reference -----------------------------------------------------------
    def grid(self, resolution: int | list[int]) -> list[np.ndarray]:
        """Node coordinates (meshgrid, ``ij``), ``resolution`` per axis with both ends: ``dim`` arrays."""
        from pdeml.solvers.fd import node_axes

        shape = [resolution] * self.dim if np.isscalar(resolution) else list(resolution)
        return np.meshgrid(*node_axes(self.domain, shape), indexing="ij")

    def check_fd(self) -> None:
        """Raise :class:`~pdeml.solvers.fd.FDError` naming what the FD reference cannot handle."""
        from pdeml.solvers.fd import FDError

        if not self.is_box:
            raise FDError(f"the FD reference needs a box; {self.name}'s domain is a "
                          f"{type(self.geometry).__name__} (give an exact solution to measure errors)")
        if self.dim > 3:
            raise FDError(f"the FD reference needs a grid of resolution^d nodes; {self.name} has d = {self.dim} > 3 "
                          "(use exact() at sample points instead)")

    def fd_solve(self, resolution: int | list[int], *, tol: float = 1e-12, maxiter: int = 30,
                 return_history: bool = False):
        """The second-order FD solution on the node grid (``resolution`` per axis, float64), and the
        Newton residual history if asked (:func:`~pdeml.solvers.fd.solve_fd`)."""
        from pdeml.solvers.fd import solve_fd

        self.check_fd()
        coords = self.grid(resolution)
        f = np.broadcast_to(np.asarray(self.forcing(*coords), dtype=np.float64), coords[0].shape)
        g = np.broadcast_to(np.asarray(self.dirichlet(*coords), dtype=np.float64), coords[0].shape)
        return solve_fd(lambda u, d, x: self.apply_operator(u, d, x), self.needs, f, g, self.domain,
                        tol=tol, maxiter=maxiter, name=self.name, return_history=return_history)

    def reference(self, resolution: int | list[int], return_history: bool = False):
        """The grid reference the data and the error checks use: the FD solution (:meth:`fd_solve`)
        unless a problem has a better one."""
        return self.fd_solve(resolution, return_history=return_history)

    def solve_sample(self, rng: np.random.Generator, resolution: int) -> tuple[np.ndarray, np.ndarray]:
        self.check_fd()
        coords = self.grid(resolution)
        f = np.broadcast_to(self.forcing(*coords), coords[0].shape)
        return f[None].astype(np.float32), self.reference(resolution)[None].astype(np.float32)


__all__ = ["AXIS_LETTERS", "PDE", "Derivatives", "autograd_derivatives", "check_points", "derivative_key",
           "values_at"]
