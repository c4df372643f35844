"""The PINN's options: one validated dataclass, the defaults in one place.

A sampler's own options (``beta`` and ``flow_steps`` for AAS, ``k`` and ``c`` for RAD, ...) go in
``sampler_options``; their defaults are the sampler classes' (:mod:`pdeml.pinn.samplers`).
:meth:`PINNConfig.from_flat` accepts them at the top level too, as ``solve_pinn`` and
``--set pinn.beta=...`` do.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pdeml.config import Config, ConfigError, check_choice, check_positive

COMMON_SAMPLER_OPTIONS = {"pool_factor", "residual_chunk", "snapshot_points"}
SAMPLER_OPTIONS = {
    "uniform": set(),
    "rar": {"initial_fraction"},
    "rad": {"k", "c"},
    "aas": {"beta", "flow_steps", "flow_lr", "trust", "uniform_fraction", "flow_layers", "flow_bins",
            "flow_hidden", "penalty_points", "flow_batch", "update", "mix", "weighting",
            "ess_fraction", "pool_moves", "finish_flows"},
}


@dataclass
class PINNConfig(Config):
    """Options of :func:`~pdeml.pinn.solve.solve_pinn`.

    ``points`` collocation points per round; ``steps`` Adam steps split evenly into ``rounds``
    sampler rounds (None: the largest divisor of ``steps`` up to 20); ``lbfgs_steps`` L-BFGS
    iterations after them on ``lbfgs_points`` points (default ``4 * points``) chosen by the sampler;
    ``lbfgs_holdout`` draws as many again from the same density and keeps the iterate of lowest loss
    on those held-out points instead of on the training points (a finish that overfits its points
    ends at its best held-out iterate; where few points see the solution's peak the held-out
    residual can misjudge the error, docs/pinn.md).
    ``boundary`` ``"penalty"`` (``boundary_points`` points, default ``max(64, points // 4)``,
    weight ``boundary_weight``) or ``"exact"`` (a distance factor; ``lifting`` ``"fit"`` fits a
    network to the Dirichlet data in ``lifting_steps`` steps, ``"zero"`` assumes they vanish).
    ``scheduler`` ``"cosine"`` (to ``lr * eta_min_ratio``), ``"onecycle"`` (``warmup`` fraction) or
    ``"none"``. ``eval_resolution`` grid points per axis of the error (1D 8193, 2D 513; without an
    exact solution the FD reference's grid: 4097, 257, 65), ``eval_points`` importance-sampled
    points in 3D and more, ``track_points`` of them per round. ``near_level`` splits the error into
    ``|u| >= near_level max|u|`` and the rest.
    """

    section = "pinn"

    sampler: str = "uniform"
    points: int = 1000
    steps: int = 2000
    rounds: int | None = None
    seed: int = 0
    device: str = "auto"
    progress: bool | None = None
    dtype: str = "float32"
    width: int = 64
    depth: int = 4
    activation: str = "tanh"
    boundary: str = "penalty"
    boundary_points: int | None = None
    boundary_weight: float = 10.0
    lifting: str = "fit"
    lifting_steps: int = 500
    lr: float = 1e-3
    scheduler: str = "cosine"
    eta_min_ratio: float = 0.01
    warmup: float = 0.1
    geometry: Any = None
    problem_params: dict[str, Any] | None = None
    eval_resolution: int | None = None
    eval_points: int = 40000
    track_points: int = 8192
    lbfgs_steps: int = 0
    lbfgs_points: int | None = None
    lbfgs_holdout: bool = False
    near_level: float = 1e-3
    run_dir: Any = None
    sampler_options: dict[str, Any] = field(default_factory=dict)

    def validate(self) -> None:
        from pdeml.pinn.samplers import SAMPLERS

        self.sampler = str(self.sampler).lower()
        if self.sampler not in SAMPLER_OPTIONS:
            SAMPLERS.get(self.sampler)  # raises, listing the known samplers
        check_choice("pinn.boundary", self.boundary, ("penalty", "exact"))
        check_choice("pinn.lifting", self.lifting, ("fit", "zero"))
        check_choice("pinn.scheduler", self.scheduler, ("cosine", "onecycle", "none"))
        check_choice("pinn.dtype", self.dtype, ("float32", "float64"))
        for name in ("points", "steps", "width", "depth", "eval_points", "track_points"):
            check_positive(f"pinn.{name}", getattr(self, name), int)
        for name in ("rounds", "lbfgs_points", "boundary_points"):
            if getattr(self, name) is not None:
                check_positive(f"pinn.{name}", getattr(self, name), int, allow_zero=name == "boundary_points")
        check_positive("pinn.lbfgs_steps", self.lbfgs_steps, int, allow_zero=True)
        check_positive("pinn.lifting_steps", self.lifting_steps, int, allow_zero=True)
        check_positive("pinn.lr", self.lr)
        check_positive("pinn.boundary_weight", self.boundary_weight)
        if not isinstance(self.sampler_options, dict):
            raise ConfigError(f"pinn.sampler_options must be a table, got {self.sampler_options!r}")
        known = COMMON_SAMPLER_OPTIONS | SAMPLER_OPTIONS[self.sampler]
        unknown = sorted(set(self.sampler_options) - known)
        if unknown:
            owners = {k: [s for s, keys in SAMPLER_OPTIONS.items() if k in keys] for k in unknown}
            hints = [f"{k!r} is an option of sampler {', '.join(v)}" for k, v in owners.items() if v]
            raise ConfigError(f"unknown option(s) {unknown} for a PINN with sampler {self.sampler!r}"
                              + (f" ({'; '.join(hints)})" if hints else "")
                              + f"; known options: {', '.join(sorted(set(self.keys()) | known))}")

    @classmethod
    def from_flat(cls, options: dict[str, Any]) -> PINNConfig:
        """Like :meth:`from_dict`, with a sampler's options also accepted at the top level."""
        options = dict(options)
        own = set(cls.keys())
        moved = {k: options.pop(k) for k in list(options) if k not in own}
        if moved:
            options["sampler_options"] = {**options.get("sampler_options", {}), **moved}
        return cls.from_dict(options)


__all__ = ["COMMON_SAMPLER_OPTIONS", "PINNConfig", "SAMPLER_OPTIONS"]
