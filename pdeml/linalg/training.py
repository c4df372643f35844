"""Training a DCDM network: the scale-invariant loss, Ritz-vector batches, save and load.

Loss for a unit right-hand side ``b``: ``q = f(b)``, ``alpha = q.b / q.Aq``,
``loss = ||b - alpha A q||^2 / ||b||^2`` (the best multiple of ``q`` as a one-step solve, so ``f``
only has to learn ``A^-1`` up to a constant). ``A`` is applied matrix-free by the pressure
system's torch operator, on the training device.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from pdeml.device import resolve_device
from pdeml.linalg.network import DCDMNet
from pdeml.linalg.ritz import ritz_coefficient_weights, ritz_vectors
from pdeml.problems.obstacles import random_velocity
from pdeml.solvers.pressure import PressureLinearSystem, divergence
from pdeml.train import Trainer, TrainResult
from pdeml.train.checkpoint import CheckpointError, load_checkpoint, load_model_state

MODEL_NAME = "dcdm"


def dcdm_loss(b: torch.Tensor, q: torch.Tensor, Aq: torch.Tensor) -> torch.Tensor:
    """Per-sample ``||b - alpha A q||^2 / ||b||^2`` with ``alpha = q.b / q.Aq``: inputs ``(B, ...)``,
    result ``(B,)``. Invariant to scaling ``q`` (and ``b``)."""
    bf, qf, Aqf = (t.reshape(t.shape[0], -1) for t in (b, q, Aq))
    qAq = (qf * Aqf).sum(1)
    # q = 0 (or in the null space) gives loss 1, the value of the zero step, instead of 0/0
    alpha = torch.where(qAq > 0, (qf * bf).sum(1) / torch.where(qAq > 0, qAq, torch.ones_like(qAq)),
                        torch.zeros_like(qAq))
    res = bf - alpha[:, None] * Aqf
    return (res * res).sum(1) / (bf * bf).sum(1).clamp_min(torch.finfo(bf.dtype).tiny)


def dcdm_objective(model: nn.Module, batch: dict[str, Any]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Trainer objective: ``batch = {"b": (B, *grid), "mask": (*grid), "op": PressureOperator}``."""
    b, mask, op = batch["b"], batch["mask"], batch["op"]
    q = model(b, mask)
    per_sample = dcdm_loss(b, q, op.apply_grid(q))
    return per_sample.mean(), {"rel_residual": per_sample.detach().sqrt().mean()}


