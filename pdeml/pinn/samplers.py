"""Collocation samplers for PINNs, all batch sources of the one Trainer.

Every sampler yields the same batch ``{"interior": (n, d), "boundary": (m, d),
"boundary_values": (m,)}`` ``steps_per_round`` times per round (a Trainer epoch);
``set_epoch(round)`` picks the round's collocation points against the current network:

- ``uniform``: fresh uniform random points every round.
- ``rar``: residual-based adaptive refinement (Lu et al. 2021): start from ``n/2`` uniform points
  and add, every round, the points of largest residual in a fresh uniform candidate pool, ending
  with ``n`` points.
- ``rad``: residual-based adaptive distribution (Wu et al. 2023): draw ``n`` points without
  replacement from a uniform pool with probability ``|r|^k / mean |r|^k + c`` (k = c = 1).
- ``aas``: adversarial adaptive sampling (Tang, Zhai, Wan, Yang, ICLR 2024): a bounded flow
  density ``p`` (:class:`~pdeml.pinn.flow.BoxFlow`) is moved towards high ``E_p[r^2] / E_U[r^2]``
  (optionally ``- beta int |grad p|^2``) against the current network, then the round's points
  are drawn from ``p`` and, half of them, uniformly, with importance weights (batch key
  ``"weights"``, mean 1) that make ``mean(w r^2)`` an unbiased estimate of the domain mean.

A sampler's :meth:`~CollocationSampler.final_round` draws one more, possibly larger, set for an
L-BFGS finish.

Boundary points are fresh uniform boundary points every round, the same for every sampler.
"""

from __future__ import annotations

import copy
import math
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch

from pdeml.pinn.flow import BoxFlow
from pdeml.pinn.geometry import Domain
from pdeml.registry import Registry

SAMPLERS: Registry[type] = Registry("sampler")


