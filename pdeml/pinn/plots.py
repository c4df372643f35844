"""Figures of a PINN run: solution, error, and where the sampler put its points over training."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from pdeml.plot import save_figure  # noqa: E402


def _save(fig, path: str | os.PathLike) -> Path:
    path = Path(path)
    return save_figure(fig, path, dpi=100)


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
