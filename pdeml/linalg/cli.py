"""``pdeml train-preconditioner``: train a DCDM network for one grid size and wall type and save it.

Only the standard library is imported at module level: the parser is built on every ``pdeml`` call.
"""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dim", type=int, default=2, choices=[2, 3], help="grid dimension (default 2)")
    p.add_argument("--grid", type=int, default=64, help="cells per side of the training systems (default 64)")
    p.add_argument("--walls", default="neumann", help="dirichlet, neumann or open_top (default neumann)")
    p.add_argument("--obstacles", default="mixed", help="none, spheres, boxes, blobs or mixed (default mixed)")
    p.add_argument("--systems", type=int, default=1, help="training systems (random obstacle masks)")
    p.add_argument("--ritz", type=int, default=None, help="Lanczos steps / Ritz vectors per system")
    p.add_argument("--samples", type=int, default=None, help="training right-hand sides")
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--lr", type=float, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto")
    p.add_argument("--out", required=True, help="run directory; the network is saved as OUT/model.pt")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
