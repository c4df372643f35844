"""Random fluid masks (solid obstacles) and smooth random velocities for pressure systems.

Everything here draws from a ``np.random.Generator``; the systems themselves are assembled by
:mod:`pdeml.solvers.pressure`. Lengths are fractions of the longest side of the grid.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage

from pdeml.solvers.pressure import PressureLinearSystem, face_weights

OBSTACLE_KINDS = ("none", "spheres", "boxes", "blobs", "mixed")


def _cell_centres(shape: tuple[int, ...]) -> list[np.ndarray]:
    # lengths in units of the longest side, so obstacles keep their shape on non-cubic grids
    L = max(shape)
    return list(np.meshgrid(*[(np.arange(n) + 0.5) / L for n in shape], indexing="ij", sparse=True))


def _extent(shape: tuple[int, ...]) -> np.ndarray:
    return np.asarray(shape, dtype=float) / max(shape)


def _check_shape(shape: Sequence[int]) -> tuple[int, ...]:
    shape = tuple(int(n) for n in shape)
    if len(shape) not in (2, 3) or min(shape) < 1:
        raise ValueError(f"grid shape must have 2 or 3 positive sides, got {shape}")
    return shape


def sphere_obstacles(rng: np.random.Generator, shape: Sequence[int], count: int,
                     radius: tuple[float, float] = (0.06, 0.18)) -> np.ndarray:
    """Fluid mask ``shape`` with ``count`` solid disks (2D) / spheres (3D).

    Centres are uniform in the domain, radii uniform in ``radius`` (fractions of the longest side).
    """
    shape = _check_shape(shape)
    coords, ext = _cell_centres(shape), _extent(shape)
    fluid = np.ones(shape, dtype=bool)
    for _ in range(int(count)):
        centre = rng.uniform(0.0, ext)
        r = rng.uniform(*radius)
        dist2 = sum((c - x0) ** 2 for c, x0 in zip(coords, centre))
        fluid &= dist2 > r * r
    return fluid


def box_obstacles(rng: np.random.Generator, shape: Sequence[int], count: int,
                  half_size: tuple[float, float] = (0.04, 0.15)) -> np.ndarray:
    """Fluid mask ``shape`` with ``count`` solid axis-aligned boxes (half-sides uniform in ``half_size``)."""
    shape = _check_shape(shape)
    coords, ext = _cell_centres(shape), _extent(shape)
    fluid = np.ones(shape, dtype=bool)
    for _ in range(int(count)):
        centre = rng.uniform(0.0, ext)
        half = rng.uniform(*half_size, size=len(shape))
        inside = np.ones(shape, dtype=bool)
        for c, x0, hw in zip(coords, centre, half):
            inside = inside & (np.abs(c - x0) <= hw)
        fluid &= ~inside
    return fluid


def smooth_random_field(rng: np.random.Generator, shape: Sequence[int], length_scale: float = 0.08) -> np.ndarray:
    """Zero-mean, unit-variance smooth random field: white noise blurred by a Gaussian of width
    ``length_scale`` (fraction of the longest side; reflecting edges, so no periodicity is implied)."""
    shape = tuple(int(n) for n in shape)
    sigma = max(float(length_scale) * max(shape), 1e-12)
    field_ = ndimage.gaussian_filter(rng.standard_normal(shape), sigma, mode="reflect")
    field_ -= field_.mean()
    std = field_.std()
    return field_ / std if std > 0 else field_


def blob_obstacles(rng: np.random.Generator, shape: Sequence[int], solid_fraction: float = 0.25,
                   length_scale: float = 0.08) -> np.ndarray:
    """Fluid mask with random blobs: a smooth random field thresholded so that ``solid_fraction``
    of the cells are solid."""
    if not 0.0 <= solid_fraction < 1.0:
        raise ValueError(f"solid_fraction must be in [0, 1), got {solid_fraction}")
    f = smooth_random_field(rng, _check_shape(shape), length_scale)
    return f <= np.quantile(f, 1.0 - solid_fraction)


def random_mask(rng: np.random.Generator, shape: Sequence[int], kind: str = "mixed", count: int = 4,
                solid_fraction: float = 0.2, min_fluid_fraction: float = 0.3,
                max_tries: int = 100) -> np.ndarray:
    """A random fluid mask ``shape`` (bool, True = fluid) drawn with ``rng``.

    ``kind``: ``"none"`` (no obstacles), ``"spheres"``, ``"boxes"`` (``count`` of each),
    ``"blobs"`` (thresholded smooth field, ``solid_fraction`` solid; ``count`` unused) or
    ``"mixed"`` (``count`` obstacles split between spheres and boxes, intersected with blobs of
    half the ``solid_fraction``). Draws again until at least ``min_fluid_fraction`` of the cells
    are fluid, so the result depends only on ``rng``'s state.
    """
    shape = _check_shape(shape)
    if kind not in OBSTACLE_KINDS:
        raise ValueError(f"unknown obstacle kind {kind!r}; known kinds: {', '.join(OBSTACLE_KINDS)}")
    if int(count) < 0:
        raise ValueError(f"obstacle count must be >= 0, got {count}")
    for _ in range(max_tries):
        if kind == "none":
            fluid = np.ones(shape, dtype=bool)
        elif kind == "spheres":
            fluid = sphere_obstacles(rng, shape, count)
        elif kind == "boxes":
            fluid = box_obstacles(rng, shape, count)
        elif kind == "blobs":
            fluid = blob_obstacles(rng, shape, solid_fraction)
        else:
            n_spheres = (int(count) + 1) // 2
            fluid = (sphere_obstacles(rng, shape, n_spheres) & box_obstacles(rng, shape, int(count) - n_spheres)
                     & blob_obstacles(rng, shape, 0.5 * solid_fraction))
        if fluid.mean() >= min_fluid_fraction:
            return fluid
    raise RuntimeError(f"no {kind!r} mask with fluid fraction >= {min_fluid_fraction} in {max_tries} draws; "
                       f"use fewer or smaller obstacles")



def random_velocity(rng: np.random.Generator, system: PressureLinearSystem, length_scale: float = 0.1) -> list[np.ndarray]:
    """Smooth random staggered velocity (unit variance per component, ``length_scale`` a fraction
    of the longest side) with zero normal velocity on closed faces (solids, Neumann walls)."""
    return [np.where(w > 0, smooth_random_field(rng, w.shape, length_scale), 0.0) for w in face_weights(system)]


__all__ = [
    "OBSTACLE_KINDS", "blob_obstacles", "box_obstacles", "random_mask", "random_velocity", "smooth_random_field",
    "sphere_obstacles",
]
