"""Benchmark PDE problems: ``pdeml.problems.get("darcy")`` gives a problem instance.

Problems are registered by name and imported on first use, so ``pdeml list problems`` and the
import of this package stay fast.
"""

from __future__ import annotations

from pdeml.problems.base import Problem, sample_rng, xp_of
from pdeml.registry import Registry

PROBLEMS: Registry[type[Problem]] = Registry("problem")
PROBLEMS.register_lazy("darcy", "pdeml.problems.darcy:Darcy",
                       "Darcy flow -div(a grad u) = 1, FNO piecewise-constant coefficient (Li et al. 2021)")
# -- elliptic, manufactured and peak problems --
# -- time-dependent problems --
# -- pressure systems --


def get(name: str, **params) -> Problem:
    """Instantiate the problem registered under ``name`` with its parameters."""
    cls = PROBLEMS.get(name)
    try:
        return cls(**params)
    except TypeError as err:
        raise TypeError(f"bad parameters for problem {name!r}: {err}") from err


def names() -> list[str]:
    return PROBLEMS.names()


__all__ = ["PROBLEMS", "Problem", "get", "names", "sample_rng", "xp_of"]