class CollocationSampler(ABC):
    """Base class: uniform boundary points, snapshots of the interior points, Trainer hooks.

    ``domain`` a :class:`~pdeml.pinn.geometry.Domain`; ``boundary_data(points) -> (m,)``
    Dirichlet values; ``n_points`` interior points per round, ``n_boundary`` boundary points
    (0 when the boundary is imposed exactly); ``rounds`` rounds of ``steps_per_round`` steps.
    Call :meth:`bind` with the network and the residual ``residual(model, points) -> (n,)``
    before training.
    """

    name = "base"

    def __init__(self, domain: Domain, boundary_data: Callable, *, n_points: int, steps_per_round: int,
                 rounds: int, n_boundary: int = 0, seed: int = 0, pool_factor: int = 4,
                 residual_chunk: int = 8192, snapshot_points: int = 1000):
        for key, value, low in (("n_points", n_points, 1), ("steps_per_round", steps_per_round, 1),
                                ("rounds", rounds, 1), ("n_boundary", n_boundary, 0), ("pool_factor", pool_factor, 1)):
            if int(value) != value or value < low:
                raise ValueError(f"{key} must be an integer >= {low}, got {value!r}")
        self.domain, self.boundary_data = domain, boundary_data
        self.n_points, self.steps_per_round, self.rounds = int(n_points), int(steps_per_round), int(rounds)
        self.n_boundary, self.pool_factor = int(n_boundary), int(pool_factor)
        self.residual_chunk, self.snapshot_points = int(residual_chunk), int(snapshot_points)
        self.generator = torch.Generator().manual_seed(int(seed))
        self.model: torch.nn.Module | None = None
        self.residual_fn: Callable | None = None
        self.round = -1
        self.batch: dict[str, torch.Tensor] | None = None
        self.snapshots: list[dict[str, Any]] = []
        self.info: dict[str, float] = {}
        # importance weights (n,) of the round's interior points, mean 1, set by next_points;
        # None: the points enter the loss with equal weights
        self.point_weights: torch.Tensor | None = None

    # -- Trainer protocol ---------------------------------------------------------------------
    def bind(self, model: torch.nn.Module, residual_fn: Callable) -> CollocationSampler:
        self.model, self.residual_fn = model, residual_fn
        return self

    def __len__(self) -> int:
        return self.steps_per_round

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        if self.batch is None:
            self.set_epoch(0)
        for _ in range(self.steps_per_round):
            yield self.batch

    def to(self, device) -> CollocationSampler:
        self.domain.to(device)
        if self.batch is not None:
            self.batch = {k: v.to(device) for k, v in self.batch.items()}
        return self

    def set_epoch(self, epoch: int) -> None:
        """Choose the collocation points of round ``epoch`` (against the current network)."""
        if epoch == self.round and self.batch is not None:
            return
        self.round = int(epoch)
        self.point_weights = None
        interior = self.domain.project(self.next_points(self.round)).detach()
        batch = {"interior": interior}
        if self.point_weights is not None:
            batch["weights"] = self.point_weights.detach().to(interior.dtype)
        if self.n_boundary:
            xb = self.domain.sample_boundary(self.n_boundary, self.generator)
            batch["boundary"] = xb
            batch["boundary_values"] = self.boundary_data(xb).detach().to(xb.dtype)
        self.batch = batch
        if self.model is not None and self.residual_fn is not None:
            self.info["loss_ess"] = self.loss_ess(interior, self.point_weights)
        keep = interior[: self.snapshot_points].detach().cpu().double().numpy()
        self.snapshots.append({"round": self.round, "points": keep.astype(np.float32)})

    def final_round(self, n_points: int) -> dict[str, torch.Tensor]:
        """The points of one more round, ``n_points`` of them (e.g. for an L-BFGS finish on a
        fixed, larger set), chosen against the current network; returns the batch."""
        if int(n_points) != n_points or n_points < 1:
            raise ValueError(f"n_points must be a positive integer, got {n_points!r}")
        self.n_points = int(n_points)
        self.set_epoch(self.round + 1)
        return self.batch

    def state_dict(self) -> dict[str, Any]:
        state = {"round": torch.tensor(self.round), "generator": self.generator.get_state()}
        if self.batch is not None:
            state.update({f"batch_{k}": v.detach().cpu() for k, v in self.batch.items()})
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.round = int(state["round"])
        self.generator.set_state(state["generator"])
        batch = {k[6:]: v.to(self.domain.device) for k, v in state.items() if k.startswith("batch_")}
        self.batch = batch or None

    # -- helpers -------------------------------------------------------------------------------
    @abstractmethod
    def next_points(self, round_: int) -> torch.Tensor:
        """The interior collocation points ``(n_points, dim)`` of round ``round_``."""

    def uniform(self, n: int) -> torch.Tensor:
        return self.domain.sample_interior(n, self.generator)

    def loss_ess(self, points: torch.Tensor, weights: torch.Tensor | None = None) -> float:
        """How many of ``points`` carry the residual loss ``mean(weights r^2)`` against the current
        network: the effective sample size ``(sum c)^2 / sum c^2`` of the terms ``c = weights r^2``
        (``n`` when every point contributes alike, 1 when one point holds the whole loss)."""
        c = self.squared_residual(points).double()
        if weights is not None:
            c = c * weights.to(c)
        total = float(c.sum())
        if not math.isfinite(total):
            return math.nan  # a diverged network: no point carries a finite loss
        return total**2 / float((c**2).sum()) if total > 0 else float(points.shape[0])

    def squared_residual(self, points: torch.Tensor) -> torch.Tensor:
        """``r^2`` (n,) of the bound network at ``points``, detached, computed in chunks."""
        if self.model is None or self.residual_fn is None:
            raise RuntimeError(f"sampler {self.name!r} needs the network: call bind(model, residual) first")
        out = []
        with torch.enable_grad():
            for chunk in points.split(self.residual_chunk):
                x = chunk.detach().requires_grad_(True)
                out.append(self.residual_fn(self.model, x).detach() ** 2)
        return torch.cat(out)


@SAMPLERS.register("uniform")
class UniformSampler(CollocationSampler):
    """Fresh uniform random collocation points every round."""

    name = "uniform"

    def next_points(self, round_: int) -> torch.Tensor:
        return self.uniform(self.n_points)


@SAMPLERS.register("rar")
class RARSampler(CollocationSampler):
    """Residual-based adaptive refinement: ``initial_fraction * n`` uniform points, then every
    round the points of largest ``|r|`` from ``pool_factor * n`` uniform candidates are added,
    reaching ``n`` points in the last round."""

    name = "rar"

    def __init__(self, *args, initial_fraction: float = 0.5, **kwargs):
        super().__init__(*args, **kwargs)
        if not 0 < initial_fraction <= 1:
            raise ValueError(f"initial_fraction must be in (0, 1], got {initial_fraction}")
        self.n_initial = max(1, int(round(initial_fraction * self.n_points)))
        self.per_round = math.ceil((self.n_points - self.n_initial) / max(self.rounds - 1, 1))
        self.points: torch.Tensor | None = None

    def next_points(self, round_: int) -> torch.Tensor:
        if self.points is None or round_ == 0:
            self.points = self.uniform(self.n_initial)
            return self.points
        add = min(self.per_round, self.n_points - self.points.shape[0])
        if add > 0:
            pool = self.uniform(self.pool_factor * self.n_points)
            r2 = self.squared_residual(pool)
            top = torch.topk(r2, add).indices
            self.points = torch.cat([self.points, pool[top]])
            self.info = {"residual_pool_mean": float(r2.mean()), "residual_pool_max": float(r2.max())}
        return self.points

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "points": self.points.detach().cpu() if self.points is not None else None}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        pts = state.get("points")
        self.points = None if pts is None else pts.to(self.domain.device)


