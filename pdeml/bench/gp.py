"""``pdeml bench gp``: GP-HM on high-frequency and multiscale PDEs, next to a PINN and the grid reference.

Cases (GP-HM, Fang et al. ICLR 2024): Poisson 1D ``sin(100x)`` and ``sin(6x)cos(100x)``,
Allen–Cahn 1D ``sin(100x)``, Poisson 2D ``sin(100x)sin(100y)``, advection ``sin(x - 200y)``.
For each: the relative L2 of the final iterate against the exact solution and the wall time of

- ``gp``: :class:`~pdeml.gp.GPSolver` (float64; Student-t mixture, and the Gaussian mixture where
  the preset lists it), error on the nodes and every midpoint;
- ``pinn``: :func:`pdeml.pinn.solve_pinn` with uniform sampling and ``pinn_points`` collocation
  points (the GP's node count unless the preset caps it), error on the PINN's evaluation set;
- ``reference``: the problem's grid reference (second-order FD; Newton on the FD system for
  Allen–Cahn; exact Fourier transport for advection) on the same nodes, error at the nodes.

Targets: <= 1e-6 on the 1D Poisson cases, <= 1e-4 on 2D Poisson, under 60 s for a 1D
case, better than the PINN and FD at equal points. Figures: ``gp_<case>_<kernel>.png``.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import numpy as np

from pdeml import problems
from pdeml.device import resolve_device

CASES: dict[str, dict[str, Any]] = {
    "poisson1d_sin100": {},
    "poisson1d_sin6cos100": {},
    "allen_cahn1d_sin100": {},
    "poisson2d_sin100": {},
    "advection_sin200": {},
}

# per case: params (problem parameters), points, gp options, pinn options
PRESETS: dict[str, dict[str, Any]] = {
    "tiny": {
        "kernels": ["student-t"],
        "cases": {
            "poisson1d_sin100": {"params": {"freq": 4.0}, "points": 32, "gp": {"profile_steps": 40}},
            "poisson2d_sin100": {"params": {"freq": 2.0}, "points": 12, "gp": {"profile_steps": 10}},
            "advection_sin200": {"params": {"beta": 2.0}, "points": 12, "gp": {"profile_steps": 10}},
        },
        "pinn": {"steps": 40, "rounds": 2},
        "pinn_max_points": 256,
    },
    "small": {
        "kernels": ["student-t"],
        "cases": {
            "poisson1d_sin100": {"points": 400, "gp": {"profile_steps": 300}},
            "poisson1d_sin6cos100": {"points": 400, "gp": {"profile_steps": 300}},
            "allen_cahn1d_sin100": {"points": 400, "gp": {"profile_steps": 200}},
            # 2D grids: the profile phase with the Kronecker-structured CG solve
            "poisson2d_sin100": {"points": 256, "gp": {"profile_steps": 100}},
            "advection_sin200": {"points": 128, "gp": {"profile_steps": 100}},
        },
        # sized for ~15 minutes on 2 shared CPU cores
        "pinn": {"steps": 1000, "rounds": 10},
        "pinn_max_points": 4096,
    },
    "paper": {
        "kernels": ["student-t", "gaussian"],
        "cases": {
            "poisson1d_sin100": {"points": 400, "gp": {"profile_steps": 1000}},
            "poisson1d_sin6cos100": {"points": 400, "gp": {"profile_steps": 1000}},
            "allen_cahn1d_sin100": {"points": 400, "gp": {"profile_steps": 1000}},
            "poisson2d_sin100": {"points": 400, "gp": {"profile_steps": 1000}},
            "advection_sin200": {"points": 200, "gp": {"profile_steps": 1000}},
        },
        "pinn": {"steps": 100_000, "rounds": 20},
        "pinn_max_points": None,
    },
}


def _gp_row(name, prob, case, kernel, device, progress, out) -> dict[str, Any]:
    from pdeml.gp import GPSolver
    from pdeml.gp.plots import save_fit_figure

    solver = GPSolver(prob, case["points"], kernel=kernel, device=str(device), progress=progress, **case.get("gp", {}))
    solver.fit()
    row = {"case": name, "method": f"gp ({kernel})", "points_per_dim": case["points"],
           "nodes": math.prod(solver.points_per_dim), "steps": solver.profile_steps + solver.steps + solver.lbfgs_steps,
           "relative_l2": solver.relative_l2(), "seconds": solver.seconds}
    if out:
        save_fit_figure(solver, Path(out) / f"gp_{name}_{kernel}.png")
    return row


def _pinn_row(name, prob, nodes, settings, device, progress) -> dict[str, Any]:
    from pdeml.pinn import solve_pinn

    cap = settings["pinn_max_points"]
    points = nodes if cap is None else min(nodes, cap)
    opts = dict(settings["pinn"])
    steps = opts.pop("steps")
    res = solve_pinn(prob, sampler="uniform", points=points, steps=steps, seed=0, device=str(device),
                     progress=progress, **opts)
    return {"case": name, "method": "pinn (uniform)", "points_per_dim": None, "nodes": points, "steps": steps,
            "relative_l2": float(res.relative_l2), "seconds": float(res.seconds)}


def _reference_row(name, prob, n) -> dict[str, Any]:
    start = time.perf_counter()
    ref = np.asarray(prob.reference(n), dtype=np.float64)
    seconds = time.perf_counter() - start
    exact = np.asarray(prob.exact(*prob.grid(n)), dtype=np.float64)
    rel = float(np.linalg.norm(ref - exact) / np.linalg.norm(exact))
    return {"case": name, "method": f"reference ({prob.solver})", "points_per_dim": n, "nodes": ref.size,
            "steps": None, "relative_l2": rel, "seconds": seconds}


def run(preset: str = "small", device: str = "auto", progress: bool | None = None,
        out: str | None = None) -> list[dict[str, Any]]:
    settings = PRESETS[preset]
    dev = resolve_device(device)
    try:
        import pdeml.pinn  # noqa: F401

        has_pinn = True
    except ImportError:
        has_pinn = False
    rows = []
    for name, case in settings["cases"].items():
        prob = problems.get(name, **case.get("params", {}))
        gp_rows = [_gp_row(name, prob, case, kernel, dev, progress, out) for kernel in settings["kernels"]]
        rows += gp_rows
        if has_pinn:
            rows.append(_pinn_row(name, prob, gp_rows[0]["nodes"], settings, dev, progress))
        rows.append(_reference_row(name, prob, case["points"]))
    return rows
