"""``pdeml bench spectral-refiner``: SFNO + Spectral-Refiner on 2D Navier–Stokes (FNO forcing; nu = 1e-3, or 1e-4).

Data: trajectories of pdeml's pseudo-spectral solver (float64, 2/3 dealiasing, CN/Heun) from
Gaussian-random-field initial vorticity, recorded every ``frame_dt`` after a warm-up. The SFNO
trains (relative space-time L2, Adam, one-cycle) on windows of ``t_in`` frames -> ``t_out`` frames
at the training resolution (stride-downsampled from the solver grid) and is tested zero-shot at
the solver resolution on held-out trajectories. Each test window is then refined by
:class:`pdeml.refine.SpectralRefiner` (per sample, float64, no data).

Per test sample: relative L2 against the reference before/after refinement, the H^-1 estimator
before/after, the estimator of the reference itself (its discretisation floor) and the
refinement time. Summary rows: the Spearman rank correlation between the estimator and the true
error over the predictions of the SFNO after every training epoch (differing quality), the SFNO
inference time against the reference solver over the same horizon, and the cheapest coarser
solver run (coarser grid, larger time step) whose error is at most the refined SFNO's.

Settings. ``paper`` is the authors' setting (256^2 solver with dt 1e-3, warm-up to t = 30,
100 frames on (30, 50], 1152 training trajectories, 64^2 training, 256^2 test; 10 in, 40 out).
``small`` is sized for 2 CPU cores: solver at 128^2 with dt 5e-3 (CFL about 0.1), a warm-up to
t = 5 only (the flow is still developing from its random initial state), frames every 0.2 as
in the paper, 24 training and 6 test trajectories, windows 10 -> 10 frames, training at 64^2 and
testing at 128^2, a narrower SFNO (width 12, channel expansion 2, modes (12, 12, 5)) for 8 epochs;
the refinement runs 100 Adam iterations (the paper's learning rates; 50 iterations leave the
error still falling).
``turbulent`` is a flow where the reference needs the fine grid: nu = 1e-4, warm-up to t = 20 (on
128^2, which resolves it), then 30 frames every 0.2 on 256^2 (dt 2e-3), kept at every other node
(128^2); about 1e-3 of the enstrophy lies above wavenumber 16 and 1e-4 above 21, so a 64^2 run is
off by about a percent and a 32^2 run by about ten. The SFNO trains at 64^2 (40 trajectories,
every window), is tested zero-shot at 128^2 and refined by preconditioned L-BFGS on the L2
residual (``rtol`` 0.1); the solver rows run every grid from 256^2 down to 32^2 from the same
frames, so SFNO + refinement and the solver at equal accuracy are timed in one run.
``tiny`` only exercises the code.
"""

from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from pdeml.data import DeviceDataset, DeviceLoader, cached_dataset, load_dataset
from pdeml.device import resolve_device
from pdeml.losses import relative_l2
from pdeml.models import build, count_parameters
from pdeml.models.workflow import operator_objective
from pdeml.problems.navier_stokes import NavierStokes2D
from pdeml.refine import SpectralRefiner, frame_norm, ns_error_estimate, ns_estimator
from pdeml.solvers.spectral import downsample, navier_stokes_2d, spectral_upsample, windows
from pdeml.train import Trainer

