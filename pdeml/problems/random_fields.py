"""Gaussian random fields used to draw PDE inputs."""

from __future__ import annotations

import numpy as np
from scipy.fft import idctn, ifftn


def grf_neumann(rng: np.random.Generator, s: int, alpha: float = 2.0, tau: float = 3.0) -> np.ndarray:
    """Zero-mean Gaussian random field on ``s x s`` nodes of the unit square with covariance
    ``(-Lap + tau^2 I)^(-alpha)`` under Neumann boundary conditions (cosine expansion).

    ``alpha = 2, tau = 3`` is the field thresholded into the FNO Darcy coefficients.
    """
    k = np.arange(s)
    k1, k2 = np.meshgrid(k, k, indexing="ij")
    sqrt_eig = tau ** (alpha - 1) * (np.pi**2 * (k1**2 + k2**2) + tau**2) ** (-alpha / 2.0)
    coef = s * sqrt_eig * rng.standard_normal((s, s))
    coef[0, 0] = 0.0
    return idctn(coef, type=2, norm="ortho")


def grf_periodic(rng: np.random.Generator, s: int, alpha: float = 2.5, tau: float = 7.0, dim: int = 2,
                 sigma: float | None = None) -> np.ndarray:
    """Zero-mean Gaussian random field on the ``s``-point periodic grid of the unit torus
    ``[0, 1)^dim`` (nodes ``i / s``) with covariance ``sigma^2 (-Lap + tau^2 I)^(-alpha)``.

    Each Fourier mode ``k`` (integer vector) has variance ``sigma^2 (4 pi^2 |k|^2 + tau^2)^(-alpha)``;
    the mean mode is zero. ``sigma`` defaults to ``tau^(alpha - dim / 2)``, the FNO choice
    (``alpha = 2.5, tau = 7`` in 2D is the FNO Navier–Stokes initial vorticity). Returns float64
    of shape ``(s,) * dim``, drawn from ``rng`` only (filtered real white noise, so the field is
    real with the exact Hermitian symmetry).
    """
    if dim < 1 or s < 2:
        raise ValueError(f"grf_periodic needs dim >= 1 and s >= 2, got dim={dim}, s={s}")
    if sigma is None:
        sigma = tau ** (0.5 * (2.0 * alpha - dim))
    full = np.fft.fftfreq(s, d=1.0 / s)
    half = np.fft.rfftfreq(s, d=1.0 / s)
    k2 = half**2
    for _ in range(dim - 1):
        k2 = full.reshape(-1, *([1] * k2.ndim)) ** 2 + k2
    sqrt_eig = sigma * (4.0 * np.pi**2 * k2 + tau**2) ** (-alpha / 2.0)
    sqrt_eig.flat[0] = 0.0
    # white noise has E|fft|^2 = s^dim per mode; the inverse FFT divides by s^dim, so scale by
    # s^(dim/2) to give every mode of the field the variance sigma^2 lambda_k^(-alpha)
    noise_hat = np.fft.rfftn(rng.standard_normal((s,) * dim))
    return np.fft.irfftn(s ** (dim / 2.0) * sqrt_eig * noise_hat, s=(s,) * dim)


def smooth_field(rng: np.random.Generator, shape: tuple[int, ...], alpha: float = 2.0, tau: float = 3.0,
                 periodic: bool = False) -> np.ndarray:
    """Zero-mean Gaussian random field on a node grid of the unit box, unit pointwise variance.

    Covariance ``proportional to (-Lap + tau^2)^(-alpha)``; Neumann cosine modes ``cos(pi k x)``
    (``periodic=False``) or Fourier modes ``exp(2 pi i k x)`` (``periodic=True``). ``shape``:
    1 to 3 axes. Larger ``alpha`` is smoother, larger ``tau`` shorter-ranged.
    """
    if periodic:
        freqs = [2 * np.pi * np.fft.fftfreq(n, d=1.0 / n) for n in shape]
    else:
        freqs = [np.pi * np.arange(n) for n in shape]
    k2 = sum(np.meshgrid(*[f**2 for f in freqs], indexing="ij"))
    spectrum = (k2 + tau**2) ** (-alpha)
    spectrum.flat[0] = 0.0  # zero mean
    spectrum = spectrum / spectrum.mean()
    if periodic:
        # the spectrum is even in k, so filtering real white noise keeps the field real
        return ifftn(np.fft.fftn(rng.standard_normal(shape)) * np.sqrt(spectrum)).real
    coef = np.sqrt(spectrum) * rng.standard_normal(shape)
    return idctn(coef, type=2, norm="ortho")
