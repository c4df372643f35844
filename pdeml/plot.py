"""Figures people would rather look at than read: input / truth / prediction / error panels."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from pdeml.io import atomic_path  # noqa: E402


def _image(arr) -> np.ndarray:
    arr = np.asarray(arr.detach().cpu() if hasattr(arr, "detach") else arr, dtype=np.float64)
    while arr.ndim > 2:  # (channel, x, y[, t]): first channel, last time
        arr = arr[0] if arr.shape[0] <= 4 else arr[..., -1]
    return arr


def save_panels(path: str | os.PathLike, inputs: Sequence, truths: Sequence, preds: Sequence,
                titles: Sequence[str] = ("input", "truth", "prediction", "|error|"),
                suptitle: str | None = None) -> Path:
    """One row per sample: input, truth, prediction (same colour scale as truth), absolute error."""
    n = len(truths)
    fig, axes = plt.subplots(n, 4, figsize=(13, 3.1 * n), squeeze=False)
    for i in range(n):
        x, y, p = _image(inputs[i]), _image(truths[i]), _image(preds[i])
        err = np.abs(p - y)
        rel = np.linalg.norm(p - y) / max(np.linalg.norm(y), 1e-30)
        vmin, vmax = y.min(), y.max()
        for j, (img, kw) in enumerate(((x, {"cmap": "viridis"}), (y, {"cmap": "RdBu_r", "vmin": vmin, "vmax": vmax}),
                                       (p, {"cmap": "RdBu_r", "vmin": vmin, "vmax": vmax}), (err, {"cmap": "magma"}))):
            ax = axes[i, j]
            im = ax.imshow(img.T, origin="lower", extent=(0, 1, 0, 1), **kw)
            fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(titles[j])
        axes[i, 3].set_xlabel(f"relative L2 {rel:.2e}")
    if suptitle:
        fig.suptitle(suptitle)
    return save_figure(fig, path)


def save_figure(fig, path: str | os.PathLike, dpi: int = 110) -> Path:
    """Lay out ``fig``, write it atomically (format from the suffix, default PNG), close it."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, format=path.suffix.lstrip(".") or "png")
    plt.close(fig)
    return path


def save_solution_figure(path: str | os.PathLike, axes: Sequence[np.ndarray], truth: np.ndarray, pred: np.ndarray,
                         labels: tuple[str, str] = ("truth", "prediction"), title: str | None = None) -> Path:
    """Truth, prediction and |error| of one solution: curves over one axis, maps over two (NaN = outside)."""
    err = np.abs(pred - truth)
    if len(axes) == 1:
        fig, ax = plt.subplots(1, 2, figsize=(11, 3.6))
        ax[0].plot(axes[0], truth, "k-", lw=1, label=labels[0])
        ax[0].plot(axes[0], pred, "r--", lw=1, label=labels[1])
        ax[0].legend()
        ax[1].semilogy(axes[0], err + 1e-300, "b-", lw=1)
        ax[1].set_title("|error|")
    else:
        fig, ax = plt.subplots(1, 3, figsize=(14, 4.2))
        ext = (axes[0][0], axes[0][-1], axes[1][0], axes[1][-1])
        vmin, vmax = np.nanmin(truth), np.nanmax(truth)
        for a, img, name, kw in ((ax[0], truth, labels[0], {"cmap": "RdBu_r", "vmin": vmin, "vmax": vmax}),
                                 (ax[1], pred, labels[1], {"cmap": "RdBu_r", "vmin": vmin, "vmax": vmax}),
                                 (ax[2], err, "|error|", {"cmap": "magma"})):
            im = a.imshow(img.T, origin="lower", extent=ext, aspect="auto", **kw)
            a.set_title(name)
            fig.colorbar(im, ax=a, fraction=0.046)
    if title:
        fig.suptitle(title)
    return save_figure(fig, path)
