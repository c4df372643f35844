"""GP-HM as a method of :func:`pdeml.solve`: run it on a PDE, restore a saved fit."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from pdeml.gp.config import GPConfig
from pdeml.gp.solver import GPSolver
from pdeml.problems.pde import PDE
from pdeml.solution import Method, Solution
from pdeml.train.checkpoint import model_state

SUMMARY_KEYS = ("kernel", "components", "points_per_dim", "profile_steps", "steps", "lbfgs_steps",
                "best_relative_l2", "residual_rms", "boundary_rms")


def _predictor(solver: GPSolver):
    return lambda pts: solver.predict(torch.as_tensor(pts, dtype=torch.float64)).cpu().numpy()


def run(pde: PDE, config: GPConfig) -> Solution:
    solver = GPSolver(pde, config=config).fit()
    summary = solver.summary()
    resolved = {**config.to_dict(), "points_per_dim": solver.points_per_dim, "freq_scale": solver.freq_scale,
                "profile_steps": solver.profile_steps, "steps": solver.steps, "run_dir": None, "progress": None}
    against = "exact" if pde.has_exact else f"FD at {'x'.join(map(str, solver.points_per_dim))}"
    return Solution(pde, "gp", resolved, _predictor(solver), summary["relative_l2"], against, solver.seconds,
                    solver.history, model_state(solver.model), {k: summary[k] for k in SUMMARY_KEYS}, solver)


def restore(pde: PDE, config: dict[str, Any], state: dict[str, Any]):
    settings = {k: v for k, v in config.items() if k in GPConfig.keys()}
    solver = GPSolver(pde, config=GPConfig.from_dict({**settings, "device": "cpu"}))
    solver.model.load_state_dict({k: torch.as_tensor(np.asarray(v)) if not torch.is_tensor(v) else v
                                  for k, v in state.items()})
    return _predictor(solver)


def figures(solution: Solution, out: Path) -> dict[str, Path]:
    """The training history and, where there is an exact solution, the fit with its learned spectrum."""
    from pdeml.gp.plots import save_fit_figure, save_history_figure

    solver, name = solution.native, solution.pde.name
    out_figs = {"history_figure": save_history_figure(solver, out / f"gp_{name}_history.png")}
    if solution.pde.has_exact:
        out_figs["fit_figure"] = save_fit_figure(solver, out / f"gp_{name}.png")
    return out_figs


METHOD = Method("gp", GPConfig, run, restore, "GP-HM on a tensor grid", figures)
