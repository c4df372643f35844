"""Train an SFNO on 2D Navier–Stokes vorticity windows and save a run directory.

    python examples/navier_stokes_train.py                      # small defaults: a few minutes on 2 CPU cores
    python examples/navier_stokes_train.py --solver-resolution 128 --train-resolution 64 \\
        --n-train 24 --epochs 8 --run runs/sfno_ns128

Trajectories come from pdeml's pseudo-spectral solver (nu = 1e-3, FNO forcing, GRF initial
vorticity, float64), cached in ``data/cache``; ``--data FILE`` uses an existing file made by
``pdeml generate navier_stokes`` or by this script instead. The SFNO learns ``t_in`` frames ->
``t_out`` frames at ``--train-resolution`` (stride-downsampled) through pdeml's Trainer; the
run directory (``config.json`` with the data recipe, ``model.pt``, metrics) is what
``examples/navier_stokes_finetune.py`` loads. The test error is measured zero-shot at the solver
resolution on held-out trajectories.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from pdeml.bench.spectral_refiner import NU, problem
from pdeml.data import DeviceDataset, DeviceLoader, cached_dataset, load_dataset
from pdeml.device import resolve_device
from pdeml.io import write_json_atomic
from pdeml.losses import relative_l2
from pdeml.models import NormalizedOperator, build, count_parameters
from pdeml.models.workflow import operator_objective
from pdeml.solvers.spectral import downsample, windows
from pdeml.train import Trainer


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--run", default="runs/sfno_ns", help="run directory to write")
    p.add_argument("--data", help="existing navier_stokes HDF5 file (x: frame at warm-up, y: the frames after)")
    p.add_argument("--solver-resolution", type=int, default=64, help="solver grid (also the test grid)")
    p.add_argument("--train-resolution", type=int, default=32, help="training grid (divides the solver grid)")
    p.add_argument("--solver-dt", type=float, default=1e-2, help="solver time step")
    p.add_argument("--warmup", type=float, default=5.0, help="time before the first recorded frame")
    p.add_argument("--frame-dt", type=float, default=0.2, help="time between frames")
    p.add_argument("--n-frames", type=int, default=30, help="frames per trajectory after the warm-up frame")
    p.add_argument("--n-train", type=int, default=12, help="training trajectories")
    p.add_argument("--n-test", type=int, default=4, help="test trajectories")
    p.add_argument("--t-in", type=int, default=10, help="input frames")
    p.add_argument("--t-out", type=int, default=10, help="output frames")
    p.add_argument("--window-stride", type=int, default=3, help="frames between training windows")
    p.add_argument("--modes", type=int, nargs=3, default=[12, 12, 5], metavar=("MX", "MY", "MT"))
    p.add_argument("--width", type=int, default=12)
    p.add_argument("--channel-expansion", type=int, default=2)
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--workers", type=int, default=2, help="processes for data generation")
    return p.parse_args(argv)


def data_recipe(args: argparse.Namespace) -> dict:
    return {"solver_resolution": args.solver_resolution, "dt": args.solver_dt, "warmup": args.warmup,
            "frame_dt": args.frame_dt, "n_frames": args.n_frames, "n_train": args.n_train, "n_test": args.n_test}


def load_trajectories(recipe: dict, path: str | None = None, workers: int = 1) -> torch.Tensor:
    """``(n, s, s, 1 + n_frames)`` float32 vorticity: from ``path`` or generated into the cache."""
    if path is None:
        prob = problem(recipe)
        n = recipe["n_train"] + recipe["n_test"]
        path = cached_dataset("navier_stokes", n, recipe["solver_resolution"], seed=recipe.get("seed", 0),
                              params=prob.params, workers=workers)
    data = load_dataset(path)
    if data.x.ndim != 4 or data.y.ndim != 5:
        raise ValueError(f"{path}: expected x (n, 1, s, s) and y (n, 1, s, s, T) from the navier_stokes problem with "
                         f"t_in = 0, got x {tuple(data.x.shape)} and y {tuple(data.y.shape)}")
    return torch.cat([data.x[:, 0, :, :, None], data.y[:, 0]], dim=-1)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.solver_resolution % args.train_resolution:
        raise ValueError(f"--train-resolution {args.train_resolution} must divide --solver-resolution "
                         f"{args.solver_resolution}")
    device = resolve_device(args.device)
    recipe = {**data_recipe(args), "seed": args.seed}
    start = time.perf_counter()
    traj = load_trajectories(recipe, args.data, args.workers)
    n_train = args.n_train
    if traj.shape[0] < n_train + args.n_test:
        raise ValueError(f"the data hold {traj.shape[0]} trajectories, fewer than {n_train} + {args.n_test}")
    coarse = downsample(traj[:n_train].movedim(-1, 1), args.train_resolution).movedim(1, -1)
    x, y = windows(coarse, args.t_in, args.t_out, args.window_stride)
    print(f"data: {traj.shape[0]} trajectories at {traj.shape[1]}^2 ({time.perf_counter() - start:.1f} s); "
          f"{x.shape[0]} training windows at {args.train_resolution}^2")

    model_config = {"name": "sfno", "normalize": "none", "modes": list(args.modes), "width": args.width,
                    "channel_expansion": args.channel_expansion, "latent_steps": args.t_in, "out_steps": args.t_out}
    torch.manual_seed(args.seed)
    net = build("sfno", **{k: v for k, v in model_config.items() if k not in ("name", "normalize")})
    model = NormalizedOperator(net, normalize="none")  # the run format of pdeml's operators
    print(f"SFNO: {count_parameters(net):,} parameters")
    trainer = Trainer(model, operator_objective("relative_l2"),
                      DeviceLoader(DeviceDataset(x[:, None], y[:, None]), args.batch_size, seed=args.seed),
                      epochs=args.epochs, optimizer="adam", lr=args.lr, scheduler="onecycle",
                      scheduler_options={"pct_start": 0.2}, device=str(device), run_dir=args.run,
                      model_config=model_config, seed=args.seed,
                      extra_config={"data": {**recipe, "path": args.data, "nu": NU, "forcing": "fno",
                                             "t_in": args.t_in, "t_out": args.t_out,
                                             "train_resolution": args.train_resolution}})
    result = trainer.fit()

    test = traj[n_train:n_train + args.n_test]
    tx, ty = test[..., :args.t_in], test[..., args.t_in:args.t_in + args.t_out]
    with torch.no_grad():
        pred = torch.cat([net.eval()(tx[i:i + 1].to(device)).cpu() for i in range(tx.shape[0])])
    test_rel = float(relative_l2(pred, ty))
    summary = {"train_rel_l2": result.final["train_rel_l2"], "test_rel_l2": test_rel,
               "test_resolution": traj.shape[1], "seconds": time.perf_counter() - start}
    write_json_atomic(Path(args.run) / "summary.json", summary)
    print(f"final train relative L2 {summary['train_rel_l2']:.4f}; test relative L2 at {traj.shape[1]}^2 "
          f"(zero-shot from {args.train_resolution}^2): {test_rel:.4f}; run saved in {args.run}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
