"""The problem interface: seeded input sampling plus a reference solve; nothing is trained here."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

import numpy as np


def sample_rng(seed: int, index: int) -> np.random.Generator:
    """The generator of sample ``index`` of a data set with ``seed``.

    Every sample has its own stream, so a sample's values do not depend on how the data set is
    split across workers or shards.
    """
    return np.random.default_rng(np.random.SeedSequence([int(seed), int(index)]))


def xp_of(x: Any):
    """The array module of ``x``: ``torch`` for tensors, else ``numpy``.

    Exact solutions and forcings are written once with ``xp.sin``, ``xp.exp``, ... and work on
    NumPy arrays (reference checks) and on torch tensors (PINN residuals, with autograd).
    """
    if type(x).__module__.startswith("torch"):
        import torch

        return torch
    return np


class Problem(ABC):
    """A benchmark PDE: draws inputs from a seeded generator and solves them with a reference solver.

    Subclasses set ``name``, ``solver`` and ``min_resolution`` and implement :meth:`solve_sample`.
    ``x`` and ``y`` of one sample are arrays ``(channels, *space[, time])``.

    Problems with a closed-form solution set ``has_exact = True`` and implement
    :meth:`exact` (and usually :meth:`forcing`) on coordinates that are NumPy arrays or torch
    tensors. ``domain`` lists ``(low, high)`` per spatial dimension.
    """

    name: ClassVar[str]
    solver: ClassVar[str]
    min_resolution: ClassVar[int] = 3
    has_exact: ClassVar[bool] = False
    dim: int = 2
    periodic: bool = False

    @property
    def domain(self) -> list[tuple[float, float]]:
        return [(0.0, 1.0)] * self.dim

    def coordinates(self, shape: list[int]) -> list[np.ndarray]:
        """1D node coordinates per spatial axis for a grid of ``shape`` points: both ends of
        ``domain`` included, or the right end left out when the problem is periodic."""
        if len(shape) != len(self.domain):
            raise ValueError(f"problem {self.name!r} has {len(self.domain)} spatial dimensions, got grid {shape}")
        return [np.linspace(lo, hi, n, endpoint=not self.periodic) for (lo, hi), n in zip(self.domain, shape)]

    def exact(self, *coords: Any) -> Any:
        """Closed-form solution at points given as one array per coordinate (NumPy or torch)."""
        raise AttributeError(f"problem {self.name!r} has no closed-form solution")

    def forcing(self, *coords: Any) -> Any:
        """Right-hand side at points given as one array per coordinate (NumPy or torch)."""
        raise AttributeError(f"problem {self.name!r} has no closed-form forcing")

    RECIPES: ClassVar[dict[str, dict[str, Any]]] = {}

    @classmethod
    def recipe(cls, name: str, **overrides: Any) -> Problem:
        """The problem of a named data set (:attr:`RECIPES`), with optional parameter overrides."""
        if name not in cls.RECIPES:
            known = ", ".join(sorted(cls.RECIPES)) or "(none)"
            raise ValueError(f"unknown {cls.name} recipe {name!r}; known recipes: {known}")
        return cls(**{**cls.RECIPES[name], **overrides})

    @property
    @abstractmethod
    def params(self) -> dict[str, Any]:
        """The parameters that define the problem (recorded in every data file)."""

    @abstractmethod
    def solve_sample(self, rng: np.random.Generator, resolution: int) -> tuple[np.ndarray, np.ndarray]:
        """Draw one input with ``rng`` and return ``(x, y)`` at ``resolution``."""

    def check_resolution(self, resolution: int) -> int:
        if not isinstance(resolution, (int, np.integer)) or resolution < self.min_resolution:
            raise ValueError(
                f"problem {self.name!r} needs an integer resolution >= {self.min_resolution}, got {resolution!r}"
            )
        return int(resolution)

    def sample(self, index: int, seed: int, resolution: int) -> tuple[np.ndarray, np.ndarray]:
        """Sample ``index`` of the data set defined by ``seed`` (identical whoever computes it)."""
        return self.solve_sample(sample_rng(seed, index), self.check_resolution(resolution))

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"{type(self).__name__}({args})"