@SAMPLERS.register("rad")
class RADSampler(CollocationSampler):
    """Residual-based adaptive distribution: ``n`` points drawn without replacement from
    ``pool_factor * n`` uniform candidates with probability ``|r|^k / mean |r|^k + c``."""

    name = "rad"

    def __init__(self, *args, k: float = 1.0, c: float = 1.0, **kwargs):
        super().__init__(*args, **kwargs)
        if k < 0 or c < 0:
            raise ValueError(f"RAD needs k >= 0 and c >= 0, got k={k}, c={c}")
        self.k, self.c = float(k), float(c)

    def next_points(self, round_: int) -> torch.Tensor:
        if round_ == 0:
            return self.uniform(self.n_points)
        pool = self.uniform(self.pool_factor * self.n_points)
        r_k = self.squared_residual(pool) ** (self.k / 2)
        weight = r_k / r_k.mean().clamp_min(1e-300) + self.c
        weight = torch.nan_to_num(weight, nan=self.c, posinf=float(weight[torch.isfinite(weight)].max()))
        pick = torch.multinomial(weight.double().cpu(), self.n_points, replacement=False,
                                 generator=self.generator)
        return pool[pick.to(pool.device)]


def residual_region_shares(r2: torch.Tensor, log_iw: torch.Tensor, ratio: torch.Tensor,
                           mass: float = 0.5) -> tuple[float, float, float]:
    """How closely a density ``q`` follows ``r^2``, from pool points drawn from a density ``m``.

    ``r2`` (n,) the squared residual at the pool points, ``log_iw`` (n,) ``log(uniform / m)``,
    ``ratio`` (n,) ``q / m``. The region ``R = {r^2 >= t}`` is the smallest one holding the share
    ``mass`` of ``int r^2``. Returns ``(q's mass in R, the mass an r^2-proportional density puts
    in R (about ``mass``), R's share of the domain's volume)``, all importance-weighted."""
    iw = (log_iw - log_iw.max()).exp()
    order = torch.argsort(r2, descending=True)
    share = r2[order] * iw[order]
    cum = torch.cumsum(share, 0) / share.sum().clamp_min(1e-300)
    k = min(int(torch.searchsorted(cum, torch.tensor(mass, dtype=cum.dtype, device=cum.device))), len(cum) - 1)
    top = torch.zeros_like(r2, dtype=torch.bool)
    top[order[: k + 1]] = True
    q_share = float((ratio * top).sum() / ratio.sum().clamp_min(1e-300))
    volume = float((iw * top).sum() / iw.sum())
    return q_share, float(cum[k]), volume


def effective_sample_size(log_weights: torch.Tensor) -> float:
    """Kish's effective sample size ``(sum c)^2 / sum c^2`` of weights ``c = exp(log_weights)``."""
    c = (log_weights - log_weights.max()).exp()
    return float(c.sum() ** 2 / (c**2).sum())


def tempered_weights(w: torch.Tensor, log_m: torch.Tensor, ess_fraction: float,
                     iterations: int = 40) -> tuple[float, torch.Tensor]:
    """The tempered residual density ``w^gamma`` (n,) on a pool drawn from ``m``, with ``gamma``.

    ``gamma`` is the largest exponent in ``[0, 1]`` for which the pool's importance weights
    ``w^gamma / m`` keep an effective sample size of at least ``ess_fraction`` of the pool (1 when
    ``w / m`` already does; found by bisection). ``w^gamma`` is normalised to mean 1 under the
    uniform density, as ``w`` is. Early on, a pool holds few points where ``r^2`` is
    concentrated (in 10D a uniform pool of thousands holds none near a Gaussian peak of width
    0.16); fitting ``w`` itself would then collapse the flow onto those few points. The tempered
    target is broader and is still seen by the pool; as the flow moves there, ``gamma`` rises."""
    log_w = w.clamp_min(torch.finfo(w.dtype).tiny).log()
    n = w.shape[0]

    def ess(g: float) -> float:
        return effective_sample_size(g * log_w - log_m) / n

    if ess_fraction <= 0 or ess(1.0) >= ess_fraction:
        gamma = 1.0
    elif ess(0.0) < ess_fraction:
        gamma = 0.0
    else:
        lo, hi = 0.0, 1.0
        for _ in range(iterations):
            mid = 0.5 * (lo + hi)
            lo, hi = (mid, hi) if ess(mid) >= ess_fraction else (lo, mid)
        gamma = lo
    log_t = gamma * log_w
    log_z = torch.logsumexp(log_t - log_m, 0) - math.log(n)  # log E_U[w^gamma], importance-sampled
    return gamma, (log_t - log_z).exp()


