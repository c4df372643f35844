"""``pdeml solve PROBLEM --method pinn --sampler uniform|rar|rad|aas``: train, measure, plot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

NOT_FOR_PINN = ("kernel",)


def solve(problem: str, options: dict[str, Any]) -> dict[str, Any]:
    """Run :func:`~pdeml.pinn.solve_pinn` with CLI ``options``; write figures into ``options["out"]``.

    ``options``: sampler, points, steps, seed, device, out, progress (None when not given) and
    any ``--set key=value`` (e.g. ``beta``, ``rounds``, ``boundary``, ``dtype=float64``).
    """
    from pdeml.pinn.plots import history_figure, sampler_figure, solution_figure
    from pdeml.pinn.solve import save_result, solve_pinn

    opts = dict(options)
    for key in NOT_FOR_PINN:
        if opts.pop(key, None) is not None:
            raise ValueError(f"option --{key} does not apply to --method pinn (it is a GP option); "
                             "PINN options: --sampler, --points, --steps, --seed and --set key=value")
    out = Path(opts.pop("out", None) or "solve-out")
    sampler = opts.pop("sampler", None) or "uniform"
    dtype_name = str(opts.pop("dtype", "float32"))
    dtypes = {"float32": torch.float32, "float64": torch.float64}
    if dtype_name not in dtypes:
        raise ValueError(f"dtype must be float32 or float64, got {dtype_name!r}")
    kwargs = {k: opts.pop(k) for k in ("points", "steps", "seed", "progress") if k in opts}
    device = opts.pop("device", None) or "auto"
    result = solve_pinn(problem, sampler=sampler, device=device, dtype=dtypes[dtype_name], **kwargs, **opts)

    out.mkdir(parents=True, exist_ok=True)
    figures = {
        "solution_figure": str(solution_figure(result, out / "pinn_solution.png")),
        "error_history_figure": str(history_figure(result, out / "pinn_history.png")),
        "sampler_figure": str(sampler_figure(result, out / "pinn_sampler_points.png")),
    }
    checkpoint = save_result(result, out / "model.pt")
    return {**result.summary(), "method": "pinn", "dtype": dtype_name,
            "rounds": len(result.history), "boundary": result.options["boundary"],
            "final_train_loss": result.history[-1]["train_loss"], **figures, "checkpoint": str(checkpoint)}
