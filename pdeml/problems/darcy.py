"""Darcy flow ``-div(a grad u) = f`` on the unit square with ``u = 0`` on the boundary.

Reference: Li et al., "Fourier Neural Operator for Parametric PDEs", ICLR 2021. The coefficient
is ``a_plus`` where a Gaussian random field with covariance ``(-Lap + tau^2)^(-alpha)``
(``alpha = 2, tau = 3``) is ``>= 0``, else ``a_minus`` (12 and 3); ``f = 1``.
Solved by second-order finite differences (:func:`pdeml.solvers.solve_darcy`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pdeml.problems.base import Problem
from pdeml.problems.random_fields import grf_neumann
from pdeml.solvers.elliptic import solve_darcy


class Darcy(Problem):
    """Darcy flow with the FNO piecewise-constant coefficient (x: a, y: u; both (1, s, s))."""

    name = "darcy"
    solver = "scipy-fd2-harmonic-spsolve"
    min_resolution = 5

    def __init__(self, alpha: float = 2.0, tau: float = 3.0, a_plus: float = 12.0, a_minus: float = 3.0,
                 forcing: float = 1.0, method: str = "direct"):
        if a_plus <= 0 or a_minus <= 0:
            raise ValueError(f"coefficient values must be positive, got a_plus={a_plus}, a_minus={a_minus}")
        self.alpha, self.tau = float(alpha), float(tau)
        self.a_plus, self.a_minus = float(a_plus), float(a_minus)
        self.f_value = float(forcing)
        self.method = method

    @property
    def params(self) -> dict[str, Any]:
        return {"alpha": self.alpha, "tau": self.tau, "a_plus": self.a_plus, "a_minus": self.a_minus,
                "forcing": self.f_value, "method": self.method}

    @staticmethod
    def grid(resolution: int) -> tuple[np.ndarray, np.ndarray]:
        """Node coordinates ``(X, Y)``, each ``(s, s)``, ``X[i, j] = i / (s - 1)``."""
        t = np.linspace(0.0, 1.0, resolution)
        return np.meshgrid(t, t, indexing="ij")

    def sample_coefficient(self, rng: np.random.Generator, resolution: int) -> np.ndarray:
        field = grf_neumann(rng, resolution, self.alpha, self.tau)
        return np.where(field >= 0, self.a_plus, self.a_minus)

    def solve(self, a: np.ndarray, f: np.ndarray | float | None = None) -> np.ndarray:
        """Reference solution for a user-given coefficient ``a`` and forcing ``f`` (default: the problem's)."""
        return solve_darcy(a, self.f_value if f is None else f, method=self.method)

    def forcing(self, *coords):
        """The constant right-hand side ``f`` at the given points (NumPy or torch)."""
        return coords[0] * 0 + self.f_value

    def solve_sample(self, rng: np.random.Generator, resolution: int) -> tuple[np.ndarray, np.ndarray]:
        a = self.sample_coefficient(rng, resolution)
        u = self.solve(a)
        return a[None].astype(np.float32), u[None].astype(np.float32)
