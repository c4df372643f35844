"""Losses and norms shared by every method.

Conventions (stated once, used everywhere):

* Tensors are batch first. ``dims`` names the axes a norm is taken over; by default every
  axis but the batch axis, so each sample gets one number.
* Relative losses are computed per sample and then reduced with ``reduction``:
  ``"mean"`` (the default: the average relative error, the figure papers report),
  ``"sum"`` (neuraloperator's ``LpLoss``/``H1Loss`` default) or ``"none"`` (one value per sample).
* Norms of grid functions are discrete approximations of the continuous ones on a box of side
  ``length`` with uniform spacing, so a norm does not change when the grid is refined.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

_EPS = 1e-12


def _reduce(values: torch.Tensor, reduction: str) -> torch.Tensor:
    if reduction == "mean":
        return values.mean()
    if reduction == "sum":
        return values.sum()
    if reduction == "none":
        return values
    raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def _sample_dims(x: torch.Tensor, dims: Sequence[int] | None) -> tuple[int, ...]:
    if x.ndim < 2:
        raise ValueError(f"expected a batch-first tensor with at least 2 dimensions, got shape {tuple(x.shape)}")
    if dims is None:
        return tuple(range(1, x.ndim))
    return tuple(d % x.ndim for d in dims)


def _check_same_shape(pred: torch.Tensor, target: torch.Tensor) -> None:
    if pred.shape != target.shape:
        raise ValueError(f"prediction shape {tuple(pred.shape)} does not match target shape {tuple(target.shape)}")


def lp_norm(x: torch.Tensor, p: float = 2, dims: Sequence[int] | None = None) -> torch.Tensor:
    """Per-sample discrete l^p norm over ``dims`` (no quadrature weights), shape (batch,)."""
    dims = _sample_dims(x, dims)
    if p == 2:
        return torch.sqrt(torch.sum(x.abs() ** 2, dim=dims))
    return torch.sum(x.abs() ** p, dim=dims) ** (1.0 / p)


def relative_lp(pred: torch.Tensor, target: torch.Tensor, p: float = 2, dims: Sequence[int] | None = None,
                reduction: str = "mean") -> torch.Tensor:
    """``||pred - target||_p / ||target||_p`` per sample, then reduced."""
    _check_same_shape(pred, target)
    num = lp_norm(pred - target, p, dims)
    den = lp_norm(target, p, dims)
    return _reduce(num / (den + _EPS), reduction)


def relative_l2(pred: torch.Tensor, target: torch.Tensor, dims: Sequence[int] | None = None,
                reduction: str = "mean") -> torch.Tensor:
    """Relative L2 error per sample, then reduced (see :func:`relative_lp`)."""
    return relative_lp(pred, target, 2, dims, reduction)


def _wavenumbers(n: int, length: float, device, dtype) -> torch.Tensor:
    """Angular wavenumbers 2*pi*k/L for an FFT of length n."""
    return 2 * math.pi * torch.fft.fftfreq(n, d=1.0 / n, device=device).to(dtype) / length


def _lengths(length: float | Sequence[float], ndim: int) -> list[float]:
    if isinstance(length, (int, float)):
        return [float(length)] * ndim
    if len(length) != ndim:
        raise ValueError(f"expected {ndim} domain lengths, got {len(length)}")
    return [float(v) for v in length]


def _spatial_dims(x: torch.Tensor, spatial_dims: Sequence[int] | None) -> tuple[int, ...]:
    if spatial_dims is None:  # (batch, channel, *space)
        if x.ndim < 3:
            raise ValueError(f"expected (batch, channel, *space), got shape {tuple(x.shape)}")
        return tuple(range(2, x.ndim))
    return tuple(d % x.ndim for d in spatial_dims)


def h1_seminorm_squared(x: torch.Tensor, spatial_dims: Sequence[int] | None = None,
                        length: float | Sequence[float] = 1.0, periodic: bool = False) -> torch.Tensor:
    """Per-sample ``|x|_{H1}^2 = int |grad x|^2`` summed over channels, shape (batch,).

    Periodic data: derivatives by FFT (exact for trigonometric polynomials).
    Otherwise: second-order differences (central inside, one-sided at the ends) on a node grid
    that includes both end points (spacing L/(n-1)), integrated by the trapezoidal rule.
    """
    sdims = _spatial_dims(x, spatial_dims)
    lengths = _lengths(length, len(sdims))
    other = tuple(d for d in range(1, x.ndim) if d not in sdims)
    if periodic:
        xh = torch.fft.fftn(x, dim=sdims)
        total = torch.zeros(x.shape[0], device=x.device, dtype=x.real.dtype if x.is_complex() else x.dtype)
        npts = math.prod(x.shape[d] for d in sdims)
        vol = math.prod(lengths)
        for d, L in zip(sdims, lengths):
            k = _wavenumbers(x.shape[d], L, x.device, total.dtype)
            shape = [1] * x.ndim
            shape[d] = -1
            # Parseval: int |f|^2 = vol/npts^2 * sum |fhat|^2 for the unnormalised FFT
            total = total + (vol / npts**2) * torch.sum((k.view(shape) ** 2) * xh.abs() ** 2, dim=sdims + other)
        return total
    spacings = [L / (x.shape[d] - 1) for d, L in zip(sdims, lengths)]
    grads = torch.gradient(x, spacing=spacings, dim=list(sdims), edge_order=2)
    w = _trapezoid_weights(x, sdims, lengths)
    return sum(torch.sum(w * g.abs() ** 2, dim=sdims + other) for g in grads)


def _trapezoid_weights(x: torch.Tensor, sdims: tuple[int, ...], lengths: list[float]) -> torch.Tensor:
    """Trapezoidal-rule weights on a node grid including both ends, broadcastable to ``x``."""
    w = torch.ones((), dtype=x.real.dtype if x.is_complex() else x.dtype, device=x.device)
    for d, L in zip(sdims, lengths):
        n = x.shape[d]
        wd = torch.full((n,), L / (n - 1), dtype=w.dtype, device=x.device)
        wd[0] = wd[-1] = 0.5 * L / (n - 1)
        shape = [1] * x.ndim
        shape[d] = n
        w = w * wd.view(shape)
    return w


def l2_norm_squared(x: torch.Tensor, spatial_dims: Sequence[int] | None = None,
                    length: float | Sequence[float] = 1.0, periodic: bool = False) -> torch.Tensor:
    """Per-sample ``int |x|^2`` summed over channels, shape (batch,): rectangle rule on periodic
    data (exact for trigonometric polynomials), trapezoidal rule on a node grid otherwise."""
    sdims = _spatial_dims(x, spatial_dims)
    lengths = _lengths(length, len(sdims))
    if periodic:
        cell = math.prod(L / x.shape[d] for d, L in zip(sdims, lengths))
        return cell * torch.sum(x.abs() ** 2, dim=tuple(range(1, x.ndim)))
    return torch.sum(_trapezoid_weights(x, sdims, lengths) * x.abs() ** 2, dim=tuple(range(1, x.ndim)))


def relative_h1(pred: torch.Tensor, target: torch.Tensor, spatial_dims: Sequence[int] | None = None,
                length: float | Sequence[float] = 1.0, periodic: bool = False,
                reduction: str = "mean") -> torch.Tensor:
    """Relative H1 error ``||e||_{H1} / ||target||_{H1}`` with ``||v||_{H1}^2 = ||v||^2 + |v|_{H1}^2``."""
    _check_same_shape(pred, target)
    kw = dict(spatial_dims=spatial_dims, length=length, periodic=periodic)
    err = pred - target
    num = l2_norm_squared(err, **kw) + h1_seminorm_squared(err, **kw)
    den = l2_norm_squared(target, **kw) + h1_seminorm_squared(target, **kw)
    return _reduce(torch.sqrt(num) / (torch.sqrt(den) + _EPS), reduction)


def sobolev_norm(x: torch.Tensor, s: float = -1.0, spatial_dims: Sequence[int] | None = None,
                 length: float | Sequence[float] = 1.0, alpha: float = 10**-1.5,
                 time_dim: int | None = None, dt: float | None = None) -> torch.Tensor:
    """Spectral ``H^s`` norm of periodic data, per sample; negative ``s`` gives ``H^-|s|``.

    ``||v||_{H^s}^2 = sum_k (alpha + |2 pi k / L|^2)^s |v_k|^2`` with Fourier coefficients
    normalised so that ``s = 0`` gives the continuous L2 norm over the box.

    With ``time_dim`` the norm is taken per time slice and combined as the discrete
    ``L2(0, T; H^s)`` norm ``sqrt(dt * sum_t ||v(t)||_{H^s}^2)`` (``dt`` defaults to 1/n_t, i.e. T = 1).
    Every axis other than batch, space and time (e.g. channels) is summed in. ``spatial_dims``
    defaults to the last two axes other than ``time_dim``. Shape (batch,).
    """
    if spatial_dims is None:
        tdim_ = None if time_dim is None else time_dim % x.ndim
        spatial_dims = [d for d in range(1, x.ndim) if d != tdim_][-2:]
    sdims = tuple(d % x.ndim for d in spatial_dims)
    lengths = _lengths(length, len(sdims))
    xh = torch.fft.fftn(x, dim=sdims)
    real_dtype = xh.real.dtype
    ksq = 0
    for d, L in zip(sdims, lengths):
        k = _wavenumbers(x.shape[d], L, x.device, real_dtype)
        shape = [1] * x.ndim
        shape[d] = -1
        ksq = ksq + k.view(shape) ** 2
    weight = (alpha + ksq) ** s
    npts = math.prod(x.shape[d] for d in sdims)
    vol = math.prod(lengths)
    dens = (vol / npts**2) * weight * xh.abs() ** 2
    if time_dim is None:
        return torch.sqrt(torch.sum(dens, dim=tuple(range(1, x.ndim))))
    tdim = time_dim % x.ndim
    if tdim in sdims or tdim == 0:
        raise ValueError(f"time_dim {time_dim} must differ from the batch and spatial dims {sdims}")
    nt = x.shape[tdim]
    step = 1.0 / nt if dt is None else float(dt)
    return torch.sqrt(step * torch.sum(dens, dim=tuple(range(1, x.ndim))))
