"""Pressure systems with obstacles: a picture and the verification figures of docs/pressure.md.

    python examples/plot_pressure.py                 # writes docs/images/pressure.png
    python examples/plot_pressure.py --verify        # also prints the verification figures

Top row: a 2D sample (128^2, mixed obstacles, open top); bottom row: the middle x-slice of a 3D
sample (48^3, mixed obstacles, Neumann walls; the inner x-slice with most solid). Columns: fluid mask, right-hand side b, pressure p.
Solid cells are grey; the last axis points up.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from pdeml import problems  # noqa: E402
from pdeml.problems.obstacles import random_mask, random_velocity  # noqa: E402
from pdeml.solvers.pressure import (  # noqa: E402
    divergence,
    pressure_gradient,
    pressure_system,
    solve_pressure,
)


def plot(out: Path) -> None:
    p2 = problems.get("pressure", dim=2, obstacles="mixed", n_obstacles=6, walls="open_top")
    p3 = problems.get("pressure", dim=3, obstacles="mixed", n_obstacles=6, walls="neumann")
    x2, y2 = p2.sample(0, 0, 128)
    x3, y3 = p3.sample(0, 0, 48)
    i = 12 + int(np.argmax((x3[0, 12:36] < 0.5).sum(axis=(1, 2))))  # the inner x-slice that cuts the most solid
    rows = [("2D 128$^2$, open top", x2, y2[0]),
            (f"3D 48$^3$, slice x = {i}, Neumann", x3[:, i], y3[0, i])]
    fig, axes = plt.subplots(2, 3, figsize=(10, 6.6), constrained_layout=True)
    for r, (title, x, p) in enumerate(rows):
        solid = x[0] < 0.5
        panels = [("fluid mask", x[0], "gray", None), ("right-hand side b", x[1], "RdBu_r", "sym"),
                  ("pressure p", p, "viridis", None)]
        for c, (name, arr, cmap, sym) in enumerate(panels):
            ax = axes[r, c]
            data = arr if c == 0 else np.ma.masked_where(solid, arr)
            vmax = np.abs(arr).max() if sym else None
            cm = plt.get_cmap(cmap).copy()
            cm.set_bad("0.6")
            im = ax.imshow(data.T, origin="lower", cmap=cm, vmin=-vmax if sym else None, vmax=vmax)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(f"{title}: {name}" if c == 0 else name, fontsize=9)
            if c:
                fig.colorbar(im, ax=ax, shrink=0.8)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=72)
    plt.close(fig)
    print(f"wrote {out} ({out.stat().st_size / 1024:.0f} KB)")


def verify() -> None:
    rng = np.random.default_rng(0)
    # closed-form eigenvalues of the obstacle-free Dirichlet Laplacian on 32^2
    N = 32
    k = np.arange(1, N + 1)
    for placement, lam in (("ghost", 2 - 2 * np.cos(k * np.pi / (N + 1))), ("face", 4 * np.sin(k * np.pi / (2 * N)) ** 2)):
        S = pressure_system(np.ones((N, N), dtype=bool), "dirichlet", dirichlet=placement)
        err = np.abs(np.linalg.eigvalsh(S.matrix.toarray()) - np.sort((lam[:, None] + lam[None]).ravel())).max()
        print(f"eigenvalues vs closed form, 32^2 Dirichlet ({placement}): max error {err:.1e}")
    for shape, kind in (((64, 64), "mixed"), ((24, 24, 24), "mixed")):
        mask = random_mask(rng, shape, kind, 6)
        for walls in ("neumann", "open_top"):
            S = pressure_system(mask, walls)
            A = S.matrix
            k_null = 0 if S.null_space is None else S.null_space.shape[1]
            null_res = 0.0 if S.null_space is None else np.abs(A @ S.null_space).max()
            op = S.torch_operator(torch.float64)
            xs = torch.randn(4, S.n, dtype=torch.float64)
            ref = (A @ xs.numpy().T).T
            diff = np.abs(op.matvec(xs).numpy() - ref).max() / np.abs(ref).max()
            u = random_velocity(rng, S)
            b = -divergence(S, u)
            t0 = time.perf_counter()
            p = solve_pressure(S, b, strict=True)
            dt = time.perf_counter() - t0
            res = np.linalg.norm(A @ p - b) / np.linalg.norm(b)
            div = np.abs(divergence(S, [ui - gi for ui, gi in zip(u, pressure_gradient(S, p))])).max() / np.abs(b).max()
            print(f"{'x'.join(map(str, shape))} {kind} {walls:8s}: n={S.n}, |A-A^T|max={abs(A - A.T).max():.0e}, "
                  f"null vectors={k_null} (|A N|max={null_res:.0e}), torch vs CSR rel {diff:.1e}, "
                  f"solve {dt:.2f} s rel residual {res:.1e}, divergence after projection {div:.1e}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="docs/images/pressure.png")
    parser.add_argument("--verify", action="store_true", help="print the verification figures")
    args = parser.parse_args()
    torch.manual_seed(0)
    if args.verify:
        verify()
    plot(Path(args.out))


if __name__ == "__main__":
    main()
