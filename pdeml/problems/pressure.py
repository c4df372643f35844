"""Pressure Poisson systems with solid obstacles: the systems of smoke-plume projection steps.

Reference: Kaneda et al., "A Deep Conjugate Direction Method for Iteratively Solving Linear
Systems", ICML 2023, where a learned preconditioner is trained and tested on them. One sample:
a random fluid mask on ``N^d`` cells (obstacles; only the largest connected fluid region kept by
default), a smooth random staggered velocity ``u`` with zero normal velocity on solids and
Neumann walls, the right-hand side ``b = -h (net outflow of u)`` with ``h = 1/N``, and the
pressure ``p`` solving ``A p = b`` with ``A`` the integer stencil ``h^2 (-Lap_h)`` of
:func:`pdeml.solvers.pressure.pressure_system`. So ``p`` is the physical projection pressure
(``u - grad p`` is divergence free; O(1) at every resolution) and ``b = h^2 (-div u)``.
For a singular system (no Dirichlet wall on the fluid region) ``p`` has zero mean on the fluid.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from pdeml.problems.base import Problem
from pdeml.problems.obstacles import OBSTACLE_KINDS, random_mask, random_velocity
from pdeml.solvers.pressure import (
    PressureLinearSystem,
    divergence,
    largest_fluid_component,
    normalize_walls,
    pressure_system,
    solve_pressure,
)


class PressureSystem(Problem):
    """Pressure systems on ``N^dim`` cells (x: fluid mask and ``b``, (2, *grid); y: ``p``, (1, *grid)).

    Parameters: ``dim`` (2 or 3), ``obstacles`` (``none``, ``spheres``, ``boxes``, ``blobs``,
    ``mixed``), ``n_obstacles``, ``walls`` (``neumann``, ``dirichlet``, ``open_top`` or a mapping
    ``{"y+": "dirichlet"}``), ``dirichlet`` (``ghost`` or ``face``), ``solid_fraction`` (blobs),
    ``length_scale`` (velocity correlation length, fraction of the side), ``largest_component``,
    ``method`` (``auto``: sparse LU in 2D, CG to 1e-10 in 3D).
    """

    name = "pressure"
    solver = "scipy-cellcentred-fv-splu-or-cg"
    min_resolution = 4

    def __init__(self, dim: int = 2, obstacles: str = "mixed", n_obstacles: int = 4,
                 walls: str | Mapping[str, str] = "neumann", dirichlet: str = "ghost",
                 solid_fraction: float = 0.2, length_scale: float = 0.1, largest_component: bool = True,
                 method: str = "auto"):
        if dim not in (2, 3):
            raise ValueError(f"dim must be 2 or 3, got {dim!r}")
        if obstacles not in OBSTACLE_KINDS:
            raise ValueError(f"unknown obstacle kind {obstacles!r}; known kinds: {', '.join(OBSTACLE_KINDS)}")
        if not isinstance(n_obstacles, (int, np.integer)) or n_obstacles < 0:
            raise ValueError(f"n_obstacles must be an integer >= 0, got {n_obstacles!r}")
        if length_scale <= 0:
            raise ValueError(f"length_scale must be positive, got {length_scale}")
        if method not in ("auto", "direct", "cg"):
            raise ValueError(f"unknown method {method!r}; known methods: auto, cg, direct")
        normalize_walls(walls, dim)  # validate early, before any sample is drawn
        if dirichlet not in ("ghost", "face"):
            raise ValueError(f"unknown dirichlet placement {dirichlet!r}; known: face, ghost")
        self.dim = int(dim)
        self.obstacles = obstacles
        self.n_obstacles = int(n_obstacles)
        # JSON-able as given: a preset name, a {face: kind} mapping, or (low, high) pairs per axis
        self.walls = walls if isinstance(walls, str) else (
            dict(walls) if isinstance(walls, Mapping) else [list(pair) for pair in walls])
        self.dirichlet = dirichlet
        self.solid_fraction = float(solid_fraction)
        self.length_scale = float(length_scale)
        self.largest_component = bool(largest_component)
        self.method = method

    @property
    def params(self) -> dict[str, Any]:
        return {"dim": self.dim, "obstacles": self.obstacles, "n_obstacles": self.n_obstacles,
                "walls": self.walls, "dirichlet": self.dirichlet, "solid_fraction": self.solid_fraction,
                "length_scale": self.length_scale, "largest_component": self.largest_component,
                "method": self.method}

    def coordinates(self, shape: list[int]) -> list[np.ndarray]:
        """Cell centres ``(i + 1/2) / N`` on the unit box (the unknowns are cell-centred)."""
        if len(shape) != self.dim:
            raise ValueError(f"pressure systems here are {self.dim}D, got grid {shape}")
        return [(np.arange(n) + 0.5) / n for n in shape]

    def sample_mask(self, rng: np.random.Generator, resolution: int) -> np.ndarray:
        """A fluid mask (bool ``(N,)*dim``) drawn with ``rng``."""
        mask = random_mask(rng, (resolution,) * self.dim, self.obstacles, self.n_obstacles, self.solid_fraction)
        return largest_fluid_component(mask) if self.largest_component else mask

    def system(self, mask: np.ndarray) -> PressureLinearSystem:
        """The pressure system of ``mask`` with this problem's walls."""
        return pressure_system(mask, self.walls, dirichlet=self.dirichlet)

    def sample_system(self, rng: np.random.Generator, resolution: int) -> tuple[PressureLinearSystem, np.ndarray]:
        """A random system and its right-hand side ``b`` (unknowns ``(n,)``, compatible if singular)."""
        system = self.system(self.sample_mask(rng, resolution))
        b = -divergence(system, random_velocity(rng, system, self.length_scale)) / resolution
        # the discrete divergence already sums to 0 on closed regions; projecting removes round-off
        return system, system.project(b)

    def solve(self, mask: np.ndarray, b: np.ndarray, strict: bool = False) -> np.ndarray:
        """Pressure for a user-given fluid ``mask`` and right-hand side ``b`` (grid or unknowns)."""
        return solve_pressure(self.system(mask), b, method=self.method, strict=strict)

    def solve_sample(self, rng: np.random.Generator, resolution: int) -> tuple[np.ndarray, np.ndarray]:
        system, b = self.sample_system(rng, resolution)
        p = solve_pressure(system, b, method=self.method)
        x = np.stack([system.mask.astype(np.float32), system.to_grid(b).astype(np.float32)])
        return x, system.to_grid(p)[None].astype(np.float32)
