"""``pdeml.solve(pde, method=...)``: one entry point and one result type for every pointwise method.

A method is registered under a name with its configuration class (a :class:`~pdeml.config.Config`)
and two functions: ``run(pde, config) -> Solution`` and ``restore(pde, config, state) ->
predictor`` (what :meth:`Solution.load` needs to predict again). ``fd`` (the finite-difference
reference) lives here in the core; ``gp`` and ``pinn`` live in their leaves and are imported on
first use. A method that cannot handle a PDE raises a ``ValueError`` naming the part it cannot
handle, before any work.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pdeml.config import Config, ConfigError, check_positive
from pdeml.io import jsonable
from pdeml.problems.pde import PDE
from pdeml.registry import Registry

Predictor = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Method:
    """A solver of :class:`~pdeml.problems.pde.PDE` s: its options and how to run and restore it."""

    name: str
    config: type[Config]
    run: Callable[[PDE, Config], Solution]
    restore: Callable[[PDE, dict[str, Any], dict[str, Any]], Predictor]
    doc: str
    # the method's own figures of a fresh solution (training history, sampler points, spectra): name -> path
    figures: Callable[[Solution, Path], dict[str, Path]] | None = None


METHODS: Registry[Method] = Registry("method")
METHODS.register_lazy("fd", "pdeml.solution:FD_METHOD", "second-order finite differences on the node grid (the reference)")
METHODS.register_lazy("gp", "pdeml.gp.method:METHOD", "GP-HM, Gaussian process with spectral-mixture kernels on a tensor grid")
METHODS.register_lazy("pinn", "pdeml.pinn.method:METHOD", "physics-informed network with a collocation sampler")


@dataclass
class Solution:
    """A solved PDE: :meth:`predict` anywhere, the error (``relative_l2`` against ``against``), the
    training ``history``, :meth:`plot`, :meth:`save` / :meth:`load`. ``native`` is the method's own
    result object (a ``GPSolver``, a ``PINNResult``, the FD grid values), not saved."""

    pde: PDE
    method: str
    config: dict[str, Any]
    predictor: Predictor
    relative_l2: float
    against: str
    seconds: float
    history: list[dict[str, Any]] = field(default_factory=list)
    state: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    native: Any = None

    def predict(self, points) -> np.ndarray:
        """``u`` (n,) float64 at ``points`` (n, dim) (NumPy or torch; a 1D array in 1D)."""
        pts = np.asarray(points.detach().cpu() if hasattr(points, "detach") else points, dtype=np.float64)
        if pts.ndim == 1 and self.pde.dim == 1:
            pts = pts[:, None]
        if pts.ndim != 2 or pts.shape[1] != self.pde.dim:
            raise ValueError(f"points must have shape (n, {self.pde.dim}), got {pts.shape}")
        return np.asarray(self.predictor(pts), dtype=np.float64).reshape(-1)

    def summary(self) -> dict[str, Any]:
        """A flat JSON-able record."""
        return {"problem": self.pde.name, "method": self.method, "relative_l2": self.relative_l2,
                "against": self.against, "seconds": self.seconds, **self.extra}

    # -- figures ------------------------------------------------------------------------------
    def plot(self, path: str | os.PathLike, resolution: int | None = None) -> Path:
        """Truth (exact solution, else the FD reference), prediction and |error|: curves in 1D, maps
        in 2D, the plane through the centre in more dimensions."""
        from pdeml.plot import save_solution_figure

        dim = self.pde.dim
        n = resolution or (1025 if dim == 1 else 129)
        lo = np.array([a for a, _ in self.pde.domain])
        hi = np.array([b for _, b in self.pde.domain])
        axes = [np.linspace(lo[k], hi[k], n) for k in range(min(dim, 2))]
        mesh = np.meshgrid(*axes, indexing="ij")
        pts = np.tile((lo + hi) / 2, (mesh[0].size, 1))
        for k, m in enumerate(mesh):
            pts[:, k] = m.ravel()
        if self.pde.has_exact:
            truth, label = np.asarray(self.pde.exact_on_points(pts), dtype=np.float64), "exact"
        else:
            truth = np.asarray(self.pde.reference([n] * dim) if dim <= 2 else
                               _plane(self.pde.reference([n] * dim)), dtype=np.float64).reshape(-1)
            label = "FD reference"
        pred = self.predict(pts)
        if not self.pde.is_box:
            outside = ~np.asarray(self.pde.geometry.inside(pts[:, :dim]))
            truth, pred = np.where(outside, np.nan, truth), np.where(outside, np.nan, pred)
        title = f"{self.pde.name} by {self.method}: relative L2 {self.relative_l2:.2e} against {self.against}"
        return save_solution_figure(path, axes, truth.reshape(mesh[0].shape), pred.reshape(mesh[0].shape),
                                    labels=(label, self.method), title=title)

    # -- files --------------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> Path:
        """A checkpoint (tensors as state dicts, everything else as JSON) that :meth:`load` reads back."""
        from pdeml.train.checkpoint import save_checkpoint

        pde = {"name": self.pde.name, "params": jsonable(self.pde.params),
               "class": f"{type(self.pde).__module__}:{type(self.pde).__qualname__}"}
        meta = {"method": self.method, "config": jsonable(self.config), "pde": pde, "summary": jsonable(self.summary()),
                "history": jsonable({"h": self.history})["h"]}
        return save_checkpoint(path, {"meta": json.dumps(meta), "state": self.state})

    @classmethod
    def load(cls, path: str | os.PathLike, pde: PDE | None = None) -> Solution:
        """A saved solution. ``pde`` is rebuilt from its registered name or its class (importable, or
        defined in ``__main__``) with the saved parameters unless given."""
        from pdeml.train.checkpoint import load_checkpoint

        raw = load_checkpoint(path)
        meta = json.loads(raw["meta"])
        if pde is None:
            pde = _rebuild_pde(meta["pde"])
        method = METHODS.get(meta["method"])
        predictor = method.restore(pde, meta["config"], raw["state"])
        summary = meta["summary"]
        return cls(pde, meta["method"], meta["config"], predictor, float(summary["relative_l2"]),
                   summary["against"], float(summary["seconds"]), meta["history"], raw["state"],
                   {k: v for k, v in summary.items() if k not in ("problem", "method", "relative_l2", "against",
                                                                   "seconds")})


def _plane(values: np.ndarray) -> np.ndarray:
    """The plane through the centre of a grid array (all axes after the first two at their middle)."""
    index = (slice(None), slice(None)) + tuple(n // 2 for n in values.shape[2:])
    return values[index]


def _rebuild_pde(info: dict[str, Any]) -> PDE:
    from pdeml import problems

    if info["name"] in problems.PROBLEMS:
        return problems.get(info["name"], **info["params"])
    module, _, qualname = info["class"].partition(":")
    try:
        cls = getattr(importlib.import_module(module), qualname)
    except (ImportError, AttributeError) as err:
        raise ValueError(f"cannot rebuild the PDE {info['class']} of this solution ({err}); pass it as "
                         "Solution.load(path, pde=MyPDE(...))") from err
    return cls(**info["params"])


# --------------------------------------------------------------------------- the entry point


def resolve_pde(pde: str | PDE, **params) -> PDE:
    """A :class:`PDE` from an instance, a registered name, or ``"path/to/file.py:ClassName"``."""
    if isinstance(pde, PDE):
        if params:
            raise ConfigError(f"problem parameters {sorted(params)} apply only when the PDE is given by name")
        return pde
    if not isinstance(pde, str):
        raise ConfigError(f"pde must be a pdeml.problems.PDE, a registered name or FILE.py:Class, got "
                          f"{type(pde).__name__}")
    if ":" in pde and pde.split(":", 1)[0].endswith(".py"):
        return load_pde_file(pde, **params)
    from pdeml import problems

    problem = problems.get(pde, **params)
    if not isinstance(problem, PDE):
        raise ConfigError(f"problem {pde!r} is a family of data sets ({type(problem).__name__}), not one PDE; the "
                          f"pointwise methods solve: {', '.join(n for n in problems.names() if _is_pde(n))}")
    return problem


def _is_pde(name: str) -> bool:
    from pdeml import problems

    try:
        return issubclass(problems.PROBLEMS.get(name), PDE)
    except Exception:  # noqa: BLE001 - a problem whose module cannot import is simply not listed
        return False


def load_pde_file(spec: str, **params) -> PDE:
    """``"path/to/file.py:ClassName"``: import the file and instantiate the class with ``params``."""
    path, _, name = spec.rpartition(":")
    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"PDE file {path!r} does not exist (expected FILE.py:ClassName)")
    module_name = f"pdeml_user_{file.stem}"
    loader = importlib.util.spec_from_file_location(module_name, file)
    module = importlib.util.module_from_spec(loader)
    import sys

    sys.modules[module_name] = module  # so dataclasses and pickling see the module
    loader.loader.exec_module(module)
    cls = getattr(module, name, None)
    if not (isinstance(cls, type) and issubclass(cls, PDE)):
        found = sorted(k for k, v in vars(module).items()
                       if isinstance(v, type) and issubclass(v, PDE) and v.__module__ == module_name)
        raise ConfigError(f"{path} has no PDE class {name!r}; PDE classes defined there: {', '.join(found) or '(none)'}")
    return cls(**params)


def solve(pde: str | PDE, method: str = "fd", *, config: Config | dict[str, Any] | None = None,
          problem_params: dict[str, Any] | None = None, **options) -> Solution:
    """Solve ``pde`` (a :class:`PDE`, a registered name, or ``"file.py:Class"``) with ``method``
    (``"fd"``, ``"gp"``, ``"pinn"``); ``options`` are the fields of the method's configuration
    class (e.g. ``pdeml.gp.GPConfig``), or pass ``config``. Returns a :class:`Solution`."""
    spec = METHODS.get(method)
    problem = resolve_pde(pde, **(problem_params or {}))
    if config is not None and options:
        raise ConfigError(f"give config= or keyword options, not both (got {sorted(options)})")
    if isinstance(config, spec.config):
        cfg = config
    else:
        values = dict(config or options)
        cfg = spec.config.from_flat(values) if hasattr(spec.config, "from_flat") else spec.config.from_dict(values)
    return spec.run(problem, cfg)


# --------------------------------------------------------------------------- the FD method


@dataclass
class FDConfig(Config):
    """The FD reference: ``resolution`` nodes per axis, both ends included (None: 4097 in 1D, 257 per
    axis in 2D, 65 in 3D); Newton to ``tol * max(1, max|f|)`` in at most ``maxiter`` steps."""

    section = "fd"

    resolution: int | list[int] | None = None
    tol: float = 1e-12
    maxiter: int = 30

    def validate(self) -> None:
        if self.resolution is not None:
            for n in np.atleast_1d(self.resolution):
                check_positive("fd.resolution", int(n), int)
                if n < 3:
                    raise ConfigError(f"fd.resolution must be at least 3 nodes per axis, got {self.resolution!r}")
        check_positive("fd.tol", self.tol)
        check_positive("fd.maxiter", self.maxiter, int)


def _fd_shape(pde: PDE, resolution) -> list[int]:
    if resolution is None:
        return [{1: 4097, 2: 257}.get(pde.dim, 65)] * pde.dim
    shape = [int(resolution)] * pde.dim if np.isscalar(resolution) else [int(n) for n in resolution]
    if len(shape) != pde.dim:
        raise ConfigError(f"fd.resolution has {len(shape)} entries but {pde.name} has {pde.dim} dimensions")
    return shape


def _grid_predictor(pde: PDE, values: np.ndarray) -> Predictor:
    from scipy.interpolate import RegularGridInterpolator

    from pdeml.solvers.fd import node_axes

    interp = RegularGridInterpolator(node_axes(pde.domain, values.shape), values, method="linear",
                                     bounds_error=False, fill_value=None)
    return lambda pts: interp(pts)


def _run_fd(pde: PDE, config: FDConfig) -> Solution:
    shape = _fd_shape(pde, config.resolution)
    start = time.perf_counter()
    u, history = pde.fd_solve(shape, tol=config.tol, maxiter=config.maxiter, return_history=True)
    seconds = time.perf_counter() - start
    coords = pde.grid(shape)
    if pde.has_exact:
        truth, against = np.asarray(pde.exact(*coords), dtype=np.float64), "exact"
        error = float(np.linalg.norm(u - truth) / max(np.linalg.norm(truth), 1e-300))
    else:  # its own discretisation error, estimated against the solve on the grid twice as fine
        fine = [2 * n - 1 for n in shape]
        if math.prod(fine) <= 2_000_000:
            ref = pde.reference(fine)[tuple(slice(None, None, 2) for _ in shape)]
            error, against = float(np.linalg.norm(u - ref) / max(np.linalg.norm(ref), 1e-300)), \
                f"FD at {'x'.join(map(str, fine))}"
        else:
            error, against = math.nan, "(the reference itself)"
    import torch

    history_records = [{"newton_step": i, "residual_max": r} for i, r in enumerate(history)]
    extra = {"resolution": shape[0] if len(set(shape)) == 1 else shape, "newton_steps": len(history) - 1}
    return Solution(pde, "fd", {**config.to_dict(), "resolution": shape}, _grid_predictor(pde, u), error, against,
                    seconds, history_records, {"u": torch.as_tensor(u)}, extra, u)


def _restore_fd(pde: PDE, config: dict[str, Any], state: dict[str, Any]) -> Predictor:
    return _grid_predictor(pde, np.asarray(state["u"], dtype=np.float64))


FD_METHOD = Method("fd", FDConfig, _run_fd, _restore_fd, "second-order finite differences (the reference)")


__all__ = ["FDConfig", "METHODS", "Method", "Solution", "load_pde_file", "resolve_pde", "solve"]
