"""Benchmark PDE problems: ``pdeml.problems.get("darcy")`` gives a problem instance."""

from __future__ import annotations

from pdeml.problems.base import Problem, sample_rng
from pdeml.problems.darcy import Darcy
from pdeml.registry import Registry

PROBLEMS: Registry[type[Problem]] = Registry("problem")
PROBLEMS.register("darcy")(Darcy)


def get(name: str, **params) -> Problem:
    """Instantiate the problem registered under ``name`` with its parameters."""
    return PROBLEMS.get(name)(**params)


def names() -> list[str]:
    return PROBLEMS.names()


__all__ = ["PROBLEMS", "Darcy", "Problem", "get", "names", "sample_rng"]
