"""Sharp-peak problems for adaptive PINN sampling (AAS: Tang, Zhai, Wan, Yang, ICLR 2024; DAS line of work).

Every problem has a closed-form solution and forcing (NumPy arrays or torch tensors, via
:func:`~pdeml.problems.base.xp_of`) and a ``residual(u_fn, points)`` that evaluates the PDE
residual of a torch function with autograd, the loss term of a PINN. The 2D problems also
sample a second-order finite-difference reference on a node grid.

- ``peak2d``: ``-Lap u = f`` on ``[-1, 1]^2``, ``u = exp(-beta |x - (0.5, 0.5)|^2)``, beta = 1000.
- ``two_peaks``: ``Lap u - div(u grad(x^2 + y^2)) = f`` on ``[-1, 1]^2``,
  ``u = exp(-beta |x - (0.5, 0.5)|^2) + exp(-beta |x + (0.5, 0.5)|^2)``, beta = 1000.
- ``gaussian_nd``: ``-Lap u = f`` on ``[-1, 1]^d``, ``u = exp(-beta |x|^2)``, beta = 10, d = 10.

Dirichlet data on the boundary come from the exact solution in all three.
"""

from __future__ import annotations

from typing import Any

from pdeml.problems.base import xp_of
from pdeml.problems.pde import PDE

# --------------------------------------------------------------------------- problems


class _PeakProblem(PDE):
    solver = "scipy-fd2-spsolve"


class _Peaks2D(_PeakProblem):
    """Gaussian peaks of sharpness ``beta`` around ``center`` on ``[-1, 1]^2``."""

    domain = [(-1.0, 1.0), (-1.0, 1.0)]

    def __init__(self, beta: float = 1000.0, center: tuple[float, float] = (0.5, 0.5)):
        if beta <= 0:
            raise ValueError(f"beta must be positive, got {beta}")
        self.beta = float(beta)
        self.center = (float(center[0]), float(center[1]))

    @property
    def params(self) -> dict[str, Any]:
        return {"beta": self.beta, "center": list(self.center)}


class Peak2D(_Peaks2D):
    """``-Lap u = f`` on ``[-1, 1]^2``, ``u = exp(-beta ((x - cx)^2 + (y - cy)^2))``, Dirichlet from ``u``.

    Defaults ``beta = 1000``, center ``(0.5, 0.5)`` (AAS, Tang et al. ICLR 2024): a peak of
    width about 0.03 in a domain of width 2. ``f = (4 beta - 4 beta^2 r^2) u``.
    """

    name = "peak2d"

    def exact(self, x, y):
        xp = xp_of(x)
        return xp.exp(-self.beta * ((x - self.center[0]) ** 2 + (y - self.center[1]) ** 2))

    def forcing(self, x, y):
        r2 = (x - self.center[0]) ** 2 + (y - self.center[1]) ** 2
        return (4 * self.beta - 4 * self.beta**2 * r2) * self.exact(x, y)


class TwoPeaks(_Peaks2D):
    """``Lap u - div(u grad(x^2 + y^2)) = f`` on ``[-1, 1]^2`` with two Gaussian peaks.

    ``u = exp(-beta |x - c|^2) + exp(-beta |x + c|^2)``, ``c = (0.5, 0.5)``, ``beta = 1000``;
    Dirichlet from ``u``. With ``b = grad(x^2 + y^2) = 2 (x, y)``, ``div(u b) = b . grad u + 4 u``,
    so ``f = sum_G (4 beta^2 |x - c_G|^2 - 4 beta + 4 beta x . (x - c_G) - 4) G``.
    The FD reference uses central differences for ``b . grad u`` (cell Peclet number
    ``|b| h / 2 < 1`` for any grid with h < 0.7, so no upwinding is needed).
    """

    name = "two_peaks"

    def _centers(self):
        cx, cy = self.center
        return ((cx, cy), (-cx, -cy))

    def exact(self, x, y):
        xp = xp_of(x)
        return sum(xp.exp(-self.beta * ((x - cx) ** 2 + (y - cy) ** 2)) for cx, cy in self._centers())

    def forcing(self, x, y):
        xp = xp_of(x)
        b = self.beta
        total = 0.0
        for cx, cy in self._centers():
            dx, dy = x - cx, y - cy
            g = xp.exp(-b * (dx**2 + dy**2))
            total = total + (4 * b**2 * (dx**2 + dy**2) - 4 * b + 4 * b * (x * dx + y * dy) - 4) * g
        return total

    def operator(self, u, d, x):
        """``Lap u - div(u grad(x^2 + y^2)) = Lap u - 2 x . grad u - 4 u``."""
        return d.laplacian() - 2 * (x[0] * d["x"] + x[1] * d["y"]) - 4 * u


class GaussianND(_PeakProblem):
    """``-Lap u = f`` on ``[-1, 1]^d``, ``u = exp(-beta |x|^2)``, Dirichlet from ``u``.

    Defaults ``d = 10``, ``beta = 10`` (the high-dimensional AAS test);
    ``f = (2 d beta - 4 beta^2 |x|^2) u``. A grid reference (``sample``) exists only for d <= 3.
    """

    name = "gaussian_nd"

    def __init__(self, dim: int = 10, beta: float = 10.0):
        if int(dim) != dim or dim < 1:
            raise ValueError(f"dim must be a positive integer, got {dim!r}")
        if beta <= 0:
            raise ValueError(f"beta must be positive, got {beta}")
        self._dim = int(dim)
        self.beta = float(beta)

    @property
    def domain(self) -> list[tuple[float, float]]:
        return [(-1.0, 1.0)] * self._dim

    @property
    def params(self) -> dict[str, Any]:
        return {"dim": self.dim, "beta": self.beta}

    def _r2(self, coords):
        if len(coords) != self.dim:
            raise ValueError(f"{self.name} with dim={self.dim} needs {self.dim} coordinate arrays, got {len(coords)}")
        return sum(c**2 for c in coords)

    def exact(self, *coords):
        xp = xp_of(coords[0])
        return xp.exp(-self.beta * self._r2(coords))

    def forcing(self, *coords):
        return (2 * self.dim * self.beta - 4 * self.beta**2 * self._r2(coords)) * self.exact(*coords)
