"""1D viscous Burgers equation ``u_t + (u^2 / 2)_x = nu u_xx`` on the periodic unit interval.

Two settings (recipes):

- ``"fno"`` (Li et al., "Fourier Neural Operator for Parametric PDEs", ICLR 2021): ``nu = 0.1``,
  ``u0`` a zero-mean GRF with covariance ``625 (-Lap + 25 I)^-2``, learn ``u0 -> u(., 1)``.
- ``"pdebench-<eps>"`` (Takamoto et al., "PDEBench", NeurIPS 2022): PDEBench writes the diffusion
  as ``(eps / pi) u_xx``, so ``nu = eps / pi``; ``t`` in ``[0, 2]`` with frames every 0.01;
  ``u0`` a sum of two random sine waves (details and simplifications in docs/burgers.md).

Solved by :func:`pdeml.solvers.spectral.burgers_1d` (pseudo-spectral, 2/3 dealiasing,
Crank–Nicolson + Heun, float64).
"""

from __future__ import annotations

import math
import warnings
from typing import Any, ClassVar

import numpy as np
import torch

from pdeml.problems.base import Problem, xp_of
from pdeml.problems.random_fields import grf_periodic
from pdeml.solvers.spectral import burgers_1d, downsample

INITIAL_CONDITIONS = ("grf", "sines")
PDEBENCH_EPS = (0.001, 0.002, 0.004, 0.01, 0.02, 0.04, 0.1, 0.2, 0.4, 1.0, 2.0, 4.0)


def cole_hopf_solution(x: Any, t: float, nu: float, a: float = 1.0, b: float = 0.5, L: float = 1.0) -> Any:
    """Exact periodic Burgers solution from Cole–Hopf with ``phi = a + b exp(-nu kappa^2 t) cos(kappa x)``.

    ``u = -2 nu phi_x / phi = 2 nu kappa b E sin(kappa x) / (a + b E cos(kappa x))``,
    ``E = exp(-nu kappa^2 t)``, ``kappa = 2 pi / L``; smooth (analytic) for ``a > |b|``.
    """
    xp = xp_of(x)
    kappa = 2.0 * math.pi / L
    e = b * math.exp(-nu * kappa**2 * t)
    return 2.0 * nu * kappa * e * xp.sin(kappa * x) / (a + e * xp.cos(kappa * x))


def _pdebench_recipes() -> dict[str, dict[str, Any]]:
    out = {}
    for eps in PDEBENCH_EPS:
        out[f"pdebench-{eps:g}"] = dict(nu=eps / math.pi, ic="sines", dt=1e-4, t_final=2.0, n_snapshots=200,
                                        solver_resolution=1024)
    return out


