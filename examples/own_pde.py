"""Your own PDE, written once, solved by every method that fits it and checked against a reference.

Three PDEs that are in no zoo:

1. ``-div(a grad u) = 1`` on the unit square, ``a = 1 + 0.8 sin(2 pi x) sin(2 pi y)``, ``u = 0`` on the
   boundary: variable coefficients, no closed form, so every method is checked against the FD
   reference (and FD against itself on a grid twice as fine);
2. ``-0.05 Lap u + u^3 - u = f`` on ``[0, 1]^2``, a nonlinear reaction–diffusion problem with the
   exact front ``u = tanh((x + y - 1) / 0.2)``;
3. ``-Lap u = f`` on a disk with a square hole (a deepxde geometry), exact ``u = exp(x) sin(2 y)``:
   only the PINN handles a domain that is not a box; GP-HM and FD say why they cannot.

Run: ``python examples/own_pde.py [--out own-pde-out] [--quick]``. It prints one table and writes one
figure per solution.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

import pdeml
from pdeml.problems import PDE, xp_of


class VariableCoefficient(PDE):
    """``-div(a grad u) = 1``, ``a = 1 + 0.8 sin(2 pi x) sin(2 pi y)``, written out as
    ``-a Lap u - a_x u_x - a_y u_y``."""

    domain = [(0.0, 1.0), (0.0, 1.0)]

    def operator(self, u, d, x):
        xp = xp_of(u)
        sx, sy = xp.sin(2 * np.pi * x[0]), xp.sin(2 * np.pi * x[1])
        a = 1 + 0.8 * sx * sy
        a_x = 1.6 * np.pi * xp.cos(2 * np.pi * x[0]) * sy
        a_y = 1.6 * np.pi * sx * xp.cos(2 * np.pi * x[1])
        return -a * d.laplacian() - a_x * d["x"] - a_y * d["y"]

    def forcing(self, x, y):
        return 1.0 + 0 * x

    def dirichlet(self, x, y):
        return 0 * x


class ReactionFront(PDE):
    """``-eps Lap u + u^3 - u = f`` with the exact front ``u = tanh((x + y - 1) / width)``."""

    domain = [(0.0, 1.0), (0.0, 1.0)]

    def __init__(self, eps: float = 0.05, width: float = 0.2):
        self.eps, self.width = eps, width

    def operator(self, u, d, x):
        return -self.eps * d.laplacian() + u**3 - u

    def exact(self, x, y):
        return xp_of(x).tanh((x + y - 1) / self.width)

    def forcing(self, x, y):
        u = self.exact(x, y)
        # Lap tanh(s / w) with |grad s|^2 = 2: -2 (2 / w^2) u (1 - u^2)
        lap = -4.0 / self.width**2 * u * (1 - u**2)
        return -self.eps * lap + u**3 - u


class HoledDisk(PDE):
    """``-Lap u = f`` on the unit disk minus the square ``[-0.3, 0.3]^2``, exact ``u = exp(x) sin(2 y)``."""

    def __init__(self):
        import deepxde as dde

        self.geometry = dde.geometry.CSGDifference(dde.geometry.Disk([0.0, 0.0], 1.0),
                                                   dde.geometry.Rectangle([-0.3, -0.3], [0.3, 0.3]))

    @property
    def params(self):
        return {}

    def exact(self, x, y):
        xp = xp_of(x)
        return xp.exp(x) * xp.sin(2 * y)

    def forcing(self, x, y):
        return 3.0 * self.exact(x, y)  # -(u_xx + u_yy) = -(1 - 4) u


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="own-pde-out")
    parser.add_argument("--quick", action="store_true", help="smaller runs (a smoke test)")
    args = parser.parse_args()
    out = Path(args.out)
    quick = args.quick
    pinn = dict(points=512 if quick else 2000, steps=300 if quick else 2000, width=32, depth=3, lr=3e-3,
                lbfgs_steps=100 if quick else 1000, boundary="penalty", boundary_weight=100.0, dtype="float64",
                progress=False, device="cpu")
    cases = [
        (VariableCoefficient(), {"fd": dict(resolution=129), "gp": dict(points_per_dim=33, progress=False),
                                 "pinn": pinn}),
        (ReactionFront(), {"fd": dict(resolution=129), "gp": dict(points_per_dim=33, progress=False),
                           "pinn": pinn}),
        (HoledDisk(), {"fd": {}, "gp": {}, "pinn": pinn}),
    ]
    rows = []
    for pde, methods in cases:
        for method, options in methods.items():
            start = time.perf_counter()
            try:
                solution = pdeml.solve(pde, method, **options)
            except ValueError as err:  # the method says which part of the PDE it cannot handle
                rows.append((pde.name, method, "-", "-", f"refused: {err}"))
                continue
            figure = solution.plot(out / f"{pde.name}_{method}.png")
            rows.append((pde.name, method, f"{solution.relative_l2:.2e}", solution.against,
                         f"{time.perf_counter() - start:.1f} s, {figure}"))
    print("| PDE | method | relative L2 | against | time, figure |")
    print("|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
