"""High-frequency and multiscale manufactured problems of GP-HM (Fang et al., ICLR 2024).

"Solving High Frequency and Multi-Scale PDEs with Gaussian Processes" tests its solver on
these closed-form solutions; pdeml gives each one with its exact solution and forcing (NumPy or
torch, so a PINN can differentiate them), a PINN residual by autograd, and a grid reference:

==========================  =====================================  ==================  ==============================
name                        equation                               domain              exact u
==========================  =====================================  ==================  ==============================
``poisson1d_sin100``        ``-u_xx = f``                          ``[0, 2 pi]``       ``sin(100 x)``
``poisson1d_sin6cos100``    ``-u_xx = f``                          ``[0, 2 pi]``       ``sin(6 x) cos(100 x)``
``poisson1d_multiscale``    ``-u_xx = f``                          ``[0, 2 pi]``       ``sin x + 0.1 sin 20x + 0.05 sin 100x``
``poisson1d_mix``           ``-u_xx = f``                          ``[0, 1]``           ``sin x + 0.1 sin 20x + 0.05 sin 100x``
``poisson1d_xsin200``        ``-u_xx = f``                          ``[0, 2 pi]``       ``x sin(200 x)``
``poisson1d_sin500_trend``   ``-u_xx = f``                          ``[0, 1]``           ``sin(500 x) - 2 (x - 0.5)^2``
``poisson2d_sin100``        ``-Lap u = f``                         ``[0, 2 pi]^2``     ``sin(100 x) sin(100 y)``
``poisson2d_sincos_sum``     ``-Lap u = f``                         ``[0, 2 pi]^2``     ``h(x) + h(y)``, ``h = sin 6t cos 20t``
``allen_cahn1d_sin100``     ``u_xx + u (u^2 - 1) = f``             ``[0, 2 pi]``       ``sin(100 x)``
``allen_cahn1d_sin6cos100``  ``u_xx + u (u^2 - 1) = f``             ``[0, 2 pi]``       ``sin(6 x) cos(100 x)``
``allen_cahn2d``            ``Lap u + u (u^2 - 1) = f``            ``[0, 1]^2``        ``g(x) g(y)``, ``g = sin t + 0.1 sin 20t + cos 100t``
``advection_sin200``        ``200 u_x + u_y = 0``                  ``[0, 2 pi] x [0, 1]``  ``sin(x - 200 y)``
``poisson2d_varcoef``       ``-div(a grad u) = f``                 ``[0, 2 pi]^2``     ``sin(20 x) cos(20 y)``
``helmholtz2d_varwave``     ``-Lap u - kappa(x)^2 u = f``          ``[0, 2 pi]^2``     ``sin(20 x) cos(20 y)``
``poisson3d_sin``           ``-Lap u = f``                         ``[0, 2 pi]^3``     ``sin 4x sin 6y sin 8z``
==========================  =====================================  ==================  ==============================

Up to ``advection_sin200`` these are the cases of the GP-HM paper's tables, with the domains of the
authors' scripts (``poisson1d_multiscale`` is the same solution on ``[0, 2 pi]``, kept for
continuity; the paper's multiscale case is ``poisson1d_mix`` on ``[0, 1]``).
All elliptic ones take Dirichlet data from the exact solution at both ends of every axis. The
frequencies are parameters (``freq``, ``beta``), so cheaper variants exist for quick checks.
``sample`` returns x = the forcing on the node grid (1, *space) and y = the reference solution
(1, *space), float32; the problems are deterministic (``rng`` is unused). The grid has
``resolution`` nodes per axis including both ends.

Every case is a :class:`~pdeml.problems.pde.PDE`: its operator is written once and serves the
PINN, GP-HM and the FD reference (:func:`~pdeml.solvers.fd.solve_fd`: the fast sine transform
for ``-Lap u``, Newton with the exact Jacobian for Allen–Cahn)
(:func:`~pdeml.solvers.elliptic.solve_semilinear`), exact Fourier transport of the inflow data
for advection (see :class:`AdvectionSin`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pdeml.problems.base import xp_of
from pdeml.problems.pde import PDE

TWO_PI = 2.0 * np.pi


class ManufacturedProblem(PDE):
    """A GP-HM manufactured case on the box ``domain`` (default ``[0, 2 pi]``), ``-Lap u = f`` unless
    the class writes another :meth:`~pdeml.problems.pde.PDE.operator`."""

    domain = [(0.0, TWO_PI)]


class _Sine1D(ManufacturedProblem):
    """``u = sin(freq x)`` on ``[0, 2 pi]``; subclasses give the operator and its forcing."""

    def __init__(self, freq: float = 100.0):
        self.freq = float(freq)

    @property
    def params(self) -> dict[str, Any]:
        return {"freq": self.freq}

    def exact(self, x):
        return xp_of(x).sin(self.freq * x)


class Poisson1DSin(_Sine1D):
    """``-u_xx = f`` on ``[0, 2 pi]``, ``u = sin(freq x)`` (GP-HM; default ``freq = 100``), ``f = freq^2 u``."""

    name = "poisson1d_sin100"
    solver = "scipy-fd2-dst"

    def forcing(self, x):
        return self.freq**2 * self.exact(x)


class Poisson1DSinCos(ManufacturedProblem):
    """``-u_xx = f`` on ``[0, 2 pi]``, ``u = sin(a x) cos(b x)`` (GP-HM; defaults a = 6, b = 100).

    ``f = (a^2 + b^2) sin(ax) cos(bx) + 2 a b cos(ax) sin(bx)``.
    """

    name = "poisson1d_sin6cos100"
    solver = "scipy-fd2-dst"

    def __init__(self, a: float = 6.0, b: float = 100.0):
        self.a, self.b = float(a), float(b)

    @property
    def params(self) -> dict[str, Any]:
        return {"a": self.a, "b": self.b}

    def exact(self, x):
        xp = xp_of(x)
        return xp.sin(self.a * x) * xp.cos(self.b * x)

    def forcing(self, x):
        xp = xp_of(x)
        a, b = self.a, self.b
        return (a**2 + b**2) * xp.sin(a * x) * xp.cos(b * x) + 2 * a * b * xp.cos(a * x) * xp.sin(b * x)


class Poisson1DMultiscale(ManufacturedProblem):
    """``-u_xx = f`` on ``[0, 2 pi]``, ``u = sin x + 0.1 sin 20x + 0.05 sin 100x`` (GP-HM multiscale).

    ``f = sin x + 40 sin 20x + 500 sin 100x``. (GP-HM's own script writes ``0.05 cos 100x`` in one
    variant; pdeml uses the sine so that all three scales vanish at both ends.)
    """

    name = "poisson1d_multiscale"
    solver = "scipy-fd2-dst"
    terms = ((1.0, 1.0), (0.1, 20.0), (0.05, 100.0))  # (amplitude, frequency)

    @property
    def params(self) -> dict[str, Any]:
        return {"terms": [list(t) for t in self.terms]}

    def exact(self, x):
        xp = xp_of(x)
        return sum(amp * xp.sin(k * x) for amp, k in self.terms)

    def forcing(self, x):
        xp = xp_of(x)
        return sum(amp * k**2 * xp.sin(k * x) for amp, k in self.terms)


def _sincos(xp, x, a, b):
    """``(h, -h'')`` for ``h = sin(a x) cos(b x)``."""
    h = xp.sin(a * x) * xp.cos(b * x)
    return h, (a**2 + b**2) * h + 2 * a * b * xp.cos(a * x) * xp.sin(b * x)


class Poisson1DMix(Poisson1DMultiscale):
    """``-u_xx = f`` on ``[0, 1]``, ``u = sin x + 0.1 sin 20x + 0.05 sin 100x``: the GP-HM paper's
    multiscale 1D Poisson case on the unit interval of the authors' script (900 points there)."""

    name = "poisson1d_mix"
    domain = [(0.0, 1.0)]