PRESETS: dict[str, dict[str, Any]] = {
    "tiny": {"data": {"solver_resolution": 32, "dt": 1e-2, "warmup": 0.5, "frame_dt": 0.2, "n_frames": 14,
                      "n_train": 3, "n_test": 2},
             "train_resolution": 16, "t_in": 6, "t_out": 4, "window_stride": 2,
             "model": {"modes": [4, 4, 3], "width": 6, "n_layers": 1, "latent_steps": 6, "channel_expansion": 1},
             "epochs": 2, "batch_size": 4, "lr": 3e-3,
             "refine": {"modes": None, "steps": 4}, "coarse": [[16, 2e-2]]},
    "small": {"data": {"solver_resolution": 128, "dt": 5e-3, "warmup": 5.0, "frame_dt": 0.2, "n_frames": 40,
                       "n_train": 24, "n_test": 6},
              "train_resolution": 64, "t_in": 10, "t_out": 10, "window_stride": 3,
              "model": {"modes": [12, 12, 5], "width": 12, "n_layers": 4, "latent_steps": 10,
                        "channel_expansion": 2},
              "epochs": 8, "batch_size": 4, "lr": 3e-3,
              "refine": {"modes": [64, 64, 6], "steps": 100}, "coarse": [[64, 1e-2], [48, 1e-2], [32, 2e-2]]},
    "paper": {"data": {"solver_resolution": 256, "dt": 1e-3, "warmup": 30.0, "frame_dt": 0.2, "n_frames": 100,
                       "n_train": 1152, "n_test": 16},
              "train_resolution": 64, "t_in": 10, "t_out": 40, "window_stride": 10,
              "model": {"modes": [12, 12, 5], "width": 20, "n_layers": 4, "latent_steps": 10,
                        "channel_expansion": 4},
              "epochs": 10, "batch_size": 4, "lr": 1e-3,
              "refine": {"modes": [64, 64, 6], "steps": 50},
              "coarse": [[128, 2e-3], [96, 2e-3], [64, 5e-3], [48, 1e-2]]},
    # a flow that needs a fine reference: nu = 1e-4, warm-up to t = 20 (on 128^2, where the warm-up
    # is resolved), frames on 256^2 stored at every other node (128^2); SFNO trained at 64^2,
    # tested zero-shot at 128^2; the cheap refinement (preconditioned L-BFGS on the L2 residual)
    "turbulent": {"data": {"nu": 1e-4, "solver_resolution": 256, "dt": 2e-3, "warmup": 20.0, "frame_dt": 0.2,
                           "n_frames": 30, "n_train": 40, "n_test": 6, "store_resolution": 128,
                           "warmup_resolution": 128, "warmup_dt": 4e-3, "max_cfl": 0.5},
                  "train_resolution": 64, "t_in": 10, "t_out": 10, "window_stride": 1,
                  "model": {"modes": [12, 12, 5], "width": 12, "n_layers": 4, "latent_steps": 10,
                            "channel_expansion": 2},
                  "epochs": 12, "batch_size": 4, "lr": 3e-3,
                  "refine": {"modes": [64, 64, 6], "steps": 100, "method": "lbfgs", "s": 0.0, "rtol": 0.1},
                  "coarse": [[256, 4e-3], [128, 4e-3], [96, 5e-3], [64, 1e-2], [48, 1e-2], [32, 2e-2]]},
}

NU = 1e-3
#: the FNO forcing f(X, Y) of the data (callable on torch grids)
_forcing = NavierStokes2D(nu=NU, forcing="fno").forcing


#: optional data settings passed on to :class:`NavierStokes2D` as they are
_OPTIONAL = ("warmup_resolution", "warmup_dt", "max_cfl")


def problem(d: dict[str, Any]) -> NavierStokes2D:
    """The data recipe: frames every ``frame_dt`` after ``warmup`` (plus the frame at ``warmup``)."""
    return NavierStokes2D(nu=d.get("nu", NU), forcing="fno", dt=d["dt"], warmup=d["warmup"],
                          t_final=d["warmup"] + d["frame_dt"] * d["n_frames"], n_snapshots=d["n_frames"],
                          solver_resolution=d["solver_resolution"], **{k: d[k] for k in _OPTIONAL if k in d})


def stored_resolution(d: dict[str, Any]) -> int:
    """The grid the trajectories are kept on: every ``solver / stored``-th node of the solver grid."""
    return d.get("store_resolution", d["solver_resolution"])


def trajectories(d: dict[str, Any], progress: bool | None) -> Tensor:
    """``(n_train + n_test, s, s, 1 + n_frames)`` float32 vorticity on the stored grid (cached)."""
    prob = problem(d)
    n = d["n_train"] + d["n_test"]
    path = cached_dataset("navier_stokes", n, stored_resolution(d), seed=0, params=prob.params,
                          progress=progress, workers=2)
    data = load_dataset(path)
    return torch.cat([data.x[:, 0, :, :, None], data.y[:, 0]], dim=-1)


def _spearman(a, b) -> float:
    from scipy.stats import spearmanr

    return float(spearmanr(np.asarray(a), np.asarray(b)).statistic)


@torch.no_grad()
def _predict(model, x: Tensor, t_out: int, batch: int = 4) -> Tensor:
    model.eval()
    return torch.cat([model(x[i:i + batch], t_out=t_out) for i in range(0, x.shape[0], batch)])


