"""Domains for PINNs: deepxde geometries used for point sampling and boundary tests only.

A :class:`Domain` wraps a deepxde geometry (``Interval``, ``Rectangle``, ``Hypercube``,
``Disk``, ``Polygon``, CSG combinations, ``GeometryXTime``) and gives what the samplers need:
seeded interior and boundary points as torch tensors, the inside test, the bounding box and,
for exact Dirichlet conditions, a distance factor ``d(x)`` that vanishes on the boundary.
Boxes are sampled directly with torch (fast, on any device); other shapes by rejection from the
bounding box with the geometry's inside test.
"""

from __future__ import annotations

import math

import numpy as np
import torch


def _dde_geometry():
    # imported lazily; pdeml/__init__ has set DDE_BACKEND=pytorch by now
    import deepxde.geometry as geometry

    return geometry


def box_geometry(domain):
    """The deepxde box of ``domain`` = [(low, high), ...]: Interval, Rectangle or Hypercube."""
    geometry = _dde_geometry()
    lows, highs = [float(lo) for lo, _ in domain], [float(hi) for _, hi in domain]
    if len(lows) == 1:
        return geometry.Interval(lows[0], highs[0])
    if len(lows) == 2:
        return geometry.Rectangle(lows, highs)
    return geometry.Hypercube(lows, highs)


def _is_box(geom) -> bool:
    geometry = _dde_geometry()
    return isinstance(geom, (geometry.Interval, geometry.Hypercube))  # Rectangle is a Hypercube


def _geometry_dim(geom) -> int:
    if hasattr(geom, "timedomain"):
        return int(geom.geometry.dim) + 1
    return int(geom.dim)


def _geometry_bbox(geom) -> tuple[np.ndarray, np.ndarray]:
    if hasattr(geom, "timedomain"):
        lo, hi = geom.geometry.bbox
        return (np.append(np.asarray(lo, float), geom.timedomain.t0),
                np.append(np.asarray(hi, float), geom.timedomain.t1))
    lo, hi = geom.bbox
    return np.atleast_1d(np.asarray(lo, float)), np.atleast_1d(np.asarray(hi, float))


