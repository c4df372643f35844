"""``pdeml bench sfno-estimator``: does the a-posteriori estimator rank the errors of SFNO predictions?

Models of clearly different quality come from two SFNO training runs (two widths) on 2D
Navier–Stokes windows (nu = 1e-3, FNO forcing; the data recipe of
:mod:`pdeml.bench.spectral_refiner`): the weights after every epoch of each run. Every model predicts
the same test windows (held-out trajectories, several window starts), zero-shot at the solver
resolution; each prediction's true error is compared with reference-free estimators:

* ``h-1``: the paper's refinement loss, ``||R||_{L2(0,T;H^-1)}`` of ``[known frames, prediction]``
  (:func:`pdeml.refine.ns_estimator`), also with other Sobolev weights ``s`` and ``alpha``;
* ``sfno_dt``: the same norms with ``w_t`` from the SFNO's own Fourier-in-time series
  (:meth:`pdeml.models.sfno.SFNO.time_derivative`) instead of finite differences;
* ``initial``, ``evolution``, ``total``: the two parts of :func:`pdeml.refine.ns_error_estimate`
  (L2 in space, L1 in time; the form of the bound ``||e(t)|| <= C (||e(t_1)|| + ||R||_{L1(L2)})``),
  and ``total_relative`` = total / ``||last known frame||_{L2}``; ``first_frame``, its estimate of
  the first predicted frame's error, is compared with the true one (ratio per window).

Rows: one per model (mean relative L2 error over the window, at the first and the last frame,
mean estimators, the effectivity index ``total / max_t ||e(t)||_{L2}`` (median, min, max over the
windows)); one per estimator (Spearman rank correlation with the relative error over every model x
window); the floor of the estimators on reference trajectories (solver output recorded at spacings
0.05-0.4, finite-difference orders 2, 4, 6). Figure: ``sfno_estimator_scatter.png``.
"""

from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from pdeml.bench.spectral_refiner import (
    NU,
    _forcing,
    _predict,
    _spearman,
    trajectories,
)
from pdeml.data import DeviceDataset, DeviceLoader
from pdeml.device import resolve_device
from pdeml.io import write_json_atomic
from pdeml.losses import relative_l2, sobolev_norm
from pdeml.models import build
from pdeml.models.workflow import operator_objective
from pdeml.refine import (
    ALPHA,
    SpectralRefiner,
    forcing_on_grid,
    frame_norm,
    ns_error_estimate,
    ns_estimator,
    ns_residual,
)
from pdeml.solvers.spectral import downsample, navier_stokes_2d, windows
from pdeml.train import Trainer

PRESETS: dict[str, dict[str, Any]] = {
    "tiny": {"data": {"solver_resolution": 32, "dt": 1e-2, "warmup": 0.5, "frame_dt": 0.2, "n_frames": 14,
                      "n_train": 3, "n_test": 2},
             "train_resolution": 16, "t_in": 6, "t_out": 4, "window_stride": 2, "test_starts": [0, 2],
             "runs": [{"width": 6, "channel_expansion": 1, "epochs": 1}],
             "model": {"modes": [4, 4, 3], "n_layers": 1, "latent_steps": 6}, "batch_size": 4, "lr": 3e-3,
             "floor": {"spacings": [0.1, 0.2], "orders": [2, 4], "n": 1},
             "refine": {"data": {"solver_resolution": 32, "dt": 1e-2, "warmup": 0.5, "frame_dt": 0.2, "n_frames": 14,
                                 "n_train": 3, "n_test": 2},  # the test trajectories of the data above
                        "modes": None, "adam_steps": 4, "lbfgs_steps": 4, "rtol": 0.5}},
    "small": {"data": {"solver_resolution": 64, "dt": 1e-2, "warmup": 5.0, "frame_dt": 0.2, "n_frames": 30,
                       "n_train": 24, "n_test": 6},
              "train_resolution": 32, "t_in": 10, "t_out": 10, "window_stride": 3, "test_starts": [0, 3, 6, 9],
              "runs": [{"width": 12, "channel_expansion": 2, "epochs": 10},
                       {"width": 6, "channel_expansion": 1, "epochs": 4}],
              "model": {"modes": [12, 12, 5], "n_layers": 4, "latent_steps": 10}, "batch_size": 4, "lr": 3e-3,
              "floor": {"spacings": [0.05, 0.1, 0.2, 0.4], "orders": [2, 4, 6], "n": 6},
              "refine": {"data": {"solver_resolution": 128, "dt": 5e-3, "warmup": 5.0, "frame_dt": 0.2,
                                  "n_frames": 30, "n_train": 0, "n_test": 6},
                         "modes": [64, 64, 6], "adam_steps": 100, "lbfgs_steps": 100, "rtol": 0.1}},
}
PRESETS["paper"] = PRESETS["small"]  # the estimator study needs many models, not the paper's data


