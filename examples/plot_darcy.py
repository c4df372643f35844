"""Picture and verification figures for docs/darcy.md.

    python examples/plot_darcy.py            # writes docs/images/darcy.png and prints the table

Top row: three FNO-style coefficients and their solutions at 128x128. Bottom right: the
max-norm error of the manufactured solution against the number of nodes per side (second order).
"""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from pdeml import problems  # noqa: E402
from pdeml.solvers import solve_darcy  # noqa: E402


def manufactured_error(s: int) -> float:
    t = np.linspace(0, 1, s)
    x, y = np.meshgrid(t, t, indexing="ij")
    pi = np.pi
    a = 1 + 0.5 * np.sin(2 * pi * x) * np.cos(pi * y)
    ax = pi * np.cos(2 * pi * x) * np.cos(pi * y)
    ay = -0.5 * pi * np.sin(2 * pi * x) * np.sin(pi * y)
    u = np.sin(pi * x) * np.sin(2 * pi * y)
    ux, uy = pi * np.cos(pi * x) * np.sin(2 * pi * y), 2 * pi * np.sin(pi * x) * np.cos(2 * pi * y)
    f = -(ax * ux + ay * uy - 5 * pi**2 * a * u)
    return float(np.abs(solve_darcy(a, f) - u).max())


def main() -> None:
    darcy = problems.get("darcy")
    fig, axes = plt.subplots(2, 4, figsize=(15, 7))
    for i in range(3):
        a, u = darcy.sample(i, 0, 128)
        axes[0, i].imshow(a[0].T, origin="lower", extent=(0, 1, 0, 1), cmap="viridis")
        axes[0, i].set_title(f"coefficient a, sample {i}")
        im = axes[1, i].imshow(u[0].T, origin="lower", extent=(0, 1, 0, 1), cmap="RdBu_r")
        fig.colorbar(im, ax=axes[1, i], fraction=0.046)
        axes[1, i].set_title("solution u")
    sizes = [17, 33, 65, 129, 257]
    errors = [manufactured_error(s) for s in sizes]
    print("| nodes per side | max error | observed order |\n|---|---|---|")
    for k, (s, e) in enumerate(zip(sizes, errors)):
        order = "" if k == 0 else f"{np.log2(errors[k - 1] / e):.3f}"
        print(f"| {s} | {e:.3e} | {order} |")
    ax = axes[0, 3]
    h = 1.0 / (np.array(sizes) - 1)
    ax.loglog(h, errors, "o-", label="max error")
    ax.loglog(h, errors[0] * (h / h[0]) ** 2, "k--", label="slope 2")
    ax.set_xlabel("h")
    ax.set_title("manufactured solution")
    ax.legend()
    axes[1, 3].axis("off")
    fig.tight_layout()
    out = Path(__file__).resolve().parents[1] / "docs" / "images" / "darcy.png"
    fig.savefig(out, dpi=80)
    print(f"figure: {out}")


if __name__ == "__main__":
    main()
