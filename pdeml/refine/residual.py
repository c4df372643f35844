"""The Navier–Stokes residual of a vorticity trajectory and its ``L2(0, T; H^-1)`` estimator.

For snapshots ``w_k = w(t_k)`` at equal spacing ``dt`` of ``w_t + u.grad w = nu Lap w + f``
(vorticity form on the periodic square, ``u`` from ``psi = -Lap^-1 w``), the residual is

    R_k = D_t w_k - T(w_k),     T(w) = (Phi_h(w) - Phi_{-h}(w)) / (2 h),

where ``Phi_{+-h}`` is one IMEX step (Crank–Nicolson diffusion, Heun convection with 2/3
dealiasing) of the reference solver, :func:`pdeml.solvers.spectral.imex_step_hat`, taken forward
and back from the snapshot itself: ``T(w) = -u.grad w + nu Lap w + f + O(h^2)`` is the solver's
centred tendency. With ``h = 0`` (the default) its limit is formed directly from the solver's
dealiased convection term, at a quarter of the cost (one convection evaluation instead of four). ``D_t w_k`` is the
centred finite difference of the trajectory (fourth order by default), so
``R = w_t + u.grad w - nu Lap w - f`` up to ``O(dt^4 + h^2)``. The time derivative has to come
from the trajectory: a tendency taken from a single snapshot satisfies the equation by
construction and would leave ``R ~ 0`` for any field.

The estimator is ``||R||_{L2(t_p, t_{T-1-p}; H^-1)}`` by Parseval (:func:`pdeml.losses.sobolev_norm`
with ``s = -1``, ``alpha = 10^-1.5``): the refinement loss of the paper.

:func:`ns_error_estimate` is the a-posteriori estimate of the L2 error of a predicted window that
follows known frames, in the form of the reliability bound
``||e(t)||_{L2} <= C (||e(t_1)|| + ||R||_{L1(t_1, t; L2)})``: an initial part
``dt ||R(t_1)||_{L2}`` (the residual at the first predicted frame, whose stencil reaches back into
the known frames: the mismatch between the known state and the first prediction) and an
evolution part ``dt sum_{k>=2} ||R(t_k)||_{L2}``. Both are measured in ``L2`` in space, not
``H^-1``: at small ``nu`` an ``H^-1`` residual controls the L2 error only with a factor
``1/nu``, and it weighs a residual at wavenumber ``k`` by ``1/(alpha + 4 pi^2 |k|^2)``, so
predictions whose errors sit at different scales are ranked by their scale, not their size.

Everything runs in the dtype of the input (float64 for estimates); shapes are ``(b, n, n, T)``
with time last.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import NamedTuple

import torch
from torch import Tensor

from pdeml.losses import sobolev_norm
from pdeml.solvers.spectral import SpectralGrid2D, convection_hat, imex_step_hat, spectral_grid_2d

#: centred first-derivative stencils ``{order: coefficients of w_{k-p} .. w_{k+p}}``
STENCILS: dict[int, tuple[float, ...]] = {
    2: (-0.5, 0.0, 0.5),
    4: (1 / 12, -2 / 3, 0.0, 2 / 3, -1 / 12),
    6: (-1 / 60, 3 / 20, -3 / 4, 0.0, 3 / 4, -3 / 20, 1 / 60),
}
ALPHA = 10**-1.5


def frame_spacing(dt_or_times: float | Sequence[float] | Tensor) -> float:
    """The snapshot spacing from a number or from equispaced times (error otherwise)."""
    if isinstance(dt_or_times, (int, float)):
        dt = float(dt_or_times)
    else:
        times = torch.as_tensor(dt_or_times, dtype=torch.float64).flatten()
        if times.numel() < 2:
            raise ValueError(f"need at least two snapshot times, got {times.tolist()}")
        steps = times.diff()
        dt = float(steps.mean())
        if float((steps - dt).abs().max()) > 1e-9 * max(1.0, abs(dt)):
            raise ValueError(f"snapshot times must be equispaced, got spacings {steps.tolist()}")
    if not (math.isfinite(dt) and dt > 0):
        raise ValueError(f"the snapshot spacing dt must be a finite number > 0, got {dt_or_times!r}")
    return dt


def time_derivative(w: Tensor, dt: float, order: int = 4) -> Tensor:
    """Centred ``d/dt`` of ``w`` ``(..., T)`` at the interior points: ``(..., T - order)``."""
    if order not in STENCILS:
        raise ValueError(f"order must be one of {sorted(STENCILS)}, got {order!r}")
    T = w.shape[-1]
    if T < order + 1:
        raise ValueError(f"a centred order-{order} time derivative needs at least {order + 1} snapshots, got {T}")
    out = 0
    for j, c in enumerate(STENCILS[order]):
        if c:
            out = out + c * w[..., j:T - order + j]
    return out / dt


def forcing_on_grid(forcing: Tensor | Callable | None, n: int, L: float = 1.0, *,
                    dtype: torch.dtype = torch.float64, device=None) -> Tensor | None:
    """The forcing ``(n, n)``: a tensor (checked), or a callable ``f(X, Y)`` on the periodic nodes."""
    if forcing is None:
        return None
    if callable(forcing) and not torch.is_tensor(forcing):
        t = torch.arange(n, dtype=dtype, device=device) * (L / n)
        X, Y = torch.meshgrid(t, t, indexing="ij")
        forcing = forcing(X, Y)
    f = torch.as_tensor(forcing, dtype=dtype, device=device)
    if f.shape[-2:] != (n, n):
        raise ValueError(f"forcing of shape {tuple(f.shape)} does not match the {n}x{n} grid")
    return f


def imex_tendency_hat(w_hat: Tensor, forcing_hat: Tensor | None, nu: float, grid: SpectralGrid2D,
                      step: float = 0.0) -> Tensor:
    """``(Phi_h(w) - Phi_{-h}(w)) / (2 h)`` on rFFT2 coefficients ``(..., n, n//2+1)``: the solver's
    centred tendency ``-u.grad w + nu Lap w + f`` (up to ``O(h^2)``); ``step = 0`` gives its limit,
    the solver's right-hand side with the same dealiased convection term."""
    if step == 0:
        tendency = nu * grid.laplacian * w_hat - convection_hat(w_hat, grid)
        return tendency if forcing_hat is None else tendency + forcing_hat
    forward = imex_step_hat(w_hat, forcing_hat, nu, step, grid)
    backward = imex_step_hat(w_hat, forcing_hat, nu, -step, grid)
    return (forward - backward) / (2.0 * step)


def ns_residual(w: Tensor, dt_or_times: float | Sequence[float] | Tensor, nu: float,
                forcing: Tensor | Callable | None = None, *, L: float = 1.0, order: int = 4,
                step: float = 0.0, w_t: Tensor | None = None) -> Tensor:
    """Residual ``R = w_t + u.grad w - nu Lap w - f`` of a vorticity window ``w`` ``(b, n, n, T)``.

    ``dt_or_times``: the snapshot spacing or the (equispaced) snapshot times. ``forcing``: ``(n, n)``
    tensor, callable ``f(X, Y)`` or None. Returns ``(b, n, n, T - order)`` at the interior snapshots
    ``order/2 .. T-1-order/2``; with ``w_t`` given (same shape as ``w``, e.g. an exact derivative) the
    finite difference is skipped and all ``T`` snapshots are returned.
    """
    if w.ndim != 4 or w.shape[1] != w.shape[2]:
        raise ValueError(f"expected a vorticity window (b, n, n, T), got shape {tuple(w.shape)}")
    if not w.is_floating_point():
        raise ValueError(f"expected a real floating-point vorticity, got dtype {w.dtype}")
    if not (math.isfinite(nu) and nu > 0):
        raise ValueError(f"viscosity nu must be a finite number > 0, got {nu!r}")
    dt = frame_spacing(dt_or_times)
    n = w.shape[1]
    grid = spectral_grid_2d(n, L, dtype=w.dtype, device=w.device)
    f = forcing_on_grid(forcing, n, L, dtype=w.dtype, device=w.device)
    f_hat = None if f is None else torch.fft.rfft2(f)
    if w_t is None:
        p = order // 2
        d_t = time_derivative(w, dt, order)
        centre = w[..., p:w.shape[-1] - p]
    else:
        if w_t.shape != w.shape:
            raise ValueError(f"w_t of shape {tuple(w_t.shape)} does not match w {tuple(w.shape)}")
        d_t, centre = w_t.to(w.dtype), w
    w_hat = torch.fft.rfft2(centre.movedim(-1, 1))  # (b, T', n, n//2+1)
    tendency = torch.fft.irfft2(imex_tendency_hat(w_hat, f_hat, nu, grid, step), s=(n, n)).movedim(1, -1)
    return d_t - tendency


def residual_norm(residual: Tensor, dt: float, *, L: float = 1.0, s: float = -1.0,
                  alpha: float = ALPHA) -> Tensor:
    """``||R||_{L2(0, T; H^s)}`` per sample (``H^-1`` by default) of ``R`` ``(b, n, n, T)``; shape ``(b,)``."""
    return sobolev_norm(residual, s=s, spatial_dims=(1, 2), length=L, alpha=alpha, time_dim=-1, dt=dt)


def ns_estimator(w: Tensor, dt_or_times: float | Sequence[float] | Tensor, nu: float,
                 forcing: Tensor | Callable | None = None, *, L: float = 1.0, order: int = 4,
                 step: float = 0.0, alpha: float = ALPHA) -> Tensor:
    """The a-posteriori estimator ``||ns_residual(w)||_{L2(H^-1)}`` per sample, shape ``(b,)``."""
    R = ns_residual(w, dt_or_times, nu, forcing, L=L, order=order, step=step)
    return residual_norm(R, frame_spacing(dt_or_times), L=L, alpha=alpha)


def frame_norm(w: Tensor, L: float = 1.0) -> Tensor:
    """``L2`` norm over the box ``[0, L)^2`` of each frame of ``w`` ``(b, n, n, ...)``: shape ``(b, ...)``."""
    return torch.linalg.vector_norm(w, dim=(1, 2)) * (L / w.shape[1])


class ErrorEstimate(NamedTuple):
    """The parts of :func:`ns_error_estimate`, each ``(b,)``, in the units of the vorticity."""

    initial: Tensor  #: ``dt ||R(t_1)||_{L2}``: residual at the first predicted frame (its stencil reaches the known frames)
    evolution: Tensor  #: ``dt sum_{k>=2} ||R(t_k)||_{L2}``: residual of the rest of the predicted evolution
    #: ``dt ||R(t_0)||_{L2} / c_1``: the first predicted frame's error seen from the last known frame
    #: (None with fewer than ``order/2 + 1`` known frames)
    first_frame: Tensor | None = None

    @property
    def residual(self) -> Tensor:
        """``initial + evolution``: the residual integrated over the predicted frames, ``dt sum_k ||R(t_k)||``."""
        return self.initial + self.evolution

    @property
    def total(self) -> Tensor:
        """The right-hand side of the reliability bound ``||e(t)|| <= C (||e(t_1)|| + int ||R||)`` with ``C = 1``:
        ``first_frame + residual`` (``residual`` alone when ``first_frame`` is None)."""
        return self.residual if self.first_frame is None else self.first_frame + self.residual


def ns_error_estimate(known: Tensor, prediction: Tensor, dt_or_times: float | Sequence[float] | Tensor, nu: float,
                      forcing: Tensor | Callable | None = None, *, L: float = 1.0, order: int = 4,
                      step: float = 0.0) -> ErrorEstimate:
    """A-posteriori estimate of the L2 error of ``prediction`` ``(b, n, n, T)``, the frames that follow
    ``known`` ``(b, n, n, t_known)`` (exact frames, e.g. the model's input; the last ``order / 2`` are
    used), all ``dt`` apart.

    The residual of ``[known, prediction]`` is taken at the predicted frames ``t_1 .. t_{T - order/2}``
    (the centres of the stencil); the last ``order / 2`` frames enter only through their neighbours'
    stencils. Returns :class:`ErrorEstimate` ``(initial, evolution, first_frame)``.

    ``first_frame`` (with at least ``order/2 + 1`` known frames): the residual at the last known
    frame ``t_0`` involves the prediction only through the stencil's forward half, the tendency
    being that of a known frame, so ``dt R(t_0) = c_1 e(t_1) + c_2 e(t_2) + ...`` with ``c_1`` the
    dominant coefficient (2/3 for order 4); ``dt ||R(t_0)|| / c_1`` estimates ``||e(t_1)||_{L2}``.
    """
    p = order // 2
    if order not in STENCILS:
        raise ValueError(f"order must be one of {sorted(STENCILS)}, got {order!r}")
    if known.ndim != 4 or prediction.ndim != 4 or known.shape[:3] != prediction.shape[:3]:
        raise ValueError(f"expected known frames (b, n, n, t_known) and a prediction (b, n, n, T) on the same grid, "
                         f"got shapes {tuple(known.shape)} and {tuple(prediction.shape)}")
    if known.shape[-1] < p:
        raise ValueError(f"an order-{order} estimate needs the last {p} known frames, got {known.shape[-1]}")
    if prediction.shape[-1] < p + 1:
        raise ValueError(f"an order-{order} estimate needs at least {p + 1} predicted frames, got "
                         f"{prediction.shape[-1]}")
    dt = frame_spacing(dt_or_times)
    window = torch.cat([known[..., known.shape[-1] - p:].to(prediction.dtype), prediction], dim=-1)
    R = ns_residual(window, dt, nu, forcing, L=L, order=order, step=step)
    per_frame = frame_norm(R, L)  # (b, T - p)
    first = None
    if known.shape[-1] > p:
        back = torch.cat([known[..., known.shape[-1] - p - 1:].to(prediction.dtype), prediction[..., :p]], dim=-1)
        R0 = ns_residual(back, dt, nu, forcing, L=L, order=order, step=step)[..., 0]
        first = dt * frame_norm(R0, L) / STENCILS[order][p + 1]
    return ErrorEstimate(dt * per_frame[:, 0], dt * per_frame[:, 1:].sum(dim=1), first)


__all__ = ["ALPHA", "STENCILS", "ErrorEstimate", "forcing_on_grid", "frame_norm", "frame_spacing", "imex_tendency_hat",
           "ns_error_estimate", "ns_estimator", "ns_residual", "residual_norm", "time_derivative"]