# Langevin moves of the AAS pool (pool_moves): the first step size in unit coordinates, and the
# floor added to r^2 in the target, relative to the domain mean of r^2
MOVE_STEP_START, MOVE_FLOOR = 1e-3, 1e-3


@SAMPLERS.register("aas")
class AASSampler(CollocationSampler):
    """Adversarial adaptive sampling with a bounded flow ``p`` on the domain's bounding box.

    PINN rounds and flow updates alternate: every round after the first (uniform) one, the flow
    takes ``flow_steps`` Adam steps (``flow_lr``, mini-batches of ``flow_batch`` pool points)
    against the current network, then the round's points are drawn. The quantity the flow
    raises is ``E_p[w]``, ``w = r^2 / E_U[r^2]`` the normalised squared residual, optionally
    minus ``beta int |grad q|^2`` (``q`` the density in unit-cube coordinates, so ``beta`` is
    dimensionless: concentrations narrower than about ``sqrt(beta)`` of the box are penalised).

    The residual is evaluated once per round on a pool from ``m = (p_old + U) / 2`` (the uniform
    half finds high residual where ``p_old`` is small); no ``x``-derivative of the residual is
    needed. Two updates (``update``):

    - ``"fit"`` (default): a relaxed ascent step. The flow is fitted by weighted maximum likelihood
      (weights ``p* / m`` on the pool) to ``p* = (1 - mix) p_old + mix w U``, the step from
      ``p_old`` towards the residual-induced density ``r^2 / int r^2`` (the direction in which
      ``E_p[w]`` grows; the penalised maximiser is a smoothed version of it). Maximum likelihood is
      a low-variance, bounded objective: it moves mass onto the high-residual region without
      collapsing onto single pool points. With the default ``pool_moves`` (below) the same
      target (``mix = 1``) is fitted through moved particles instead of weights.
    - ``"ratio"``: the literal score-function estimator, ``E_p[w] = E_m[w p / m]`` with gradient
      ``E_m[w (p / m) grad log p]``, and a PPO-style clip: a pool point stops pulling once its
      density has grown by ``1 + trust`` within the round; meant for ``beta > 0``. It concentrates
      more slowly; in 10D it hardly moved with ``trust = 1`` and collapsed onto single pool points
      with a wide trust region.

    The penalty (off by default: it keeps the flow off peaks as narrow as beta = 1000) is
    importance-sampled from ``(U + q) / 2`` so that narrow features are seen.
    A fraction ``uniform_fraction`` (default one half, like RAD's ``c = 1``) of the round's
    points is uniform, the rest comes from ``p``; the two parts are shuffled together. With
    ``weighting="importance"`` (default) the batch carries weights ``U / (mixture density)``
    (mean 1), so that the loss ``mean(w r^2)`` estimates the domain mean of ``r^2`` without
    bias; ``"none"`` weights every point alike. Flow samples outside a non-box geometry are
    redrawn.

    ``ess_fraction`` > 0 tempers the ``"fit"`` target to ``w^gamma`` (:func:`tempered_weights`):
    ``gamma`` is the largest exponent that keeps the pool's effective sample size at that
    fraction, so the flow is never fitted to a handful of pool points (off by default: see
    docs/pinn.md for where it helps and where it does not).

    ``pool_moves`` > 0 (default 50) replaces the weighted fit by an unweighted one to particles
    resampled from the pool and moved by that many Langevin steps towards ``r^2``
    (:meth:`move_pool`), so the flow can take the shape of ``r^2`` inside a region where the pool
    has only a few points; ``pool_moves=0`` keeps the weighted fit alone (docs/pinn.md has the
    measurements of both).

    ``finish_flows="all"`` (default) draws the flow part of :meth:`final_round` (the L-BFGS
    finish's points) in equal shares from the flows fitted in the rounds, weighted by that
    mixture's density; ``"last"`` draws them from a flow updated once more (also what ``"all"``
    does before any round has fitted a flow).
    """

    name = "aas"

    def __init__(self, *args, beta: float = 0.0, flow_steps: int = 200, flow_lr: float = 5e-3,
                 uniform_fraction: float = 0.5, trust: float = 1.0, flow_layers: int | None = None,
                 flow_bins: int = 16, flow_hidden: int = 64, penalty_points: int = 512, flow_batch: int = 4096,
                 update: str = "fit", mix: float = 1.0, weighting: str = "importance", ess_fraction: float = 0.0,
                 pool_moves: int = 50, finish_flows: str = "all", **kwargs):
        super().__init__(*args, **kwargs)
        if finish_flows not in ("last", "all"):
            raise ValueError(f"finish_flows must be 'last' or 'all', got {finish_flows!r}")
        self.finish_flows = finish_flows
        # with finish_flows="all": the flow fitted in every round after the first, with its mass inside the domain
        self.past_flows: list[tuple[BoxFlow, float]] = []
        self._finishing = False
        if int(pool_moves) != pool_moves or pool_moves < 0:
            raise ValueError(f"pool_moves must be an integer >= 0, got {pool_moves!r}")
        self.pool_moves = int(pool_moves)
        self.move_step = MOVE_STEP_START  # Langevin step size in unit coordinates, adapted and kept across rounds
        if not 0 <= ess_fraction < 1:
            raise ValueError(f"ess_fraction must be in [0, 1), got {ess_fraction}")
        self.ess_fraction = float(ess_fraction)
        if weighting not in ("importance", "none"):
            raise ValueError(f"weighting must be 'importance' or 'none', got {weighting!r}")
        self.weighting = weighting
        if update not in ("fit", "ratio"):
            raise ValueError(f"update must be 'fit' or 'ratio', got {update!r}")
        if not 0 < mix <= 1:
            raise ValueError(f"mix must be in (0, 1], got {mix}")
        self.update, self.mix = update, float(mix)
        if self.pool_moves and (update != "fit" or mix != 1 or ess_fraction != 0):
            raise ValueError("pool_moves > 0 (default 50) moves the pool towards r^2 itself: it needs update='fit', "
                             f"mix=1 and ess_fraction=0, got update={update!r}, mix={mix}, "
                             f"ess_fraction={ess_fraction}; pass pool_moves=0 for the weighted fit alone")
        if int(flow_batch) != flow_batch or flow_batch < 1:
            raise ValueError(f"flow_batch must be a positive integer, got {flow_batch!r}")
        self.flow_batch = int(flow_batch)
        if beta < 0:
            raise ValueError(f"beta must be >= 0, got {beta}")
        if not 0 <= uniform_fraction < 1:
            raise ValueError(f"uniform_fraction must be in [0, 1), got {uniform_fraction}")
        self.beta, self.flow_steps, self.flow_lr = float(beta), int(flow_steps), float(flow_lr)
        self.uniform_fraction, self.penalty_points = float(uniform_fraction), int(penalty_points)
        if trust <= 0:
            raise ValueError(f"trust must be positive, got {trust}")
        self.trust = float(trust)
        seed = int(torch.randint(0, 2**31 - 1, (1,), generator=self.generator))
        self.flow = BoxFlow(self.domain.dim, layers=flow_layers, bins=flow_bins, hidden=flow_hidden, seed=seed)
        self.flow.to(device=self.domain.device, dtype=self.domain.dtype)
        self.flow_optimizer = torch.optim.Adam(self.flow.parameters(), lr=self.flow_lr)
        self.flow_inside = 1.0  # the flow's mass inside the domain (measured when drawing)
        self.residual_scale = 1.0  # E_U[r^2] of the last pool

    def to(self, device) -> AASSampler:
        super().to(device)
        self.flow.to(device)
        for flow, _ in self.past_flows:
            flow.to(device)
        return self

    def density(self, points: torch.Tensor) -> torch.Tensor:
        """The sampling density ``p`` (n,) at domain points (n, d), per unit volume of the box."""
        with torch.no_grad():
            return self.flow.log_prob(self.domain.to_unit(points)).exp() / float(np.prod(self.domain.width))

    def _flow_points(self, n: int, flow: BoxFlow | None = None) -> torch.Tensor:
        """``n`` samples in unit coordinates of ``flow`` (default: the current one) that lie in the domain."""
        current = flow is None
        flow = self.flow if current else flow
        chunks, have, drawn = [], 0, 0
        for _ in range(100):
            y = flow.sample(max(n - have, 1) if self.domain.is_box else 2 * (n - have) + 16, self.generator)
            y = y.to(self.domain.device)
            drawn += y.shape[0]
            if not self.domain.is_box:
                y = y[self.domain.inside(self.domain.from_unit(y))]
            chunks.append(y)
            have += y.shape[0]
            if have >= n:
                break
        # the flow's mass inside the domain (1 for a box): flow points inside have density q / inside
        if current:
            self.flow_inside = max(have / max(drawn, 1), 1e-12)
        y = torch.cat(chunks)
        if y.shape[0] < n:  # the flow put (almost) no mass in the domain: fill up uniformly
            y = torch.cat([y, self.domain.to_unit(self.uniform(n - y.shape[0]))])
        return y[:n]

    def _uniform_unit(self, n: int) -> torch.Tensor:
        return self.domain.to_unit(self.uniform(n))

    def gradient_penalty(self, n: int) -> torch.Tensor:
        """``int |grad q|^2`` over the unit cube by importance sampling from ``(U + q) / 2``.

        Uniform points alone miss the narrow features the penalty must see; flow points alone
        miss the flat parts. Differentiable in the flow's parameters; 0 for a uniform ``q``."""
        with torch.no_grad():
            y = torch.cat([self._uniform_unit(n - n // 2), self.flow.sample(n // 2, self.generator)])
        return self.flow.gradient_penalty(y.to(self.domain.device), mix=0.5)

    def _pool(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """The round's pool in unit coordinates from ``m = (p_old + U) / 2``: points ``y``,
        ``log p_old(y)``, ``log m(y)`` and the normalised squared residual ``w`` (``E_U[w] = 1``)."""
        n_pool = self.pool_factor * self.n_points
        with torch.no_grad():
            y = torch.cat([self._flow_points(n_pool // 2), self._uniform_unit(n_pool - n_pool // 2)])
            # density of the pool's mixture; inside a non-box geometry the uniform part is 1/fraction
            log_q_old = self.flow.log_prob(y)
            log_m = (0.5 * log_q_old.exp() + 0.5 / self.domain.volume_fraction).log()
        r2 = self.squared_residual(self.domain.from_unit(y))
        self.residual_scale = float((r2 / log_m.exp()).mean().clamp_min(1e-300))  # E_U[r^2], importance-sampled
        w = r2 / self.residual_scale
        return y, log_q_old, log_m, w

    def _log_target(self, y: torch.Tensor, floor: float) -> tuple[torch.Tensor, torch.Tensor]:
        """``log(r^2 + floor)`` (n,) at unit points ``y`` (n, d) and its gradient in ``y``, detached."""
        values, grads = [], []
        with torch.enable_grad():
            for chunk in y.split(self.residual_chunk):
                z = chunk.detach().requires_grad_(True)
                log_t = torch.log(self.residual_fn(self.model, self.domain.from_unit(z)) ** 2 + floor)
                (g,) = torch.autograd.grad(log_t.sum(), z, allow_unused=True)
                values.append(log_t.detach())
                grads.append(torch.zeros_like(z) if g is None else g.detach())
        return torch.cat(values), torch.cat(grads)

    def _in_domain(self, y: torch.Tensor) -> torch.Tensor:
        inside = ((y > 0) & (y < 1)).all(1)
        return inside if self.domain.is_box else inside & self.domain.inside(self.domain.from_unit(y))

    def move_pool(self, y: torch.Tensor, w: torch.Tensor, log_m: torch.Tensor,
                  n: int | None = None) -> tuple[torch.Tensor, dict[str, float]]:
        """Particles (n, d) in unit coordinates that follow ``r^2`` more closely than the pool does.

        ``n`` (default half the pool) particles are resampled from the pool ``y`` by their weights
        ``w / m`` (with replacement), then each takes ``pool_moves`` Metropolis-adjusted Langevin
        steps targeting ``r^2 + 1e-3 E_U[r^2]`` (the floor keeps the chain moving where the residual
        vanishes). Proposals that leave the domain are rejected. The step size is adapted after each
        step to an acceptance rate between 0.4 and 0.6 and kept for the next round. Needs the
        residual's gradient in ``x``, one more derivative than the residual itself."""
        n = y.shape[0] // 2 if n is None else int(n)
        c = (w / log_m.exp()).double()
        idx = torch.multinomial((c / c.sum()).cpu(), n, replacement=True, generator=self.generator)
        p = y[idx.to(y.device)].clone()
        floor = MOVE_FLOOR * self.residual_scale  # E_U[r^2] of the pool
        log_t, grad = self._log_target(p, floor)
        accepted = []
        for _ in range(self.pool_moves):
            h = self.move_step
            noise = torch.randn(p.shape, generator=self.generator, dtype=torch.float64).to(p)
            prop = p + h * grad + math.sqrt(2 * h) * noise
            inside = self._in_domain(prop)
            prop = torch.where(inside[:, None], prop, p)
            log_t_prop, grad_prop = self._log_target(prop, floor)
            forward = -((prop - p - h * grad) ** 2).sum(1) / (4 * h)
            backward = -((p - prop - h * grad_prop) ** 2).sum(1) / (4 * h)
            ratio = (log_t_prop - log_t + backward - forward).clamp(max=0).exp() * inside
            u = torch.rand(ratio.shape, generator=self.generator, dtype=torch.float64).to(ratio)
            acc = (u < ratio) & torch.isfinite(log_t_prop)
            p = torch.where(acc[:, None], prop, p)
            log_t, grad = torch.where(acc, log_t_prop, log_t), torch.where(acc[:, None], grad_prop, grad)
            rate = float(acc.double().mean())
            accepted.append(rate)
            self.move_step = h * (1.3 if rate > 0.6 else 0.7 if rate < 0.4 else 1.0)
        return p, {"move_acceptance": float(np.mean(accepted)) if accepted else math.nan,
                   "move_step": self.move_step, "move_distinct": len(set(idx.tolist())) / n}

    def _batch(self, n: int) -> torch.Tensor:
        return torch.randperm(n, generator=self.generator)[: self.flow_batch]

    def _penalised_step(self, objective: torch.Tensor) -> torch.Tensor:
        """One Adam step on ``objective + beta * penalty``; returns the penalty."""
        penalty = self.gradient_penalty(self.penalty_points) if self.beta > 0 else torch.zeros(())
        self.flow_optimizer.zero_grad(set_to_none=True)
        (objective + self.beta * penalty).backward()
        self.flow_optimizer.step()
        return penalty.detach()

    def train_flow(self) -> dict[str, float]:
        """The flow's steps against the current network (``update``); returns diagnostics."""
        tic = time.perf_counter()
        y, log_q_old, log_m, w = self._pool()
        self.flow.train()
        penalty = torch.zeros(())
        gamma, w_t, moves = 1.0, w, {}
        if self.update == "fit":
            # weighted maximum likelihood of p* = (1 - mix) p_old + mix w^gamma U on the pool (weights
            # p* / m); with ess_fraction > 0, gamma is the largest exponent whose weights keep the
            # pool's effective sample size at that fraction
            if self.ess_fraction > 0:
                gamma, w_t = tempered_weights(w, log_m, self.ess_fraction)
            if self.pool_moves:
                # unweighted maximum likelihood of particles moved towards r^2 (move_pool)
                particles, moves = self.move_pool(y, w, log_m)
                for _ in range(self.flow_steps):
                    i = self._batch(particles.shape[0]).to(y.device)
                    penalty = self._penalised_step(-self.flow.log_prob(particles[i]).mean())
            else:
                c = ((1 - self.mix) * log_q_old.exp() + self.mix * w_t) / log_m.exp()
                c = c / c.mean()
                for _ in range(self.flow_steps):
                    i = self._batch(y.shape[0]).to(y.device)
                    penalty = self._penalised_step(-(c[i] * self.flow.log_prob(y[i])).mean())
        else:
            cap = log_q_old + math.log1p(self.trust)
            for _ in range(self.flow_steps):
                i = self._batch(y.shape[0]).to(y.device)
                # trust region: a point stops pulling once its density grew by the factor 1 + trust
                gain = (w[i] * (torch.minimum(self.flow.log_prob(y[i]), cap[i]) - log_m[i]).exp()).mean()
                penalty = self._penalised_step(-gain)
        with torch.no_grad():
            ratio = (self.flow.log_prob(y) - log_m).exp()  # q_new / m on the pool
            expected_w = (w * ratio).mean()  # E_p[w] of the new flow, importance-weighted over the pool
            top_share, target_share, top_volume = residual_region_shares(w, -log_m, ratio)
        return {"flow_seconds": time.perf_counter() - tic, "flow_expected_w": float(expected_w),
                "flow_penalty": float(penalty), "flow_gamma": gamma,
                "flow_ess": effective_sample_size(w_t.clamp_min(torch.finfo(w.dtype).tiny).log() - log_m) / w.shape[0],
                "flow_top_share": top_share, "target_top_share": target_share, "top_region_volume": top_volume,
                **moves}

    def mixture_log_density(self, y: torch.Tensor) -> torch.Tensor:
        """``log`` of the density (n,), in unit coordinates, of a round's points at ``y`` (n, d):
        the share ``uniform_fraction`` uniform on the domain, the rest from the flow restricted to
        the domain."""
        with torch.no_grad():
            if self._finishing:  # the equal mixture of the rounds' flows (finish_flows="all")
                q = torch.stack([f.log_prob(y).exp() / inside for f, inside in self.past_flows]).mean(0)
            else:
                q = self.flow.log_prob(y).exp() / self.flow_inside
            u = self.uniform_share
            return (u / self.domain.volume_fraction + (1.0 - u) * q).log()

    @property
    def uniform_share(self) -> float:
        """The fraction of a round's points that are uniform (``uniform_fraction``, rounded)."""
        return int(round(self.uniform_fraction * self.n_points)) / self.n_points

    def final_round(self, n_points: int) -> dict[str, torch.Tensor]:
        """The finish's points. With ``finish_flows="all"`` the flow part is drawn, in equal shares,
        from the flows that chose the rounds' points (no further flow update), and weighted by
        that mixture's exact density: the finish then covers every region the flow has found,
        not only where its last update went."""
        self._finishing = self.finish_flows == "all" and bool(self.past_flows)
        try:
            return super().final_round(n_points)
        finally:
            self._finishing = False

    def _mixture_flow_points(self, n: int) -> torch.Tensor:
        k = len(self.past_flows)
        shares = [n // k + (1 if i < n % k else 0) for i in range(k)]
        return torch.cat([self._flow_points(m, flow) for (flow, _), m in zip(self.past_flows, shares) if m])

    def next_points(self, round_: int) -> torch.Tensor:
        if round_ > 0 and self.flow_steps > 0 and not self._finishing:
            self.info = self.train_flow()
        n_uniform = int(round(self.uniform_fraction * self.n_points))
        with torch.no_grad():
            if self._finishing:
                y = self._mixture_flow_points(self.n_points - n_uniform)
            else:
                y = self._flow_points(self.n_points - n_uniform)
                if self.finish_flows == "all" and round_ > 0 and self.flow_steps > 0:  # a fitted flow
                    self.past_flows.append((copy.deepcopy(self.flow).eval(), self.flow_inside))
            if n_uniform:  # shuffled, so that any prefix (the snapshot) shows both parts
                y = torch.cat([y, self._uniform_unit(n_uniform)])
                y = y[torch.randperm(y.shape[0], generator=self.generator).to(y.device)]
            if self.weighting == "importance":
                # uniform density over the round's mixture density, normalised to mean 1: the loss
                # mean(weights r^2) estimates the mean of r^2 over the domain without bias
                log_w = -self.mixture_log_density(y)
                w = (log_w - log_w.max()).exp()
                self.point_weights = w / w.mean()
        return self.domain.from_unit(y)

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        state.update({f"flow.{k}": v.detach().cpu() for k, v in self.flow.state_dict().items()})
        # a copy: Adam updates its moment tensors in place, a snapshot must not follow them
        state["flow_optimizer"] = copy.deepcopy(self.flow_optimizer.state_dict())
        state["flow_inside"] = torch.tensor(self.flow_inside, dtype=torch.float64)
        state["move_step"] = torch.tensor(self.move_step, dtype=torch.float64)
        for i, (flow, inside) in enumerate(self.past_flows):
            state.update({f"past_flow.{i}.{k}": v.detach().cpu() for k, v in flow.state_dict().items()})
            state[f"past_flow_inside.{i}"] = torch.tensor(inside, dtype=torch.float64)
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.flow.load_state_dict({k[5:]: v for k, v in state.items() if k.startswith("flow.")})
        if "flow_optimizer" in state:
            self.flow_optimizer.load_state_dict(state["flow_optimizer"])
        if "flow_inside" in state:
            self.flow_inside = float(state["flow_inside"])
        if "move_step" in state:
            self.move_step = float(state["move_step"])
        self.past_flows = []
        for i in range(sum(k.startswith("past_flow_inside.") for k in state)):
            flow = copy.deepcopy(self.flow)
            prefix = f"past_flow.{i}."
            flow.load_state_dict({k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)})
            self.past_flows.append((flow.eval(), float(state[f"past_flow_inside.{i}"])))


def make_sampler(name: str, domain: Domain, boundary_data: Callable, **options) -> CollocationSampler:
    """The sampler registered as ``name`` (``uniform``, ``rar``, ``rad``, ``aas``) with its options."""
    cls = SAMPLERS.get(name)
    try:
        return cls(domain, boundary_data, **options)
    except TypeError as err:
        raise TypeError(f"bad options for sampler {name!r}: {err}") from err
