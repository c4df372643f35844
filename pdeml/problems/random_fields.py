"""Gaussian random fields used to draw PDE inputs."""

from __future__ import annotations

import numpy as np
from scipy.fft import idctn


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
