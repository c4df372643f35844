"""``pdeml bench aas``: PINN collocation samplers (uniform, RAR, RAD, AAS) on the peak problems.

Every sampler trains the same network (tanh MLP, Dirichlet data imposed exactly through a
distance factor, zero Dirichlet data: see PRESETS) with the same number of collocation points
per round, the same Adam steps and rounds, the same learning-rate schedule (warm-up, then cosine
decay), the same L-BFGS finish (iterations and number of points, chosen by the sampler), from the
same seeds; only the choice of points (and, for AAS, their importance weights) differs.
``aas-unweighted`` is AAS with every point weighted alike (the paper's estimator). Errors are
relative L2 against the exact solution (a 513^2 grid in 2D, importance-sampled points in 10D),
mean and standard deviation over the seeds, split into the part near the solution's peaks
(``|u| >= 1e-3 max|u|``) and away from them; time is the training wall time (for the adaptive
samplers it includes their residual evaluations and, for AAS, the flow's training).
``aas_runs.json`` holds every run, with the sampler's per-round report (the flow's share of the
high-residual region and its time). Problems: ``peak2d`` (-Lap u = f,
u = exp(-beta |x - (0.5, 0.5)|^2)), ``two_peaks`` (Lap u - div(u grad(x^2 + y^2)) = f, peaks at
+-(0.5, 0.5)) and ``gaussian_nd`` (-Lap u = f in 10D, u = exp(-10 |x|^2)).
"""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

SAMPLER_NAMES = ("uniform", "rar", "rad", "aas", "aas-unweighted")
# bench entries that are a sampler with options: AAS with every point weighted alike (the paper's
# estimator), next to pdeml's importance-weighted default
VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {"aas-unweighted": ("aas", {"weighting": "none"})}

PRESETS: dict[str, dict[str, Any]] = {
    "tiny": {
        "problems": [["peak2d", {"beta": 50.0}, 20], ["two_peaks", {"beta": 50.0}, 20],
                     ["gaussian_nd", {"dim": 3}, 20]],
        "samplers": list(SAMPLER_NAMES), "seeds": [0, 1], "points": 64, "rounds": 2,
        "network": {"width": 16, "depth": 2},
        "eval": {"eval_resolution": 33, "eval_points": 2000, "track_points": 256},
        "lbfgs": {"lbfgs_steps": 20, "lbfgs_points": 128},
        "aas": {"flow_steps": 2, "flow_hidden": 16, "flow_bins": 8, "penalty_points": 128, "flow_batch": 256},
    },
    # a budget at which the PINN resolves the published 2D problems (beta = 1000) on one CPU core per
    # run (200-400 s): a 32x4 network, 3000 Adam steps on 2000 points per round in 10 rounds, then
    # 2000 L-BFGS iterations on 8000 points chosen by the sampler; the 10D Gaussian with 3000 Adam
    # steps on 1000 points and 1500 L-BFGS iterations on 4000 (8-12 minutes a run), every sampler's
    # finish there checked on 4000 held-out points (lbfgs_holdout: 4000 points in 10D are few enough
    # for the finish to overfit them; in 2D the held-out residual misjudges the error, docs/pinn.md).
    # 27 runs, about 100 minutes with ``--workers 2`` on two cores
    "small": {
        "problems": [["peak2d", {"beta": 1000.0}, 3000, {"lbfgs_steps": 2000, "lbfgs_points": 8000}],
                     ["two_peaks", {"beta": 1000.0}, 3000, {"lbfgs_steps": 2000, "lbfgs_points": 8000}],
                     ["gaussian_nd", {"dim": 10}, 3000, {"lbfgs_steps": 1500, "points": 1000, "lbfgs_points": 4000,
                                                         "lbfgs_holdout": True}]],
        "samplers": ["uniform", "rad", "aas"], "seeds": [0, 1, 2], "points": 2000,
        "rounds": 10, "network": {"width": 32, "depth": 4}, "eval": {}, "lbfgs": {},
        "aas": {"flow_hidden": 32},
    },
    # the published problems at paper-scale budgets (hours on a GPU)
    "paper": {
        "problems": [["peak2d", {}, 20000], ["two_peaks", {}, 20000], ["gaussian_nd", {"dim": 10}, 20000]],
        "samplers": list(SAMPLER_NAMES), "seeds": [0, 1, 2], "points": 10000, "rounds": 20,
        "network": {"width": 64, "depth": 5}, "eval": {},
        "lbfgs": {"lbfgs_steps": 5000, "lbfgs_points": 20000},
        "aas": {},
    },
}
# the Dirichlet data of the three problems are below 5e-5 (10D) and 1e-20 (2D, beta >= 100):
# u = d(x) N(x) with zero data
# one learning-rate schedule for every sampler: a warm-up over the first 10% of the steps
# (from lr / 25) and a cosine decay to lr / 100; without the warm-up the first rounds' large steps
# leave far-field artefacts that decide the final error
COMMON = {"boundary": "exact", "lifting": "zero", "lr": 3e-3, "scheduler": "onecycle", "warmup": 0.1}


