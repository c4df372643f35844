"""pdeml: benchmark PDEs solved with scientific machine learning, checked against
classical numerical solvers."""

import os

# deepxde picks its backend at import time; pdeml only uses its PyTorch backend.
os.environ.setdefault("DDE_BACKEND", "pytorch")

__version__ = "0.1.0"


def solve(pde, method: str = "fd", **options):
    """Solve a PDE with ``method`` (``"fd"``, ``"gp"``, ``"pinn"``): see :func:`pdeml.solution.solve`."""
    from pdeml.solution import solve as _solve

    return _solve(pde, method, **options)


__all__ = ["__version__", "solve"]
