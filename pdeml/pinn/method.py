"""The PINN as a method of :func:`pdeml.solve`: run it on a PDE, restore a saved network."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from pdeml.pinn.config import PINNConfig
from pdeml.pinn.geometry import Domain
from pdeml.pinn.network import Lifting, PINNModel
from pdeml.pinn.solve import PINNResult, solve_pinn
from pdeml.problems.pde import PDE
from pdeml.solution import Method, Solution
from pdeml.train.checkpoint import model_state

DTYPES = {"float32": torch.float32, "float64": torch.float64}


def _predictor(model: torch.nn.Module):
    p = next(model.parameters())

    @torch.no_grad()
    def predict(pts):
        x = torch.as_tensor(pts).to(p.device, p.dtype)
        return torch.cat([model(c) for c in x.split(65536)]).double().cpu().numpy()

    return predict


def run(pde: PDE, config: PINNConfig) -> Solution:
    result: PINNResult = solve_pinn(pde, config=config)
    summary = result.summary()
    resolved = {**config.to_dict(), "geometry": None, "run_dir": None, "progress": None,
                "model": result.model.config}
    ev = result.evaluation
    against = "exact" if pde.has_exact else f"FD at {'x'.join(map(str, ev.shape))}"
    extra = {k: summary[k] for k in ("sampler", "points", "steps", "lbfgs_steps", "relative_l2_near",
                                     "relative_l2_away")}
    return Solution(pde, "pinn", resolved, _predictor(result.model), result.relative_l2, against, result.seconds,
                    result.history, model_state(result.model), extra, result)


def restore(pde: PDE, config: dict[str, Any], state: dict[str, Any]):
    mc = dict(config["model"])
    dtype = DTYPES[config.get("dtype", "float32")]
    domain = Domain.from_problem(pde, pde.geometry, dtype=dtype)
    lifting = None
    if any(k.startswith("lifting.") for k in state):
        lifting = Lifting(mc["dim"], mc["low"], mc["high"])
    model = PINNModel(**mc, distance=domain.distance_factor if mc["boundary"] == "exact" else None,
                      lifting=lifting).to(dtype)
    model.load_state_dict(state)
    return _predictor(model.eval())


def figures(solution: Solution, out: Path) -> dict[str, Path]:
    """The error per round and where the sampler put its points."""
    from pdeml.pinn.plots import history_figure, sampler_figure

    result = solution.native
    return {"error_history_figure": history_figure(result, out / "pinn_history.png"),
            "sampler_figure": sampler_figure(result, out / "pinn_sampler_points.png")}


METHOD = Method("pinn", PINNConfig, run, restore, "physics-informed network with a collocation sampler", figures)
