"""Refine a trained SFNO's predictions with the Spectral-Refiner and compare with the reference.

    python examples/navier_stokes_train.py                 # makes runs/sfno_ns
    python examples/navier_stokes_finetune.py              # refines test samples 0 and 1
    python examples/navier_stokes_finetune.py --run runs/sfno_ns --samples 0 1 2 --steps 100 --modes 64 64 6
    python examples/navier_stokes_finetune.py --config refine.toml --set refine.method=lbfgs   # [refine] table

Loads the run directory written by ``navier_stokes_train.py``, takes the chosen held-out
trajectories at the solver resolution (the SFNO was trained on a coarser grid), predicts the
``t_out`` frames that follow the first ``t_in``, and refines each prediction per sample
(float64, no data: only the Navier–Stokes residual in ``L2(0, T; H^-1)``). Prints the error
against the reference solution and the estimator before and after, and writes to ``--out``
(default ``RUN/finetune``): ``panels_sample_K.png`` (truth / SFNO / refined / errors),
``history.png`` (estimator and error against the iteration) and ``finetune.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from pdeml.bench.spectral_refiner import plot_history, plot_panels, problem
from pdeml.cli import add_config_arguments, config_values
from pdeml.config import sections
from pdeml.device import resolve_device
from pdeml.io import write_json_atomic
from pdeml.losses import relative_l2
from pdeml.models.workflow import load_run
from pdeml.refine import RefineConfig, SpectralRefiner, ns_error_estimate, ns_estimator
from pdeml.report import markdown_table

sys.path.insert(0, str(Path(__file__).resolve().parent))
from navier_stokes_train import load_trajectories  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--run", default="runs/sfno_ns", help="run directory from navier_stokes_train.py")
    p.add_argument("--samples", type=int, nargs="+", default=[0, 1], help="test trajectories to refine")
    # the refinement options are a RefineConfig: these flags fill its keys, --config/--set the same ones
    add_config_arguments(p, "refine.steps=100")
    p.add_argument("--steps", dest="refine.steps", type=int, help="optimiser iterations per sample (default 50)")
    p.add_argument("--modes", dest="refine.modes", type=int, nargs=3, metavar=("MX", "MY", "MT"),
                   help="modes of the refined output layer, clamped to the grid (default 64 64 6)")
    p.add_argument("--untruncated", action="store_true", help="keep every Fourier mode in the refined layer")
    p.add_argument("--lr-bias", dest="refine.lr_bias", type=float, help="default 0.2")
    p.add_argument("--lr-weight", dest="refine.lr_weight", type=float, help="default 1e-4")
    p.add_argument("--method", dest="refine.method", choices=["adam", "lbfgs"],
                   help="adam: the paper's loop (default); lbfgs: preconditioned L-BFGS on the bias (float64)")
    p.add_argument("--norm", choices=["h-1", "l2"], help="spatial norm of the residual loss (default h-1)")
    p.add_argument("--rtol", dest="refine.rtol", type=float,
                   help="stop once the loss is below RTOL times its start (default 0: run all steps)")
    p.add_argument("--tolerance", type=float, default=0.1,
                   help="trust the SFNO prediction when its error bound, relative to the last input frame, is at most this")
    p.add_argument("--batch-size", dest="refine.batch_size", type=int,
                   help="samples refined together, independent layers (default 2)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--out", help="output directory (default RUN/finetune)")
    return p.parse_args(argv)


def refine_config(args: argparse.Namespace) -> RefineConfig:
    """The file, then the flags, then ``--set``; this script refines two samples at a time by default."""
    values = sections(config_values(args, {"refine": {"batch_size": 2}}), ["refine"], "navier_stokes_finetune.py")
    if args.untruncated:
        values["refine"]["modes"] = None
    if args.norm:
        values["refine"]["s"] = -1.0 if args.norm == "h-1" else 0.0
    return RefineConfig.from_dict(values["refine"])


def main(argv=None) -> int:
    args = parse_args(argv)
    config = refine_config(args)  # a bad option fails here, before the model and data are loaded
    run = Path(args.run)
    config_path = run / "config.json"
    if not config_path.exists():
        raise SystemExit(f"{run} is not a run directory of navier_stokes_train.py (no config.json); train first")
    recipe = json.loads(config_path.read_text()).get("data", {})
    if "frame_dt" not in recipe:
        raise SystemExit(f"{config_path} has no Navier-Stokes data recipe; was it written by navier_stokes_train.py?")
    device = resolve_device(args.device)
    model = load_run(run, device=device)
    traj = load_trajectories(recipe, recipe.get("path"))
    n_train, n_test = recipe["n_train"], recipe["n_test"]
    bad = [k for k in args.samples if not 0 <= k < n_test]
    if bad:
        raise SystemExit(f"--samples {bad} out of range: the run has {n_test} test trajectories (0..{n_test - 1})")
    t_in, t_out, h = recipe["t_in"], recipe["t_out"], recipe["frame_dt"]
    test = traj[n_train:][args.samples]
    x, truth = test[..., :t_in], test[..., t_in:t_in + t_out].double()
    forcing = problem(recipe).forcing

    refiner = SpectralRefiner(model, nu=recipe["nu"], dt=h, forcing=forcing, config=config.replace(device=device))
    start = time.perf_counter()
    result = refiner.refine(x.to(device), t_out, target=truth.to(device))
    wall = time.perf_counter() - start
    est_truth = ns_estimator(torch.cat([x[..., -2:].double(), truth], dim=-1), h, recipe["nu"], forcing)
    # the reference-free error estimate (first-frame error + residual, L2): what a user without the truth sees
    known = x.double()
    bound_before = ns_error_estimate(known, result.initial, h, recipe["nu"], forcing)
    bound_after = ns_error_estimate(known, result.prediction, h, recipe["nu"], forcing)
    # bound on max_t ||e(t)||_{L2} relative to the last known frame (C = 1 held on every benchmark prediction)
    size = torch.linalg.vector_norm(known[..., -1], dim=(1, 2)) / known.shape[1]
    bound_rel = bound_before.total / size

    before = relative_l2(result.initial, truth, reduction="none")
    after = relative_l2(result.prediction, truth, reduction="none")
    rows = [{"sample": k, "rel_l2_sfno": float(before[i]), "rel_l2_refined": float(after[i]),
             "estimator_sfno": float(result.initial_estimate[i]), "estimator_refined": float(result.final_estimate[i]),
             "estimator_reference": float(est_truth[i]),
             "estimate_sfno": float(bound_before.total[i]), "estimate_sfno_initial": float(bound_before.initial[i]),
             "estimate_refined": float(bound_after.total[i]), "estimate_refined_initial": float(bound_after.initial[i]),
             "first_frame_error_sfno": float(bound_before.first_frame[i]),
             "first_frame_error_refined": float(bound_after.first_frame[i]),
             "bound_relative_sfno": float(bound_rel[i]), "trusted": bool(bound_rel[i] <= args.tolerance),
             "seconds": result.seconds / len(args.samples)}
            for i, k in enumerate(args.samples)]
    print(markdown_table(rows))
    out = Path(args.out) if args.out else run / "finetune"
    n = x.shape[1]
    for i, k in enumerate(args.samples):
        plot_panels(out / f"panels_sample_{k}.png", truth[i], result.initial[i], result.prediction[i],
                    f"test sample {k}: last of {t_out} frames at {n}^2")
    plot_history(out / "history.png", result.history, result.error_history, refiner.config)
    write_json_atomic(out / "finetune.json", {
        "command": " ".join(["python", *sys.argv]), "run": str(run), "device": str(device), "rows": rows,
        "settings": {**result.info, "modes": list(result.info["modes"])}, "wall_seconds": wall,
        "estimator_history": result.history.tolist(), "error_history": result.error_history.tolist()})
    print(f"figures and finetune.json in {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
