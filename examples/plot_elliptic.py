"""Pictures and verification figures of the elliptic, manufactured and peak problems.

    python examples/plot_elliptic.py            # writes docs/images/elliptic.png and peaks.png

Prints the FD errors against the exact solutions quoted in docs/elliptic.md and docs/peaks.md
(about a minute on one CPU core).
"""

from __future__ import annotations

import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from pdeml import problems  # noqa: E402

OUT = Path(__file__).resolve().parents[1] / "docs" / "images"


def error_table(name: str, sizes: list[int], **params) -> list[tuple[int, float]]:
    p = problems.get(name, **params)
    rows = []
    for n in sizes:
        t0 = time.perf_counter()
        ref = p.reference(n)
        exact = p.exact(*p.grid(n))
        err = float(np.abs(ref - exact).max())
        rel = float(np.linalg.norm(ref - exact) / np.linalg.norm(exact))
        rows.append((n, err))
        print(f"  {name:22s} n={n:5d}  max error {err:.3e}  relative L2 {rel:.3e}  "
              f"({time.perf_counter() - t0:.2f} s)")
    orders = [np.log(rows[i][1] / rows[i + 1][1]) / np.log((rows[i + 1][0] - 1) / (rows[i][0] - 1))
              for i in range(len(rows) - 1)]
    print(f"  {name:22s} observed orders {np.round(orders, 3).tolist()}")
    return rows


def _image(ax, fig, arr, title, extent, cmap="RdBu_r"):
    im = ax.imshow(arr.T, origin="lower", extent=extent, cmap=cmap, aspect="auto")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    ax.set_title(title, fontsize=9)
    ax.tick_params(labelsize=7)


def plot_elliptic() -> Path:
    print("elliptic problems")
    tables = {name: error_table(name, [1001, 2001, 4001, 8001])
              for name in ("poisson1d_sin100", "poisson1d_sin6cos100", "poisson1d_multiscale",
                           "allen_cahn1d_sin100")}
    tables["poisson2d_sin100"] = error_table("poisson2d_sin100", [501, 1001, 2001])
    tables["allen_cahn2d"] = error_table("allen_cahn2d", [101, 201, 401])
    error_table("advection_sin200", [201])

    fig, axes = plt.subplots(2, 3, figsize=(13, 7.5))
    unit = (0, 1, 0, 1)
    x, y = problems.get("poisson", dim=2).sample(0, seed=0, resolution=128)
    _image(axes[0, 0], fig, np.log(x[0]), "poisson: log a (log-normal)", unit, "viridis")
    _image(axes[0, 1], fig, y[0], "poisson: u (Dirichlet, 128^2)", unit)
    xh, yh = problems.get("helmholtz", dim=2).sample(0, seed=0, resolution=128)
    _image(axes[0, 2], fig, yh[0], f"helmholtz: u, k in [{xh[0].min():.1f}, {xh[0].max():.1f}]", unit)

    p = problems.get("poisson1d_sin6cos100")
    n = 1001
    (t,) = p.grid(n)
    ref = p.reference(n)
    fine = np.linspace(0, 0.6, 2000)
    ax = axes[1, 0]
    ax.plot(fine, p.exact(fine), "k-", lw=1, label="exact sin(6x) cos(100x)")
    keep = t <= 0.6
    ax.plot(t[keep], ref[keep], "o", ms=2.5, color="tab:red", label=f"FD, {n} nodes on [0, 2pi]")
    ax.set_title("GP-HM 1D high frequency (zoom)", fontsize=9)
    ax.legend(fontsize=7)
    ax.tick_params(labelsize=7)

    ax = axes[1, 1]
    for name, rows in tables.items():
        if "1d" in name:
            hs = [2 * np.pi / (n - 1) for n, _ in rows]
            ax.loglog(hs, [e for _, e in rows], "o-", ms=3, label=name)
    hs = np.array([2 * np.pi / 1000, 2 * np.pi / 8000])
    ax.loglog(hs, 1e4 * hs**2 / 12 * 1.2, "k--", lw=1, label="(100 h)^2 / 12 (slope 2)")
    ax.set_xlabel("h", fontsize=8)
    ax.set_ylabel("max error", fontsize=8)
    ax.set_title("FD convergence to the exact solutions", fontsize=9)
    ax.legend(fontsize=6)
    ax.tick_params(labelsize=7)

    ac = problems.get("allen_cahn2d")
    u = ac.reference(201)
    _image(axes[1, 2], fig, u, "allen_cahn2d: Newton FD solution (201^2)", unit)
    fig.tight_layout()
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / "elliptic.png"
    fig.savefig(path, dpi=60)
    plt.close(fig)
    return path


def plot_peaks() -> Path:
    print("peak problems")
    error_table("peak2d", [101, 201, 401, 801])
    error_table("two_peaks", [101, 201, 401])
    square = (-1, 1, -1, 1)
    fig, axes = plt.subplots(1, 4, figsize=(16, 3.8))
    p = problems.get("peak2d")
    _image(axes[0], fig, p.exact(*p.grid(301)), "peak2d: exact u", square, "viridis")
    tp = problems.get("two_peaks")
    ref = tp.reference(201)
    _image(axes[1], fig, ref, "two_peaks: FD reference (201^2)", square, "viridis")
    _image(axes[2], fig, np.abs(ref - tp.exact(*tp.grid(201))), "two_peaks: |FD - exact|", square, "magma")
    g = problems.get("gaussian_nd")
    s = np.linspace(-1, 1, 401)
    diag = [s / np.sqrt(g.dim)] * g.dim  # along the unit diagonal direction, |x| = |s|
    axes[3].plot(s, g.exact(*diag), label="u = exp(-10 |x|^2)")
    axes[3].plot(s, g.forcing(*diag) / 200, label="f / 200")
    axes[3].set_title(f"gaussian_nd (d = {g.dim}) along a diagonal", fontsize=9)
    axes[3].set_xlabel("signed |x|", fontsize=8)
    axes[3].legend(fontsize=7)
    axes[3].tick_params(labelsize=7)
    fig.tight_layout()
    path = OUT / "peaks.png"
    fig.savefig(path, dpi=72)
    plt.close(fig)
    return path


if __name__ == "__main__":
    for out in (plot_elliptic(), plot_peaks()):
        print(f"wrote {out} ({out.stat().st_size / 1024:.0f} KB)")