class Poisson1DXSin(ManufacturedProblem):
    """``-u_xx = f`` on ``[0, 2 pi]``, ``u = x sin(freq x)`` (GP-HM; freq = 200, 900 points there).

    ``f = freq^2 x sin(freq x) - 2 freq cos(freq x)``: an amplitude growing across the domain.
    """

    name = "poisson1d_xsin200"
    solver = "scipy-fd2-dst"

    def __init__(self, freq: float = 200.0):
        self.freq = float(freq)

    @property
    def params(self) -> dict[str, Any]:
        return {"freq": self.freq}

    def exact(self, x):
        return x * xp_of(x).sin(self.freq * x)

    def forcing(self, x):
        xp = xp_of(x)
        k = self.freq
        return k**2 * x * xp.sin(k * x) - 2 * k * xp.cos(k * x)


class Poisson1DSinTrend(ManufacturedProblem):
    """``-u_xx = f`` on ``[0, 1]``, ``u = sin(freq x) - 2 (x - 0.5)^2`` (GP-HM; freq = 500, 400 points
    there): about 80 periods on a quadratic trend. ``f = freq^2 sin(freq x) + 4``."""

    name = "poisson1d_sin500_trend"
    solver = "scipy-fd2-dst"
    domain = [(0.0, 1.0)]

    def __init__(self, freq: float = 500.0):
        self.freq = float(freq)

    @property
    def params(self) -> dict[str, Any]:
        return {"freq": self.freq}

    def exact(self, x):
        return xp_of(x).sin(self.freq * x) - 2.0 * (x - 0.5) ** 2

    def forcing(self, x):
        return self.freq**2 * xp_of(x).sin(self.freq * x) + 4.0