class RitzDraws:
    """Base of the batch sources that draw unit combinations of Ritz vectors, one system per batch.

    For system ``s`` with Ritz vectors ``V_s`` ``(n_s, m)`` (ascending), each draw is
    ``b = normalize(V_s (w * c))`` ``(B, n_s)``, fresh ``c ~ N(0, 1)`` every epoch from a generator
    seeded by ``(seed, epoch)`` (so a resumed run draws the same vectors), ``w`` the low-frequency
    boost. ``per_system`` vectors per system and epoch, in batches of at most ``batch_size``.
    """

    def __init__(self, vectors: Sequence[np.ndarray], per_system: int, batch_size: int, *, low_boost: float = 9.0,
                 seed: int = 0):
        if per_system < 1 or batch_size < 1:
            raise ValueError(f"per_system and batch_size must be >= 1, got {per_system} and {batch_size}")
        self.per_system, self.batch_size = int(per_system), int(batch_size)
        self.low_boost, self.seed = float(low_boost), int(seed)
        self.device = torch.device("cpu")
        self._vectors = [torch.from_numpy(np.ascontiguousarray(V.T, dtype=np.float32)) for V in vectors]  # (m, n)
        self._weights = [torch.from_numpy(ritz_coefficient_weights(V.shape[1], low_boost).astype(np.float32))
                         for V in vectors]
        self.epoch = 0

    def __len__(self) -> int:
        return len(self._vectors) * -(-self.per_system // self.batch_size)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def to(self, device: Any) -> RitzDraws:
        self.device = torch.device(device)
        self._vectors = [v.to(self.device) for v in self._vectors]
        self._weights = [w.to(self.device) for w in self._weights]
        return self

    def draws(self):
        """``(s, b)`` pairs for one epoch: system index and unit-norm vectors ``(B, n_s)``."""
        g = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        sizes = [min(self.batch_size, self.per_system - i) for i in range(0, self.per_system, self.batch_size)]
        order = [(s, k) for s in range(len(self._vectors)) for k in range(len(sizes))]
        for i in torch.randperm(len(order), generator=g).tolist():
            s, k = order[i]
            V, w = self._vectors[s], self._weights[s]
            b = (torch.randn(sizes[k], V.shape[0], generator=g).to(self.device) * w) @ V
            yield s, b / torch.linalg.vector_norm(b, dim=1, keepdim=True)


class RitzBatches(RitzDraws):
    """Unit-RMS right-hand sides on the grid from Ritz vectors (see :class:`RitzDraws`), for DCDM:
    ``{"b": (B, *grid), "mask", "op", "system"}``."""

    def __init__(self, systems: Sequence[PressureLinearSystem], vectors: Sequence[np.ndarray], per_system: int,
                 batch_size: int, *, low_boost: float = 9.0, seed: int = 0):
        if len(systems) != len(vectors) or not systems:
            raise ValueError(f"need one Ritz basis per system, got {len(systems)} systems and {len(vectors)} bases")
        super().__init__(vectors, per_system, batch_size, low_boost=low_boost, seed=seed)
        self.systems = list(systems)
        self._masks = [torch.from_numpy(s.mask.astype(np.float32)) for s in systems]
        self._ops = [s.torch_operator(dtype=torch.float32) for s in systems]

    def to(self, device: Any) -> RitzBatches:
        super().to(device)
        self._masks = [m.to(self.device) for m in self._masks]
        return self

    def __iter__(self):
        for s, b in self.draws():
            # unit RMS per cell, as the solvers feed the network (see DeepPreconditioner.directions)
            grid = self._ops[s].to_grid(b * b.shape[1] ** 0.5)
            yield {"b": grid, "mask": self._masks[s], "op": self._ops[s], "system": self.systems[s]}


def divergence_rhs(system: PressureLinearSystem, count: int, seed: int = 0, length_scale: float = 0.1) -> np.ndarray:
    """``count`` unit right-hand sides ``(count, n)`` of projection steps: the divergence of smooth
    random velocities (the right-hand sides a fluid solver produces), null space removed."""
    rng = np.random.default_rng(seed)
    out = np.stack([system.project(-divergence(system, random_velocity(rng, system, length_scale)))
                    for _ in range(int(count))])
    return out / np.linalg.norm(out, axis=1, keepdims=True)


class FieldBatches:
    """Fixed right-hand sides ``(S, *grid)`` per system, for validation (one system per batch)."""

    def __init__(self, systems: Sequence[PressureLinearSystem], rhs: Sequence[np.ndarray], batch_size: int = 16):
        self.systems = list(systems)
        self._ops = [s.torch_operator(dtype=torch.float32) for s in systems]
        self._fields = [torch.from_numpy(s.to_grid(r * np.sqrt(s.n) / np.linalg.norm(r, axis=1, keepdims=True))
                                         .astype(np.float32)) for s, r in zip(systems, rhs)]
        self._masks = [torch.from_numpy(s.mask.astype(np.float32)) for s in systems]
        self.batch_size = int(batch_size)

    def __len__(self) -> int:
        return sum(-(-f.shape[0] // self.batch_size) for f in self._fields)

    def to(self, device: Any) -> FieldBatches:
        self._fields = [f.to(device) for f in self._fields]
        self._masks = [m.to(device) for m in self._masks]
        return self

    def __iter__(self):
        for f, m, op in zip(self._fields, self._masks, self._ops):
            for i in range(0, f.shape[0], self.batch_size):
                yield {"b": f[i: i + self.batch_size], "mask": m, "op": op}


def train_dcdm(systems: PressureLinearSystem | Sequence[PressureLinearSystem], *, model: DCDMNet | None = None,
               ritz: int | None = None, samples: int = 400, epochs: int = 10, batch_size: int = 10,
               lr: float = 3e-3, low_boost: float = 9.0, val_rhs: int = 8, seed: int = 0, device: str = "auto",
               progress: bool | None = None, run_dir: str | os.PathLike | None = None,
               extra_config: dict[str, Any] | None = None, **net: Any) -> tuple[DCDMNet, TrainResult]:
    """Train a DCDM network on pressure ``systems`` through the Trainer (Adam, cosine schedule, fp32).

    ``ritz`` Lanczos steps per system (default ``min(n - 1, 200)``); ``samples`` right-hand sides
    per epoch in all, split over the systems; ``val_rhs`` divergence right-hand sides per system
    for validation (``val_rel_residual`` is the one-step relative residual ``||b - alpha A f(b)||``).
    ``net`` are :class:`DCDMNet` arguments when ``model`` is not given (``dim`` from the systems).
    With ``run_dir`` the network is saved as ``run_dir/model.pt`` (see :func:`load_preconditioner`).
    Returns ``(model, result)``.
    """
    systems = [systems] if isinstance(systems, PressureLinearSystem) else list(systems)
    if not systems:
        raise ValueError("train_dcdm needs at least one pressure system")
    dims = {s.dim for s in systems}
    if len(dims) != 1:
        raise ValueError(f"all training systems must have the same dimension, got {sorted(dims)}")
    dim = dims.pop()
    if model is None:
        model = DCDMNet(dim=dim, **net)
    elif net:
        raise ValueError(f"pass network options {sorted(net)} or a model, not both")
    if getattr(model, "dim", dim) != dim:
        raise ValueError(f"the network is {model.dim}D but the systems are {dim}D")
    bases = []
    for i, s in enumerate(systems):
        steps = min(s.n - (s.null_space.shape[1] if s.is_singular else 0), 200 if ritz is None else int(ritz))
        bases.append(ritz_vectors(s.matrix, steps, null_space=s.null_space, seed=seed + i, progress=progress)[1])
    per_system = max(1, -(-int(samples) // len(systems)))
    source = RitzBatches(systems, bases, per_system, batch_size, low_boost=low_boost, seed=seed)
    val = None
    if val_rhs > 0:
        val = FieldBatches(systems, [divergence_rhs(s, val_rhs, seed=seed + 7919 + i) for i, s in enumerate(systems)])
    config = {"name": MODEL_NAME, **model.config}
    info = {"training": {"grids": [list(s.grid_shape) for s in systems], "walls": [list(w) for w in systems[0].walls],
                         "ritz": [int(V.shape[1]) for V in bases], "samples_per_epoch": per_system * len(systems),
                         "low_boost": low_boost}, **(extra_config or {})}
    trainer = Trainer(model, dcdm_objective, source, val_source=val, run_dir=run_dir, model_config=config,
                      extra_config=info, epochs=epochs, lr=lr, optimizer="adam", scheduler="cosine",
                      precision="fp32", device=str(resolve_device(device)), progress=progress, seed=seed)
    result = trainer.fit()
    return model.eval(), result


def load_preconditioner(path: str | os.PathLike, device: str | torch.device = "cpu") -> nn.Module:
    """A trained preconditioner network from ``path`` (a run directory with ``model.pt``, or the
    file), loaded with ``torch.load(weights_only=True)``: a :class:`DCDMNet` or a multigrid
    :class:`~pdeml.linalg.multigrid.SmootherNet`, whichever was saved; in eval mode on ``device``."""
    import json

    from pdeml.linalg.multigrid import MODEL_NAME as SMOOTHER_NAME
    from pdeml.linalg.multigrid import SmootherNet

    path = Path(path)
    if path.is_dir():
        path = path / "model.pt"
    state = load_checkpoint(path, map_location="cpu")
    try:
        config = json.loads(state.get("model_config", "{}"))
    except (TypeError, json.JSONDecodeError) as err:
        raise CheckpointError(f"{path} has no readable model configuration ({err})") from err
    builders = {MODEL_NAME: DCDMNet, SMOOTHER_NAME: SmootherNet}
    name = config.get("name")
    if name not in builders:
        raise CheckpointError(f"{path} holds a {name!r} model, expected one of {sorted(builders)} "
                              f"(made by `pdeml train-preconditioner`, train_dcdm or train_multigrid)")
    model = builders[name](**{k: v for k, v in config.items() if k != "name"})
    load_model_state(model, state["model"], source=str(path))
    return model.to(resolve_device(device)).eval()
