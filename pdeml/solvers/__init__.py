"""Numerical reference solvers built on SciPy (sparse finite differences, spectral methods)."""

from pdeml.solvers.elliptic import darcy_matrix, solve_darcy

__all__ = ["darcy_matrix", "solve_darcy"]
