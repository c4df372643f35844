"""``pdeml bench dcdm``: learned preconditioners against CG, IC(0)- and AMG-PCG on pressure systems.

Pressure Poisson systems with obstacles and Neumann walls (singular: right-hand sides projected
onto the range), 2D and 3D. A DCDM network and a multigrid smoother are trained on a few random
obstacle masks at the smallest grid size (Ritz vectors, through the Trainer) and tested at that
size and at larger ones on masks drawn with other seeds, with right-hand sides from the
divergence of smooth random velocities (a projection step). Every solver starts from 0 and stops
at the same relative residual ``rtol`` (each of ``rtols``); the reported residual is the true
``||b - Ax|| / ||b||`` at the end.

Methods: SciPy CG (no preconditioner; IC(0) = the zero-fill incomplete Cholesky of the stencil;
AMG = one pyamg smoothed-aggregation V-cycle; Jacobi is left out: the stencil's diagonal is
constant away from walls and obstacles, so Jacobi-PCG needs CG's iterations); pdeml's
``dcdm_solve`` as in the paper (``DCDM``: network direction A-orthogonalized against the last two
directions), against all previous directions (``DCDM, all dirs``, ``window=None``), and with the
paper's window plus the algebraic coarse correction as a second direction (``DCDM + coarse``,
``coarse=CoarseSpace(system)``, 4^d blocks split by connectivity, set-up in ``setup_s``); SciPy
CG with pdeml's ``MultigridPreconditioner`` as ``M``, untrained (``V-cycle (Jacobi)``) and with the
learned smoother (``learned V-cycle``); and, at the training size, SciPy CG with the DCDM network
as ``M`` (``DeepPreconditioner``; nonlinear, so convergence is not guaranteed). The DCDM solvers
stop after ``maxiter_net`` iterations (a case may set its own) or when their residual has not
dropped by 0.1% in 100 iterations (``stalled``).
``setup_s`` is the preconditioner set-up (factorization, AMG or multigrid hierarchy, coarse
space; training is in its own rows), ``solve_s`` the iteration; both are means over the test
masks of a grid. ``vs_cg_iters`` / ``vs_amg_iters`` = iterations / CG's / AMG-PCG's,
``vs_amg_time`` = (setup + solve) / AMG-PCG's, ``growth`` = iterations / the same method's
iterations at the training size - 1 (empty unless both converged).
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
from pdeml.linalg import (
    CoarseSpace,
    DeepPreconditioner,
    MultigridPreconditioner,
    dcdm_solve,
    train_dcdm,
    train_multigrid,
)
from pdeml.problems.pressure import PressureSystem
from pdeml.solvers.pressure import PressureLinearSystem

# the learned V-cycle's smoother: a few seconds of training at the smallest size
_MG = {"systems": 2, "ritz": 200, "samples": 200, "epochs": 10, "batch_size": 10, "lr": 1e-2}

PRESETS: dict[str, dict[str, Any]] = {
    "tiny": {"rtols": [1e-4, 1e-6], "maxiter_net": 30,
             "cases": [{"dim": 2, "train_grid": 12, "test_grids": [12, 16], "tests": [1, 1],
                        "train": {"systems": 1, "ritz": 40, "samples": 40, "epochs": 2, "batch_size": 10,
                                  "lr": 1e-3},
                        "multigrid": {"systems": 1, "ritz": 40, "samples": 20, "epochs": 2, "batch_size": 10,
                                      "lr": 1e-2, "coarsest": 16}}]},
    "small": {"rtols": [1e-4, 1e-6], "maxiter_net": 400,
              "cases": [{"dim": 2, "train_grid": 64, "test_grids": [64, 128, 256], "tests": [2, 1, 1],
                         "train": {"systems": 4, "ritz": 800, "samples": 400, "epochs": 120, "batch_size": 5,
                                   "lr": 1e-3, "levels": 4}, "multigrid": _MG},
                        {"dim": 3, "train_grid": 16, "test_grids": [16, 32], "tests": [2, 1], "maxiter_net": 200,
                         "train": {"systems": 4, "ritz": 200, "samples": 400, "epochs": 80, "batch_size": 5,
                                   "lr": 1e-3, "levels": 3}, "multigrid": _MG}]},
    "paper": {"rtols": [1e-4, 1e-6], "maxiter_net": 1000,
              "cases": [{"dim": 3, "train_grid": 64, "test_grids": [64, 128, 256], "tests": [4, 2, 1],
                         "train": {"systems": 8, "ritz": 1000, "samples": 2000, "epochs": 50, "batch_size": 10,
                                   "lr": 1e-4}, "multigrid": _MG}]},
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


def _solve(method: str, system: PressureLinearSystem, b: np.ndarray, nets: dict[str, Any], rtol: float,
           maxiter_net: int, device: torch.device, history: bool) -> dict[str, Any] | None:
    maxiter = 20 * max(system.grid_shape) ** 2
    if method in DCDM_VARIANTS:
        window, coarse = DCDM_VARIANTS[method]
        bt = torch.from_numpy(b).to(device)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        space = CoarseSpace(system) if coarse else None
        setup = time.perf_counter() - start
        x, info = dcdm_solve(system, bt, model=nets["dcdm"], rtol=rtol, maxiter=maxiter_net, window=window,
                             coarse=space)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        seconds = time.perf_counter() - start - setup
        x = x.cpu().numpy()
        return {"iterations": info.iterations, "setup_s": setup, "solve_s": seconds, "converged": info.converged,
                "stalled": info.stalled, "rel_residual": _true_residual(system.matrix, x, b),
                "history": info.relative_residuals}
    start = time.perf_counter()
    its = maxiter
    if method == "CG":
        M = None
    elif method == "IC(0)-PCG":
        M = ic0_preconditioner(system)
    elif method == "AMG-PCG":
        try:
            M = amg_preconditioner(system)
        except ImportError:
            return None
    elif method == "V-cycle (Jacobi), CG":
        M = MultigridPreconditioner(system, coarsest=nets["coarsest"])
    elif method == "learned V-cycle, CG":
        M = MultigridPreconditioner(system, smoother=nets["multigrid"], coarsest=nets["coarsest"])
    elif method == "CG, M=net":
        M, its = DeepPreconditioner(nets["dcdm"], system=system), maxiter_net
    else:
        raise ValueError(f"unknown method {method!r}")
    setup = time.perf_counter() - start
    out = _scipy_cg(system, b, M, rtol, its, history)
    out["setup_s"] = setup
    return out


METHODS = ("CG", "IC(0)-PCG", "AMG-PCG", "DCDM", "DCDM, all dirs", "DCDM + coarse", "V-cycle (Jacobi), CG",
           "learned V-cycle, CG", "CG, M=net")
# (A-orthogonalization window, coarse direction) of each DCDM variant: the paper's last two
# directions, all of them, or the last two with the algebraic coarse correction as a second direction
DCDM_VARIANTS: dict[str, tuple[int | None, bool]] = {"DCDM": (2, False), "DCDM, all dirs": (None, False),
                                                     "DCDM + coarse": (2, True)}


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


def _train(case: dict[str, Any], train_systems: list[PressureLinearSystem], dev: torch.device,
           progress: bool | None) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Train the DCDM network and the multigrid smoother on the same systems; their rows."""
    dim, tr, mg = case["dim"], case["train"], case["multigrid"]
    grid0 = f"{case['train_grid']}^{dim}"
    unknowns = int(np.mean([s.n for s in train_systems]))
    start = time.perf_counter()
    net, result = train_dcdm(train_systems, ritz=tr["ritz"], samples=tr["samples"], epochs=tr["epochs"],
                             batch_size=tr["batch_size"], lr=tr["lr"], levels=tr.get("levels", 1), seed=0,
                             device=str(dev), progress=progress)
    rows = [{"dim": dim, "grid": grid0, "unknowns": unknowns, "method": "DCDM training",
             "setup_s": time.perf_counter() - start,
             "note": f"{tr['systems']} masks, {tr['epochs']} epochs x {tr['samples']} Ritz rhs, "
                     f"{net.levels} pooling level(s); "
                     f"val one-step residual {result.final.get('val_rel_residual', float('nan')):.3f}"}]
    start = time.perf_counter()
    smoother, mg_result = train_multigrid(train_systems[: mg["systems"]], ritz=mg["ritz"], samples=mg["samples"],
                                          epochs=mg["epochs"], batch_size=mg["batch_size"], lr=mg["lr"], seed=0,
                                          coarsest=mg.get("coarsest", 400),
                                          device=str(dev), progress=progress)
    rows.append({"dim": dim, "grid": grid0, "unknowns": unknowns, "method": "learned V-cycle training",
                 "setup_s": time.perf_counter() - start,
                 "note": f"{mg['systems']} masks, {mg['epochs']} epochs x {mg['samples']} Ritz errors; one-step "
                         f"A-norm error ratio {mg_result.final.get('train_energy_ratio', float('nan')):.3f}, "
                         f"theta {float(smoother.theta.detach()):.3f}"})
    return {"dcdm": net, "multigrid": smoother, "coarsest": mg.get("coarsest", 400)}, rows


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
        dim = case["dim"]
        problem = PressureSystem(dim=dim, obstacles="mixed", walls=WALLS)
        rng = np.random.default_rng(0)
        train_systems = [problem.system(problem.sample_mask(rng, case["train_grid"]))
                         for _ in range(case["train"]["systems"])]
        nets, train_rows = _train(case, train_systems, dev, progress)
        rows += train_rows
        grid0 = f"{case['train_grid']}^{dim}"
        maxiter_net = case.get("maxiter_net", cfg["maxiter_net"])
        for rtol in cfg["rtols"]:
            base_iters: dict[str, float | None] = {}
            for g_i, (grid, n_tests) in enumerate(zip(case["test_grids"], case["tests"])):
                methods = [m for m in METHODS if m != "CG, M=net" or g_i == 0]  # the plugin at the training size
                per_method: dict[str, list[dict[str, Any]]] = {m: [] for m in methods}
                curves: dict[str, dict[str, Any]] = {}
                plot_this = g_i == len(case["test_grids"]) - 1 and rtol == min(cfg["rtols"])
                n_unknowns = []
                for t in range(n_tests):
                    system, b = problem.sample_system(np.random.default_rng(10_000 + 100 * grid + t), grid)
                    n_unknowns.append(system.n)
                    for m in methods:
                        r = _solve(m, system, b, nets, rtol, maxiter_net, dev, history=plot_this and t == 0)
                        if r is None:
                            continue
                        per_method[m].append(r)
                        if plot_this and t == 0:
                            curves[m] = r
                means = {m: {"iterations": float(np.mean([r["iterations"] for r in rs])),
                             "setup_s": float(np.mean([r["setup_s"] for r in rs])),
                             "solve_s": float(np.mean([r["solve_s"] for r in rs])),
                             "rel_residual": float(max(r["rel_residual"] for r in rs)),
                             "converged": all(r["converged"] for r in rs),
                             "stalled": any(r.get("stalled", False) for r in rs)}
                         for m, rs in per_method.items() if rs}
                cg_iters = means["CG"]["iterations"]
                amg_total = (means["AMG-PCG"]["setup_s"] + means["AMG-PCG"]["solve_s"]) if "AMG-PCG" in means else None
                for m in methods:
                    if m not in means:
                        rows.append({"dim": dim, "grid": f"{grid}^{dim}", "rtol": rtol, "method": m,
                                     "note": "skipped: pyamg is not installed" if m == "AMG-PCG" else "skipped"})
                        continue
                    r = means[m]
                    row = {"dim": dim, "grid": f"{grid}^{dim}", "unknowns": int(np.mean(n_unknowns)), "rtol": rtol,
                           "method": m, "masks": n_tests, **r,
                           "s_per_iter": r["solve_s"] / max(r["iterations"], 1),
                           "vs_cg_iters": r["iterations"] / cg_iters,
                           "vs_amg_iters": r["iterations"] / means["AMG-PCG"]["iterations"] if "AMG-PCG" in means
                           else None,
                           "vs_amg_time": (r["setup_s"] + r["solve_s"]) / amg_total if amg_total else None}
                    # growth: iterations relative to the same method's at the training size (both converged)
                    base_iters.setdefault(m, r["iterations"] if r["converged"] else None)
                    row["growth"] = (r["iterations"] / base_iters[m] - 1.0
                                     if r["converged"] and base_iters[m] is not None else None)
                    rows.append(row)
                if out is not None and plot_this and curves:
                    _figure(Path(out) / f"dcdm_residuals_{dim}d.png",
                            f"{dim}D pressure system {grid}^{dim} ({n_unknowns[0]:,} unknowns), "
                            f"networks trained at {grid0}", curves)
    if not have_amg:
        rows.append({"method": "AMG-PCG", "note": "pyamg not installed: pip install pyamg"})
    return rows
