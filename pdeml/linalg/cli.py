"""``pdeml train-preconditioner``: train a DCDM network or a multigrid smoother for one grid size and
wall type and save it.

The options are a :class:`PreconditionerConfig` with the sections ``[problem]``, ``[net]`` and
``[train]`` (TOML, ``--set section.key=value``, or the shortcut flags). Only the standard library
and :mod:`pdeml.config` are imported at module level: the parser is built on every ``pdeml`` call.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from typing import Any

from pdeml.config import Config, ConfigError, check_choice, check_positive


@dataclass
class PreconditionerProblem(Config):
    """The training systems: ``systems`` random obstacle masks of ``grid``^``dim`` cells."""

    section = "problem"

    dim: int = 2
    grid: int = 64
    walls: Any = "neumann"  # a preset name or a table of per-side conditions, as PressureSystem takes
    obstacles: str = "mixed"
    systems: int = 1

    def validate(self) -> None:
        check_choice("problem.dim", self.dim, (2, 3))
        check_positive("problem.grid", self.grid, int)
        if self.grid < 4:
            raise ConfigError(f"problem.grid must be >= 4 cells per side, got {self.grid}")
        check_positive("problem.systems", self.systems, int)
        from pdeml.problems.pressure import PressureSystem

        try:
            PressureSystem(dim=self.dim, obstacles=self.obstacles, walls=self.walls)
        except ValueError as err:
            raise ConfigError(f"problem: {err}") from None


@dataclass
class PreconditionerNet(Config):
    """``kind`` ``"dcdm"``: the DCDM network (for ``dcdm_solve``), ``levels`` 2x pooling levels;
    ``"multigrid"``: the learned smoother of ``MultigridPreconditioner`` (for plain CG),
    ``channels`` and ``stencil``."""

    section = "net"

    kind: str = "dcdm"
    levels: int = 1
    channels: int = 1
    stencil: str = "star"

    def validate(self) -> None:
        check_choice("net.kind", self.kind, ("dcdm", "multigrid"))
        check_positive("net.levels", self.levels, int)
        check_positive("net.channels", self.channels, int)
        if self.channels > 8:
            raise ConfigError(f"net.channels must be in 1..8, got {self.channels}")
        check_choice("net.stencil", self.stencil, ("star", "box"))


@dataclass
class PreconditionerTraining(Config):
    """Training options; None takes the default of ``train_dcdm`` or ``train_multigrid`` (they differ).
    ``seed`` draws the obstacle masks and initialises the network."""

    section = "train"

    ritz: int | None = None
    samples: int | None = None
    epochs: int | None = None
    batch_size: int | None = None
    lr: float | None = None
    seed: int = 0
    device: str = "auto"

    def validate(self) -> None:
        for key in ("ritz", "samples", "epochs", "batch_size"):
            if getattr(self, key) is not None:
                check_positive(f"train.{key}", getattr(self, key), int)
        if self.lr is not None:
            check_positive("train.lr", self.lr)
        check_positive("train.seed", self.seed, int, allow_zero=True)

    def options(self) -> dict[str, Any]:
        """The options that were given, as keywords of ``train_dcdm`` / ``train_multigrid``."""
        return {k: getattr(self, k) for k in ("ritz", "samples", "epochs", "batch_size", "lr")
                if getattr(self, k) is not None}


@dataclass
class PreconditionerConfig(Config):
    """Everything ``pdeml train-preconditioner`` needs but the output directory."""

    section = "train-preconditioner"

    problem: PreconditionerProblem = field(default_factory=PreconditionerProblem)
    net: PreconditionerNet = field(default_factory=PreconditionerNet)
    train: PreconditionerTraining = field(default_factory=PreconditionerTraining)


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Shortcut flags: each fills the configuration key named by its ``dest``."""
    p.add_argument("--kind", dest="net.kind", choices=["dcdm", "multigrid"],
                   help="dcdm: the DCDM network (for dcdm_solve); multigrid: the learned smoother of "
                        "MultigridPreconditioner (for plain CG). Default dcdm")
    p.add_argument("--dim", dest="problem.dim", type=int, help="grid dimension, 2 or 3 (default 2)")
    p.add_argument("--grid", dest="problem.grid", type=int, help="cells per side of the training systems (default 64)")
    p.add_argument("--walls", dest="problem.walls", help="dirichlet, neumann or open_top (default neumann)")
    p.add_argument("--obstacles", dest="problem.obstacles",
                   help="none, spheres, boxes, blobs or mixed (default mixed)")
    p.add_argument("--systems", dest="problem.systems", type=int, help="training systems (random obstacle masks)")
    p.add_argument("--ritz", dest="train.ritz", type=int, help="Lanczos steps / Ritz vectors per system (default 200)")
    p.add_argument("--samples", dest="train.samples", type=int,
                   help="training right-hand sides per epoch (default 400 for dcdm, 200 for multigrid)")
    p.add_argument("--epochs", dest="train.epochs", type=int, help="default 10 for dcdm, 20 for multigrid")
    p.add_argument("--batch-size", dest="train.batch_size", type=int, help="default 10")
    p.add_argument("--lr", dest="train.lr", type=float,
                   help="Adam learning rate, cosine decay (default 3e-3 for dcdm, 1e-2 for multigrid)")
    p.add_argument("--levels", dest="net.levels", type=int,
                   help="dcdm: 2x pooling levels of the network (default 1, the paper's; more widen its reach)")
    p.add_argument("--channels", dest="net.channels", type=int, help="multigrid: smoother channels (default 1)")
    p.add_argument("--stencil", dest="net.stencil", choices=["star", "box"], help="multigrid: smoother stencil")
    p.add_argument("--seed", dest="train.seed", type=int, help="default 0")
    p.add_argument("--device", dest="train.device", help="default auto")
    p.add_argument("--out", required=True, help="run directory; the network is saved as OUT/model.pt")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def run(config: PreconditionerConfig, args: argparse.Namespace) -> int:
    """Train on the configured random obstacle masks; save ``args.out``/model.pt."""
    import time
    from pathlib import Path

    import numpy as np

    from pdeml.linalg.multigrid import train_multigrid
    from pdeml.linalg.training import train_dcdm
    from pdeml.problems.pressure import PressureSystem

    prob, net, tr = config.problem, config.net, config.train
    problem = PressureSystem(dim=prob.dim, obstacles=prob.obstacles, walls=prob.walls)
    rng = np.random.default_rng(tr.seed)
    systems = [problem.system(problem.sample_mask(rng, prob.grid)) for _ in range(prob.systems)]
    out = Path(args.out)
    start = time.perf_counter()
    progress = False if args.quiet else None
    if net.kind == "multigrid":
        model, result = train_multigrid(systems, **tr.options(), channels=net.channels, stencil=net.stencil,
                                        seed=tr.seed, device=tr.device, progress=progress, run_dir=out)
        quality = f"one-step A-norm error ratio {result.final.get('train_energy_ratio', float('nan')):.4g}"
        what = "multigrid smoother"
    else:
        model, result = train_dcdm(systems, **tr.options(), seed=tr.seed, device=tr.device, levels=net.levels,
                                   progress=progress, run_dir=out,
                                   extra_config={"problem": problem.params, "grid": prob.grid})
        quality = f"validation one-step residual {result.final.get('val_rel_residual', float('nan')):.4g}"
        what = "DCDM network"
    print(f"trained a {prob.dim}D {what} on {prob.systems} {prob.grid}^{prob.dim} system(s) "
          f"({prob.walls} walls, {prob.obstacles} obstacles) in {time.perf_counter() - start:.1f} s: "
          f"train loss {result.final.get('train_loss', float('nan')):.4g}, {quality}")
    print(f"saved {out / 'model.pt'} (load with pdeml.linalg.load_preconditioner({str(out)!r}))")
    return 0


__all__ = ["PreconditionerConfig", "PreconditionerNet", "PreconditionerProblem", "PreconditionerTraining",
           "add_arguments", "run"]
