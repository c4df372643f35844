"""2D incompressible Navier–Stokes in vorticity form on the unit torus.

``w_t + u . grad w = nu Lap w + f`` on ``[0, 1)^2`` (periodic), ``u = (d psi/dy, -d psi/dx)``,
``psi = -Lap^-1 w``. References: Li et al., "Fourier Neural Operator for Parametric PDEs"
(ICLR 2021) for the FNO data sets; Cao et al., "Spectral-Refiner" (ICLR 2025) for the warm-started
data set. Solved by :func:`pdeml.solvers.spectral.navier_stokes_2d` (pseudo-spectral, 2/3
dealiasing, Crank–Nicolson diffusion + Heun convection, float64).
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np
import torch

from pdeml.problems.base import Problem, xp_of
from pdeml.problems.random_fields import grf_periodic
from pdeml.solvers.spectral import downsample, navier_stokes_2d, spectral_upsample

FORCINGS = ("fno", "kolmogorov", "none")


def taylor_green(x: Any, y: Any, t: float, nu: float, k: int = 1, L: float = 1.0,
                 velocity: bool = False):
    """Exact decaying Taylor–Green vortex on ``[0, L)^2`` with ``f = 0`` (NumPy or torch inputs).

    ``w = 2 kappa cos(kappa x) cos(kappa y) exp(-2 nu kappa^2 t)`` with ``kappa = 2 pi k / L``; the
    convection term vanishes identically (``w`` is a function of ``psi``). With ``velocity=True``
    returns ``(w, u, v)``, ``u = -cos(kappa x) sin(kappa y) F``, ``v = sin(kappa x) cos(kappa y) F``.
    """
    xp = xp_of(x)
    kappa = 2.0 * math.pi * k / L
    decay = math.exp(-2.0 * nu * kappa**2 * t)
    cx, cy, sx, sy = xp.cos(kappa * x), xp.cos(kappa * y), xp.sin(kappa * x), xp.sin(kappa * y)
    w = 2.0 * kappa * cx * cy * decay
    if not velocity:
        return w
    return w, -cx * sy * decay, sx * cy * decay


class NavierStokes2D(Problem):
    """Navier–Stokes vorticity on the unit torus from a GRF initial vorticity.

    ``x``: vorticity at ``warmup`` (1, s, s), or the first ``t_in`` recorded frames (1, s, s, t_in);
    ``y``: the following recorded frames (1, s, s, n_snapshots - t_in). Frames are recorded at
    ``t_k = warmup + k (t_final - warmup) / n_snapshots``, ``k = 1..n_snapshots``.
    """

    name = "navier_stokes"
    solver = "torch-pseudospectral-dealiased-cn-heun"
    min_resolution = 8
    dim = 2
    periodic = True

    #: named settings of the papers; ``NavierStokes2D.recipe(name, **overrides)``
    RECIPES: ClassVar[dict[str, dict[str, Any]]] = {
        # FNO (Li et al. 2021): solved at 256^2 with dt 1e-4, recorded each time unit, stored at 64^2
        "fno-1e-3": dict(nu=1e-3, forcing="fno", dt=1e-4, t_final=50.0, n_snapshots=50, solver_resolution=256),
        "fno-1e-4": dict(nu=1e-4, forcing="fno", dt=1e-4, t_final=30.0, n_snapshots=30, solver_resolution=256),
        "fno-1e-5": dict(nu=1e-5, forcing="fno", dt=1e-4, t_final=20.0, n_snapshots=20, solver_resolution=256),
        # Spectral-Refiner (Cao et al. 2025): 256^2, dt 1e-3, warm-up to t = 30, 100 frames on (30, 50]
        "spectral-refiner": dict(nu=1e-3, forcing="fno", dt=1e-3, warmup=30.0, t_final=50.0, n_snapshots=100,
                                 solver_resolution=256),
        # Kolmogorov flow (pdeml's choice, see forcing()): velocity forcing 0.1 sin(4 pi y) e_x
        "kolmogorov-1e-3": dict(nu=1e-3, forcing="kolmogorov", dt=1e-3, t_final=20.0, n_snapshots=20,
                                solver_resolution=256),
    }

    def __init__(self, nu: float = 1e-3, forcing: str = "fno", dt: float = 1e-4, t_final: float = 50.0,
                 warmup: float = 0.0, n_snapshots: int = 50, solver_resolution: int = 256, t_in: int = 0,
                 downsample: str = "stride", alpha: float = 2.5, tau: float = 7.0, sigma: float | None = None,
                 kolmogorov_amplitude: float = 0.1, kolmogorov_wavenumber: int = 2, max_cfl: float = 0.3,
                 warmup_resolution: int | None = None, warmup_dt: float | None = None, device: str = "cpu"):
        if not (math.isfinite(nu) and nu > 0):
            raise ValueError(f"viscosity nu must be > 0, got {nu!r}")
        if forcing not in FORCINGS:
            raise ValueError(f"unknown forcing {forcing!r}; known: {', '.join(FORCINGS)}")
        if not dt > 0:
            raise ValueError(f"time step dt must be > 0, got {dt!r}")
        if not 0 <= warmup < t_final:
            raise ValueError(f"need 0 <= warmup < t_final, got warmup={warmup!r}, t_final={t_final!r}")
        if int(n_snapshots) < 1 or not 0 <= int(t_in) < int(n_snapshots):
            raise ValueError(f"need n_snapshots >= 1 and 0 <= t_in < n_snapshots, got n_snapshots={n_snapshots!r}, "
                             f"t_in={t_in!r}")
        if downsample not in ("stride", "spectral"):
            raise ValueError(f"unknown downsample {downsample!r}; known: 'stride', 'spectral'")
        if int(solver_resolution) < self.min_resolution or int(solver_resolution) % 2:
            raise ValueError(f"solver_resolution must be an even integer >= {self.min_resolution}, "
                             f"got {solver_resolution!r}")
        if warmup_resolution is not None:
            if not warmup > 0:
                raise ValueError(f"warmup_resolution needs a warm-up (warmup > 0), got warmup={warmup!r}")
            if (int(warmup_resolution) < self.min_resolution or int(warmup_resolution) % 2
                    or int(warmup_resolution) > int(solver_resolution)):
                raise ValueError(f"warmup_resolution must be an even integer in [{self.min_resolution}, "
                                 f"solver_resolution={solver_resolution}], got {warmup_resolution!r}")
        if warmup_dt is not None and not warmup_dt > 0:
            raise ValueError(f"warmup_dt must be > 0, got {warmup_dt!r}")
        self.warmup_resolution = None if warmup_resolution is None else int(warmup_resolution)
        self.warmup_dt = None if warmup_dt is None else float(warmup_dt)
        self.nu, self.forcing_kind, self.dt, self.t_final = float(nu), forcing, float(dt), float(t_final)
        self.warmup, self.n_snapshots, self.t_in = float(warmup), int(n_snapshots), int(t_in)
        self.solver_resolution, self.downsample = int(solver_resolution), downsample
        self.alpha, self.tau = float(alpha), float(tau)
        # sigma None: FNO's sampler scales by sqrt(2) tau^(alpha-1) and keeps the real part of a
        # complex field, which equals covariance 2 tau^(2 alpha - 2) (-Lap + tau^2)^-alpha
        self.sigma = None if sigma is None else float(sigma)
        self.kolmogorov_amplitude, self.kolmogorov_wavenumber = float(kolmogorov_amplitude), int(kolmogorov_wavenumber)
        self.max_cfl, self.device = float(max_cfl), device

    @property
    def params(self) -> dict[str, Any]:
        return {"nu": self.nu, "forcing": self.forcing_kind, "dt": self.dt, "t_final": self.t_final,
                "warmup": self.warmup, "n_snapshots": self.n_snapshots, "solver_resolution": self.solver_resolution,
                "t_in": self.t_in, "downsample": self.downsample, "alpha": self.alpha, "tau": self.tau,
                "sigma": self.sigma, "kolmogorov_amplitude": self.kolmogorov_amplitude,
                "kolmogorov_wavenumber": self.kolmogorov_wavenumber, "max_cfl": self.max_cfl,
                "warmup_resolution": self.warmup_resolution, "warmup_dt": self.warmup_dt, "device": self.device}

    @property
    def record_times(self) -> list[float]:
        """Times of the recorded frames (``n_snapshots`` of them, after ``warmup``)."""
        span = self.t_final - self.warmup
        return [self.warmup + span * k / self.n_snapshots for k in range(1, self.n_snapshots + 1)]

    @staticmethod
    def grid(resolution: int) -> tuple[np.ndarray, np.ndarray]:
        """Periodic nodes ``(X, Y)``, each ``(s, s)``, ``X[i, j] = i / s`` (endpoint excluded)."""
        t = np.arange(resolution) / resolution
        return np.meshgrid(t, t, indexing="ij")

    def forcing(self, x: Any, y: Any) -> Any:
        """Vorticity forcing ``f(x, y)`` (NumPy or torch).

        ``"fno"``: ``0.1 (sin 2 pi (x + y) + cos 2 pi (x + y))``. ``"kolmogorov"``: the curl of the
        velocity forcing ``A sin(2 pi m y) e_x`` (``A = kolmogorov_amplitude``,
        ``m = kolmogorov_wavenumber``), i.e. ``f = -2 pi m A cos(2 pi m y)``. ``"none"``: 0.
        """
        xp = xp_of(x)
        if self.forcing_kind == "fno":
            return 0.1 * (xp.sin(2 * math.pi * (x + y)) + xp.cos(2 * math.pi * (x + y)))
        if self.forcing_kind == "kolmogorov":
            m = self.kolmogorov_wavenumber
            return -2 * math.pi * m * self.kolmogorov_amplitude * xp.cos(2 * math.pi * m * y) + 0 * x
        return 0 * x + 0 * y

    def sample_initial_vorticity(self, rng: np.random.Generator, n: int | None = None) -> np.ndarray:
        """Initial vorticity ``(n, n)`` from the periodic GRF (``alpha``, ``tau``, ``sigma``); ``n`` is
        the grid the trajectory starts on by default (``warmup_resolution`` when set)."""
        n = (self.warmup_resolution or self.solver_resolution) if n is None else n
        sigma = math.sqrt(2.0) * self.tau ** (self.alpha - 1.0) if self.sigma is None else self.sigma
        return grf_periodic(rng, n, self.alpha, self.tau, dim=2, sigma=sigma)

    def _integrate(self, w: torch.Tensor, times: list[float], dt: float, progress: bool) -> torch.Tensor:
        f = self.forcing(*(torch.as_tensor(a, device=self.device) for a in self.grid(w.shape[-1])))
        return navier_stokes_2d(w, None if self.forcing_kind == "none" else f, self.nu, dt, times[-1],
                                record_times=times, max_cfl=self.max_cfl, progress=progress)

    def solve(self, w0: np.ndarray | torch.Tensor, progress: bool = False) -> torch.Tensor:
        """Trajectory of ``w0`` ``([batch,] n, n)``: frames at ``[warmup] + record_times`` -> ``(..., n, n, T)``.

        The first frame is ``w(warmup)`` (``w0`` itself when ``warmup = 0``); float64, on ``device``.
        With ``warmup_resolution``, ``w0`` lives on that grid: the warm-up runs there (step
        ``warmup_dt``, ``dt`` if unset), its end state is interpolated spectrally onto the solver grid,
        and the recorded frames are solved on the solver grid; the trajectory is then on that grid.
        """
        w0 = torch.as_tensor(w0, dtype=torch.float64, device=self.device)
        if self.warmup_resolution is not None:
            if w0.shape[-1] != self.warmup_resolution:
                raise ValueError(f"with warmup_resolution={self.warmup_resolution} the initial vorticity must be "
                                 f"on that grid, got shape {tuple(w0.shape)}")
            warm = self._integrate(w0, [self.warmup], self.warmup_dt or self.dt, progress)[..., -1]
            warm = spectral_upsample(warm, self.solver_resolution)
            frames = self._integrate(warm, [t - self.warmup for t in self.record_times], self.dt, progress)
            return torch.cat([warm[..., None], frames], dim=-1)
        times = self.record_times if self.warmup == 0 else [self.warmup, *self.record_times]
        traj = self._integrate(w0, times, self.dt, progress)
        if self.warmup == 0:
            traj = torch.cat([w0[..., None], traj], dim=-1)
        return traj

    def solve_sample(self, rng: np.random.Generator, resolution: int) -> tuple[np.ndarray, np.ndarray]:
        n = self.solver_resolution
        if resolution > n or (self.downsample == "stride" and n % resolution):
            raise ValueError(f"output resolution {resolution} must divide solver_resolution={n} "
                             f"(downsample={self.downsample!r}); choose a divisor or change solver_resolution")
        traj = self.solve(self.sample_initial_vorticity(rng))  # (n, n, 1 + n_snapshots)
        traj = downsample(traj.movedim(-1, 0), resolution, dim=2, method=self.downsample).movedim(0, -1)
        traj = traj.cpu().numpy().astype(np.float32)[None]  # (1, s, s, 1 + n_snapshots)
        frames = traj[..., 1:]
        if self.t_in == 0:
            return traj[..., 0], frames
        return frames[..., : self.t_in], frames[..., self.t_in:]
