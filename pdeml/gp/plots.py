"""Figures of a GP-HM fit: solution, error and the learned spectrum (weights against frequencies)."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from pdeml.plot import save_figure  # noqa: E402


def save_fit_figure(solver, path: str | os.PathLike, eval_points: int | None = None) -> Path:
    """Three panels (1D: solution vs exact, |error|, spectrum; 2D: solution, |error|, spectrum; in 3D
    and up the first two on the (x, y) plane where the exact solution is largest)."""
    axes = solver.eval_axes(eval_points or solver.eval_points)
    pred = solver.predict_grid(axes).cpu().numpy()
    exact = np.asarray(solver.problem.exact(*np.meshgrid(*axes, indexing="ij")), dtype=np.float64)
    err = np.abs(pred - exact)
    rel = np.linalg.norm(pred - exact) / max(np.linalg.norm(exact), 1e-300)
    fig, ax = plt.subplots(1, 3, figsize=(15, 4))
    nodes = [a.cpu().numpy() for a in solver.model.axes]
    if len(axes) == 1:
        x = axes[0]
        ax[0].plot(x, exact, "k-", lw=1.0, label="exact")
        ax[0].plot(x, pred, "r--", lw=0.8, label="GP mean")
        ax[0].plot(nodes[0], solver.solution.cpu().numpy(), "b.", ms=2, label="solution at the nodes")
        ax[0].set_xlabel("x")
        ax[0].legend(loc="upper right", fontsize=8)
        ax[1].semilogy(x, np.maximum(err, 1e-300), "r-", lw=0.8)
        ax[1].set_xlabel("x")
        ax[1].set_ylabel("|u - u_exact|")
    else:  # in 3D and up, the (x, y) plane where the exact solution is largest
        later = np.unravel_index(np.argmax(np.abs(exact).reshape(*exact.shape[:2], -1).max(axis=(0, 1))),
                                 exact.shape[2:])
        plane = (slice(None), slice(None)) + tuple(int(i) for i in later)
        ext = (*solver.problem.domain[0], *solver.problem.domain[1])
        im = ax[0].imshow(pred[plane].T, origin="lower", extent=ext, aspect="auto", cmap="RdBu_r")
        fig.colorbar(im, ax=ax[0])
        im = ax[1].imshow(err[plane].T, origin="lower", extent=ext, aspect="auto", cmap="magma")
        fig.colorbar(im, ax=ax[1])
        for a in ax[:2]:
            a.set_xlabel("x")
            a.set_ylabel("y")
    where = "".join(f", {'z' if k == 2 else f'x{k}'} = {axes[k][i]:.3g}" for k, i in enumerate(later, start=2)) \
        if len(axes) > 2 else ""
    ax[0].set_title(f"{solver.problem.name}: GP-HM ({solver.kernel}){where}")
    ax[1].set_title(f"|error|, relative L2 {rel:.2e}")
    for k, (spec, target) in enumerate(zip(solver.spectra(), solver.problem_frequencies)):
        label = "xyz"[k] if k < 3 else f"x{k}"
        ax[2].stem(spec["freq"], spec["weight"], linefmt=f"C{k}-", markerfmt=f"C{k}o", basefmt=" ",
                   label=f"axis {label}")
        if target > 0:
            ax[2].axvline(target, color=f"C{k}", ls=":", lw=1.0)
        kern = solver.model.kernels[k]
        if kern.smooth > 0:  # the fixed zero-frequency component (not learned)
            ax[2].plot([0.0], [float(kern.smooth_weight.detach())], marker="x", color=f"C{k}", ls="none",
                       label="fixed smooth" if k == 0 else None)
    ax[2].set_yscale("log")
    ax[2].set_xlabel("frequency mu_q (cycles per unit)")
    ax[2].set_ylabel("weight w_q")
    ax[2].set_title("learned spectrum (dotted: problem's frequency)")
    ax[2].legend(fontsize=8)
    return save_figure(fig, path)


def save_history_figure(solver, path: str | os.PathLike) -> Path:
    """Relative L2 against optimizer steps (Adam, then L-BFGS)."""
    hist = solver.history
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    for phase in dict.fromkeys(r["phase"] for r in hist):
        rows = [r for r in hist if r["phase"] == phase]
        ax.semilogy([r["step"] for r in rows], [r["relative_l2"] for r in rows], "o-", ms=3, label=phase)
    ax.set_xlabel("step")
    ax.set_ylabel("relative L2")
    ax.set_title(solver.problem.name)
    ax.legend()
    return save_figure(fig, path)
