"""Spectral-Refiner fine-tuning of a trained SFNO and the Navier–Stokes a-posteriori estimator.

``ns_residual`` / ``ns_estimator`` measure how far a vorticity trajectory is from solving the
equations (``L2(0, T; H^-1)`` norm of the residual); ``SpectralRefiner`` fine-tunes the SFNO's
output layer per sample to drive that estimator down.
"""

from pdeml.refine.config import RefineConfig
from pdeml.refine.refiner import RefineResult, SpectralRefiner
from pdeml.refine.residual import (
    ALPHA,
    ErrorEstimate,
    forcing_on_grid,
    frame_norm,
    frame_spacing,
    imex_tendency_hat,
    ns_error_estimate,
    ns_estimator,
    ns_residual,
    residual_norm,
    time_derivative,
)

__all__ = ["ALPHA", "ErrorEstimate", "RefineConfig", "RefineResult", "SpectralRefiner", "forcing_on_grid", "frame_norm",
           "frame_spacing", "imex_tendency_hat", "ns_error_estimate", "ns_estimator", "ns_residual", "residual_norm",
           "time_derivative"]
