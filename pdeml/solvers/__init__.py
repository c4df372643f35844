"""Numerical reference solvers.

* :mod:`pdeml.solvers.elliptic`: SciPy sparse second-order finite differences for
  ``-div(a grad u) + c u = f`` in 1-3D (Dirichlet, Neumann, periodic), Helmholtz, semilinear
  problems by Newton, Darcy;
* :mod:`pdeml.solvers.spectral`: torch pseudo-spectral operators and IMEX time stepping for 2D
  Navier–Stokes (vorticity) and 1D Burgers on periodic grids, batched, CPU or CUDA;
* :mod:`pdeml.solvers.pressure`: cell-centred pressure Laplacians on fluid cells with obstacles,
  as CSR matrices and matrix-free torch operators.
"""

from pdeml.solvers.elliptic import (
    darcy_matrix,
    solve_darcy,
    solve_elliptic,
    solve_helmholtz,
    solve_semilinear,
)
from pdeml.solvers.pressure import pressure_system, solve_pressure
from pdeml.solvers.spectral import burgers_1d, imex_step, navier_stokes_2d

__all__ = [
    "burgers_1d", "darcy_matrix", "imex_step", "navier_stokes_2d", "pressure_system", "solve_darcy",
    "solve_elliptic", "solve_helmholtz", "solve_pressure", "solve_semilinear",
]
