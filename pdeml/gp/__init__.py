"""GP-HM: Gaussian-process solver for high-frequency and multiscale PDEs on tensor grids.

``GPSolver(problem, points_per_dim, kernel="student-t"|"gaussian", components=30, ...).fit()``
fits grid values under a spectral-mixture Kronecker prior; ``predict`` evaluates the conditional
mean anywhere. See :mod:`pdeml.gp.solver`, :mod:`pdeml.gp.kernels`, :mod:`pdeml.gp.kronecker`.
"""

from pdeml.gp.kernels import FAMILIES, SpectralMixture, ToeplitzGrid, kernel_family
from pdeml.gp.kronecker import Kronecker, kron_matvec, mode_dot
from pdeml.gp.solver import (
    GPField,
    GPSolver,
    GridOperator,
    estimate_frequencies,
    grid_operator,
    negative_log_joint,
    solve_gp,
)

__all__ = ["FAMILIES", "GPField", "GPSolver", "GridOperator", "Kronecker", "SpectralMixture", "ToeplitzGrid",
           "estimate_frequencies", "grid_operator", "kernel_family", "kron_matvec", "mode_dot",
           "negative_log_joint", "solve_gp"]