def _train_run(cfg: dict, run: dict, x: Tensor, y: Tensor, device, progress) -> tuple[dict, list[dict]]:
    torch.manual_seed(0)
    model_cfg = {**cfg["model"], "width": run["width"], "channel_expansion": run["channel_expansion"],
                 "out_steps": cfg["t_out"]}
    model = build("sfno", **model_cfg)
    states: list[dict] = []
    trainer = Trainer(model, operator_objective("relative_l2"),
                      DeviceLoader(DeviceDataset(x[:, None], y[:, None]), cfg["batch_size"], seed=0),
                      epochs=run["epochs"], lr=cfg["lr"], optimizer="adam", scheduler="onecycle",
                      scheduler_options={"pct_start": 0.2}, device=str(device), progress=progress,
                      callbacks=[lambda tr, rec: states.append(copy.deepcopy(tr.model.state_dict()))])
    trainer.fit()
    return model_cfg, states


def floor_rows(cfg: dict, test_traj: Tensor, f: Tensor) -> list[dict[str, Any]]:
    """Estimators of solver trajectories (float64, recorded at several spacings) for FD orders 2, 4, 6."""
    d, fl = cfg["data"], cfg["floor"]
    base = min(fl["spacings"])
    horizon = cfg["t_out"] * d["frame_dt"] + 2 * max(fl["spacings"])
    w0 = test_traj[: fl["n"], ..., cfg["t_in"] - 1].double()
    fine = navier_stokes_2d(w0, f, NU, d["dt"], horizon, record_every=base)
    rows = []
    for h in fl["spacings"]:
        w = fine[..., :: round(h / base)]
        for order in fl["orders"]:
            if w.shape[-1] < 2 * order + 1:
                continue
            p = order // 2
            est = ns_error_estimate(w[..., :p], w[..., p:], h, NU, f, order=order)
            rows.append({"row": f"floor: reference, spacing {h}, order {order}",
                         "h-1": float(ns_estimator(w, h, NU, f, order=order).mean()),
                         "total": float(est.total.mean()), "frames": w.shape[-1]})
    return rows


def refine_rows(cfg: dict, model, device, progress) -> list[dict[str, Any]]:
    """Per test window at the refinement resolution: the SFNO's error, then for each refinement (Adam as
    in the paper, Adam on the L2 residual, L-BFGS on the L2 residual stopped at that Adam run's final
    estimator, and L-BFGS stopped at ``rtol`` of its start) its time, iterations, error and estimate."""
    rc = cfg["refine"]
    d = rc["data"]
    t_in, t_out, h = cfg["t_in"], cfg["t_out"], d["frame_dt"]
    traj = trajectories(d, progress)[d["n_train"]:].double()
    x, y = traj[..., :t_in], traj[..., t_in:t_in + t_out]
    common = {"nu": NU, "dt": h, "forcing": _forcing, "modes": rc["modes"]}
    rows, per_method = [], {}
    for i in range(x.shape[0]):
        xi, yi = x[i:i + 1].float().to(device), y[i:i + 1].to(device)
        runs = {"adam h-1 (paper)": SpectralRefiner(model, steps=rc["adam_steps"], **common),
                "adam l2": SpectralRefiner(model, steps=rc["adam_steps"], s=0.0, **common)}
        results = {name: r.refine(xi, t_out, target=yi, progress=progress) for name, r in runs.items()}
        ratio = min(0.999, float(results["adam l2"].final_estimate / results["adam l2"].initial_estimate))
        for name, rtol in (("lbfgs l2, equal estimator", ratio), (f"lbfgs l2, rtol {rc['rtol']}", rc["rtol"])):
            results[name] = SpectralRefiner(model, steps=rc["lbfgs_steps"], s=0.0, method="lbfgs", rtol=rtol,
                                            **common).refine(xi, t_out, target=yi, progress=progress)
        row: dict[str, Any] = {"row": f"refine sample {i}", "rel_l2_sfno": float(results["adam l2"].error_history[0, 0])}
        for name, res in results.items():
            est = ns_error_estimate(x[i:i + 1], res.prediction, h, NU, _forcing)
            err_frames = frame_norm(res.prediction - y[i:i + 1])
            eff = est.total / err_frames.max(dim=1).values
            first_ratio = float(est.first_frame / err_frames[:, 0])
            red = float(1 - res.error_history[0, -1] / res.error_history[0, 0])
            row |= {f"{name}: rel_l2": float(res.error_history[0, -1]), f"{name}: reduction": red,
                    f"{name}: s": res.seconds, f"{name}: iterations": res.history.shape[1] - 1,
                    f"{name}: estimate": float(est.total), f"{name}: residual": float(est.residual),
                    f"{name}: initial": float(est.initial),
                    f"{name}: evolution": float(est.evolution), f"{name}: first_frame": float(est.first_frame),
                    f"{name}: max_frame_error": float(err_frames.max()), f"{name}: effectivity": float(eff),
                    f"{name}: first_frame_over_true": first_ratio}
            per_method.setdefault(name, []).append((res.seconds, red, float(res.error_history[0, -1]),
                                                    float(eff), res.history.shape[1] - 1, first_ratio))
        rows.append(row)
    for name, vals in per_method.items():
        secs, reds, errs, effs, its, firsts = map(np.array, zip(*vals))
        rows.append({"row": f"refine: {name}", "resolution": d["solver_resolution"], "s_per_sample": float(secs.mean()),
                     "s_max": float(secs.max()), "iterations_mean": float(its.mean()), "rel_l2_refined": float(errs.mean()),
                     "reduction_mean": float(reds.mean()), "samples_reduced_40pct": f"{int((reds >= 0.4).sum())}/{len(reds)}",
                     "effectivity_min": float(effs.min()), "effectivity_max": float(effs.max()),
                     "first_frame_over_true_min": float(firsts.min()), "first_frame_over_true_max": float(firsts.max())})
    return rows