class Poisson2DSin(ManufacturedProblem):
    """``-Lap u = f`` on ``[0, 2 pi]^2``, ``u = sin(freq x) sin(freq y)`` (GP-HM; freq = 100).

    ``f = 2 freq^2 u``. The reference is the 5-point FD solution computed by the fast sine
    transform, so resolutions of several thousand per side are affordable.
    """

    name = "poisson2d_sin100"
    solver = "scipy-fd2-dst"
    domain = [(0.0, TWO_PI), (0.0, TWO_PI)]

    def __init__(self, freq: float = 100.0):
        self.freq = float(freq)

    @property
    def params(self) -> dict[str, Any]:
        return {"freq": self.freq}

    def exact(self, x, y):
        xp = xp_of(x)
        return xp.sin(self.freq * x) * xp.sin(self.freq * y)

    def forcing(self, x, y):
        return 2 * self.freq**2 * self.exact(x, y)


class Poisson2DSinCosSum(ManufacturedProblem):
    """``-Lap u = f`` on ``[0, 2 pi]^2``, ``u = h(x) + h(y)``, ``h(t) = sin(a t) cos(b t)``
    (GP-HM; a = 6, b = 20, 200 points per axis there). ``f = -h''(x) - h''(y)``."""

    name = "poisson2d_sincos_sum"
    solver = "scipy-fd2-dst"
    domain = [(0.0, TWO_PI), (0.0, TWO_PI)]

    def __init__(self, a: float = 6.0, b: float = 20.0):
        self.a, self.b = float(a), float(b)

    @property
    def params(self) -> dict[str, Any]:
        return {"a": self.a, "b": self.b}

    def exact(self, x, y):
        xp = xp_of(x)
        return _sincos(xp, x, self.a, self.b)[0] + _sincos(xp, y, self.a, self.b)[0]

    def forcing(self, x, y):
        xp = xp_of(x)
        return _sincos(xp, x, self.a, self.b)[1] + _sincos(xp, y, self.a, self.b)[1]


