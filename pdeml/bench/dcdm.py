"""``pdeml bench dcdm``: DCDM against CG, IC(0)- and AMG-PCG on pressure systems.

Pressure Poisson systems with obstacles and Neumann walls (singular: right-hand sides projected
onto the range), 2D and 3D. A DCDM network is trained on a few random obstacle masks at one
grid size (Ritz-vector right-hand sides, through the Trainer) and tested at that size and at
larger ones on masks drawn with other seeds, with right-hand sides from the divergence of smooth
random velocities (a projection step). Every solver stops at a relative residual of ``rtol``
(1e-6) and starts from 0; the reported residual is the true ``||b - Ax|| / ||b||`` at the end.

Methods: SciPy CG (no preconditioner, IC(0) = the zero-fill incomplete Cholesky of the stencil,
AMG = one pyamg smoothed-aggregation V-cycle; Jacobi is left out: the stencil's diagonal is
constant away from walls and obstacles, so Jacobi-PCG needs CG's iterations), pdeml's
``dcdm_solve`` as in the paper (``DCDM``: network direction A-orthogonalized against the last two
directions) and against all previous directions (``DCDM, all dirs``, ``window=None``), and, at
the training size, SciPy CG with the network as ``M`` (``DeepPreconditioner``; nonlinear, so
convergence is not guaranteed). The learned methods stop after ``maxiter_net`` iterations (a
case may set its own).
``setup_s`` is the preconditioner set-up (factorization, AMG hierarchy; DCDM's training is in
its own row), ``solve_s`` the iteration; both are means over the test masks of a grid.
``vs_cg_iters`` = iterations / CG's, ``vs_amg_time`` = (setup + solve) / AMG-PCG's; for DCDM
``growth`` = iterations / its iterations at the training size - 1.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla
import torch

from pdeml.device import resolve_device
from pdeml.linalg import DeepPreconditioner, dcdm_solve, train_dcdm
from pdeml.problems.pressure import PressureSystem
from pdeml.solvers.pressure import PressureLinearSystem

PRESETS: dict[str, dict[str, Any]] = {
    "tiny": {"rtol": 1e-6, "maxiter_net": 30,
             "cases": [{"dim": 2, "train_grid": 12, "test_grids": [12, 16], "tests": [1, 1],
                        "train": {"systems": 1, "ritz": 40, "samples": 40, "epochs": 2, "batch_size": 10,
                                  "lr": 1e-3}}]},
    "small": {"rtol": 1e-6, "maxiter_net": 400,
              "cases": [{"dim": 2, "train_grid": 64, "test_grids": [64, 128, 256], "tests": [2, 1, 1],
                         "train": {"systems": 4, "ritz": 800, "samples": 400, "epochs": 120, "batch_size": 5,
                                   "lr": 1e-3, "levels": 4}},
                        {"dim": 3, "train_grid": 16, "test_grids": [16, 32], "tests": [2, 1], "maxiter_net": 200,
                         "train": {"systems": 4, "ritz": 200, "samples": 400, "epochs": 80, "batch_size": 5,
                                   "lr": 1e-3, "levels": 3}}]},
    "paper": {"rtol": 1e-6, "maxiter_net": 1000,
              "cases": [{"dim": 3, "train_grid": 64, "test_grids": [64, 128, 256], "tests": [4, 2, 1],
                         "train": {"systems": 8, "ritz": 1000, "samples": 2000, "epochs": 50, "batch_size": 10,
                                   "lr": 1e-4}}]},
}

WALLS = "neumann"


# --------------------------------------------------------------------------------------------
# baseline preconditioners


def ic0_preconditioner(system: PressureLinearSystem) -> spla.LinearOperator:
    """Zero-fill incomplete Cholesky ``M = (D + L) D^-1 (D + L)^T`` of the pressure stencil.

    ``L`` is the strictly lower part of ``A`` (C-order numbering); for a 5/7-point stencil every
    fill entry of the factorization falls outside the pattern, so only the pivots change:
    ``d_i = a_ii - sum_{j < i} a_ij^2 / d_j``, computed one anti-diagonal wavefront of the grid
    at a time (cells on a wavefront do not depend on each other). The two triangular solves run
    in SuperLU (a triangular matrix in natural order factors without fill).
    """
    A = system.matrix.tocsr()
    mask, index = system.mask, system.index
    coords = np.nonzero(mask)  # C order: the unknowns' numbering
    level = np.sum(coords, axis=0)
    diag = A.diagonal().copy()
    d = np.zeros(system.n)
    order = np.argsort(level, kind="stable")
    bounds = np.searchsorted(level[order], np.arange(level.max() + 2))
    # lower neighbours along each axis (coupling -1 where both cells are fluid)
    lower = []
    for a in range(system.dim):
        c = [np.asarray(x) for x in coords]
        ok = c[a] > 0
        c[a] = np.where(ok, c[a] - 1, 0)
        nb = np.where(ok, index[tuple(c)], -1)
        lower.append(nb)
    for s in range(level.max() + 1):
        cells = order[bounds[s]: bounds[s + 1]]
        acc = diag[cells].copy()
        for nb in lower:
            j = nb[cells]
            has = j >= 0
            acc[has] -= 1.0 / d[j[has]]
        d[cells] = acc
    if not np.all(d > 0):
        raise ValueError("IC(0) broke down: a non-positive pivot")
    T = (sp.tril(A, k=-1) + sp.diags(d)).tocsc()
    lu = spla.splu(T, permc_spec="NATURAL", diag_pivot_thresh=0.0, options={"SymmetricMode": True})

    def apply(r: np.ndarray) -> np.ndarray:
        y = lu.solve(np.asarray(r, dtype=np.float64).reshape(-1))
        return lu.solve(d * y, trans="T")

    return spla.LinearOperator(A.shape, matvec=apply, dtype=np.float64)


def amg_preconditioner(system: PressureLinearSystem) -> spla.LinearOperator:
    import pyamg

    return pyamg.smoothed_aggregation_solver(system.matrix.tocsr()).aspreconditioner(cycle="V")


# --------------------------------------------------------------------------------------------
# solving


def _true_residual(A: sp.spmatrix, x: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(b - A @ x) / np.linalg.norm(b))


def _scipy_cg(system: PressureLinearSystem, b: np.ndarray, M: Any, rtol: float, maxiter: int,
              history: bool) -> dict[str, Any]:
    A = system.matrix
    count = [0]
    res: list[float] = [1.0]
    bn = np.linalg.norm(b)

    recording = [0.0]  # seconds spent recording the history, left out of the solve time

    def cb(xk: np.ndarray) -> None:
        count[0] += 1
        if history:
            tic = time.perf_counter()
            res.append(float(np.linalg.norm(b - A @ xk) / bn))
            recording[0] += time.perf_counter() - tic

    start = time.perf_counter()
    x, info = spla.cg(A, b, M=M, rtol=rtol, atol=0.0, maxiter=maxiter, callback=cb)
    seconds = time.perf_counter() - start - recording[0]
    return {"iterations": count[0], "solve_s": seconds, "rel_residual": _true_residual(A, system.project(x), b),
            "converged": info == 0, "history": res}


def _solve(method: str, system: PressureLinearSystem, b: np.ndarray, net: torch.nn.Module | None, rtol: float,
           maxiter_net: int, device: torch.device, history: bool) -> dict[str, Any] | None:
    maxiter = 20 * max(system.grid_shape) ** 2
    if method in DCDM_WINDOWS:
        bt = torch.from_numpy(b).to(device)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        x, info = dcdm_solve(system, bt, net, rtol=rtol, maxiter=maxiter_net, window=DCDM_WINDOWS[method])
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        seconds = time.perf_counter() - start
        x = x.cpu().numpy()
        return {"iterations": info.iterations, "setup_s": 0.0, "solve_s": seconds, "converged": info.converged,
                "rel_residual": _true_residual(system.matrix, x, b), "history": info.relative_residuals}
    start = time.perf_counter()
    if method == "CG":
        M, its = None, maxiter
    elif method == "IC(0)-PCG":
        M, its = ic0_preconditioner(system), maxiter
    elif method == "AMG-PCG":
        try:
            M = amg_preconditioner(system)
        except ImportError:
            return None
        its = maxiter
    elif method == "CG, M=net":
        M, its = DeepPreconditioner(net, system=system).as_linear_operator(), maxiter_net
    else:
        raise ValueError(f"unknown method {method!r}")
    setup = time.perf_counter() - start
    out = _scipy_cg(system, b, M, rtol, its, history)
    out["setup_s"] = setup
    return out


METHODS = ("CG", "IC(0)-PCG", "AMG-PCG", "DCDM", "DCDM, all dirs", "CG, M=net")
# A-orthogonalization window of each DCDM variant: the paper's last two directions, or all of them
DCDM_WINDOWS: dict[str, int | None] = {"DCDM": 2, "DCDM, all dirs": None}


def _figure(path: Path, title: str, curves: dict[str, dict[str, Any]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from pdeml.plot import save_figure

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for name, c in curves.items():
        h = np.asarray(c["history"])
        axes[0].semilogy(np.arange(h.size), h, label=name)
        t = np.arange(h.size) * (c["solve_s"] / max(h.size - 1, 1)) + c.get("setup_s", 0.0)
        axes[1].semilogy(t, h, label=name)
    for ax, xl in zip(axes, ("iteration", "seconds (set-up + iterations, evenly spread)")):
        ax.set_xlabel(xl)
        ax.set_ylabel("||b - Ax|| / ||b||")
        ax.grid(True, which="major", alpha=0.3)
    axes[1].set_xscale("symlog", linthresh=1e-2)
    axes[0].legend(fontsize=8)
    fig.suptitle(title)
    save_figure(fig, path, dpi=110)


def run(preset: str = "small", device: str = "auto", progress: bool | None = None,
        out: str | Path | None = None) -> list[dict[str, Any]]:
    cfg = PRESETS[preset]
    dev = resolve_device(device)
    rows: list[dict[str, Any]] = []
    try:
        import pyamg  # noqa: F401
        have_amg = True
    except ImportError:
        have_amg = False
    for case in cfg["cases"]:
        dim, tr = case["dim"], case["train"]
        problem = PressureSystem(dim=dim, obstacles="mixed", walls=WALLS)
        rng = np.random.default_rng(0)
        train_systems = [problem.system(problem.sample_mask(rng, case["train_grid"])) for _ in range(tr["systems"])]
        start = time.perf_counter()
        net, result = train_dcdm(train_systems, ritz=tr["ritz"], samples=tr["samples"], epochs=tr["epochs"],
                                 batch_size=tr["batch_size"], lr=tr["lr"], levels=tr.get("levels", 1), seed=0,
                                 device=str(dev), progress=progress)
        train_s = time.perf_counter() - start
        grid0 = f"{case['train_grid']}^{dim}"
        rows.append({"dim": dim, "grid": grid0, "unknowns": int(np.mean([s.n for s in train_systems])),
                     "method": "DCDM training", "setup_s": train_s,
                     "note": f"{tr['systems']} masks, {tr['epochs']} epochs x {tr['samples']} Ritz rhs, "
                             f"{net.levels} pooling level(s); "
                             f"val one-step residual {result.final.get('val_rel_residual', float('nan')):.3f}"})
        base_iters: dict[str, float | None] = {}
        for g_i, (grid, n_tests) in enumerate(zip(case["test_grids"], case["tests"])):
            per_method: dict[str, list[dict[str, Any]]] = {m: [] for m in METHODS}
            curves: dict[str, dict[str, Any]] = {}
            plot_this = g_i == len(case["test_grids"]) - 1
            n_unknowns = []
            for t in range(n_tests):
                system, b = problem.sample_system(np.random.default_rng(10_000 + 100 * grid + t), grid)
                n_unknowns.append(system.n)
                for m in METHODS:
                    if m == "CG, M=net" and g_i > 0:
                        continue  # the plugin row at the training size only (each step runs the network)
                    r = _solve(m, system, b, net, cfg["rtol"], case.get("maxiter_net", cfg["maxiter_net"]), dev,
                               history=plot_this and t == 0)
                    if r is None:
                        continue
                    per_method[m].append(r)
                    if plot_this and t == 0:
                        curves[m] = r
            means = {m: {"iterations": float(np.mean([r["iterations"] for r in rs])),
                         "setup_s": float(np.mean([r["setup_s"] for r in rs])),
                         "solve_s": float(np.mean([r["solve_s"] for r in rs])),
                         "rel_residual": float(max(r["rel_residual"] for r in rs)),
                         "converged": all(r["converged"] for r in rs)} for m, rs in per_method.items() if rs}
            cg_iters = means["CG"]["iterations"]
            amg_total = (means["AMG-PCG"]["setup_s"] + means["AMG-PCG"]["solve_s"]) if "AMG-PCG" in means else None
            for m in METHODS:
                if m == "CG, M=net" and g_i > 0:
                    continue
                if m not in means:
                    rows.append({"dim": dim, "grid": f"{grid}^{dim}", "method": m,
                                 "note": "skipped: pyamg is not installed" if m == "AMG-PCG" else "skipped"})
                    continue
                r = means[m]
                row = {"dim": dim, "grid": f"{grid}^{dim}", "unknowns": int(np.mean(n_unknowns)), "method": m,
                       "masks": n_tests, **r, "vs_cg_iters": r["iterations"] / cg_iters,
                       "vs_amg_time": (r["setup_s"] + r["solve_s"]) / amg_total if amg_total else None}
                if m.startswith("DCDM"):
                    # only a converged count at the training size and here says anything about growth
                    base_iters.setdefault(m, r["iterations"] if r["converged"] else None)
                    row["growth"] = (r["iterations"] / base_iters[m] - 1.0
                                     if r["converged"] and base_iters[m] is not None else None)
                rows.append(row)
            if out is not None and plot_this and curves:
                _figure(Path(out) / f"dcdm_residuals_{dim}d.png",
                        f"{dim}D pressure system {grid}^{dim} ({n_unknowns[0]:,} unknowns), "
                        f"network trained at {grid0}", curves)
    if not have_amg:
        rows.append({"method": "AMG-PCG", "note": "pyamg not installed: pip install pyamg"})
    return rows
