"""``pdeml bench solvers``: throughput of the reference solvers and how their cost scales.

Darcy: samples per second of the finite-difference solve (coefficient sampling, assembly and
solve) by sparse LU and, when pyamg is installed, by AMG-preconditioned CG. Navier–Stokes:
IMEX time steps per second of the pseudo-spectral solver for batch 1 and 8. For each solver the
exponent ``p`` of a least-squares fit ``seconds ~ unknowns^p`` over the sizes measured.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch

from pdeml import problems
from pdeml.device import resolve_device

PRESETS: dict[str, dict[str, Any]] = {
    "tiny": {"darcy": [16, 32], "darcy_samples": 3, "ns": [16, 32], "ns_batches": [1, 2], "ns_steps": 5},
    "small": {"darcy": [64, 128, 256], "darcy_samples": 10, "ns": [64, 256], "ns_batches": [1, 8], "ns_steps": 20},
    "paper": {"darcy": [64, 128, 256, 512, 1024], "darcy_samples": 10, "ns": [64, 256, 512, 1024],
              "ns_batches": [1, 8], "ns_steps": 50},
}


def _fit_exponent(unknowns: list[int], seconds: list[float]) -> float:
    if len(unknowns) < 2:
        return float("nan")
    return float(np.polyfit(np.log(unknowns), np.log(seconds), 1)[0])


def _darcy_rows(sizes: list[int], n_samples: int, method: str) -> list[dict[str, Any]]:
    prob = problems.get("darcy", method=method)
    rows = []
    for s in sizes:
        prob.sample(0, 0, s)  # warm-up (imports, caches)
        start = time.perf_counter()
        for i in range(n_samples):
            prob.sample(i, 0, s)
        sec = (time.perf_counter() - start) / n_samples
        rows.append({"solver": f"darcy fd ({method})", "grid": f"{s}^2", "batch": 1, "unknowns": (s - 2) ** 2,
                     "per_second": 1.0 / sec, "unit": "samples/s", "seconds": sec})
    return rows


def _seconds_per_ns_step(n: int, batch: int, steps: int, device: torch.device) -> float:
    """Seconds per IMEX step (float64, FNO forcing) from a GRF initial vorticity, after a warm-up step."""
    from pdeml.problems.random_fields import grf_periodic
    from pdeml.solvers.spectral import imex_step_hat, spectral_grid_2d

    rng = np.random.default_rng(0)
    w0 = torch.as_tensor(np.stack([grf_periodic(rng, n) for _ in range(batch)]), device=device)
    grid = spectral_grid_2d(n, device=device)
    t = torch.arange(n, dtype=torch.float64, device=device) / n
    X, Y = torch.meshgrid(t, t, indexing="ij")
    f_hat = torch.fft.rfft2(problems.get("navier_stokes", forcing="fno").forcing(X, Y))
    w_hat = imex_step_hat(torch.fft.rfft2(w0), f_hat, 1e-3, 1e-4, grid)
    _sync(device)
    start = time.perf_counter()
    for _ in range(steps):
        w_hat = imex_step_hat(w_hat, f_hat, 1e-3, 1e-4, grid)
    _sync(device)
    if not bool(torch.isfinite(w_hat).all()):
        raise FloatingPointError("the benchmark run blew up")
    return (time.perf_counter() - start) / steps


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _navier_stokes_rows(sizes: list[int], batches: list[int], steps: int, device: torch.device) -> list[dict[str, Any]]:
    rows = []
    for batch in batches:
        for s in sizes:
            sec = _seconds_per_ns_step(s, batch, steps, device)
            rows.append({"solver": "navier-stokes imex", "grid": f"{s}^2", "batch": batch, "unknowns": s * s * batch,
                         "per_second": 1.0 / sec, "unit": "steps/s", "seconds": sec})
    return rows


def _add_exponents(rows: list[dict[str, Any]]) -> None:
    groups: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault((r["solver"], r["batch"]), []).append(r)
    for group in groups.values():
        p = _fit_exponent([r["unknowns"] for r in group], [r["seconds"] for r in group])
        for r in group:
            r["cost_exponent"] = p


def run(preset: str = "small", device: str = "auto", progress: bool | None = None,
        out: str | None = None) -> list[dict[str, Any]]:
    s = PRESETS[preset]
    rows = _darcy_rows(s["darcy"], s["darcy_samples"], "direct")
    try:
        import pyamg  # noqa: F401

        rows += _darcy_rows(s["darcy"], s["darcy_samples"], "amg")
    except ImportError:
        pass
    rows += _navier_stokes_rows(s["ns"], s["ns_batches"], s["ns_steps"], resolve_device(device))
    _add_exponents(rows)
    return rows
