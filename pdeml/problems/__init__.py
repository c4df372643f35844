"""Benchmark PDE problems: ``pdeml.problems.get("darcy")`` gives a problem instance.

Problems are registered by name and imported on first use, so ``pdeml list problems`` and the
import of this package stay fast.
"""

from __future__ import annotations

from pdeml.problems.base import Problem, sample_rng, xp_of
from pdeml.problems.pde import PDE, Derivatives
from pdeml.registry import Registry

PROBLEMS: Registry[type[Problem]] = Registry("problem")
PROBLEMS.register_lazy("darcy", "pdeml.problems.darcy:Darcy",
                       "Darcy flow -div(a grad u) = 1, FNO piecewise-constant coefficient (Li et al. 2021)")
# -- elliptic, manufactured and peak problems --
PROBLEMS.register_lazy("poisson", "pdeml.problems.elliptic:Poisson",
                       "-div(a grad u) = f in 1D/2D/3D, log-normal a, Gaussian f; Dirichlet, Neumann or periodic")
PROBLEMS.register_lazy("helmholtz", "pdeml.problems.elliptic:Helmholtz",
                       "-Lap u - k(x)^2 u = f in 1D/2D/3D, smooth variable wavenumber k")
PROBLEMS.register_lazy("poisson1d_sin100", "pdeml.problems.manufactured:Poisson1DSin",
                       "-u_xx = f on [0, 2pi], u = sin(100x) (GP-HM, Fang et al. ICLR 2024)")
PROBLEMS.register_lazy("poisson1d_sin6cos100", "pdeml.problems.manufactured:Poisson1DSinCos",
                       "-u_xx = f on [0, 2pi], u = sin(6x) cos(100x) (GP-HM)")
PROBLEMS.register_lazy("poisson1d_multiscale", "pdeml.problems.manufactured:Poisson1DMultiscale",
                       "-u_xx = f on [0, 2pi], u = sin x + 0.1 sin 20x + 0.05 sin 100x (GP-HM)")
PROBLEMS.register_lazy("poisson1d_mix", "pdeml.problems.manufactured:Poisson1DMix",
                       "-u_xx = f on [0, 1], u = sin x + 0.1 sin 20x + 0.05 sin 100x (GP-HM)")
PROBLEMS.register_lazy("poisson1d_xsin200", "pdeml.problems.manufactured:Poisson1DXSin",
                       "-u_xx = f on [0, 2pi], u = x sin(200x) (GP-HM)")
PROBLEMS.register_lazy("poisson1d_sin500_trend", "pdeml.problems.manufactured:Poisson1DSinTrend",
                       "-u_xx = f on [0, 1], u = sin(500x) - 2(x - 0.5)^2 (GP-HM)")
PROBLEMS.register_lazy("poisson2d_sincos_sum", "pdeml.problems.manufactured:Poisson2DSinCosSum",
                       "-Lap u = f on [0, 2pi]^2, u = h(x) + h(y), h = sin(6t) cos(20t) (GP-HM)")
PROBLEMS.register_lazy("allen_cahn1d_sin6cos100", "pdeml.problems.manufactured:AllenCahn1DSinCos",
                       "u_xx + u(u^2 - 1) = f on [0, 2pi], u = sin(6x) cos(100x) (GP-HM)")
PROBLEMS.register_lazy("poisson2d_sin100", "pdeml.problems.manufactured:Poisson2DSin",
                       "-Lap u = f on [0, 2pi]^2, u = sin(100x) sin(100y) (GP-HM)")
PROBLEMS.register_lazy("allen_cahn1d_sin100", "pdeml.problems.manufactured:AllenCahn1D",
                       "u_xx + u(u^2 - 1) = f on [0, 2pi], u = sin(100x) (GP-HM)")
PROBLEMS.register_lazy("allen_cahn2d", "pdeml.problems.manufactured:AllenCahn2D",
                       "Lap u + u(u^2 - 1) = f on [0, 1]^2, u = g(x) g(y), g = sin t + 0.1 sin 20t + cos 100t (GP-HM)")
PROBLEMS.register_lazy("advection_sin200", "pdeml.problems.manufactured:AdvectionSin",
                       "200 u_x + u_y = 0 on [0, 2pi] x [0, 1], u = sin(x - 200y) (GP-HM)")
PROBLEMS.register_lazy("poisson2d_varcoef", "pdeml.problems.manufactured:Poisson2DVarCoef",
                       "-div(a grad u) = f on [0, 2pi]^2, a = 1 + 0.5 sin x cos y, u = sin(20x) cos(20y)")
PROBLEMS.register_lazy("helmholtz2d_varwave", "pdeml.problems.manufactured:Helmholtz2DVarWave",
                       "-Lap u - kappa^2 u = f on [0, 2pi]^2, kappa = 10 (1 + 0.3 sin x sin y), u = sin(20x) cos(20y)")
PROBLEMS.register_lazy("poisson3d_sin", "pdeml.problems.manufactured:Poisson3DSin",
                       "-Lap u = f on [0, 2pi]^3, u = sin(4x) sin(6y) sin(8z)")
PROBLEMS.register_lazy("peak2d", "pdeml.problems.peaks:Peak2D",
                       "-Lap u = f on [-1, 1]^2, u = exp(-1000 |x - (0.5, 0.5)|^2) (AAS, Tang et al. ICLR 2024)")
PROBLEMS.register_lazy("two_peaks", "pdeml.problems.peaks:TwoPeaks",
                       "Lap u - div(u grad(x^2 + y^2)) = f on [-1, 1]^2, peaks at +-(0.5, 0.5) (AAS)")
PROBLEMS.register_lazy("gaussian_nd", "pdeml.problems.peaks:GaussianND",
                       "-Lap u = f on [-1, 1]^d, u = exp(-10 |x|^2), default d = 10 (AAS)")
# -- time-dependent problems --
PROBLEMS.register_lazy("navier_stokes", "pdeml.problems.navier_stokes:NavierStokes2D",
                       "2D Navier–Stokes vorticity on the unit torus, GRF initial vorticity (FNO / Spectral-Refiner)")
PROBLEMS.register_lazy("burgers", "pdeml.problems.burgers:Burgers1D",
                       "1D viscous Burgers on the periodic unit interval (FNO GRF / PDEBench sine-wave settings)")
# -- pressure systems --
PROBLEMS.register_lazy("pressure", "pdeml.problems.pressure:PressureSystem",
                       "pressure Poisson systems on fluid cells with obstacles, Neumann/Dirichlet walls (DCDM, Kaneda et al. 2023)")


def get(name: str, **params) -> Problem:
    """Instantiate the problem registered under ``name`` with its parameters.

    ``recipe="NAME"`` starts from one of the problem's named data-set recipes (where it has
    them, e.g. ``get("navier_stokes", recipe="spectral-refiner", nu=1e-4)``).
    """
    cls = PROBLEMS.get(name)
    recipe = params.pop("recipe", None)
    try:
        if recipe is None:
            return cls(**params)
        return cls.recipe(recipe, **params)
    except TypeError as err:
        raise TypeError(f"bad parameters for problem {name!r}: {err}") from err


def names() -> list[str]:
    return PROBLEMS.names()


__all__ = ["PDE", "PROBLEMS", "Derivatives", "Problem", "get", "names", "sample_rng", "xp_of"]