def _label(name: str, params: dict[str, Any]) -> str:
    return name + (" (" + ", ".join(f"{k}={v:g}" for k, v in params.items()) + ")" if params else "")


def _error_figure(path: Path, rows: list[dict[str, Any]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from pdeml.plot import save_figure

    problems = list(dict.fromkeys(r["problem"] for r in rows))
    fig, axes = plt.subplots(1, len(problems), figsize=(4.2 * len(problems), 3.8), squeeze=False)
    for ax, prob in zip(axes[0], problems):
        sel = [r for r in rows if r["problem"] == prob]
        x = np.arange(len(sel))
        ax.bar(x, [r["rel_l2_mean"] for r in sel], yerr=[r["rel_l2_std"] for r in sel], capsize=4,
               color=[f"C{SAMPLER_NAMES.index(r['sampler'])}" for r in sel])
        ax.set_xticks(x, [r["sampler"] for r in sel])
        ax.set_yscale("log")
        ax.set_title(prob, fontsize=9)
        ax.set_ylabel("relative L2 (mean ± std over seeds)")
    save_figure(fig, path, dpi=100)


def _points_figure(path: Path, results: dict[str, Any], columns: int = 5) -> None:
    """Where each sampler put its points over the rounds on the first 2D problem (seed 0): one
    row per sampler, columns from the first round to the L-BFGS set."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from pdeml.plot import save_figure

    n_snap = len(next(iter(results.values())).sampler_points)
    picks = sorted({int(round(i)) for i in np.linspace(1, n_snap - 1, columns)})
    fig, axes = plt.subplots(len(results), len(picks), figsize=(2.6 * len(picks), 2.7 * len(results)),
                             squeeze=False)
    for row, (sampler, res) in zip(axes, results.items()):
        for ax, i in zip(row, picks):
            snap = res.sampler_points[min(i, len(res.sampler_points) - 1)]
            p = snap["points"]
            ax.scatter(p[:, 0], p[:, 1], s=0.8, alpha=0.5, color=f"C{SAMPLER_NAMES.index(sampler)}")
            ax.set_xlim(res.domain.low[0], res.domain.high[0])
            ax.set_ylim(res.domain.low[1], res.domain.high[1])
            ax.set_aspect("equal")
            ax.set_xticks([])
            ax.set_yticks([])
            label = "L-BFGS set" if i == n_snap - 1 else f"round {snap['round']}"
            ax.set_title(f"{sampler}, {label}", fontsize=8)
        row[-1].text(1.02, 0.5, f"rel L2 {res.relative_l2:.2f}", transform=row[-1].transAxes, rotation=90,
                     va="center", fontsize=8)
    fig.suptitle(f"{next(iter(results.values())).problem.name}: collocation points over the rounds (seed 0)")
    save_figure(fig, path, dpi=100)


def _write_runs(out: Path, runs: dict[tuple[str, str], list[dict[str, Any]]]) -> None:
    """``aas_runs.json``: every run's errors and, per round, what its sampler reported (the flow's
    diagnostics and time)."""
    from pdeml.io import write_json_atomic

    out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out / "aas_runs.json", [{"problem": label, "sampler": sampler, **r}
                                              for (label, sampler), rs in runs.items() for r in rs])


def _run_job(job: tuple, s: dict[str, Any], device: str, threads: int | None = None) -> tuple[dict[str, Any], Any]:
    """One (problem, sampler, seed) run: its record, and a light copy of what the points figure needs."""
    from types import SimpleNamespace

    import torch

    from pdeml.pinn import solve_pinn

    if threads:
        torch.set_num_threads(threads)
    name, params, steps, extra, sampler, seed = job
    opts = {**COMMON, **s["network"], **s["eval"], **s["lbfgs"], **extra, "rounds": s["rounds"],
            "problem_params": dict(params)}
    points = opts.pop("points", s["points"])
    opts.setdefault("lbfgs_points", points)
    method, variant = VARIANTS.get(sampler, (sampler, {}))
    if method == "aas":
        opts.update(s["aas"])
    opts.update(variant)
    res = solve_pinn(name, sampler=method, points=points, steps=steps, seed=seed, device=device,
                     progress=False, **opts)
    record = {"relative_l2": res.relative_l2, "near": res.relative_l2_near, "away": res.relative_l2_away,
              "seconds": res.seconds, "steps": res.steps, "dim": res.domain.dim,
              "lbfgs_steps": int(opts.get("lbfgs_steps", 0)), "lbfgs_points": opts.get("lbfgs_points"),
              "adam_relative_l2": [r for r in res.history if r["phase"] == "adam"][-1]["relative_l2"],
              "seed": seed, "points": points,
              "rounds": [{k: v for k, v in r.items() if k.startswith("sampler_") or k in ("phase", "relative_l2")}
                         for r in res.history if r["phase"] == "adam"]}
    light = SimpleNamespace(sampler_points=res.sampler_points, relative_l2=res.relative_l2,
                            domain=SimpleNamespace(low=res.domain.low, high=res.domain.high),
                            problem=SimpleNamespace(name=res.problem.name))
    return record, light


def run(preset: str = "small", device: str = "auto", progress: bool | None = None,
        out: str | None = None, workers: int = 1) -> list[dict[str, Any]]:
    """Rows per (problem, sampler); with ``out``, figures ``aas_errors.png`` and ``aas_points.png``.

    ``workers`` > 1 runs that many jobs at once in separate processes, one thread each (on a CPU,
    one worker per core: threads of concurrent runs would contend)."""
    import sys

    s = PRESETS[preset]
    jobs = [(name, params, steps, extra, sampler, seed) for name, params, steps, *more in s["problems"]
            for extra in [more[0] if more else {}] for sampler in s["samplers"] for seed in s["seeds"]]
    show = sys.stderr.isatty() if progress is None else bool(progress)
    bar = tqdm(total=len(jobs), desc="bench aas", unit="run", disable=not show, dynamic_ncols=True)
    # per (problem, sampler) only the figures of each run; the sampler points are kept for the first
    # 2D problem's first seed, whose points are plotted
    runs: dict[tuple[str, str], list[dict[str, Any]]] = {(_label(j[0], j[1]), j[4]): [] for j in jobs}
    first_2d: dict[str, Any] = {}
    first_2d_name: list[str] = []  # the first problem, in job order, that turns out to be 2D

    def collect(job, record, light):
        name, params, _, _, sampler, seed = job
        runs[(_label(name, params), sampler)].append(record)
        if out:  # every finished run is on disk, also when the benchmark is interrupted
            _write_runs(Path(out), {k: v for k, v in runs.items() if v})
        if record["dim"] == 2 and not first_2d_name:
            first_2d_name.append(name)
        if record["dim"] == 2 and seed == s["seeds"][0] and name == first_2d_name[0]:
            first_2d[sampler] = light
        bar.set_postfix(problem=name, sampler=sampler, seed=seed, refresh=False)
        bar.update()

    if workers <= 1:
        for job in jobs:
            collect(job, *_run_job(job, s, device))
    else:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            futures = [(job, pool.submit(_run_job, job, s, device, 1)) for job in jobs]
            for job, future in futures:
                collect(job, *future.result())
        for key in runs:  # in seed order whatever finished first
            runs[key].sort(key=lambda r: r["seed"])
    bar.close()

    rows = []
    for (label, sampler), results in runs.items():
        errors = [r["relative_l2"] for r in results]
        uniform = [r["relative_l2"] for r in runs[(label, "uniform")]]
        rows.append({
            "problem": label, "dim": results[0]["dim"], "sampler": sampler,
            "rel_l2_mean": statistics.fmean(errors),
            "rel_l2_std": statistics.stdev(errors) if len(errors) > 1 else 0.0,
            "vs_uniform": statistics.fmean(errors) / statistics.fmean(uniform),
            "seconds_mean": statistics.fmean(r["seconds"] for r in results),
            "points": results[0]["points"], "steps": results[0]["steps"], "seeds": len(results),
            "rel_l2_per_seed": " / ".join(f"{e:.2e}" for e in errors),
            "near_mean": statistics.fmean(r["near"] for r in results),
            "away_mean": statistics.fmean(r["away"] for r in results),
            "near_per_seed": " / ".join(f"{r['near']:.2e}" for r in results),
            "away_per_seed": " / ".join(f"{r['away']:.2e}" for r in results),
            "adam_rel_l2_mean": statistics.fmean(r["adam_relative_l2"] for r in results),
            "lbfgs_steps": results[0]["lbfgs_steps"], "lbfgs_points": results[0]["lbfgs_points"],
        })
    if out:
        _error_figure(Path(out) / "aas_errors.png", rows)
        if first_2d:
            _points_figure(Path(out) / "aas_points.png", {k: first_2d[k] for k in s["samplers"] if k in first_2d})
    return rows