class Poisson2DVarCoef(ManufacturedProblem):
    """``-div(a grad u) = f`` on ``[0, 2 pi]^2`` with ``a = 1 + amp sin(x) cos(y)`` and
    ``u = sin(freq x) cos(freq y)`` (default ``freq = 20``, ``amp = 0.5``: ``a`` in ``[0.5, 1.5]``).

    Beyond the GP-HM paper: variable coefficients. The operator is written out as
    ``-a Lap u - a_x u_x - a_y u_y``, so ``f = 2 freq^2 a u - a_x u_x - a_y u_y``; the Dirichlet data
    (from ``u``) do not vanish on the edges ``y = 0, 2 pi``.
    """

    name = "poisson2d_varcoef"
    domain = [(0.0, TWO_PI), (0.0, TWO_PI)]

    def __init__(self, freq: float = 20.0, amp: float = 0.5):
        self.freq, self.amp = float(freq), float(amp)

    def coefficient(self, x, y):
        """``(a, a_x, a_y)``."""
        xp = xp_of(x)
        return (1.0 + self.amp * xp.sin(x) * xp.cos(y), self.amp * xp.cos(x) * xp.cos(y),
                -self.amp * xp.sin(x) * xp.sin(y))

    def operator(self, u, d, x):
        a, a_x, a_y = self.coefficient(*x)
        return -a * d.laplacian() - a_x * d["x"] - a_y * d["y"]

    def exact(self, x, y):
        xp = xp_of(x)
        return xp.sin(self.freq * x) * xp.cos(self.freq * y)

    def forcing(self, x, y):
        xp = xp_of(x)
        k = self.freq
        a, a_x, a_y = self.coefficient(x, y)
        u_x = k * xp.cos(k * x) * xp.cos(k * y)
        u_y = -k * xp.sin(k * x) * xp.sin(k * y)
        return 2 * k**2 * a * self.exact(x, y) - a_x * u_x - a_y * u_y


class Helmholtz2DVarWave(ManufacturedProblem):
    """``-Lap u - kappa(x, y)^2 u = f`` on ``[0, 2 pi]^2`` with the variable wavenumber
    ``kappa = k0 (1 + amp sin(x) sin(y))`` and ``u = sin(freq x) cos(freq y)`` (defaults
    ``freq = 20``, ``k0 = 10``, ``amp = 0.3``). ``f = (2 freq^2 - kappa^2) u``: an indefinite
    operator whose zeroth-order coefficient varies over the grid. Beyond the GP-HM paper.
    """

    name = "helmholtz2d_varwave"
    domain = [(0.0, TWO_PI), (0.0, TWO_PI)]

    def __init__(self, freq: float = 20.0, k0: float = 10.0, amp: float = 0.3):
        self.freq, self.k0, self.amp = float(freq), float(k0), float(amp)

    def wavenumber(self, x, y):
        xp = xp_of(x)
        return self.k0 * (1.0 + self.amp * xp.sin(x) * xp.sin(y))

    def operator(self, u, d, x):
        return -d.laplacian() - self.wavenumber(*x) ** 2 * u

    def exact(self, x, y):
        xp = xp_of(x)
        return xp.sin(self.freq * x) * xp.cos(self.freq * y)

    def forcing(self, x, y):
        return (2 * self.freq**2 - self.wavenumber(x, y) ** 2) * self.exact(x, y)


class Poisson3DSin(ManufacturedProblem):
    """``-Lap u = f`` on ``[0, 2 pi]^3``, ``u = sin(a x) sin(b y) sin(c z)`` (defaults a, b, c = 4, 6, 8),
    ``f = (a^2 + b^2 + c^2) u``. Beyond the GP-HM paper: the 3D tensor grid."""

    name = "poisson3d_sin"
    solver = "scipy-fd2-dst"
    domain = [(0.0, TWO_PI), (0.0, TWO_PI), (0.0, TWO_PI)]

    def __init__(self, a: float = 4.0, b: float = 6.0, c: float = 8.0):
        self.a, self.b, self.c = float(a), float(b), float(c)

    def exact(self, x, y, z):
        xp = xp_of(x)
        return xp.sin(self.a * x) * xp.sin(self.b * y) * xp.sin(self.c * z)

    def forcing(self, x, y, z):
        return (self.a**2 + self.b**2 + self.c**2) * self.exact(x, y, z)


class _AllenCahn(ManufacturedProblem):
    """``Lap u + u (u^2 - 1) = f``: as ``-Lap u + (u - u^3) = -f`` it is semilinear elliptic."""

    solver = "scipy-fd2-newton"

    def operator(self, u, d, x):
        return d.laplacian() + u * (u**2 - 1)


class AllenCahn1D(_AllenCahn, _Sine1D):
    """``u_xx + u (u^2 - 1) = f`` on ``[0, 2 pi]``, ``u = sin(freq x)`` (GP-HM; freq = 100).

    ``f = -freq^2 u + u^3 - u``.
    """

    name = "allen_cahn1d_sin100"

    def forcing(self, x):
        u = self.exact(x)
        return -self.freq**2 * u + u**3 - u