def solve_window(w0: Tensor, resolution: int, dt: float, frame_dt: float, t_out: int,
                 nu: float = NU) -> tuple[Tensor, float]:
    """Solver run from ``w0`` ``(b, s, s)`` over ``t_out`` frames on an ``resolution`` grid, returned
    on the ``s x s`` grid ``(b, s, s, t_out)`` (float64), and its wall time in seconds. A coarser
    grid starts from the truncated field and is interpolated back; a finer one starts from the
    interpolated field and is sampled at every ``resolution / s``-th node, as the data are."""
    s = w0.shape[-1]
    w0 = w0.double()
    start_field = (downsample(w0, resolution, method="spectral") if resolution < s
                   else spectral_upsample(w0, resolution))
    prob = NavierStokes2D(nu=nu, forcing="fno", solver_resolution=resolution)
    grid = torch.as_tensor(np.stack(prob.grid(resolution)), device=w0.device)
    f = prob.forcing(grid[0], grid[1])
    times = [frame_dt * (k + 1) for k in range(t_out)]
    start = time.perf_counter()
    traj = navier_stokes_2d(start_field, f, nu, dt, times[-1], record_times=times, max_cfl=1.0)
    seconds = time.perf_counter() - start
    if resolution > s:
        return downsample(traj.movedim(-1, 1), s).movedim(1, -1), seconds
    return spectral_upsample(traj.movedim(-1, 1), s).movedim(1, -1), seconds