def run(preset: str = "small", device: str = "auto", progress: bool | None = None,
        out: str | None = None) -> list[dict[str, Any]]:
    cfg = PRESETS[preset]
    d = cfg["data"]
    dev = resolve_device(device)
    t_in, t_out, h = cfg["t_in"], cfg["t_out"], d["frame_dt"]
    start = time.perf_counter()
    traj = trajectories(d, progress)
    s, r = d["solver_resolution"], cfg["train_resolution"]
    train = downsample(traj[: d["n_train"]].movedim(-1, 1), r).movedim(1, -1)
    x, y = windows(train, t_in, t_out, cfg["window_stride"])
    test_traj = traj[d["n_train"]:].double()
    tx = torch.cat([test_traj[..., k:k + t_in] for k in cfg["test_starts"]])
    ty = torch.cat([test_traj[..., k + t_in:k + t_in + t_out] for k in cfg["test_starts"]])
    f = forcing_on_grid(_forcing, s)
    p = 2  # order-4 stencils: the last two known frames

    rows: list[dict[str, Any]] = []
    samples: dict[str, list[float]] = {}

    def add(key: str, values: Tensor) -> None:
        samples.setdefault(key, []).extend(values.tolist())

    final_models = []
    for run_cfg in cfg["runs"]:
        model_cfg, states = _train_run(cfg, run_cfg, x, y, dev, progress)
        final_models.append((model_cfg, states[-1]))
        model = build("sfno", **model_cfg).to(dev)
        for epoch, state in enumerate(states, 1):
            model.load_state_dict(state)
            model.eval()
            pred = _predict(model, tx.float().to(dev), t_out).double().cpu()
            with torch.no_grad():
                w_t = torch.cat([model.time_derivative(tx[i:i + 4].float().to(dev), t_out)
                                 for i in range(0, tx.shape[0], 4)]).double().cpu() / h
            err_frames = frame_norm(pred - ty)
            rel = relative_l2(pred, ty, reduction="none")
            known = tx[..., -p:]
            window = torch.cat([known, pred], dim=-1)
            R = ns_residual(window, h, NU, f)
            R_sfno = ns_residual(pred, h, NU, f, w_t=w_t)
            est = ns_error_estimate(tx, pred, h, NU, f)  # uses the last order/2 (+1 for first_frame) frames
            first_ratio = est.first_frame / err_frames[:, 0]
            add("rel", rel)
            add("h-1", sobolev_norm(R, -1.0, (1, 2), alpha=ALPHA, time_dim=-1, dt=h))
            add("h-1 (alpha 1)", sobolev_norm(R, -1.0, (1, 2), alpha=1.0, time_dim=-1, dt=h))
            add("h-0.5", sobolev_norm(R, -0.5, (1, 2), alpha=ALPHA, time_dim=-1, dt=h))
            add("l2", sobolev_norm(R, 0.0, (1, 2), time_dim=-1, dt=h))
            add("sfno_dt h-1", sobolev_norm(R_sfno, -1.0, (1, 2), alpha=ALPHA, time_dim=-1, dt=h))
            add("sfno_dt l2", sobolev_norm(R_sfno, 0.0, (1, 2), time_dim=-1, dt=h))
            add("initial", est.initial)
            add("evolution", est.evolution)
            add("residual", est.residual)
            add("total", est.total)
            add("total_relative", est.total / frame_norm(known[..., -1:])[:, 0])
            add("first_frame", est.first_frame)
            add("max_frame_error", err_frames.max(dim=1).values)
            eff = est.total / err_frames.max(dim=1).values
            # the scale of the error and of the residual: H^-1 over L2 norm (large: large scales)
            e_scale = (sobolev_norm(pred - ty, -1.0, (1, 2), alpha=ALPHA, time_dim=-1, dt=h)
                       / sobolev_norm(pred - ty, 0.0, (1, 2), time_dim=-1, dt=h))
            r_scale = samples["h-1"][-len(rel):], samples["l2"][-len(rel):]
            first = relative_l2(pred[..., :1], ty[..., :1], reduction="none")
            last = relative_l2(pred[..., -1:], ty[..., -1:], reduction="none")
            rows.append({"row": f"width {run_cfg['width']}, epoch {epoch}", "rel_l2": float(rel.mean()),
                         "rel_l2_first_frame": float(first.mean()), "rel_l2_last_frame": float(last.mean()),
                         "h-1": float(np.mean(samples["h-1"][-len(rel):])),
                         "initial": float(est.initial.mean()), "evolution": float(est.evolution.mean()),
                         "first_frame": float(est.first_frame.mean()), "residual": float(est.residual.mean()),
                         "total": float(est.total.mean()), "effectivity_median": float(eff.median()),
                         "effectivity_min": float(eff.min()), "effectivity_max": float(eff.max()),
                         "first_frame_over_true_median": float(first_ratio.median()),
                         "first_frame_over_true_min": float(first_ratio.min()),
                         "first_frame_over_true_max": float(first_ratio.max()),
                         "error_h-1_over_l2": float(e_scale.median()),
                         "residual_h-1_over_l2": float(np.median(np.divide(*r_scale))), "windows": tx.shape[0]})
    if out is not None:  # every prediction's numbers, for scatter plots and further estimators
        write_json_atomic(Path(out) / "sfno_estimator_samples.json", samples)
    rel = samples.pop("rel")
    samples.pop("max_frame_error")
    for key, values in samples.items():
        rows.append({"row": f"spearman: {key}", "spearman": _spearman(values, rel), "pairs": len(rel)})
    rows += floor_rows(cfg, test_traj, f)
    best = build("sfno", **final_models[0][0]).to(dev)
    best.load_state_dict(final_models[0][1])
    rows += refine_rows(cfg, best.eval(), dev, progress)
    rows.append({"row": "summary", "models": sum(len(range(rc["epochs"])) for rc in cfg["runs"]),
                 "windows": tx.shape[0], "error_min": float(min(rel)), "error_max": float(max(rel)),
                 "seconds": time.perf_counter() - start})
    if out is not None:
        _scatter(Path(out) / "sfno_estimator_scatter.png", rel, samples["h-1"], samples["total"], rows)
    return rows


def _scatter(path: Path, rel: list[float], h1: list[float], total: list[float], rows: list[dict]) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from pdeml.plot import save_figure

    rho = {r["row"].removeprefix("spearman: "): r["spearman"] for r in rows if r["row"].startswith("spearman")}
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2))
    for ax, est, name, key in ((axes[0], h1, "L2(0,T; H^-1) residual (refinement loss)", "h-1"),
                               (axes[1], total, "first-frame error + residual, L2 in space", "total")):
        ax.loglog(rel, est, "o", ms=3, alpha=0.6)
        ax.set(xlabel="relative L2 error (against the reference)", ylabel=name,
               title=f"Spearman {rho[key]:.3f} ({len(rel)} predictions)")
    fig.suptitle("SFNO checkpoints x test windows: estimator against true error")
    return save_figure(fig, path, dpi=90)


__all__ = ["PRESETS", "floor_rows", "run"]