class Burgers1D(Problem):
    """Viscous Burgers on ``[0, 1)`` (periodic) from a random initial condition.

    ``x``: ``u0`` (1, s). ``y``: ``u(., t_final)`` (1, s) when ``n_snapshots == 1`` (the FNO
    operator ``u0 -> u(1)``), else the frames ``u(., t_k)`` (1, s, n_snapshots) at
    ``t_k = k t_final / n_snapshots``, ``k = 1..n_snapshots``.
    """

    name = "burgers"
    solver = "torch-pseudospectral-dealiased-cn-heun"
    min_resolution = 8
    dim = 1
    periodic = True

    RECIPES: ClassVar[dict[str, dict[str, Any]]] = {
        "fno": dict(nu=0.1, ic="grf", alpha=2.0, tau=5.0, sigma=25.0, dt=1e-4, t_final=1.0, n_snapshots=1,
                    solver_resolution=1024),
        # the public FNO generation script (gen_burgers1.m) differs from the paper's text
        "fno-script": dict(nu=1e-3, ic="grf", alpha=2.5, tau=7.0, sigma=49.0, dt=5e-5, t_final=1.0, n_snapshots=1,
                           solver_resolution=8192),
        **_pdebench_recipes(),
    }

    def __init__(self, nu: float = 0.1, ic: str = "grf", dt: float = 1e-4, t_final: float = 1.0,
                 n_snapshots: int = 1, solver_resolution: int = 1024, alpha: float = 2.0, tau: float = 5.0,
                 sigma: float = 25.0, n_waves: int = 2, max_wavenumber: int = 4, abs_prob: float = 0.1,
                 window_prob: float = 0.1, downsample: str = "stride", max_cfl: float = 0.3, device: str = "cpu"):
        if not (math.isfinite(nu) and nu > 0):
            raise ValueError(f"viscosity nu must be > 0, got {nu!r}")
        if ic not in INITIAL_CONDITIONS:
            raise ValueError(f"unknown initial condition {ic!r}; known: {', '.join(INITIAL_CONDITIONS)}")
        if not dt > 0 or not t_final > 0:
            raise ValueError(f"need dt > 0 and t_final > 0, got dt={dt!r}, t_final={t_final!r}")
        if int(n_snapshots) < 1:
            raise ValueError(f"n_snapshots must be >= 1, got {n_snapshots!r}")
        if int(solver_resolution) < self.min_resolution or int(solver_resolution) % 2:
            raise ValueError(f"solver_resolution must be an even integer >= {self.min_resolution}, "
                             f"got {solver_resolution!r}")
        if downsample not in ("stride", "spectral"):
            raise ValueError(f"unknown downsample {downsample!r}; known: 'stride', 'spectral'")
        self.nu, self.ic, self.dt, self.t_final = float(nu), ic, float(dt), float(t_final)
        self.n_snapshots, self.solver_resolution = int(n_snapshots), int(solver_resolution)
        self.alpha, self.tau, self.sigma = float(alpha), float(tau), float(sigma)
        self.n_waves, self.max_wavenumber = int(n_waves), int(max_wavenumber)
        self.abs_prob, self.window_prob = float(abs_prob), float(window_prob)
        self.downsample, self.max_cfl, self.device = downsample, float(max_cfl), device

    @property
    def params(self) -> dict[str, Any]:
        return {"nu": self.nu, "ic": self.ic, "dt": self.dt, "t_final": self.t_final,
                "n_snapshots": self.n_snapshots, "solver_resolution": self.solver_resolution,
                "alpha": self.alpha, "tau": self.tau, "sigma": self.sigma, "n_waves": self.n_waves,
                "max_wavenumber": self.max_wavenumber, "abs_prob": self.abs_prob,
                "window_prob": self.window_prob, "downsample": self.downsample, "max_cfl": self.max_cfl,
                "device": self.device}

    @property
    def record_times(self) -> list[float]:
        return [self.t_final * k / self.n_snapshots for k in range(1, self.n_snapshots + 1)]

    @staticmethod
    def grid(resolution: int) -> np.ndarray:
        """Periodic nodes ``x_i = i / s``, shape ``(s,)``."""
        return np.arange(resolution) / resolution

    def sample_initial_condition(self, rng: np.random.Generator, n: int | None = None) -> np.ndarray:
        """``u0`` on ``n`` nodes (float64)."""
        n = self.solver_resolution if n is None else n
        if self.ic == "grf":
            return grf_periodic(rng, n, self.alpha, self.tau, dim=1, sigma=self.sigma)
        x = self.grid(n)
        k = rng.integers(1, self.max_wavenumber + 1, size=self.n_waves)
        amp = rng.uniform(0.0, 1.0, size=self.n_waves)
        phase = rng.uniform(0.0, 2 * np.pi, size=self.n_waves)
        u = (amp[:, None] * np.sin(2 * np.pi * k[:, None] * x[None] + phase[:, None])).sum(0)
        if rng.uniform() < self.abs_prob:
            u = np.abs(u)
        u = u * rng.choice([-1.0, 1.0])
        if rng.uniform() < self.window_prob:
            left, right = rng.uniform(0.1, 0.45), rng.uniform(0.55, 0.9)
            u = u * 0.5 * (np.tanh((x - left) / 0.01) - np.tanh((x - right) / 0.01))
        return u

    def solve(self, u0: np.ndarray | torch.Tensor, progress: bool = False) -> torch.Tensor:
        """Frames of ``u0`` ``([batch,] n)`` at ``record_times`` -> ``(..., n, n_snapshots)`` (float64)."""
        u0 = torch.as_tensor(u0, dtype=torch.float64, device=self.device)
        n = u0.shape[-1]
        # a viscous shock has width ~ 2 nu / jump; fewer than ~2 points across it leaves Gibbs ripples
        jump = 2.0 * float(u0.abs().max())
        if jump > 0 and 2.0 * self.nu / jump < 2.0 / n:
            warnings.warn(f"Burgers grid n={n} under-resolves the viscous shock width 2 nu / jump = "
                          f"{2 * self.nu / jump:.2e} (dx = {1 / n:.2e}); expect Gibbs oscillations", stacklevel=2)
        return burgers_1d(u0, self.nu, self.dt, self.t_final, record_times=self.record_times,
                          max_cfl=self.max_cfl, progress=progress)

    def solve_sample(self, rng: np.random.Generator, resolution: int) -> tuple[np.ndarray, np.ndarray]:
        n = self.solver_resolution
        if resolution > n or (self.downsample == "stride" and n % resolution):
            raise ValueError(f"output resolution {resolution} must divide solver_resolution={n} "
                             f"(downsample={self.downsample!r}); choose a divisor or change solver_resolution")
        u0 = torch.as_tensor(self.sample_initial_condition(rng, n), dtype=torch.float64, device=self.device)
        traj = torch.cat([u0[:, None], self.solve(u0)], dim=-1)  # (n, 1 + T)
        traj = downsample(traj.T, resolution, dim=1, method=self.downsample).T
        traj = traj.cpu().numpy().astype(np.float32)[None]  # (1, s, 1 + T)
        y = traj[..., -1] if self.n_snapshots == 1 else traj[..., 1:]
        return traj[..., 0], y