def plot_panels(path: str | Path, truth: Tensor, sfno: Tensor, refined: Tensor, title: str = "") -> Path:
    """Truth / SFNO / refined vorticity and both errors at the last frame of ``(n, n, t)`` windows."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from pdeml.plot import save_figure

    k = truth.shape[-1] - 1
    panels = [("truth", truth[..., k]), ("SFNO", sfno[..., k]), ("refined", refined[..., k]),
              ("|SFNO - truth|", (sfno - truth)[..., k].abs()), ("|refined - truth|", (refined - truth)[..., k].abs())]
    fig, axes = plt.subplots(1, 5, figsize=(17, 3.6))
    vmin, vmax = float(truth[..., k].min()), float(truth[..., k].max())
    emax = float(panels[3][1].max())
    for ax, (name, img) in zip(axes, panels):
        kw = ({"cmap": "magma", "vmin": 0, "vmax": emax} if name.startswith("|")
              else {"cmap": "RdBu_r", "vmin": vmin, "vmax": vmax})
        im = ax.imshow(img.detach().cpu().numpy().T, origin="lower", extent=(0, 1, 0, 1), **kw)
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
        if name in ("SFNO", "refined"):
            rel = torch.linalg.norm(img - truth[..., k]) / torch.linalg.norm(truth[..., k])
            name += f" (rel. L2 {float(rel):.2e})"
        ax.set_title(name, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(title or f"vorticity at the last predicted frame ({truth.shape[0]}^2)")
    return save_figure(fig, path, dpi=90)


def plot_history(path: str | Path, history: Tensor, errors: Tensor | None = None, config=None) -> Path:
    """Estimator (and true error, when known) against the refinement iteration, one line per sample;
    ``config`` (the refiner's :class:`~pdeml.refine.RefineConfig`, default settings if None) names
    the loss and the iteration on the axes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from pdeml.plot import save_figure

    method, s = ("adam", -1.0) if config is None else (config.method, config.s)
    loss = f"{'L2' if s == 0 else f'H^{s:g}'} residual (refinement loss)"
    step = f"{'L-BFGS' if method == 'lbfgs' else 'Adam'} iteration"
    fig, axes = plt.subplots(1, 2 if errors is not None else 1, figsize=(11 if errors is not None else 5.5, 4),
                             squeeze=False)
    for i in range(history.shape[0]):
        axes[0, 0].semilogy(history[i].numpy(), label=f"sample {i}")
        if errors is not None:
            axes[0, 1].semilogy(errors[i].numpy(), label=f"sample {i}")
    axes[0, 0].set(xlabel=step, ylabel=loss, title="estimator during refinement")
    if errors is not None:
        axes[0, 1].set(xlabel=step, ylabel="relative L2 error", title="true error during refinement")
    axes[0, 0].legend(fontsize=7)
    return save_figure(fig, path, dpi=90)


def _scatter(path: Path, errors: list[float], estimates: list[float], spearman: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from pdeml.plot import save_figure

    fig, ax = plt.subplots(figsize=(5, 4.2))
    ax.loglog(errors, estimates, "o", alpha=0.7)
    ax.set(xlabel="relative L2 error (against the reference)", ylabel="H^-1 residual estimator",
           title=f"SFNO after each epoch, test windows\nSpearman {spearman:.3f}")
    save_figure(fig, path, dpi=90)


def run(preset: str = "small", device: str = "auto", progress: bool | None = None,
        out: str | None = None) -> list[dict[str, Any]]:
    cfg = PRESETS[preset]
    d = cfg["data"]
    dev = resolve_device(device)
    t_in, t_out, frame_dt, nu = cfg["t_in"], cfg["t_out"], d["frame_dt"], d.get("nu", NU)
    traj = trajectories(d, progress)
    s, r = stored_resolution(d), cfg["train_resolution"]
    train_traj = downsample(traj[: d["n_train"]].movedim(-1, 1), r).movedim(1, -1)
    x, y = windows(train_traj, t_in, t_out, cfg["window_stride"])
    test_x = traj[d["n_train"]:, ..., :t_in].double()
    test_y = traj[d["n_train"]:, ..., t_in:t_in + t_out].double()

    # -- train, keeping the weights of every epoch ------------------------------------------
    torch.manual_seed(0)
    model = build("sfno", out_steps=t_out, **cfg["model"])
    snapshots: list[dict[str, Tensor]] = []
    loader = DeviceLoader(DeviceDataset(x[:, None], y[:, None]), cfg["batch_size"], seed=0)
    trainer = Trainer(model, operator_objective("relative_l2"), loader, epochs=cfg["epochs"], lr=cfg["lr"],
                      optimizer="adam", scheduler="onecycle", scheduler_options={"pct_start": 0.2},
                      device=str(dev), progress=progress,
                      callbacks=[lambda tr, rec: snapshots.append(copy.deepcopy(tr.model.state_dict()))])
    start = time.perf_counter()
    trainer.fit()
    train_seconds = time.perf_counter() - start
    model = trainer.model.eval()

    def estimate(pred: Tensor) -> Tensor:
        window = torch.cat([test_x[..., -2:], pred.double().cpu()], dim=-1)
        return ns_estimator(window, frame_dt, nu, _forcing)

    # -- estimator against error over the SFNO after every epoch ----------------------------
    epochs_est, epochs_total, epochs_err = [], [], []
    for state in snapshots:
        model.load_state_dict(state)
        pred = _predict(model, test_x.float().to(dev), t_out).cpu()
        epochs_est += estimate(pred).tolist()
        epochs_total += ns_error_estimate(test_x, pred.double(), frame_dt, nu, _forcing).total.tolist()
        epochs_err += relative_l2(pred.double(), test_y, reduction="none").tolist()
    model.load_state_dict(snapshots[-1])

    # -- SFNO inference time and refinement ----------------------------------------------------
    xb = test_x.float().to(dev)
    _predict(model, xb[:1], t_out)  # warm-up
    start = time.perf_counter()
    sfno_pred = _predict(model, xb, t_out, batch=1).cpu().double()
    sfno_ms = 1000 * (time.perf_counter() - start) / xb.shape[0]
    refiner = SpectralRefiner(model, nu=nu, dt=frame_dt, forcing=_forcing, **cfg["refine"])
    res = refiner.refine(xb, t_out, target=test_y.to(dev), batch_size=1, progress=progress)
    refined = res.prediction
    err_before = relative_l2(sfno_pred, test_y, reduction="none")
    err_after = relative_l2(refined, test_y, reduction="none")
    est_truth = estimate(test_y)
    per_sample_s = res.seconds / xb.shape[0]

    # the reference-free error estimate (L2 in space) of both windows against their largest frame error
    bounds = {}
    for name, pred in (("sfno", sfno_pred), ("refined", refined.cpu())):
        est = ns_error_estimate(test_x, pred, frame_dt, nu, _forcing)
        frame_err = frame_norm(pred - test_y)
        bounds[name] = (est, frame_err)
    rows: list[dict[str, Any]] = []
    for i in range(xb.shape[0]):
        row = {"row": f"test sample {i}", "rel_l2_sfno": float(err_before[i]), "rel_l2_refined": float(err_after[i]),
               "error_reduction": float(1 - err_after[i] / err_before[i]),
               "estimator_sfno": float(res.initial_estimate[i]), "estimator_refined": float(res.final_estimate[i]),
               "estimator_reference": float(est_truth[i]), "refine_s": per_sample_s}
        for name, (est, frame_err) in bounds.items():
            row |= {f"estimate_{name}": float(est.total[i]), f"first_frame_{name}": float(est.first_frame[i]),
                    f"effectivity_{name}": float(est.total[i] / frame_err[i].max()),
                    f"max_frame_error_{name}": float(frame_err[i].max()),
                    f"first_frame_error_{name}": float(frame_err[i, 0])}
        rows.append(row)
    reduced = [r["error_reduction"] >= 0.4 for r in rows]

    # -- the reference solver: same horizon, then coarser runs ---------------------------------
    w0 = test_x[..., -1]
    ref_pred, ref_s = solve_window(w0, d["solver_resolution"], d["dt"], frame_dt, t_out, nu)
    ref_err = float(relative_l2(ref_pred, test_y, reduction="none").mean())  # reproduces the data: ~ float32 storage
    coarse = []
    for res_c, dt_c in cfg["coarse"]:
        try:
            pred_c, sec_c = solve_window(w0, res_c, dt_c, frame_dt, t_out, nu)
        except (FloatingPointError, ValueError):  # unstable at this step size: not a candidate
            continue
        coarse.append((sec_c, float(relative_l2(pred_c, test_y, reduction="none").mean()), res_c, dt_c))
    target_err = float(err_after.mean())
    matching = [c for c in coarse if c[1] <= target_err]
    cheapest = min(matching) if matching else None
    n_test = xb.shape[0]
    sfno_total_ms = sfno_ms + 1000 * per_sample_s
    for sec_c, err_c, res_c, dt_c in coarse:  # every solver run, per test sample, beside SFNO + refinement
        rows.append({"row": f"solver {res_c}^2, dt {dt_c:g}", "solver_rel_l2": err_c, "solver_ms": 1000 * sec_c / n_test,
                     "solver_over_sfno_plus_refine": 1000 * sec_c / n_test / sfno_total_ms})
    rows.append({"row": "summary", "rel_l2_sfno": float(err_before.mean()), "rel_l2_refined": target_err,
                 "error_reduction": float(1 - err_after.mean() / err_before.mean()),
                 "estimator_sfno": float(res.initial_estimate.mean()),
                 "estimator_refined": float(res.final_estimate.mean()),
                 "estimator_reference": float(est_truth.mean()), "refine_s": per_sample_s,
                 "samples_reduced_40pct": f"{sum(reduced)}/{len(reduced)}",
                 "spearman_estimator_error": _spearman(epochs_est, epochs_err),
                 "spearman_error_estimate": _spearman(epochs_total, epochs_err),
                 "spearman_pairs": len(epochs_est),
                 "sfno_ms": sfno_ms, "sfno_plus_refine_ms": sfno_total_ms,
                 "solver_ms": 1000 * ref_s / n_test, "solver_grid": f"{d['solver_resolution']}^2, dt {d['dt']:g}",
                 "solver_rel_l2": ref_err,
                 "solver_at_equal_accuracy_ms": None if cheapest is None else 1000 * cheapest[0] / n_test,
                 "solver_at_equal_accuracy": "none of " + ", ".join(f"{c[2]}^2/dt {c[3]:g}: {c[1]:.2e}"
                                                                    for c in coarse)
                 if cheapest is None else f"{cheapest[2]}^2, dt {cheapest[3]:g} (rel. L2 {cheapest[1]:.2e})",
                 "params": count_parameters(model), "train_windows": x.shape[0], "train_s": train_seconds})
    if out is not None:
        path = Path(out)
        plot_panels(path / "spectral_refiner_panels.png", test_y[0], sfno_pred[0], refined[0],
                    f"test sample 0, last of {t_out} frames, {s}^2 (SFNO trained at {r}^2)")
        plot_history(path / "spectral_refiner_history.png", res.history, res.error_history, refiner.config)
        _scatter(path / "spectral_refiner_estimator.png", epochs_err, epochs_est, rows[-1]["spearman_estimator_error"])
    return rows


__all__ = ["PRESETS", "plot_history", "plot_panels", "problem", "run", "solve_window", "trajectories"]
