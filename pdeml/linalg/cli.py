"""``pdeml train-preconditioner``: train a DCDM network or a multigrid smoother for one grid size and
wall type and save it.

Only the standard library is imported at module level: the parser is built on every ``pdeml`` call.
"""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--kind", default="dcdm", choices=["dcdm", "multigrid"],
                   help="dcdm: the DCDM network (for dcdm_solve); multigrid: the learned smoother of "
                        "MultigridPreconditioner (for plain CG). Default dcdm")
    p.add_argument("--dim", type=int, default=2, choices=[2, 3], help="grid dimension (default 2)")
    p.add_argument("--grid", type=int, default=64, help="cells per side of the training systems (default 64)")
    p.add_argument("--walls", default="neumann", help="dirichlet, neumann or open_top (default neumann)")
    p.add_argument("--obstacles", default="mixed", help="none, spheres, boxes, blobs or mixed (default mixed)")
    p.add_argument("--systems", type=int, default=1, help="training systems (random obstacle masks)")
    p.add_argument("--ritz", type=int, default=None, help="Lanczos steps / Ritz vectors per system (default 200)")
    p.add_argument("--samples", type=int, default=None, help="training right-hand sides per epoch (default 400)")
    p.add_argument("--epochs", type=int, default=None, help="default 10")
    p.add_argument("--batch-size", type=int, default=None, help="default 10")
    p.add_argument("--lr", type=float, default=None, help="Adam learning rate, cosine decay (default 3e-3)")
    p.add_argument("--levels", type=int, default=1,
                   help="dcdm: 2x pooling levels of the network (default 1, the paper's; more widen its reach)")
    p.add_argument("--channels", type=int, default=1, help="multigrid: smoother channels (default 1)")
    p.add_argument("--stencil", default="star", choices=["star", "box"], help="multigrid: smoother stencil")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto")
    p.add_argument("--out", required=True, help="run directory; the network is saved as OUT/model.pt")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def train_preconditioner(args: argparse.Namespace) -> int:
    """Train on ``--systems`` random obstacle masks of ``--grid``^``--dim`` cells; save OUT/model.pt."""
    import time
    from pathlib import Path

    import numpy as np

    from pdeml.linalg.multigrid import train_multigrid
    from pdeml.linalg.training import train_dcdm
    from pdeml.problems.pressure import PressureSystem

    if args.grid < 4:
        raise SystemExit(f"pdeml train-preconditioner: --grid must be >= 4 cells per side, got {args.grid}")
    if args.systems < 1:
        raise SystemExit(f"pdeml train-preconditioner: --systems must be >= 1, got {args.systems}")
    try:
        problem = PressureSystem(dim=args.dim, obstacles=args.obstacles, walls=args.walls)
    except ValueError as err:
        raise SystemExit(f"pdeml train-preconditioner: {err}") from err
    # options left out take train_dcdm's defaults
    opts = {k: getattr(args, k) for k in ("ritz", "samples", "epochs", "batch_size", "lr") if getattr(args, k) is not None}
    rng = np.random.default_rng(args.seed)
    systems = [problem.system(problem.sample_mask(rng, args.grid)) for _ in range(args.systems)]
    out = Path(args.out)
    start = time.perf_counter()
    progress = False if args.quiet else None
    if args.kind == "multigrid":
        if not 1 <= args.channels <= 8:
            raise SystemExit(f"pdeml train-preconditioner: --channels must be in 1..8, got {args.channels}")
        model, result = train_multigrid(systems, **opts, channels=args.channels, stencil=args.stencil,
                                        seed=args.seed, device=args.device, progress=progress, run_dir=out)
        quality = f"one-step A-norm error ratio {result.final.get('train_energy_ratio', float('nan')):.4g}"
        what = "multigrid smoother"
    else:
        model, result = train_dcdm(systems, **opts, seed=args.seed, device=args.device, levels=args.levels,
                                   progress=progress, run_dir=out,
                                   extra_config={"problem": problem.params, "grid": args.grid})
        quality = f"validation one-step residual {result.final.get('val_rel_residual', float('nan')):.4g}"
        what = "DCDM network"
    print(f"trained a {args.dim}D {what} on {args.systems} {args.grid}^{args.dim} system(s) "
          f"({args.walls} walls, {args.obstacles} obstacles) in {time.perf_counter() - start:.1f} s: "
          f"train loss {result.final.get('train_loss', float('nan')):.4g}, {quality}")
    print(f"saved {out / 'model.pt'} (load with pdeml.linalg.load_preconditioner({str(out)!r}))")
    return 0