class AllenCahn1DSinCos(AllenCahn1D):
    """``u_xx + u (u^2 - 1) = f`` on ``[0, 2 pi]``, ``u = sin(a x) cos(b x)`` (GP-HM; a = 6, b = 100).

    ``f = u'' + u^3 - u``.
    """

    name = "allen_cahn1d_sin6cos100"

    def __init__(self, a: float = 6.0, b: float = 100.0):
        self.a, self.b = float(a), float(b)

    @property
    def params(self) -> dict[str, Any]:
        return {"a": self.a, "b": self.b}

    def exact(self, x):
        return _sincos(xp_of(x), x, self.a, self.b)[0]

    def forcing(self, x):
        u, minus_u2 = _sincos(xp_of(x), x, self.a, self.b)
        return -minus_u2 + u**3 - u


class AllenCahn2D(_AllenCahn):
    """``u_xx + u_yy + u (u^2 - 1) = f`` on ``[0, 1]^2``, ``u = g(x) g(y)`` (GP-HM 2D Allen–Cahn).

    ``g(t) = sin t + 0.1 sin(20 t) + cos(freq t)``, default ``freq = 100`` (16 periods across the
    unit square); ``f = g''(x) g(y) + g(x) g''(y) + u^3 - u``.
    """

    name = "allen_cahn2d"
    domain = [(0.0, 1.0), (0.0, 1.0)]

    def __init__(self, freq: float = 100.0):
        self.freq = float(freq)

    @property
    def params(self) -> dict[str, Any]:
        return {"freq": self.freq}

    def _g(self, t):
        xp = xp_of(t)
        return xp.sin(t) + 0.1 * xp.sin(20 * t) + xp.cos(self.freq * t)

    def _g2(self, t):
        xp = xp_of(t)
        return -xp.sin(t) - 40.0 * xp.sin(20 * t) - self.freq**2 * xp.cos(self.freq * t)

    def exact(self, x, y):
        return self._g(x) * self._g(y)

    def forcing(self, x, y):
        u = self.exact(x, y)
        return self._g2(x) * self._g(y) + self._g(x) * self._g2(y) + u**3 - u


class AdvectionSin(ManufacturedProblem):
    """``beta u_x + u_y = 0`` on ``[0, 2 pi] x [0, 1]``, ``u = sin(x - beta y)``, beta = 200 (GP-HM).

    The domain follows the GP-HM scripts (x in ``[0, 2 pi]``, y in ``[0, 1]``): 32 periods along y.
    Reading y as time, the solution transports the inflow ``u(x, 0) = sin x`` along the
    characteristics ``x - beta y = const``, and it is ``2 pi``-periodic in x. The reference
    (``sample``) is that transport done exactly in Fourier space: ``u_hat_k(y) = u_hat_k(0)
    exp(-i k beta y)`` from the inflow on the periodic x-nodes. It is not an independent
    discretization: for band-limited inflow it equals the exact solution to round-off
    (about 1e-13), it only checks the data path. x of a sample is the (zero) forcing.
    """

    name = "advection_sin200"
    solver = "fourier-characteristics"
    domain = [(0.0, TWO_PI), (0.0, 1.0)]

    def __init__(self, beta: float = 200.0):
        self.beta = float(beta)

    @property
    def params(self) -> dict[str, Any]:
        return {"beta": self.beta}

    def exact(self, x, y):
        return xp_of(x).sin(x - self.beta * y)

    def forcing(self, x, y):
        return 0.0 * x * y

    def operator(self, u, d, x):
        return self.beta * d["x"] + d["y"]

    def reference(self, resolution: int, return_history: bool = False) -> np.ndarray:
        """Exact Fourier transport of the inflow (see the class doc); no FD reference for a first-order
        operator."""
        x, y = self.grid(resolution)
        # the x-nodes include both ends of the period; the FFT uses all but the last
        inflow = self.exact(x[:-1, 0], 0.0 * x[:-1, 0])
        k = np.fft.fftfreq(resolution - 1, d=1.0 / (resolution - 1))
        spectrum = np.fft.fft(inflow)[:, None] * np.exp(-1j * k[:, None] * self.beta * y[0][None, :])
        u = np.fft.ifft(spectrum, axis=0).real
        return np.concatenate([u, u[:1]], axis=0)