class Domain:
    """A deepxde geometry plus seeded torch sampling.

    ``geometry`` is a deepxde geometry object; :meth:`from_problem` builds the box of a problem's
    ``domain``. All points are tensors ``(n, dim)`` of ``dtype`` on ``device``.
    """

    def __init__(self, geometry, dtype: torch.dtype = torch.float32, device: str | torch.device = "cpu"):
        if not hasattr(geometry, "random_points"):
            raise TypeError(f"geometry must be a deepxde geometry (Interval, Rectangle, Hypercube, Disk, "
                            f"Polygon, CSG, GeometryXTime), got {type(geometry).__name__}")
        self.geometry = geometry
        self.dim = _geometry_dim(geometry)
        lo, hi = _geometry_bbox(geometry)
        self.low, self.high = lo.astype(np.float64), hi.astype(np.float64)
        self.is_box = _is_box(geometry)
        self.is_space_time = hasattr(geometry, "timedomain")
        self.dtype, self.device = dtype, torch.device(device)
        self._cache_bounds()
        self.volume_fraction = 1.0 if self.is_box else self._estimate_volume_fraction()

    @classmethod
    def from_problem(cls, problem, geometry=None, dtype: torch.dtype = torch.float32,
                     device: str | torch.device = "cpu") -> Domain:
        """The domain of ``problem``: its box, or ``geometry`` after checking its dimension."""
        if geometry is None:
            return cls(box_geometry(problem.domain), dtype=dtype, device=device)
        domain = geometry if isinstance(geometry, Domain) else cls(geometry, dtype=dtype, device=device)
        if domain.dim != problem.dim:
            raise ValueError(f"geometry {type(domain.geometry).__name__} has dimension {domain.dim}, "
                             f"but problem {problem.name!r} has dimension {problem.dim}")
        return domain.to(device, dtype)

    def to(self, device=None, dtype=None) -> Domain:
        if device is not None:
            self.device = torch.device(device)
        if dtype is not None:
            self.dtype = dtype
        self._cache_bounds()
        return self

    def _cache_bounds(self) -> None:
        """The box bounds as tensors of the domain's dtype and device, built once (not per call: the
        distance factor maps every point of every training step)."""
        self._low_t, self._high_t, self._width_t = (self._tensor(a) for a in (self.low, self.high, self.width))

    # -- coordinates ------------------------------------------------------------------------
    @property
    def width(self) -> np.ndarray:
        return self.high - self.low

    def _tensor(self, a) -> torch.Tensor:
        return torch.as_tensor(np.asarray(a, dtype=np.float64), dtype=self.dtype, device=self.device)

    def to_unit(self, x: torch.Tensor) -> torch.Tensor:
        """Map points of the bounding box to the unit cube [0, 1]^dim."""
        return (x - self._low_t) / self._width_t

    def from_unit(self, y: torch.Tensor) -> torch.Tensor:
        return self._low_t + y * self._width_t

    def inside(self, x: torch.Tensor) -> torch.Tensor:
        """Boolean (n,): points inside the domain or on its boundary."""
        if self.is_box:
            lo, hi = self._low_t, self._high_t
            return ((x >= lo) & (x <= hi)).all(dim=1)
        pts = x.detach().cpu().double().numpy()
        if self.is_space_time:
            geo, td = self.geometry.geometry, self.geometry.timedomain
            mask = geo.inside(pts[:, :-1]) & (pts[:, -1] >= td.t0) & (pts[:, -1] <= td.t1)
        else:
            mask = self.geometry.inside(pts)
        return torch.as_tensor(np.asarray(mask, bool), device=x.device)

    def project(self, x: torch.Tensor) -> torch.Tensor:
        """Bring points back into the bounding box (clamping); for boxes this is the domain."""
        return torch.maximum(torch.minimum(x, self._high_t), self._low_t)

    # -- sampling ---------------------------------------------------------------------------
    def _uniform_box(self, n: int, generator: torch.Generator) -> torch.Tensor:
        u = torch.rand(n, self.dim, generator=generator, dtype=torch.float64)
        return self.from_unit(u.to(self.device, self.dtype))

    def _estimate_volume_fraction(self, n: int = 20000) -> float:
        g = torch.Generator().manual_seed(12345)
        inside = self.inside(self._uniform_box_cpu(n, g))
        frac = float(inside.double().mean())
        if frac == 0:
            raise ValueError(f"geometry {type(self.geometry).__name__} has no interior points in its bounding box")
        return frac

    def _uniform_box_cpu(self, n, g):
        u = torch.rand(n, self.dim, generator=g, dtype=torch.float64)
        return torch.as_tensor(self.low) + u * torch.as_tensor(self.width)

    def keep_inside(self, x: torch.Tensor) -> torch.Tensor:
        """The rows of ``x`` inside the domain (all of them for a box)."""
        return x if self.is_box else x[self.inside(x)]

    def sample_interior(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """``n`` uniform random points in the domain (rejection from the bounding box)."""
        if self.is_box:
            return self._uniform_box(n, generator)
        chunks, have = [], 0
        while have < n:
            draw = int(math.ceil((n - have) / self.volume_fraction * 1.2)) + 16
            pts = self.keep_inside(self._uniform_box(draw, generator))
            chunks.append(pts)
            have += pts.shape[0]
        return torch.cat(chunks)[:n]

    def sample_boundary(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """``n`` random boundary points (for space-time: the initial slice and the lateral boundary)."""
        if self.is_box:
            return self._box_boundary(n, generator)
        # deepxde draws from NumPy's global generator: seed it from ours, then restore it
        seed = int(torch.randint(0, 2**31 - 1, (1,), generator=generator))
        state = np.random.get_state()
        np.random.seed(seed)
        try:
            if self.is_space_time:
                n_init = max(1, n // (self.dim + 1))
                pts = np.concatenate([self.geometry.random_initial_points(n_init),
                                      self.geometry.random_boundary_points(n - n_init)])
            else:
                pts = self.geometry.random_boundary_points(n)
        finally:
            np.random.set_state(state)
        return self._tensor(pts)

    def _box_boundary(self, n: int, generator: torch.Generator) -> torch.Tensor:
        w = self.width
        if self.dim == 1:
            side = torch.randint(0, 2, (n,), generator=generator)
            return self._tensor(np.where(side.numpy() == 0, self.low[0], self.high[0])[:, None])
        # a face is chosen with probability proportional to its area, then a uniform point on it
        areas = np.array([np.prod(np.delete(w, i)) for i in range(self.dim)])
        probs = torch.as_tensor(np.repeat(areas, 2) / (2 * areas.sum()))
        face = torch.multinomial(probs, n, replacement=True, generator=generator)
        u = torch.rand(n, self.dim, generator=generator, dtype=torch.float64)
        axis, upper = face // 2, (face % 2).double()
        u[torch.arange(n), axis] = upper
        return self.from_unit(u.to(self.device, self.dtype))

    def distance_factor(self, x: torch.Tensor) -> torch.Tensor:
        """A smooth ``d(x)`` (n,) that is 0 on the boundary and positive inside (1 at a box's centre)."""
        if self.is_box:
            y = self.to_unit(x)
            return torch.prod(4.0 * y * (1.0 - y), dim=1)
        if not hasattr(self.geometry, "boundary_constraint_factor"):
            raise ValueError(f"exact boundary conditions need a box or a geometry with a distance factor "
                             f"(Disk, Polygon, Hypersphere); {type(self.geometry).__name__} has none: "
                             "use boundary='penalty'")
        return self.geometry.boundary_constraint_factor(x, smoothness="Cinf").reshape(-1)

    def grid(self, per_axis: int) -> tuple[torch.Tensor, list[int]]:
        """A tensor grid over the bounding box: points (n, dim) and the grid shape."""
        axes = [torch.linspace(lo, hi, per_axis, dtype=torch.float64) for lo, hi in zip(self.low, self.high)]
        mesh = torch.meshgrid(*axes, indexing="ij")
        pts = torch.stack([m.reshape(-1) for m in mesh], dim=1)
        return pts.to(self.device, self.dtype), [per_axis] * self.dim

    def describe(self) -> str:
        box = " x ".join(f"[{lo:g}, {hi:g}]" for lo, hi in zip(self.low, self.high))
        return f"{type(self.geometry).__name__} in {box}"
