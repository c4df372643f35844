"""Figures of a PINN run: solution, error, and where the sampler put its points over training."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from pdeml.plot import save_figure  # noqa: E402


def _save(fig, path: str | os.PathLike) -> Path:
    path = Path(path)
    return save_figure(fig, path, dpi=100)


def _slice_points(result, n: int = 201) -> tuple[torch.Tensor, np.ndarray, np.ndarray, str]:
    """Points for a picture: the 1D line, the 2D plane, or in d >= 3 the (x0, x1) plane through
    the centre of the box."""
    dom = result.domain
    if dom.dim == 1:
        x = torch.linspace(float(dom.low[0]), float(dom.high[0]), 4 * n, dtype=torch.float64)[:, None]
        return x, x[:, 0].numpy(), None, "x"
    a = np.linspace(dom.low[0], dom.high[0], n)
    b = np.linspace(dom.low[1], dom.high[1], n)
    A, B = np.meshgrid(a, b, indexing="ij")
    pts = np.tile((dom.low + dom.high) / 2, (n * n, 1))
    pts[:, 0], pts[:, 1] = A.ravel(), B.ravel()
    label = "plane through the centre, x2.. fixed" if dom.dim > 2 else ""
    return torch.as_tensor(pts), a, b, label


def solution_figure(result, path: str | os.PathLike) -> Path:
    """Exact solution, PINN solution and absolute error (1D: curves; 2D or more: a plane)."""
    pts, a, b, label = _slice_points(result)
    exact = np.asarray(result.problem.exact_on_points(pts), dtype=np.float64)
    pred = result.predict(pts).double().cpu().numpy()
    err = np.abs(pred - exact)
    title = f"{result.problem.name}, sampler {result.sampler}: relative L2 {result.relative_l2:.2e}"
    if b is None:
        fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
        axes[0].plot(a, exact, "k-", lw=1, label="exact")
        axes[0].plot(a, pred, "r--", lw=1, label="PINN")
        axes[0].legend()
        axes[1].semilogy(a, err + 1e-300, "b-", lw=1)
        axes[1].set_title("|error|")
        fig.suptitle(title)
        return _save(fig, path)
    shape = (len(a), len(b))
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.2))
    vmin, vmax = exact.min(), exact.max()
    ext = (a[0], a[-1], b[0], b[-1])
    for ax, img, name, kw in ((axes[0], exact, "exact", {"cmap": "RdBu_r", "vmin": vmin, "vmax": vmax}),
                              (axes[1], pred, "PINN", {"cmap": "RdBu_r", "vmin": vmin, "vmax": vmax}),
                              (axes[2], err, "|error|", {"cmap": "magma"})):
        im = ax.imshow(img.reshape(shape).T, origin="lower", extent=ext, aspect="auto", **kw)
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
        ax.set_title(name + (f" ({label})" if label else ""))
    fig.suptitle(title)
    return _save(fig, path)


def sampler_figure(result, path: str | os.PathLike, panels: int = 4) -> Path:
    """Collocation points of ``panels`` rounds (first, ..., last): scatter in (x0, x1), or a
    histogram of |x - centre| in d >= 3 (where a concentrated sampler shows up as a shift)."""
    snaps = result.sampler_points
    idx = sorted({round(i * (len(snaps) - 1) / max(panels - 1, 1)) for i in range(panels)})
    dom = result.domain
    fig, axes = plt.subplots(1, len(idx), figsize=(3.6 * len(idx), 3.6), squeeze=False)
    for ax, i in zip(axes[0], idx):
        p = snaps[i]["points"]
        if dom.dim == 1:
            ax.hist(p[:, 0], bins=60, range=(dom.low[0], dom.high[0]), color="C0")
        elif dom.dim == 2:
            ax.scatter(p[:, 0], p[:, 1], s=1.5, alpha=0.6)
            ax.set_xlim(dom.low[0], dom.high[0])
            ax.set_ylim(dom.low[1], dom.high[1])
            ax.set_aspect("equal")
        else:
            r = np.linalg.norm(p - (dom.low + dom.high) / 2, axis=1)
            ax.hist(r, bins=40, color="C0")
            ax.set_xlabel("|x - centre|")
        ax.set_title(f"round {snaps[i]['round'] + 1}")
    fig.suptitle(f"{result.problem.name}: points of sampler {result.sampler}")
    return _save(fig, path)


def history_figure(result, path: str | os.PathLike) -> Path:
    """Relative L2 (on the tracking subset) and training loss per round, then per check of the
    L-BFGS finish (every 20 iterations) when there is one."""
    h = result.history
    x = list(range(1, len(h) + 1))
    n_adam = sum(1 for r in h if r.get("phase", "adam") == "adam")
    fig, ax = plt.subplots(1, 2, figsize=(10, 3.6))
    for a, key, title in ((ax[0], "relative_l2", "relative L2"), (ax[1], "train_loss", "training loss")):
        a.semilogy(x, [r[key] for r in h], "o-", ms=3)
        if n_adam < len(h):
            a.axvline(n_adam + 0.5, color="0.6", ls="--", lw=1)
            a.set_xlabel("Adam round, then L-BFGS check (dashed line)")
        else:
            a.set_xlabel("round")
        a.set_title(title)
    return _save(fig, path)
