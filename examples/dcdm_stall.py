"""Why the paper's two-direction DCDM stalls, measured, and what the coarse direction changes.

Trains a DCDM network on a few 32x32 Neumann pressure systems (about a minute on one CPU core),
solves an unseen 32x32 system with ``dcdm_solve`` (window 2, as in the paper) and, where the
residual stops decreasing, reports:

- the gain of the network's direction: ``cos(f(r), r)`` (the first-order decrease of the
  residual's A^-1-norm along ``f(r)`` is proportional to ``f(r).r``);
- where the error sits: the share of the A-norm error ``e^T A e`` in the 3 and 30 lowest
  eigenmodes of ``A`` (dense eigendecomposition, null space left out);
- the sign the network learned: ``cos(f(b), A^+ b)`` on the right-hand side;

then solves the same system with the algebraic coarse correction as a second direction
(``coarse=True``) and with every direction kept (``window=None``).

Run: ``python examples/dcdm_stall.py [--grid 32] [--epochs 40] [--seed 0]``
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from pdeml.linalg import DeepPreconditioner, dcdm_solve, train_dcdm
from pdeml.problems.pressure import PressureSystem


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--grid", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    problem = PressureSystem(dim=2, obstacles="mixed", walls="neumann")
    rng = np.random.default_rng(args.seed)
    train = [problem.system(problem.sample_mask(rng, args.grid)) for _ in range(3)]
    net, result = train_dcdm(train, ritz=min(300, train[0].n - 2), samples=300, epochs=args.epochs, batch_size=5,
                             lr=1e-3, levels=3, seed=args.seed, device="cpu", progress=False)
    print(f"network: validation one-step residual {result.final['val_rel_residual']:.3f}")

    system, b = problem.sample_system(np.random.default_rng(10_000 + args.seed), args.grid)
    A = system.matrix
    exact = system.solve(b)
    lam, V = np.linalg.eigh(A.toarray())
    keep = lam > 1e-9 * lam.max()
    lam, V = lam[keep], V[:, keep]

    iterates: list[np.ndarray] = []
    _, info = dcdm_solve(system, b, model=net, rtol=1e-6, maxiter=300, callback=lambda xk: iterates.append(xk))
    M = DeepPreconditioner(net, system=system)
    x = iterates[-1]
    r = system.project(b - A @ x)
    q = M(r)
    e = exact - system.project(x)
    energy = lam * (V.T @ e) ** 2
    q0 = M(b)
    print(f"paper's window (2): {info!r}")
    print(f"  at the last iterate: relative residual {np.linalg.norm(r) / np.linalg.norm(b):.3e}, "
          f"cos(f(r), r) = {q @ r / (np.linalg.norm(q) * np.linalg.norm(r)):.2e}")
    print(f"  share of the A-norm error in the 3 / 30 lowest of {lam.size} eigenmodes: "
          f"{energy[:3].sum() / energy.sum():.3f} / {energy[:30].sum() / energy.sum():.3f}")
    print(f"  cos(f(b), A^+ b) on the right-hand side: {q0 @ exact / (np.linalg.norm(q0) * np.linalg.norm(exact)):.2f}")
    for label, kwargs in (("coarse direction, window 2", {"coarse": True}), ("every direction", {"window": None})):
        x2, info2 = dcdm_solve(system, b, model=net, rtol=1e-6, maxiter=300, **kwargs)
        err = np.linalg.norm(x2 - exact) / np.linalg.norm(exact)
        print(f"{label}: {info2!r}; relative error against the direct solve {err:.1e}")


if __name__ == "__main__":
    main()
