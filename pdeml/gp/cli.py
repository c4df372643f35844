"""``pdeml solve PROBLEM --method gp``: fit GP-HM, report the relative L2, save figures."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pdeml import problems

# --set keys passed on to GPSolver
SOLVER_KEYS = ("components", "freq_scale", "lr", "optimizer", "lbfgs_steps", "profile_steps", "profile_lr",
               "profile_noise", "final_noise", "profile_cg", "profile_preconditioner", "polish_cg", "boundary_weight", "jitter", "lengthscale_init", "eval_points", "track_every")
COMMON_KEYS = ("sampler", "kernel", "points", "steps", "seed", "device", "out", "progress")


def default_points(dim: int) -> int:
    """Points per dimension when none are given: the paper's 400 in 1D, 256 per axis in 2D."""
    return 400 if dim == 1 else 256


def solve(problem: str, options: dict[str, Any]) -> dict[str, Any]:
    """Fit GP-HM on ``problem`` with CLI ``options``; returns a flat JSON-able result."""
    from pdeml.gp.plots import save_fit_figure, save_history_figure
    from pdeml.gp.solver import GPSolver

    options = dict(options)
    if options.get("sampler") is not None:
        raise ValueError(f"--sampler does not apply to --method gp (it solves on a tensor grid), "
                         f"got --sampler {options['sampler']!r}")
    unknown = sorted(set(options) - set(COMMON_KEYS) - set(SOLVER_KEYS))
    if unknown:
        raise ValueError(f"unknown option(s) {unknown} for --method gp; known --set keys: {', '.join(SOLVER_KEYS)}")
    prob = problems.get(problem)
    points = options.get("points") or default_points(getattr(prob, "dim", 1))
    kwargs = {k: options[k] for k in SOLVER_KEYS if options.get(k) is not None}
    solver = GPSolver(prob, points, kernel=options.get("kernel") or "student-t", steps=options.get("steps"),
                      device=options.get("device") or "auto", seed=options.get("seed") or 0,
                      progress=options.get("progress"), **kwargs)
    solver.fit()
    result = solver.summary()
    out = Path(options.get("out") or "solve-out")
    result["figure"] = str(save_fit_figure(solver, out / f"gp_{prob.name}.png"))
    result["history_figure"] = str(save_history_figure(solver, out / f"gp_{prob.name}_history.png"))
    return result
