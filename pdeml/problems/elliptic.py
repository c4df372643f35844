"""Random-coefficient Poisson and variable-wavenumber Helmholtz problems on the unit box in 1D, 2D, 3D.

Inputs are drawn from smooth Gaussian random fields with covariance ``(-Lap + tau^2)^(-alpha)``
(cosine expansion for Dirichlet/Neumann boxes, Fourier expansion for periodic ones), normalized
to unit pointwise variance; the reference solutions come from
:func:`pdeml.solvers.elliptic.solve_elliptic` (second-order finite differences, harmonic-mean
face coefficients; grid conventions in that module).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pdeml.problems.base import Problem
from pdeml.problems.random_fields import smooth_field
from pdeml.solvers.elliptic import BC_KINDS, grid_coordinates, solve_elliptic


def _trapezoid_weights(shape: tuple[int, ...], bc: str) -> np.ndarray:
    w = np.ones(shape)
    if bc == "neumann":
        for ax, n in enumerate(shape):
            wk = np.ones(n)
            wk[[0, -1]] = 0.5
            w = w * wk.reshape([-1 if i == ax else 1 for i in range(len(shape))])
    return w


class _BoxProblem(Problem):
    min_resolution = 5

    def _check(self, dim: int, bc: str) -> None:
        if dim not in (1, 2, 3):
            raise ValueError(f"dim must be 1, 2 or 3, got {dim!r}")
        if bc not in BC_KINDS:
            raise ValueError(f"unknown bc {bc!r}; known: {', '.join(BC_KINDS)}")

    def grid(self, resolution: int) -> list[np.ndarray]:
        """Node coordinates, ``dim`` arrays of shape ``(resolution,) * dim`` (convention of ``bc``)."""
        return grid_coordinates((resolution,) * self.dim, self.bc)

    def _field(self, rng: np.random.Generator, resolution: int) -> np.ndarray:
        return smooth_field(rng, (resolution,) * self.dim, self.alpha, self.tau, self.bc == "periodic")

    def _forcing(self, rng: np.random.Generator, resolution: int) -> np.ndarray:
        f = self.forcing_scale * self._field(rng, resolution)
        if self.bc != "dirichlet":
            # the pure Neumann/periodic problem needs int f = 0 (zero flux); enforce it in the data
            w = _trapezoid_weights(f.shape, self.bc)
            f = f - (w * f).sum() / w.sum()
        return f


class Poisson(_BoxProblem):
    """``-div(a grad u) = f`` on ``[0, 1]^dim`` with a log-normal ``a`` and a Gaussian ``f``.

    x: ``(a, f)`` as ``(2, *space)``; y: ``u`` as ``(1, *space)``; ``space = (resolution,) * dim``;
    float32. ``a = exp(sigma * g1)``, ``f = forcing_scale * g2`` with ``g1, g2`` independent
    :func:`smooth_field` draws. Boundary: ``u = 0`` (dirichlet), zero flux (neumann; ``f`` is
    shifted to zero mean and ``u`` has zero mean), or periodic (same).
    """

    name = "poisson"
    solver = "scipy-fd2-harmonic"

    def __init__(self, dim: int = 2, bc: str = "dirichlet", alpha: float = 2.0, tau: float = 3.0,
                 sigma: float = 1.0, forcing_scale: float = 10.0, method: str = "direct"):
        self._check(dim, bc)
        self.dim, self.bc = int(dim), bc
        self.alpha, self.tau, self.sigma = float(alpha), float(tau), float(sigma)
        self.forcing_scale = float(forcing_scale)
        self.method = method

    @property
    def params(self) -> dict[str, Any]:
        return {"dim": self.dim, "bc": self.bc, "alpha": self.alpha, "tau": self.tau,
                "sigma": self.sigma, "forcing_scale": self.forcing_scale, "method": self.method}

    def solve(self, a: np.ndarray, f: np.ndarray) -> np.ndarray:
        """Reference solution (same shape as ``a``) for a user-given coefficient and forcing."""
        return solve_elliptic(a, f, bc=self.bc, method=self.method)

    def solve_sample(self, rng: np.random.Generator, resolution: int) -> tuple[np.ndarray, np.ndarray]:
        a = np.exp(self.sigma * self._field(rng, resolution))
        f = self._forcing(rng, resolution)
        u = self.solve(a, f)
        return np.stack([a, f]).astype(np.float32), u[None].astype(np.float32)


class Helmholtz(_BoxProblem):
    """``-Lap u - k(x)^2 u = f`` on ``[0, 1]^dim`` with a smooth variable wavenumber.

    ``k = k0 (1 + eps * tanh(g1))`` (so ``k0 (1 - eps) < k < k0 (1 + eps)``, radians per unit
    length), ``f = forcing_scale * g2``. Boundary: ``u = 0`` (dirichlet, the default; a closed
    cavity) or zero normal derivative (neumann, a sound-hard cavity) or periodic. No absorbing or
    impedance condition is used, so the problem is real and symmetric but indefinite, and a draw
    whose ``k`` sits near a cavity resonance gives a large ``u``: keep ``k0`` away from the
    resonances, e.g. the default ``k0 = 8`` lies between the Dirichlet eigenvalues
    ``pi sqrt(5)`` and ``pi sqrt(8)`` of the unit square. x: ``(k, f)`` (2, *space); y: ``u``.
    """

    name = "helmholtz"
    solver = "scipy-fd2-spsolve"

    def __init__(self, dim: int = 2, bc: str = "dirichlet", k0: float = 8.0, eps: float = 0.2,
                 alpha: float = 2.5, tau: float = 3.0, forcing_scale: float = 10.0,
                 method: str = "direct"):
        self._check(dim, bc)
        if k0 <= 0 or not 0 <= eps < 1:
            raise ValueError(f"need k0 > 0 and 0 <= eps < 1, got k0={k0}, eps={eps}")
        self.dim, self.bc = int(dim), bc
        self.k0, self.eps = float(k0), float(eps)
        self.alpha, self.tau, self.forcing_scale = float(alpha), float(tau), float(forcing_scale)
        self.method = method

    @property
    def params(self) -> dict[str, Any]:
        return {"dim": self.dim, "bc": self.bc, "k0": self.k0, "eps": self.eps, "alpha": self.alpha,
                "tau": self.tau, "forcing_scale": self.forcing_scale, "method": self.method}

    def solve(self, k: np.ndarray, f: np.ndarray) -> np.ndarray:
        """Reference solution (same shape as ``k``) for a user-given wavenumber and forcing."""
        k = np.asarray(k, dtype=np.float64)
        return solve_elliptic(np.ones(k.shape), f, c=-(k**2), bc=self.bc, method=self.method)

    def solve_sample(self, rng: np.random.Generator, resolution: int) -> tuple[np.ndarray, np.ndarray]:
        k = self.k0 * (1.0 + self.eps * np.tanh(self._field(rng, resolution)))
        f = self._forcing(rng, resolution)
        u = self.solve(k, f)
        return np.stack([k, f]).astype(np.float32), u[None].astype(np.float32)
