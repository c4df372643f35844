"""``solve_pinn``: train a PINN on a problem with a collocation sampler, through the one Trainer.

The loss of a round's batch is ``mean(r^2) / s + boundary_weight * mean((u - g)^2)``: ``r`` the
problem's autograd residual at the interior points, ``s`` the mean square of the residual of
``u = 0`` over uniform points (for linear problems ``mean f^2``: it makes the PDE term
dimensionless, so one ``boundary_weight`` suits problems whose forcing differs by orders of
magnitude), ``g`` the exact solution at the boundary points. With ``boundary="exact"`` the
Dirichlet data are built into the network (:class:`~pdeml.pinn.network.PINNModel`) and the
second term is absent.

The error is the relative L2 error against the exact solution over the domain: on a tensor grid
in 1D and 2D, and in higher dimension by importance sampling (half uniform points, half from a
Gaussian fitted to ``u^2`` by a few cross-entropy iterations, each weighted by ``1 / density``)
because uniform points almost never land where a concentrated solution lives.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from pdeml.device import resolve_device
from pdeml.pinn.config import PINNConfig
from pdeml.pinn.geometry import Domain
from pdeml.pinn.network import Lifting, PINNModel
from pdeml.pinn.samplers import make_sampler
from pdeml.problems.pde import PDE
from pdeml.train import Trainer

# the defaults, for code that reads them by name
DEFAULTS: dict[str, Any] = {k: v for k, v in PINNConfig().to_dict().items() if k != "sampler_options"}


@dataclass
class EvaluationSet:
    """Points (n, d), weights (n,) and exact values (n,) (float64) for a weighted relative L2."""

    points: torch.Tensor
    weights: torch.Tensor
    exact: torch.Tensor
    kind: str
    shape: list[int] | None = None

    def relative_l2(self, predict, index: torch.Tensor | None = None) -> float:
        pts, w, u = self.points, self.weights, self.exact
        if index is not None:
            pts, w, u = pts[index], w[index], u[index]
        pred = predict(pts).double().to(u.device)
        return float(torch.sqrt((w * (pred - u) ** 2).sum() / (w * u**2).sum().clamp_min(1e-300)))

    def split_relative_l2(self, predict, level: float = 1e-3) -> tuple[float, float]:
        """The relative L2 error split into the part where ``|u| >= level * max|u|`` ("near" the
        solution's features, e.g. its peaks) and the rest ("away"), both over the whole ``||u||``:
        ``near^2 + away^2`` is the squared relative L2 error."""
        pred = predict(self.points).double().to(self.exact.device)
        e2, u2 = self.weights * (pred - self.exact) ** 2, self.weights * self.exact**2
        near = self.exact.abs() >= level * float(self.exact.abs().max())
        total = u2.sum().clamp_min(1e-300)
        return float(torch.sqrt(e2[near].sum() / total)), float(torch.sqrt(e2[~near].sum() / total))


@dataclass
class PINNResult:
    """A trained PINN: ``relative_l2`` vs the exact solution, training ``seconds``, the ``model``,
    the per-round ``history``, the sampler's point ``sampler_points`` (list of
    ``{"round", "points": (k, d) array}``) and :meth:`predict`."""

    problem: Any
    sampler: str
    relative_l2: float
    seconds: float
    model: PINNModel
    history: list[dict[str, Any]]
    sampler_points: list[dict[str, Any]]
    points: int
    steps: int
    domain: Domain
    evaluation: EvaluationSet
    options: dict[str, Any] = field(default_factory=dict)
    density: Any = None
    relative_l2_near: float = math.nan
    relative_l2_away: float = math.nan

    @torch.no_grad()
    def predict(self, points: torch.Tensor, chunk: int = 65536) -> torch.Tensor:
        """``u`` (n,) at ``points`` (n, d) (on the model's device and dtype)."""
        if not isinstance(points, torch.Tensor) or points.ndim != 2 or points.shape[1] != self.domain.dim:
            got = tuple(points.shape) if isinstance(points, torch.Tensor) else type(points).__name__
            raise ValueError(f"points must be a tensor of shape (n, {self.domain.dim}), got {got}")
        p = next(self.model.parameters())
        return torch.cat([self.model(c.to(p.device, p.dtype)) for c in points.split(chunk)])

    def summary(self) -> dict[str, Any]:
        return {"problem": self.problem.name, "dim": self.domain.dim, "sampler": self.sampler,
                "relative_l2": self.relative_l2, "relative_l2_near": self.relative_l2_near,
                "relative_l2_away": self.relative_l2_away, "seconds": self.seconds, "points": self.points,
                "steps": self.steps, "lbfgs_steps": int(self.options.get("lbfgs_steps") or 0)}


def resolve_problem(problem, params: dict[str, Any] | None = None) -> PDE:
    """A :class:`~pdeml.problems.pde.PDE` from a registered name (with ``params``) or an instance;
    raises before any work when the PINN cannot measure its error on it."""
    if isinstance(problem, str):
        from pdeml import problems

        problem = problems.get(problem, **(params or {}))
    elif params:
        raise ValueError("problem_params apply only when the problem is given by name")
    if not isinstance(problem, PDE):
        raise ValueError(f"a PINN needs a pdeml.problems.PDE (operator, forcing and Dirichlet data), got "
                         f"{type(problem).__name__}")
    if not problem.has_exact:
        from pdeml.solvers.fd import FDError

        try:
            problem.check_fd()
        except FDError as err:
            raise ValueError(f"{problem.name} has no exact solution, so the PINN's error is measured against the "
                             f"FD reference, and {err}") from err
    return problem


def _residual_scale(problem, domain: Domain, generator: torch.Generator, n: int = 4096) -> float:
    """Mean square residual of ``u = 0`` over uniform points (``mean f^2`` for a linear problem)."""
    x = domain.sample_interior(n, generator).double().requires_grad_(True)
    r = problem.residual(lambda p: 0.0 * (p**3).sum(dim=1), x).detach()  # keeps a graph to differentiate
    scale = float((r**2).mean())
    return scale if math.isfinite(scale) and scale > 1e-30 else 1.0


def _truncated_normal(mean, std, low, high, n, generator):
    """Samples (n, d) of a diagonal normal truncated to the box, and their log density (n,)."""
    normal = torch.distributions.Normal(0.0, 1.0)
    a, b = normal.cdf((low - mean) / std), normal.cdf((high - mean) / std)
    u = a + (b - a) * torch.rand(n, mean.shape[0], generator=generator, dtype=torch.float64)
    z = torch.special.ndtri(u.clamp(1e-15, 1 - 1e-15))
    x = (mean + std * z).clamp(low, high)
    logq = (normal.log_prob(z) - torch.log(std) - torch.log(b - a)).sum(dim=1)
    return x, logq


def _truncated_normal_logpdf(x, mean, std, low, high):
    normal = torch.distributions.Normal(0.0, 1.0)
    a, b = normal.cdf((low - mean) / std), normal.cdf((high - mean) / std)
    return (normal.log_prob((x - mean) / std) - torch.log(std) - torch.log(b - a)).sum(dim=1)


def evaluation_set(problem, domain: Domain, resolution: int | None = None, n_points: int = 40000,
                   seed: int = 1234) -> EvaluationSet:
    """The fixed points where the error is measured (see the module docstring); float64, CPU."""
    dim = domain.dim
    exact = lambda x: torch.as_tensor(problem.exact_on_points(x), dtype=torch.float64)  # noqa: E731
    host = Domain(domain.geometry, dtype=torch.float64, device="cpu")
    if not problem.has_exact:  # the FD reference on the node grid of the box (checked in resolve_problem)
        res = resolution or {1: 4097, 2: 257}.get(dim, 65)
        ref = torch.as_tensor(problem.reference(res), dtype=torch.float64)
        pts = torch.stack([torch.as_tensor(c.ravel()) for c in problem.grid(res)], dim=1)
        return EvaluationSet(pts, torch.ones(pts.shape[0], dtype=torch.float64), ref.reshape(-1), "fd-reference",
                             [res] * dim)
    if dim <= 2:
        res = resolution or (8193 if dim == 1 else 513)
        pts, shape = host.grid(res)
        if not host.is_box:
            pts, shape = pts[host.inside(pts)], None
        return EvaluationSet(pts, torch.ones(pts.shape[0], dtype=torch.float64), exact(pts), "grid", shape)
    g = torch.Generator().manual_seed(seed)
    low, high = torch.as_tensor(host.low), torch.as_tensor(host.high)
    mean, std = (low + high) / 2, (high - low) / 4
    for _ in range(4):  # cross-entropy fit of a Gaussian to u^2
        x, logq = _truncated_normal(mean, std, low, high, n_points, g)
        w = exact(x) ** 2 * torch.exp(-(logq - logq.max()))
        if not torch.isfinite(w).all() or w.sum() <= 0:
            break
        w = w / w.sum()
        mean = (w[:, None] * x).sum(0)
        std = torch.sqrt((w[:, None] * (x - mean) ** 2).sum(0)).clamp_min(1e-3 * float((high - low).min()))
    n_normal = n_points // 2
    x_n, _ = _truncated_normal(mean, std, low, high, n_normal, g)
    x = torch.cat([x_n, host.sample_interior(n_points - n_normal, g)])
    volume = float(torch.prod(high - low))
    density = 0.5 * torch.exp(_truncated_normal_logpdf(x, mean, std, low, high)) + 0.5 / volume
    keep = host.inside(x)
    x, density = x[keep], density[keep]
    return EvaluationSet(x, 1.0 / density, exact(x), "importance")


def _scheduler_options(general: dict[str, Any]) -> dict[str, Any]:
    """Options of the learning-rate schedule: ``cosine`` decays to ``lr * eta_min_ratio``;
    ``onecycle`` (torch's OneCycleLR) first ramps up from ``lr / 25`` over the fraction ``warmup``
    of the steps (a half-cosine ramp), then decays (cosine) to the same ``lr * eta_min_ratio``;
    it also cycles Adam's first moment coefficient between 0.95 and 0.85 (torch's default)."""
    eta_min = float(general["eta_min_ratio"])
    if general["scheduler"] == "cosine":
        return {"eta_min": float(general["lr"]) * eta_min}
    if general["scheduler"] == "onecycle":
        warmup = float(general["warmup"])
        if not 0 < warmup < 1:
            raise ValueError(f"warmup must be in (0, 1) for the onecycle schedule, got {warmup}")
        return {"pct_start": warmup, "div_factor": 25.0, "final_div_factor": 1.0 / (25.0 * eta_min),
                "anneal_strategy": "cos"}
    return {}


def _fit_lifting(domain: Domain, problem, dim: int, device, dtype, generator, seed: int,
                 steps: int) -> Lifting | None:
    """A network ``g`` matching the Dirichlet data (``steps`` Adam steps), or None when the data
    vanish."""
    xb = domain.sample_boundary(4096, generator)
    gb = torch.as_tensor(problem.dirichlet_on_points(xb), dtype=dtype, device=xb.device)
    if float(gb.abs().max()) <= 1e-12:
        return None
    torch.manual_seed(seed)
    lifting = Lifting(dim, domain.low.tolist(), domain.high.tolist(), shift=float(gb.mean()),
                      scale=max(float(gb.std()), 1e-12)).to(dtype)
    trainer = Trainer(lifting, lambda m, b: (((m(b[0]) - b[1]) ** 2).mean(), {}), [(xb, gb)] * steps,
                      epochs=1, lr=1e-2, device=str(device), precision="fp32", progress=False, seed=seed,
                      scheduler="cosine", scheduler_interval="step")
    trainer.fit()
    return lifting.eval()


def solve_pinn(problem, *, config: PINNConfig | None = None, **options) -> PINNResult:
    """Train a PINN for ``problem`` (a registered name or a :class:`~pdeml.problems.pde.PDE`, 1D to 10D
    and more) and measure it against its exact solution, or against the FD reference when it has none.

    Options: a :class:`~pdeml.pinn.config.PINNConfig` as ``config``, or its fields as keywords
    (a sampler's own options too, e.g. ``beta``, ``flow_steps`` for AAS; ``k``, ``c`` for RAD);
    ``dtype`` may be ``torch.float32``/``torch.float64``. Returns a :class:`PINNResult`.
    """
    if config is not None and options:
        raise ValueError(f"give config= or keyword options, not both (got {sorted(options)})")
    if isinstance(options.get("dtype"), torch.dtype):
        options["dtype"] = str(options["dtype"]).removeprefix("torch.")
    config = config if config is not None else PINNConfig.from_flat(options)
    sampler, points, steps, seed = config.sampler, config.points, config.steps, config.seed
    device, progress = config.device, config.progress
    dtype = {"float32": torch.float32, "float64": torch.float64}[config.dtype]
    general = config.to_dict()
    sampler_opts = general.pop("sampler_options")
    rounds = min(int(config.rounds or 20), steps)
    if steps % rounds and config.rounds is None:  # the default: the largest divisor of steps up to 20
        rounds = max(r for r in range(1, rounds + 1) if steps % r == 0)
    if steps % rounds:
        raise ValueError(f"steps ({steps}) must be a multiple of rounds ({rounds}): every round trains "
                         "the same number of steps")
    problem = resolve_problem(problem, general["problem_params"])
    dev = resolve_device(device)
    domain = Domain.from_problem(problem, general["geometry"] or problem.geometry, dtype=dtype, device=dev)
    generator = torch.Generator().manual_seed(int(seed))

    boundary = general["boundary"]
    n_boundary = general["boundary_points"]
    if n_boundary is None:
        n_boundary = max(64, points // 4) if boundary == "penalty" else 0
    scale = _residual_scale(problem, domain, generator)
    evaluation = evaluation_set(problem, domain, general["eval_resolution"], int(general["eval_points"]))
    n_track = min(int(general["track_points"]), evaluation.points.shape[0])
    track = torch.randperm(evaluation.points.shape[0], generator=torch.Generator().manual_seed(7))[:n_track]

    start = time.perf_counter()
    lifting = None
    if boundary == "exact":
        domain.distance_factor(domain.sample_interior(2, generator))  # fails early for shapes without one
    if boundary == "exact" and general["lifting"] == "fit":
        lifting = _fit_lifting(domain, problem, domain.dim, dev, dtype, generator, seed,
                               int(general["lifting_steps"]))
    torch.manual_seed(int(seed))
    model = PINNModel(domain.dim, domain.low.tolist(), domain.high.tolist(), width=int(general["width"]),
                      depth=int(general["depth"]), activation=general["activation"], boundary=boundary,
                      distance=domain.distance_factor, lifting=lifting).to(device=dev, dtype=dtype)

    def boundary_data(x: torch.Tensor) -> torch.Tensor:
        return torch.as_tensor(problem.dirichlet_on_points(x), dtype=x.dtype, device=x.device)

    source = make_sampler(sampler, domain, boundary_data, n_points=points, steps_per_round=steps // rounds,
                          rounds=rounds, n_boundary=n_boundary,
                          seed=int(torch.randint(0, 2**31 - 1, (1,), generator=generator)), **sampler_opts)
    source.bind(model, problem.residual)
    weight = float(general["boundary_weight"])

    def objective(net, batch):
        x = batch["interior"].detach().requires_grad_(True)
        r = problem.residual(net, x)
        # importance weights (mean 1) where the sampler gives them: mean(w r^2) then estimates the
        # mean of r^2 over the domain whatever density the points came from
        r2 = r**2 * batch["weights"] if "weights" in batch else r**2
        loss_r = r2.mean() / scale
        metrics = {"residual_loss": loss_r.detach()}
        loss = loss_r
        if "boundary" in batch:
            loss_b = ((net(batch["boundary"]) - batch["boundary_values"]) ** 2).mean()
            loss = loss + weight * loss_b
            metrics["boundary_loss"] = loss_b.detach()
        return loss, metrics

    def predict(x):
        with torch.no_grad():
            return torch.cat([model(c.to(dev, dtype)) for c in x.split(65536)])

    def on_round(trainer, record):
        record["sampler_round"] = source.round
        record.update({f"sampler_{k}": v for k, v in source.info.items()})
        tic = time.perf_counter()
        record["relative_l2"] = evaluation.relative_l2(predict, track)
        record["eval_seconds"] = time.perf_counter() - tic

    scheduler_options = _scheduler_options(general)
    trainer = Trainer(model, objective, source, epochs=rounds, lr=float(general["lr"]),
                      scheduler=general["scheduler"], scheduler_options=scheduler_options,
                      scheduler_interval="step" if general["scheduler"] != "none" else None,
                      precision="fp32", device=str(dev), progress=progress, seed=int(seed),
                      run_dir=general["run_dir"], model_config=model.config, callbacks=[on_round],
                      extra_config={"pinn": {"problem": problem.name, "sampler": sampler, "points": points,
                                             "steps": steps, "residual_scale": scale}})
    result = trainer.fit()
    history = [{**r, "phase": "adam"} for r in result.history]
    lbfgs_steps = int(general["lbfgs_steps"])
    if lbfgs_steps:
        lbfgs_points = int(general["lbfgs_points"] or 4 * points)
        history += _lbfgs_finish(model, objective, source, lbfgs_steps, lbfgs_points, dev, seed,
                                 general["run_dir"], on_round, holdout=bool(general["lbfgs_holdout"]))
    eval_seconds = sum(r.get("eval_seconds", 0.0) for r in history)
    seconds = time.perf_counter() - start - eval_seconds
    model.eval()
    error = evaluation.relative_l2(predict)
    near, away = evaluation.split_relative_l2(predict, float(general["near_level"]))
    density = source.density if hasattr(source, "density") else None
    return PINNResult(problem, sampler, error, seconds, model, history, source.snapshots, points, steps,
                      domain, evaluation, {**general, **sampler_opts, "residual_scale": scale,
                                           "boundary_points": n_boundary}, density, near, away)


class _LossRose(RuntimeError):
    """The L-BFGS finish's loss rose far above its best value: stop and keep the best iterate."""


LBFGS_ITERATIONS_PER_STEP = 20  # torch's LBFGS max_iter: one Trainer step runs up to this many iterations
LBFGS_RISE = 10.0               # stop once the loss exceeds this multiple of its best value


def _split_batch(batch: dict[str, torch.Tensor], seed: int) -> tuple[dict, dict]:
    """Two halves of a batch's interior points (with their weights), split at random so that both
    are draws from the same density whatever order the sampler returned them in (RAR's set is
    not shuffled); boundary points (if any) go to both."""
    n = batch["interior"].shape[0]
    order = torch.randperm(n, generator=torch.Generator().manual_seed(int(seed))).to(batch["interior"].device)
    halves = ({}, {})
    for key, value in batch.items():
        per_point = key in ("interior", "weights")
        for half, idx in zip(halves, (order[: n // 2], order[n // 2:])):
            half[key] = value[idx] if per_point else value
    for half in halves:  # importance weights keep mean 1 on each half
        if "weights" in half:
            half["weights"] = half["weights"] / half["weights"].mean()
    return halves


def _lbfgs_finish(model, objective, source, iterations: int, n_points: int, device, seed: int, run_dir,
                  on_round, holdout: bool = False) -> list[dict[str, Any]]:
    """L-BFGS (strong Wolfe line search) through the Trainer on one set of ``n_points`` points that
    the sampler chooses against the Adam-trained network. The loss is checked every
    ``LBFGS_ITERATIONS_PER_STEP`` iterations; the model ends at the iterate of lowest loss, and
    the run stops early when the loss becomes non-finite or rises ``LBFGS_RISE`` times above it
    (a diverging finish). With ``holdout`` the sampler draws ``2 n_points`` points, half of them
    train and the other half only judge: the model ends at the iterate of lowest held-out loss
    (the training points' loss still detects a diverging finish). Returns one history record
    per check."""
    from pdeml.train.trainer import NonFiniteLossError

    if holdout:
        batch, held = _split_batch(source.final_round(2 * n_points), seed)
    else:
        batch = held = source.final_round(n_points)
    checks = max(1, math.ceil(iterations / LBFGS_ITERATIONS_PER_STEP))
    best: dict[str, Any] = {"loss": math.inf, "state": None, "train": math.inf}

    def keep_if_best(loss: float) -> None:
        if math.isfinite(loss) and loss < best["loss"]:
            best["loss"], best["state"] = loss, {k: v.detach().clone() for k, v in model.state_dict().items()}

    def check(trainer, record):
        loss = float(objective(model, batch)[0].detach())
        record["check_loss"] = loss
        if holdout:
            record["holdout_loss"] = float(objective(model, held)[0].detach())
        on_round(trainer, record)
        keep_if_best(record["holdout_loss"] if holdout else loss)
        if not math.isfinite(loss) or loss > LBFGS_RISE * best["train"]:
            raise _LossRose(f"L-BFGS loss {loss:.3e} against best {best['train']:.3e}")
        best["train"] = min(best["train"], loss)

    # the Adam iterate is a candidate too
    start = float(objective(model, batch)[0].detach())
    best["train"] = start if math.isfinite(start) else math.inf
    keep_if_best(float(objective(model, held)[0].detach()) if holdout else start)
    trainer = Trainer(model, objective, [batch], epochs=checks, optimizer="lbfgs", lr=1.0, scheduler="none",
                      precision="fp32", device=str(device), progress=False, seed=int(seed),
                      run_dir=None if run_dir is None else Path(run_dir) / "lbfgs", model_config=model.config,
                      callbacks=[check])
    stopped = None
    try:
        trainer.fit()
    except (NonFiniteLossError, _LossRose) as err:
        stopped = str(err)
    if best["state"] is not None:
        model.load_state_dict(best["state"])
    history = [{**r, "phase": "lbfgs"} for r in trainer.history]
    if history:
        history[-1]["lbfgs_best_loss"] = best["loss"]
        if stopped:
            history[-1]["lbfgs_stopped"] = stopped
    return history


def save_result(result: PINNResult, path: str | Path) -> Path:
    """The trained network as a checkpoint (model config as JSON, tensors as a state dict)."""
    from pdeml.train.checkpoint import config_json, model_state, save_checkpoint

    save_checkpoint(Path(path), {"model": model_state(result.model), "model_config": config_json(result.model.config)})
    return Path(path)


__all__ = ["DEFAULTS", "EvaluationSet", "PINNResult", "evaluation_set", "resolve_problem", "save_result",
           "solve_pinn"]
