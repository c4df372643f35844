"""``pdeml refine RUN --data FILE``: refine a trained SFNO's predictions per sample and certify them.

For each sample of a Navier–Stokes data set the command predicts the window that follows the
first ``t_in`` frames, refines it with :class:`~pdeml.refine.SpectralRefiner` and reports the
reference-free error estimate :func:`~pdeml.refine.ns_error_estimate` (total; its first-frame
error and residual parts) before and after, the true relative L2 error against the data's frames, the refinement time
and ``trusted``: relative to the last known frame, the refined window's estimate and the bound
``estimate_sfno + max_t ||refined - sfno||`` on its error are both at most ``threshold``
(:data:`TRUST_RULE`; docs/spectral-refiner.md gives the benchmark numbers behind it: the SFNO's
estimate was above its error there, a refined window's need not be).

The options are a :class:`RefineCommandConfig`: sections ``[refine]`` (a
:class:`~pdeml.refine.RefineConfig`) and ``[certify]``. The flags are
:func:`pdeml.cli.add_refine_arguments`: importing this package imports torch, which the parser,
built on every ``pdeml`` call, does not.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass, field
from typing import Any

from pdeml.config import Config, ConfigError, check_positive
from pdeml.refine.config import RefineConfig

#: the refined estimate alone is no bound (refinement minimises its residual part; L-BFGS-refined windows
#: fall to 0.36-0.55 of their error); the SFNO's estimate is one on the benchmarks, so the refined
#: error is at most it plus the distance refinement moved
TRUST_RULE = ("trusted: relative_estimate_refined <= threshold and relative_bound_refined = (estimate_sfno + "
              "max_t ||refined - sfno||_L2) / ||last known frame||_L2 <= threshold")


@dataclass
class CertifyConfig(Config):
    """What the command checks: ``samples`` (the last N of the file; None: all), ``t_in`` (known frames
    fed to the SFNO; None: the frames of the file's inputs, else the run's ``data.t_in``) and
    ``threshold`` on the refined window's estimate and error bound relative to the last known frame
    (default 0.1: a largest frame error of at most 10% of it where the SFNO's estimate bounds its error)."""

    section = "certify"

    samples: int | None = None
    t_in: int | None = None
    threshold: float = 0.1

    def validate(self) -> None:
        for key in ("samples", "t_in"):
            if getattr(self, key) is not None:
                check_positive(f"certify.{key}", getattr(self, key), int)
        if not (isinstance(self.threshold, (int, float)) and math.isfinite(self.threshold) and self.threshold > 0):
            raise ConfigError(f"certify.threshold must be a finite number > 0, got {self.threshold!r}")


@dataclass
class RefineCommandConfig(Config):
    """Everything ``pdeml refine`` needs but the run, the data file and the output directory."""

    section = "refine-command"

    refine: RefineConfig = field(default_factory=RefineConfig)
    certify: CertifyConfig = field(default_factory=CertifyConfig)


def read_navier_stokes(path: str, t_in: int | None):
    """Trajectories ``(b, n, n, T)`` float64 of a ``navier_stokes`` data set, its problem and ``t_in``
    (the frames of the inputs when ``t_in`` is None); a file that is not one is a ``DataError``."""
    import torch

    from pdeml.data import DataError, load_dataset
    from pdeml.problems.navier_stokes import NavierStokes2D

    data = load_dataset(path)
    meta = data.meta
    if meta.get("problem") != "navier_stokes" or not isinstance(meta.get("params"), dict):
        raise DataError(f"{path}: expected a navier_stokes data set (pdeml generate navier_stokes) whose attributes "
                        f"give nu, the frame spacing and the forcing, got problem={meta.get('problem')!r}")
    x, y = data.x, data.y
    if not (x.ndim in (4, 5) and y.ndim == 5 and x.shape[1] == y.shape[1] == 1 and x.shape[2] == x.shape[3]
            and x.shape[2:4] == y.shape[2:4]):
        raise DataError(f"{path}: expected vorticity x (b, 1, n, n[, t_in]) and y (b, 1, n, n, T) on a square grid, "
                        f"got x {tuple(x.shape)} and y {tuple(y.shape)}")
    try:
        prob = NavierStokes2D(**meta["params"])
    except (TypeError, ValueError) as err:
        raise DataError(f"{path}: its navier_stokes parameters are not usable: {err}") from None
    frames = x[:, 0] if x.ndim == 5 else x[:, 0, ..., None]
    traj = torch.cat([frames, y[:, 0]], dim=-1).double()
    return traj, prob, (frames.shape[-1] if t_in is None else t_in)


def run(config: RefineCommandConfig, args: argparse.Namespace) -> int:
    """Refine and certify the chosen samples; print the table, write ``refine.json`` (and ``refined.h5``)."""
    import json
    import sys
    from pathlib import Path

    import torch
    from tqdm.auto import tqdm

    from pdeml.data import DataError, save_dataset
    from pdeml.io import write_json_atomic
    from pdeml.losses import relative_l2
    from pdeml.models.workflow import load_run
    from pdeml.refine import SpectralRefiner, frame_norm, ns_error_estimate
    from pdeml.report import markdown_table

    cert, rcfg = config.certify, config.refine
    run_dir = Path(args.run)
    traj, prob, t_in = read_navier_stokes(args.data, cert.t_in)
    if cert.t_in is None and t_in == 1:  # the file starts from w(warmup): the run's recipe says how many frames
        cfg_path = run_dir / "config.json"
        recipe = json.loads(cfg_path.read_text()).get("data", {}) if cfg_path.exists() else {}
        t_in = int(recipe.get("t_in", t_in))
    model = load_run(run_dir, device=rcfg.device or "auto")
    dt = (prob.t_final - prob.warmup) / prob.n_snapshots
    try:
        refiner = SpectralRefiner(model, nu=prob.nu, dt=dt, forcing=prob.forcing, config=rcfg)
    except TypeError as err:
        raise ValueError(f"{run_dir}: {err}") from None
    t_out = refiner.model.out_steps
    if t_in + t_out > traj.shape[-1]:
        raise DataError(f"{args.data}: a window of {t_in} known + {t_out} predicted frames needs {t_in + t_out} "
                        f"frames per sample, the file holds {traj.shape[-1]}")
    if cert.samples is not None and cert.samples > traj.shape[0]:
        raise DataError(f"--n {cert.samples}: {args.data} holds {traj.shape[0]} samples")
    first = traj.shape[0] - (cert.samples or traj.shape[0])
    x, truth = traj[first:, ..., :t_in], traj[first:, ..., t_in:t_in + t_out]
    n = x.shape[1]
    size = frame_norm(x[..., -1])  # L2 norm of the last known frame on the unit box

    device = next(refiner.model.parameters()).device
    rows, refined = [], []
    bar = tqdm(total=x.shape[0], desc="refine", unit="sample", disable=args.quiet or None)
    for start in range(0, x.shape[0], rcfg.batch_size):
        xb, tb = x[start:start + rcfg.batch_size], truth[start:start + rcfg.batch_size]
        res = refiner.refine(xb.float().to(device), t_out, progress=False)
        est = {"sfno": ns_error_estimate(xb, res.initial, dt, prob.nu, prob.forcing),
               "refined": ns_error_estimate(xb, res.prediction, dt, prob.nu, prob.forcing)}
        preds = {"sfno": res.initial, "refined": res.prediction}
        err = {k: relative_l2(p, tb, reduction="none") for k, p in preds.items()}
        # effectivity: the estimate over the largest L2 error of a frame, >= 1 where it bounds the error
        worst = {k: frame_norm(p - tb).amax(dim=-1) for k, p in preds.items()}
        moved = frame_norm(res.prediction - res.initial).amax(dim=-1)
        for i in range(xb.shape[0]):
            row: dict[str, Any] = {"sample": first + start + i}
            for k, e in est.items():
                row |= {f"estimate_{k}": float(e.total[i]),
                        f"first_frame_{k}": None if e.first_frame is None else float(e.first_frame[i]),
                        f"residual_{k}": float(e.residual[i]), f"initial_{k}": float(e.initial[i]),
                        f"evolution_{k}": float(e.evolution[i])}
            for k, e in est.items():
                row[f"relative_estimate_{k}"] = float(e.total[i] / size[start + i])
            row["bound_refined"] = float(est["sfno"].total[i] + moved[i])
            row["relative_bound_refined"] = row["bound_refined"] / float(size[start + i])
            for k, e in est.items():
                row[f"effectivity_{k}"] = float(e.total[i] / worst[k][i])
            row |= {"rel_l2_sfno": float(err["sfno"][i]), "rel_l2_refined": float(err["refined"][i]),
                    "loss_sfno": float(res.initial_estimate[i]), "loss_refined": float(res.final_estimate[i]),
                    "seconds": res.seconds / xb.shape[0]}
            row["trusted"] = bool(max(row["relative_estimate_refined"], row["relative_bound_refined"]) <= cert.threshold)
            rows.append(row)
        refined.append(res.prediction)
        bar.update(xb.shape[0])
    bar.close()

    shown = ["sample", "estimate_sfno", "first_frame_sfno", "residual_sfno", "estimate_refined", "first_frame_refined",
             "residual_refined", "relative_estimate_refined", "relative_bound_refined", "rel_l2_sfno", "rel_l2_refined", "seconds", "trusted"]
    print(markdown_table(rows, shown))
    trusted = sum(r["trusted"] for r in rows)
    print(f"trusted {trusted}/{len(rows)} ({TRUST_RULE}; threshold {cert.threshold})")
    out = Path(args.out) if args.out else run_dir / "refine"
    record = {"command": " ".join(["pdeml", *sys.argv[1:]]), "run": str(run_dir), "data": str(args.data),
              "nu": prob.nu, "dt": dt, "forcing": prob.forcing_kind, "t_in": t_in, "t_out": t_out, "resolution": n,
              "rule": TRUST_RULE, "config": config.to_dict(), "settings": res.info, "trusted": trusted, "samples": rows}
    path = write_json_atomic(out / "refine.json", record)
    print(f"wrote {path}")
    if args.save_predictions:
        h5 = save_dataset(out / "refined.h5", x[:, None].float(), torch.cat(refined)[:, None].float(),
                          problem="navier_stokes", params=prob.params, resolution=n, source=str(args.data),
                          run=str(run_dir), samples=[r["sample"] for r in rows], refined=True)
        print(f"wrote {h5}")
    return 0


__all__ = ["TRUST_RULE", "CertifyConfig", "RefineCommandConfig", "read_navier_stokes", "run"]
