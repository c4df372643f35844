"""``pdeml bench operators``: MgNO, LSM and the neuraloperator FNO at equal budget.

Darcy (FNO-style data from pdeml's solver): every model trains for the same number of epochs on
the same samples with the same optimizer settings (Adam, lr 1e-3, weight decay 1e-4, one-cycle
schedule stepped per batch), the relative L2 loss and channel-wise normalizers (so every model
can be evaluated at other resolutions); the papers' own recipes are the run presets
(``pdeml train --preset``). Each is tested at its best validation epoch on held-out samples at
the training resolution and at the other resolutions of the preset.

Navier–Stokes (nu = 1e-3, FNO forcing, 64x64): each model maps the last 10 vorticity frames
(as channels) to the next one, trained on every window of the training trajectories, and is
tested by an autoregressive rollout from the first 10 frames of held-out trajectories.

Memory is the bytes a training step holds: parameters, gradients and Adam state plus the
activations saved for the backward pass of one batch (counted with saved-tensor hooks, the
same on any device).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch
from torch import nn

from pdeml.data import DeviceDataset, DeviceLoader, cached_dataset, load_dataset
from pdeml.device import resolve_device
from pdeml.losses import relative_h1, relative_l2
from pdeml.models import NormalizedOperator, build, count_parameters
from pdeml.models.workflow import evaluate_model, operator_objective, predict
from pdeml.solvers.spectral import windows
from pdeml.train import Trainer

MODELS: dict[str, dict[str, Any]] = {
    "fno": {"name": "fno", "n_modes": [12, 12], "hidden_channels": 32},
    "mgno": {"name": "mgno", "preset": "darcy"},
    "lsm": {"name": "lsm", "preset": "darcy"},
}

PRESETS: dict[str, dict[str, Any]] = {
    "tiny": {"darcy": {"resolution": 16, "n_train": 24, "n_val": 8, "n_test": 8, "other_resolutions": [24],
                       "epochs": 1, "batch_size": 8},
             "ns": {"resolution": 16, "n_train": 3, "n_test": 2, "t_in": 4, "t_out": 3, "epochs": 1,
                    "batch_size": 8, "solver_resolution": 16, "dt": 5e-3},
             "models": {"fno": {"n_modes": [4, 4], "hidden_channels": 8},
                        "mgno": {"preset": None, "channels_u": 6, "levels": 3, "n_layers": 2},
                        "lsm": {"preset": None, "d_model": 8, "patch_size": 1}}},
    "small": {"darcy": {"resolution": 64, "n_train": 1000, "n_val": 100, "n_test": 200,
                        "other_resolutions": [32, 128], "epochs": 12, "batch_size": 20},
              "ns": {"resolution": 64, "n_train": 100, "n_test": 20, "t_in": 10, "t_out": 10, "epochs": 6,
                     "batch_size": 20, "solver_resolution": 64, "dt": 2e-3},
              # the Darcy LSM (d_model 64, patch 6: 19M parameters) costs ~250 s per epoch at 64^2 on
              # 2 CPU cores; patch 4 divides 64 (no padding) and d_model 32 keeps it near 30 s
              "models": {"lsm": {"preset": None, "d_model": 32, "patch_size": 4}}},
    "paper": {"darcy": {"resolution": 85, "n_train": 1000, "n_val": 100, "n_test": 200,
                        "other_resolutions": [421], "epochs": 500, "batch_size": 8},
              "ns": {"resolution": 64, "n_train": 1000, "n_test": 200, "t_in": 10, "t_out": 40, "epochs": 500,
                     "batch_size": 20, "solver_resolution": 256, "dt": 1e-4},
              "models": {}},
}


def _model_config(name: str, preset: str, ns: bool, in_channels: int) -> dict[str, Any]:
    cfg = {**MODELS[name], **PRESETS[preset]["models"].get(name, {})}
    cfg = {k: v for k, v in cfg.items() if v is not None}
    cfg["in_channels"] = in_channels
    if name == "mgno" and ns:
        cfg["padding_mode"] = "circular"  # periodic Navier-Stokes
    return cfg


def training_step_bytes(model: nn.Module, objective, batch) -> int:
    """Parameters + gradients + Adam moments, plus the activations one training step saves."""
    seen: dict[tuple[int, int], int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        key = (t.untyped_storage().data_ptr(), t.untyped_storage().nbytes())
        seen[key] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss, _ = objective(model, batch)
    loss.backward()
    model.zero_grad(set_to_none=True)
    param_bytes = sum(p.numel() * p.element_size() for p in model.parameters() if p.requires_grad)
    return 4 * param_bytes + sum(seen.values())


def _train(name: str, cfg: dict[str, Any], train: DeviceDataset, val: DeviceDataset | None, epochs: int,
           batch_size: int, device: torch.device, progress: bool | None) -> tuple[nn.Module, dict[str, Any]]:
    torch.manual_seed(0)
    model = NormalizedOperator(build(**cfg), normalize="channel").fit_normalizers(train.x, train.y).to(device)
    objective = operator_objective("relative_l2")
    # full batches only: BatchNorm (LSM) cannot train on a last batch of one sample
    loader = DeviceLoader(train.to(device), batch_size, seed=0, drop_last=len(train) >= batch_size)
    memory = training_step_bytes(model, objective, next(iter(loader)))
    trainer = Trainer(model, objective, loader, val_source=DeviceLoader(val, 50, shuffle=False) if val else None,
                      epochs=epochs, optimizer="adam", lr=1e-3, weight_decay=1e-4, scheduler="onecycle",
                      scheduler_options={"pct_start": 0.2}, device=str(device), progress=progress)
    start = time.perf_counter()
    trainer.fit()
    seconds = time.perf_counter() - start
    if val is not None:  # test at the best validation epoch
        trainer.load_best()
    return model, {"model": name, "params": count_parameters(model.net), "s_per_epoch": seconds / epochs,
                   "train_mb": memory / 2**20}


def _comparison_figure(path: Path, inp: torch.Tensor, truth: torch.Tensor, preds: dict[str, torch.Tensor],
                       title: str) -> None:
    """Input and truth, then one column per model: prediction (truth's colour scale) over its error."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from pdeml.plot import save_figure

    n = len(preds)
    fig, axes = plt.subplots(2, n + 1, figsize=(3.4 * (n + 1), 6.4), squeeze=False)
    vmin, vmax = float(truth.min()), float(truth.max())
    err_max = max(float((p - truth).abs().max()) for p in preds.values())
    show = [(axes[0, 0], inp, "input", {"cmap": "viridis"}),
            (axes[1, 0], truth, "truth", {"cmap": "RdBu_r", "vmin": vmin, "vmax": vmax})]
    for j, (name, p) in enumerate(preds.items(), start=1):
        rel = float(torch.linalg.norm(p - truth) / torch.linalg.norm(truth))
        show.append((axes[0, j], p, f"{name} (rel. L2 {rel:.2e})", {"cmap": "RdBu_r", "vmin": vmin, "vmax": vmax}))
        show.append((axes[1, j], (p - truth).abs(), f"{name} |error|", {"cmap": "magma", "vmin": 0, "vmax": err_max}))
    for ax, img, label, kw in show:
        im = ax.imshow(img.detach().cpu().numpy().T, origin="lower", extent=(0, 1, 0, 1), **kw)
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
        ax.set_title(label, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    save_figure(fig, path, dpi=90)


def _darcy(preset: str, device: torch.device, progress: bool | None, out: str | None) -> list[dict[str, Any]]:
    s = PRESETS[preset]["darcy"]
    n = s["n_train"] + s["n_val"] + s["n_test"]
    data = load_dataset(cached_dataset("darcy", n, s["resolution"], seed=0, progress=progress, workers=2))
    train, val = data.subset(slice(0, s["n_train"])), data.subset(slice(s["n_train"], s["n_train"] + s["n_val"]))
    test = data.subset(slice(n - s["n_test"], n))
    others = {r: load_dataset(cached_dataset("darcy", s["n_test"], r, seed=1, progress=progress, workers=2))
              for r in s["other_resolutions"]}
    rows, panels = [], {}
    for name in MODELS:
        cfg = _model_config(name, preset, ns=False, in_channels=1)
        model, row = _train(name, cfg, train, val, s["epochs"], s["batch_size"], device, progress)
        metrics, pred = evaluate_model(model, test)
        panels[name] = pred[0, 0]
        row = {"problem": f"darcy {s['resolution']}^2", **row, "epochs": s["epochs"],
               "test_rel_l2": metrics["rel_l2"], "test_rel_h1": metrics["rel_h1"]}
        for r, other in others.items():
            try:
                row[f"rel_l2_at_{r}"] = evaluate_model(model, other)[0]["rel_l2"]
            except ValueError:  # e.g. a grid too coarse for MgNO's number of levels
                row[f"rel_l2_at_{r}"] = "n/a"
        rows.append(row)
    if out is not None:
        _comparison_figure(Path(out) / "operators_darcy.png", test.x[0, 0], test.y[0, 0], panels,
                           f"Darcy {s['resolution']}^2, held-out sample, {s['epochs']} epochs each")
    return rows


def _ns_windows(traj: torch.Tensor, t_in: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Every (t_in frames -> next frame) window of trajectories (B, 1, s, s, T)."""
    x, y = windows(traj[:, 0], t_in, 1, 1)
    return x.permute(0, 3, 1, 2).contiguous(), y.permute(0, 3, 1, 2).contiguous()


@torch.no_grad()
def rollout(model: nn.Module, frames: torch.Tensor, steps: int) -> torch.Tensor:
    """Autoregressive prediction: frames (B, t_in, s, s) -> (B, s, s, steps)."""
    window, out = frames, []
    for _ in range(steps):
        nxt = predict(model, window)  # (B, 1, s, s)
        out.append(nxt[:, 0])
        window = torch.cat([window[:, 1:], nxt], dim=1)
    return torch.stack(out, dim=-1)


def _navier_stokes(preset: str, device: torch.device, progress: bool | None, out: str | None) -> list[dict[str, Any]]:
    s = PRESETS[preset]["ns"]
    t_total = s["t_in"] + s["t_out"]
    params = {"recipe": "fno-1e-3", "t_final": float(t_total), "n_snapshots": t_total,
              "solver_resolution": s["solver_resolution"], "dt": s["dt"]}
    n = s["n_train"] + s["n_test"]
    data = load_dataset(cached_dataset("navier_stokes", n, s["resolution"], seed=0, params=params,
                                       progress=progress, workers=2))
    traj = data.y  # (n, 1, s, s, T): frames at t = 1..T
    x, y = _ns_windows(traj[: s["n_train"]], s["t_in"])
    train = DeviceDataset(x, y)
    test_traj = traj[n - s["n_test"]:]
    truth = test_traj[:, 0, :, :, s["t_in"]:]
    rows, panels = [], {}
    for name in MODELS:
        cfg = _model_config(name, preset, ns=True, in_channels=s["t_in"])
        model, row = _train(name, cfg, train, None, s["epochs"], s["batch_size"], device, progress)
        pred = rollout(model, test_traj[:, 0, :, :, : s["t_in"]].permute(0, 3, 1, 2), s["t_out"])
        panels[name] = pred[0, :, :, -1]
        rows.append({"problem": f"navier-stokes 1e-3 {s['resolution']}^2", **row, "epochs": s["epochs"],
                     "test_rel_l2": float(relative_l2(pred, truth)),
                     "test_rel_h1": float(relative_h1(pred.permute(0, 3, 1, 2), truth.permute(0, 3, 1, 2),
                                                      periodic=True)),
                     "first_step_rel_l2": float(relative_l2(pred[..., :1], truth[..., :1]))})
    if out is not None:
        _comparison_figure(Path(out) / "operators_navier_stokes.png", test_traj[0, 0, :, :, s["t_in"] - 1],
                           truth[0, :, :, -1], panels,
                           f"Navier-Stokes, last of {s['t_out']} rollout steps (input: last given frame)")
    return rows


def run(preset: str = "small", device: str = "auto", progress: bool | None = None,
        out: str | None = None) -> list[dict[str, Any]]:
    """The table rows; with ``out``, also the comparison figures ``operators_darcy.png`` and
    ``operators_navier_stokes.png`` there."""
    dev = resolve_device(device)
    return _darcy(preset, dev, progress, out) + _navier_stokes(preset, dev, progress, out)


__all__ = ["MODELS", "PRESETS", "rollout", "run", "training_step_bytes"]
