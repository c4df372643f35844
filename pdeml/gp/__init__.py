"""GP-HM: Gaussian-process solver for high-frequency and multiscale PDEs on tensor grids.

``GPSolver(problem, points_per_dim, kernel="student-t"|"gaussian", components=30, ...).fit()``
fits grid values under a spectral-mixture Kronecker prior; ``predict`` evaluates the conditional
mean anywhere. Modules: :mod:`~pdeml.gp.solver` (the solver), :mod:`~pdeml.gp.config` (its options),
:mod:`~pdeml.gp.operators` (the PDE on the grid), :mod:`~pdeml.gp.model` (prior and objective),
:mod:`~pdeml.gp.profile` (profile solvers), :mod:`~pdeml.gp.kernels`, :mod:`~pdeml.gp.kronecker`.
"""

from pdeml.gp.config import GPConfig
from pdeml.gp.kernels import FAMILIES, SpectralMixture, ToeplitzGrid, kernel_family
from pdeml.gp.kronecker import Kronecker, kron_matvec, mode_dot
from pdeml.gp.model import GPField, negative_log_joint
from pdeml.gp.operators import GridOperator, estimate_frequencies, grid_operator
from pdeml.gp.solver import GPSolver, solve_gp

__all__ = ["FAMILIES", "GPConfig", "GPField", "GPSolver", "GridOperator", "Kronecker", "SpectralMixture", "ToeplitzGrid",
           "estimate_frequencies", "grid_operator", "kernel_family", "kron_matvec", "mode_dot",
           "negative_log_joint", "solve_gp"]
