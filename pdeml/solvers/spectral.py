"""Pseudo-spectral operators and IMEX time steppers on periodic grids (pure torch, batched).

Conventions
-----------
- A periodic grid of ``n`` points on a period ``L`` has nodes ``x_i = i L / n`` (endpoint
  excluded). 2D fields are ``(..., n, n)`` with ``w[..., i, j] = w(x_i, y_j)`` ("ij" indexing);
  any leading dimensions are batch dimensions.
- 2D Fourier coefficients use ``torch.fft.rfft2`` over the last two dimensions: shape
  ``(..., n, n // 2 + 1)``, ``x`` wavenumbers in FFT order along dim -2, ``y`` in rFFT order along
  dim -1. Wavenumbers are angular, ``2 pi k / L`` (units 1/length).
- Everything works on the device and dtype of its input; nothing is moved to a GPU here.

Navier–Stokes in vorticity form, ``w_t + u.grad w = nu Lap w + f``, with velocity from the stream
function ``psi = -Lap^-1 w``, ``u = d psi / dy``, ``v = -d psi / dx``. One time step
(:func:`imex_step`) treats diffusion by Crank–Nicolson and convection plus forcing by Heun's
explicit second-order Runge–Kutta method; the convection term is computed pseudo-spectrally and
dealiased by the 2/3 rule. The 1D viscous Burgers equation ``u_t + (u^2 / 2)_x = nu u_xx`` uses
the same scheme (:func:`burgers_step`).

These functions are the single implementation used by the data generators and by residual
estimators (e.g. the Spectral-Refiner's): call them, do not copy them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor

#: smallest grid accepted by the solvers: below it the 2/3-dealiased grid keeps almost no modes
MIN_RESOLUTION = 8

__all__ = [
    "MIN_RESOLUTION", "SpectralGrid2D", "wavenumbers", "dealias_mask", "spectral_grid_2d",
    "derivative", "laplacian", "inverse_laplacian", "velocity_from_vorticity", "velocity_hat",
    "convection_hat", "convection", "imex_step_hat", "imex_step", "navier_stokes_2d",
    "burgers_nonlinear_hat", "burgers_step_hat", "burgers_step", "burgers_1d", "max_stable_dt",
    "record_schedule", "downsample", "spectral_upsample", "windows",
]


# ----------------------------------------------------------------------------- grids and operators

def wavenumbers(n: int, L: float = 1.0, *, real: bool = False, zero_nyquist: bool = False,
                dtype: torch.dtype = torch.float64, device: torch.device | str | None = None) -> Tensor:
    """Angular wavenumbers ``2 pi k / L`` of an ``n``-point periodic grid.

    Shape ``(n,)`` in FFT order, or ``(n // 2 + 1,)`` in rFFT order with ``real=True``.
    ``zero_nyquist`` sets the Nyquist entry (even ``n``) to 0, as odd-order derivatives need: the
    Nyquist mode has no well-defined sign, so its derivative is taken as zero.
    """
    k = (torch.fft.rfftfreq if real else torch.fft.fftfreq)(n, d=1.0 / n, dtype=dtype, device=device)
    if zero_nyquist and n % 2 == 0:
        k[n // 2] = 0.0
    return (2.0 * math.pi / L) * k


def dealias_mask(n: int, dim: int = 2, *, real: bool = True,
                 device: torch.device | str | None = None) -> Tensor:
    """The 2/3-rule mask: True where every integer wavenumber satisfies ``|k_i| < n / 3``.

    Shape ``(n,) * (dim - 1) + (n // 2 + 1,)`` with ``real=True`` (rFFT layout over the last
    dimension), ``(n,) * dim`` otherwise. Quadratic products of kept modes then alias only onto
    removed modes.
    """
    if dim < 1:
        raise ValueError(f"dim must be >= 1, got {dim}")
    # strict: with |k| = n/3 kept (n divisible by 3), 2k aliases onto -k, a kept mode
    full = torch.fft.fftfreq(n, d=1.0 / n, device=device).abs() * 3 < n
    last = (torch.fft.rfftfreq(n, d=1.0 / n, device=device).abs() * 3 < n) if real else full
    mask = last
    for _ in range(dim - 1):
        mask = full.view(-1, *([1] * mask.ndim)) & mask
    return mask


class SpectralGrid2D(NamedTuple):
    """Fourier-side arrays of an ``n x n`` periodic grid (rFFT2 layout), see :func:`spectral_grid_2d`."""

    n: int
    L: float
    kx: Tensor  #: (n, 1) angular x wavenumbers, Nyquist zeroed (first derivatives)
    ky: Tensor  #: (1, n//2+1) angular y wavenumbers, Nyquist zeroed
    laplacian: Tensor  #: (n, n//2+1) symbol of Lap, -(kx^2 + ky^2) with the Nyquist modes kept
    inv_laplacian: Tensor  #: (n, n//2+1) 1 / laplacian, 0 at the mean mode
    dealias: Tensor  #: (n, n//2+1) bool, the 2/3-rule mask


def spectral_grid_2d(n: int, L: float = 1.0, *, dtype: torch.dtype = torch.float64,
                     device: torch.device | str | None = None) -> SpectralGrid2D:
    """Wavenumbers, Laplacian symbol, its inverse and the dealiasing mask of an ``n x n`` grid."""
    _check_resolution(n, "grid")
    kx_full = wavenumbers(n, L, dtype=dtype, device=device)[:, None]
    ky_full = wavenumbers(n, L, real=True, dtype=dtype, device=device)[None, :]
    lap = -(kx_full**2 + ky_full**2)
    inv = torch.where(lap == 0, torch.zeros_like(lap), 1.0 / torch.where(lap == 0, torch.ones_like(lap), lap))
    kx = wavenumbers(n, L, zero_nyquist=True, dtype=dtype, device=device)[:, None]
    ky = wavenumbers(n, L, real=True, zero_nyquist=True, dtype=dtype, device=device)[None, :]
    return SpectralGrid2D(n, float(L), kx, ky, lap, inv, dealias_mask(n, 2, device=device))


def _grid_for(w: Tensor, L: float, grid: SpectralGrid2D | None) -> SpectralGrid2D:
    if w.shape[-1] != w.shape[-2]:
        raise ValueError(f"expected a square field (..., n, n), got shape {tuple(w.shape)}")
    if grid is None:
        return spectral_grid_2d(w.shape[-1], L, dtype=_real_dtype(w), device=w.device)
    if grid.n != w.shape[-1]:
        raise ValueError(f"grid has n={grid.n} but the field has shape {tuple(w.shape)}")
    return grid


def _real_dtype(x: Tensor) -> torch.dtype:
    return x.real.dtype if x.is_complex() else x.dtype


def derivative(u: Tensor, dim: int = -1, order: int = 1, L: float = 1.0) -> Tensor:
    """Spectral derivative ``d^order u / dx^order`` along dimension ``dim`` of a periodic field.

    Same shape as ``u``; for odd orders the Nyquist mode is dropped (see :func:`wavenumbers`).
    """
    n = u.shape[dim]
    k = wavenumbers(n, L, real=True, zero_nyquist=order % 2 == 1, dtype=u.dtype, device=u.device)
    shape = [1] * u.ndim
    shape[dim] = k.numel()
    u_hat = torch.fft.rfft(u, dim=dim) * (1j * k.view(shape)) ** order
    return torch.fft.irfft(u_hat, n=n, dim=dim)


def laplacian(u: Tensor, L: float = 1.0, dim: int = 2) -> Tensor:
    """Spectral Laplacian over the last ``dim`` dimensions (square grid); same shape as ``u``."""
    dims = tuple(range(-dim, 0))
    n = u.shape[-1]
    return torch.fft.irfftn(torch.fft.rfftn(u, dim=dims) * _laplacian_symbol(n, L, dim, u), s=u.shape[-dim:], dim=dims)


def inverse_laplacian(f: Tensor, L: float = 1.0, dim: int = 2) -> Tensor:
    """The zero-mean solution ``psi`` of ``Lap psi = f - mean(f)`` over the last ``dim`` dimensions."""
    dims = tuple(range(-dim, 0))
    n = f.shape[-1]
    lap = _laplacian_symbol(n, L, dim, f)
    inv = torch.where(lap == 0, torch.zeros_like(lap), 1.0 / torch.where(lap == 0, torch.ones_like(lap), lap))
    return torch.fft.irfftn(torch.fft.rfftn(f, dim=dims) * inv, s=f.shape[-dim:], dim=dims)


def _laplacian_symbol(n: int, L: float, dim: int, like: Tensor) -> Tensor:
    for size in like.shape[-dim:]:
        if size != n:
            raise ValueError(f"expected a square grid over the last {dim} dims, got shape {tuple(like.shape)}")
    full = wavenumbers(n, L, dtype=like.dtype, device=like.device) ** 2
    sym = wavenumbers(n, L, real=True, dtype=like.dtype, device=like.device) ** 2
    for _ in range(dim - 1):
        sym = full.view(-1, *([1] * sym.ndim)) + sym
    return -sym


def velocity_hat(w_hat: Tensor, grid: SpectralGrid2D) -> tuple[Tensor, Tensor]:
    """Fourier coefficients ``(u_hat, v_hat)`` of the velocity of vorticity ``w_hat`` (rFFT2 layout).

    ``psi_hat = -w_hat / laplacian``; ``u = d psi / dy``, ``v = -d psi / dx``.
    """
    psi_hat = -w_hat * grid.inv_laplacian
    return 1j * grid.ky * psi_hat, -1j * grid.kx * psi_hat


def velocity_from_vorticity(w: Tensor, L: float = 1.0,
                            grid: SpectralGrid2D | None = None) -> tuple[Tensor, Tensor]:
    """Velocity ``(u, v)`` (each shaped like ``w``, ``(..., n, n)``) of the vorticity ``w``."""
    grid = _grid_for(w, L, grid)
    u_hat, v_hat = velocity_hat(torch.fft.rfft2(w), grid)
    s = (grid.n, grid.n)
    return torch.fft.irfft2(u_hat, s=s), torch.fft.irfft2(v_hat, s=s)


def convection_hat(w_hat: Tensor, grid: SpectralGrid2D) -> Tensor:
    """rFFT2 of the dealiased convection term ``u . grad w`` for vorticity coefficients ``w_hat``.

    Products are formed on the grid (pseudo-spectral) and the result is truncated by the 2/3
    mask, which removes the aliasing error of the quadratic term.
    """
    s = (grid.n, grid.n)
    u_hat, v_hat = velocity_hat(w_hat, grid)
    u = torch.fft.irfft2(u_hat, s=s)
    v = torch.fft.irfft2(v_hat, s=s)
    wx = torch.fft.irfft2(1j * grid.kx * w_hat, s=s)
    wy = torch.fft.irfft2(1j * grid.ky * w_hat, s=s)
    return torch.fft.rfft2(u * wx + v * wy) * grid.dealias


def convection(w: Tensor, L: float = 1.0, grid: SpectralGrid2D | None = None) -> Tensor:
    """The dealiased convection term ``u . grad w`` on the grid, shaped like ``w``."""
    grid = _grid_for(w, L, grid)
    return torch.fft.irfft2(convection_hat(torch.fft.rfft2(w), grid), s=(grid.n, grid.n))


# ----------------------------------------------------------------------------- time stepping

def _cn_heun(u_hat: Tensor, nonlinear: Callable[[Tensor], Tensor], explicit: Tensor, implicit: Tensor,
             dt: float) -> Tensor:
    """One CN/Heun step given ``explicit = 1 + dt/2 L`` and ``implicit = 1 - dt/2 L``.

    Predictor ``u* = (explicit u + dt N(u)) / implicit``, corrector
    ``u' = (explicit u + dt/2 (N(u) + N(u*))) / implicit``: second order in ``dt`` overall.
    """
    n0 = nonlinear(u_hat)
    base = explicit * u_hat
    predictor = (base + dt * n0) / implicit
    return (base + 0.5 * dt * (n0 + nonlinear(predictor))) / implicit


def imex_step_hat(w_hat: Tensor, forcing_hat: Tensor | None, nu: float, dt: float,
                  grid: SpectralGrid2D) -> Tensor:
    """One IMEX step of ``w_t + u.grad w = nu Lap w + f`` on rFFT2 coefficients ``(..., n, n//2+1)``.

    Crank–Nicolson for ``nu Lap w``, Heun (explicit RK2) for ``-u.grad w + f``; ``forcing_hat``
    is the rFFT2 of a time-independent forcing (broadcastable) or None.
    """
    half = 0.5 * dt * nu * grid.laplacian
    return _cn_heun(w_hat, _ns_rhs(grid, forcing_hat), 1.0 + half, 1.0 - half, dt)


def _ns_rhs(grid: SpectralGrid2D, forcing_hat: Tensor | None) -> Callable[[Tensor], Tensor]:
    if forcing_hat is None:
        return lambda w_hat: -convection_hat(w_hat, grid)
    return lambda w_hat: forcing_hat - convection_hat(w_hat, grid)


def imex_step(w: Tensor, forcing: Tensor | None, nu: float, dt: float, L: float = 1.0,
              grid: SpectralGrid2D | None = None) -> Tensor:
    """One IMEX step (see :func:`imex_step_hat`) of the vorticity ``w`` ``(..., n, n)`` on the grid.

    ``forcing`` is ``(n, n)`` or broadcastable to ``w``, or None; time in the units of ``dt``.
    """
    grid = _grid_for(w, L, grid)
    f_hat = None if forcing is None else torch.fft.rfft2(forcing.to(w))
    w_hat = imex_step_hat(torch.fft.rfft2(w), f_hat, nu, dt, grid)
    return torch.fft.irfft2(w_hat, s=(grid.n, grid.n))


def burgers_nonlinear_hat(u_hat: Tensor, k: Tensor, mask: Tensor, n: int) -> Tensor:
    """rFFT of ``-(u^2 / 2)_x`` (dealiased) for coefficients ``u_hat`` ``(..., n//2+1)``.

    ``k`` are the rFFT angular wavenumbers with the Nyquist entry zeroed, ``mask`` the 1D 2/3 mask.
    """
    u = torch.fft.irfft(u_hat, n=n)
    return -0.5j * k * torch.fft.rfft(u * u) * mask


def burgers_step_hat(u_hat: Tensor, nu: float, dt: float, L: float = 1.0, n: int | None = None) -> Tensor:
    """One CN/Heun step of ``u_t + (u^2/2)_x = nu u_xx`` on rFFT coefficients ``(..., n//2+1)``."""
    n = 2 * (u_hat.shape[-1] - 1) if n is None else n
    dtype = _real_dtype(u_hat)
    k = wavenumbers(n, L, real=True, zero_nyquist=True, dtype=dtype, device=u_hat.device)
    k2 = wavenumbers(n, L, real=True, dtype=dtype, device=u_hat.device) ** 2
    mask = dealias_mask(n, 1, device=u_hat.device)
    half = -0.5 * dt * nu * k2
    return _cn_heun(u_hat, lambda a: burgers_nonlinear_hat(a, k, mask, n), 1.0 + half, 1.0 - half, dt)


def burgers_step(u: Tensor, nu: float, dt: float, L: float = 1.0) -> Tensor:
    """One CN/Heun step of viscous Burgers for ``u`` ``(..., n)`` on a periodic grid."""
    n = u.shape[-1]
    return torch.fft.irfft(burgers_step_hat(torch.fft.rfft(u), nu, dt, L, n), n=n)


# ----------------------------------------------------------------------------- validation helpers

def _check_resolution(n: int, what: str) -> None:
    if n < MIN_RESOLUTION or n % 2:
        raise ValueError(f"{what} resolution must be an even number of points >= {MIN_RESOLUTION}, got {n}")


def _check_scalars(nu: float, dt: float, t_final: float) -> None:
    for name, value in (("viscosity nu", nu), ("time step dt", dt)):
        if not (isinstance(value, (int, float, np.floating, np.integer)) and math.isfinite(value) and value > 0):
            raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    if not (math.isfinite(t_final) and t_final >= 0):
        raise ValueError(f"final time t_final must be a finite number >= 0, got {t_final!r}")


def max_stable_dt(speed: float, n: int, L: float = 1.0, max_cfl: float = 0.3) -> float:
    """Largest ``dt`` with ``dt * speed / dx <= max_cfl`` (``dx = L / n``); inf for a fluid at rest.

    A necessary bound only: Heun's stability region leaves the imaginary axis near
    ``|dt * lambda| = 2``, and the largest dealiased wavenumber is ``2 pi (n/3) / L``, so the
    advective number ``dt max|u| / dx`` must stay near 0.3 or below."""
    return math.inf if speed <= 0 else max_cfl * (L / n) / speed


def _check_cfl(speed: float, dt: float, n: int, L: float, max_cfl: float) -> None:
    # A necessary bound for the explicit convection step, estimated from the initial velocity;
    # growth later in the run is caught by the NaN/Inf check.
    cfl = dt * speed * n / L
    if cfl > max_cfl:
        raise ValueError(
            f"time step dt={dt:g} violates the stability limit of the explicit convection step: "
            f"dt * max|u| / dx = {cfl:.3g} > {max_cfl:g} (max|u| = {speed:.3g} at t=0, dx = {L / n:.3g}); "
            f"use dt <= {max_stable_dt(speed, n, L, max_cfl):.3g} (a necessary bound: the flow may "
            f"speed up later)")


def record_schedule(dt: float, t_final: float, record_times: Sequence[float] | None = None,
                    record_every: float | None = None) -> tuple[list[float], list[int]]:
    """Recording times and their step numbers.

    ``record_times`` (any order, within ``[0, t_final]``, each a multiple of ``dt``) wins; else
    ``record_every`` records at ``record_every, 2 record_every, ... <= t_final``; else only
    ``t_final``. Returns sorted times and the matching step counts ``round(t / dt)``.
    """
    if record_times is not None and record_every is not None:
        raise ValueError("give record_times or record_every, not both")
    if record_times is None:
        if record_every is None:
            times = [float(t_final)]
        else:
            if not record_every > 0:
                raise ValueError(f"record_every must be > 0, got {record_every!r}")
            count = int(math.floor(t_final / record_every + 1e-9))
            times = [record_every * (j + 1) for j in range(count)]
    else:
        times = sorted(float(t) for t in record_times)
    if not times:
        raise ValueError(f"nothing to record: record_every={record_every!r} exceeds t_final={t_final!r}")
    steps = []
    for t in times:
        if t < -1e-12 or t > t_final * (1 + 1e-12) + 1e-12:
            raise ValueError(f"record time {t!r} is outside [0, t_final={t_final!r}]")
        k = round(t / dt)
        if abs(k * dt - t) > 1e-8 * max(1.0, abs(t)):
            raise ValueError(f"record time {t!r} is not a multiple of dt={dt!r} (nearest step {k} is at t={k * dt!r})")
        steps.append(k)
    return times, steps


def _as_tensor(x, dtype: torch.dtype | None) -> Tensor:
    t = torch.as_tensor(x)
    if dtype is not None:
        t = t.to(dtype)
    elif not t.is_floating_point():
        t = t.to(torch.float64)
    return t


def _run(u_hat: Tensor, step: Callable[[Tensor], Tensor], steps: list[int], dt: float,
         to_physical: Callable[[Tensor], Tensor], what: str, check_every: int, progress: bool) -> list[Tensor]:
    """March ``step`` and collect ``to_physical`` snapshots at the given step counts."""
    from tqdm.auto import tqdm

    out, done, last_ok = [], 0, 0.0
    with tqdm(total=steps[-1] if steps else 0, desc=what, unit="step", disable=not progress) as bar:
        for target in steps:
            while done < target:
                u_hat = step(u_hat)
                done += 1
                if done % check_every == 0 or done == target:
                    # one reduction per check: cheap, and keeps GPU runs asynchronous in between
                    if not bool(torch.isfinite(torch.view_as_real(u_hat)).all()):
                        raise FloatingPointError(
                            f"{what} blew up: the solution became NaN/Inf by simulation time t={done * dt:.6g} "
                            f"(last finite check at t={last_ok:.6g}, dt={dt:g}); reduce dt or increase the "
                            f"viscosity or resolution")
                    last_ok = done * dt
                    bar.update(done - bar.n)
            out.append(to_physical(u_hat))
    return out


# ----------------------------------------------------------------------------- integrators

def navier_stokes_2d(w0, forcing=None, nu: float = 1e-3, dt: float = 1e-3, t_final: float = 1.0, *,
                     record_times: Sequence[float] | None = None, record_every: float | None = None,
                     L: float = 1.0, dtype: torch.dtype | None = torch.float64, max_cfl: float = 0.3,
                     check_every: int = 100, progress: bool = False) -> Tensor:
    """Integrate ``w_t + u.grad w = nu Lap w + f`` on the periodic square ``[0, L)^2``.

    ``w0``: initial vorticity ``(n, n)`` or ``(batch, n, n)`` (tensor or array; its device is used,
    cast to ``dtype``, float64 by default; ``None`` keeps a tensor's dtype). ``forcing``:
    time-independent ``f`` broadcastable to ``w0`` or None. Records at :func:`record_schedule`
    times and returns ``(batch, n, n, T)`` (``(n, n, T)`` for an unbatched ``w0``).

    Raises ValueError before any step for a non-positive ``nu`` or ``dt``, a grid that is not an
    even ``n >= 8`` square, non-finite input, or ``dt * max|u(0)| / dx > max_cfl``; raises
    FloatingPointError naming the simulation time if the solution becomes NaN/Inf.
    """
    w0 = _as_tensor(w0, dtype)
    _check_scalars(nu, dt, t_final)
    if w0.ndim not in (2, 3) or w0.shape[-1] != w0.shape[-2]:
        raise ValueError(f"initial vorticity must be (n, n) or (batch, n, n), got shape {tuple(w0.shape)}")
    n = w0.shape[-1]
    _check_resolution(n, "Navier–Stokes")
    if not bool(torch.isfinite(w0).all()):
        raise ValueError("initial vorticity contains NaN or Inf")
    times, steps = record_schedule(dt, t_final, record_times, record_every)
    grid = spectral_grid_2d(n, L, dtype=w0.dtype, device=w0.device)
    batched = w0.ndim == 3
    w_hat = torch.fft.rfft2(w0 if batched else w0[None])
    f_hat = None
    if forcing is not None:
        f = _as_tensor(forcing, w0.dtype).to(w0.device)
        try:
            torch.broadcast_shapes(f.shape, w_hat.shape[:-2] + (n, n))
        except RuntimeError as err:
            raise ValueError(f"forcing of shape {tuple(f.shape)} does not broadcast to the vorticity "
                             f"{tuple(w0.shape)}") from err
        if not bool(torch.isfinite(f).all()):
            raise ValueError("forcing contains NaN or Inf")
        f_hat = torch.fft.rfft2(f)
    u_hat, v_hat = velocity_hat(w_hat, grid)
    speed = torch.sqrt(torch.fft.irfft2(u_hat, s=(n, n)) ** 2 + torch.fft.irfft2(v_hat, s=(n, n)) ** 2)
    _check_cfl(float(speed.max()), dt, n, L, max_cfl)

    half = 0.5 * dt * nu * grid.laplacian
    explicit, implicit, rhs = 1.0 + half, 1.0 - half, _ns_rhs(grid, f_hat)
    snaps = _run(w_hat, lambda a: _cn_heun(a, rhs, explicit, implicit, dt), steps, dt,
                 lambda a: torch.fft.irfft2(a, s=(n, n)), "Navier–Stokes", check_every, progress)
    out = torch.stack(snaps, dim=-1)
    return out if batched else out[0]


def burgers_1d(u0, nu: float = 0.1, dt: float = 1e-4, t_final: float = 1.0, *,
               record_times: Sequence[float] | None = None, record_every: float | None = None,
               L: float = 1.0, dtype: torch.dtype | None = torch.float64, max_cfl: float = 0.3,
               check_every: int = 100, progress: bool = False) -> Tensor:
    """Integrate ``u_t + (u^2 / 2)_x = nu u_xx`` on the periodic interval ``[0, L)``.

    ``u0``: ``(n,)`` or ``(batch, n)``; returns ``(batch, n, T)`` (``(n, T)`` unbatched) at the
    :func:`record_schedule` times. Pseudo-spectral with 2/3 dealiasing, Crank–Nicolson for
    diffusion and Heun for the flux. Same validation and blow-up errors as :func:`navier_stokes_2d`
    (the CFL speed is ``max|u0|``).
    """
    u0 = _as_tensor(u0, dtype)
    _check_scalars(nu, dt, t_final)
    if u0.ndim not in (1, 2):
        raise ValueError(f"initial condition must be (n,) or (batch, n), got shape {tuple(u0.shape)}")
    n = u0.shape[-1]
    _check_resolution(n, "Burgers")
    if not bool(torch.isfinite(u0).all()):
        raise ValueError("initial condition contains NaN or Inf")
    times, steps = record_schedule(dt, t_final, record_times, record_every)
    _check_cfl(float(u0.abs().max()), dt, n, L, max_cfl)
    batched = u0.ndim == 2
    u_hat = torch.fft.rfft(u0 if batched else u0[None])
    k = wavenumbers(n, L, real=True, zero_nyquist=True, dtype=u0.dtype, device=u0.device)
    half = -0.5 * dt * nu * wavenumbers(n, L, real=True, dtype=u0.dtype, device=u0.device) ** 2
    mask = dealias_mask(n, 1, device=u0.device)
    explicit, implicit = 1.0 + half, 1.0 - half

    def rhs(a: Tensor) -> Tensor:
        return burgers_nonlinear_hat(a, k, mask, n)

    snaps = _run(u_hat, lambda a: _cn_heun(a, rhs, explicit, implicit, dt), steps, dt,
                 lambda a: torch.fft.irfft(a, n=n), "Burgers", check_every, progress)
    out = torch.stack(snaps, dim=-1)
    return out if batched else out[0]


# ----------------------------------------------------------------------------- resampling

def downsample(u: Tensor, s: int, dim: int = 2, method: str = "stride") -> Tensor:
    """Restrict a periodic field ``(..., n, ..., n)`` (last ``dim`` dims) to ``s`` points per side.

    ``"stride"`` takes every ``n / s``-th point (the FNO convention; ``s`` must divide ``n``).
    ``"spectral"`` keeps the Fourier modes ``|k| < s / 2`` and evaluates them on the coarse grid
    (the coarse Nyquist mode is dropped so the result stays real and unbiased).
    """
    n = u.shape[-1]
    if any(size != n for size in u.shape[-dim:]):
        raise ValueError(f"expected a square grid over the last {dim} dims, got shape {tuple(u.shape)}")
    if s == n:
        return u
    if s > n or s < 1:
        raise ValueError(f"can only downsample to 1 <= s <= n={n} points, got s={s}")
    if method == "stride":
        if n % s:
            raise ValueError(f"stride downsampling needs s dividing n={n}, got s={s}")
        step = n // s
        return u[(Ellipsis,) + (slice(None, None, step),) * dim]
    if method != "spectral":
        raise ValueError(f"unknown downsampling method {method!r}; known: 'stride', 'spectral'")
    dims = tuple(range(-dim, 0))
    u_hat = torch.fft.fftn(u, dim=dims)
    keep = torch.fft.fftfreq(n, d=1.0 / n, device=u.device).abs() < s / 2
    idx = torch.nonzero(keep).flatten()
    for d in dims:
        u_hat = u_hat.index_select(d, idx)
    coarse_pos = torch.fft.fftfreq(s, d=1.0 / s, device=u.device)
    fine_k = torch.fft.fftfreq(n, d=1.0 / n, device=u.device)[idx]
    # reorder the kept modes into the coarse grid's FFT order (Nyquist slot stays zero)
    out = torch.zeros(u_hat.shape[:-dim] + (s,) * dim, dtype=u_hat.dtype, device=u.device)
    pos = torch.stack([torch.nonzero(coarse_pos == kk).flatten()[0] for kk in fine_k])
    index = tuple([Ellipsis] + [pos.view(*([-1] + [1] * (dim - 1 - a))) for a in range(dim)])
    out[index] = u_hat
    return torch.fft.ifftn(out, dim=dims).real * (s / n) ** dim


def windows(traj: Tensor, t_in: int, t_out: int, stride: int) -> tuple[Tensor, Tensor]:
    """Every ``t_in -> t_out`` window (start every ``stride`` frames) of ``(B, s, s, F)`` trajectories."""
    xs, ys = [], []
    for s in range(0, traj.shape[-1] - t_in - t_out + 1, stride):
        xs.append(traj[..., s:s + t_in])
        ys.append(traj[..., s + t_in:s + t_in + t_out])
    return torch.cat(xs), torch.cat(ys)


def spectral_upsample(w: Tensor, n: int) -> Tensor:
    """Trigonometric interpolation of periodic fields ``(..., m, m)`` onto ``n x n`` (n >= m, both even)."""
    m = w.shape[-1]
    if m == n:
        return w
    w_hat = torch.fft.rfft2(w)
    out = torch.zeros(*w.shape[:-2], n, n // 2 + 1, dtype=w_hat.dtype, device=w.device)
    h = m // 2
    out[..., :h, :h] = w_hat[..., :h, :h]
    out[..., n - h + 1:, :h] = w_hat[..., m - h + 1:, :h]  # the coarse Nyquist row is dropped
    return torch.fft.irfft2(out, s=(n, n)) * (n / m) ** 2
