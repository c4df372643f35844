"""The one training loop of pdeml.

A method hands the Trainer a model, an objective ``objective(model, batch) -> (loss, metrics)``
and a batch source; the Trainer knows nothing about PDEs. A batch source is any iterable of
batches with ``len()``; optionally ``set_epoch(epoch)``, ``to(device)``, ``shard(rank, world)``
and ``state_dict()``/``load_state_dict()`` (for samplers with state), which the Trainer calls.
"""

from __future__ import annotations

import contextlib
import json
import math
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from pdeml.device import resolve_device
from pdeml.io import atomic_path, write_json_atomic
from pdeml.train.checkpoint import (
    CheckpointError,
    config_json,
    load_checkpoint,
    load_model_state,
    model_state,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from pdeml.train.config import TrainConfig
from pdeml.train.distributed import DistInfo, setup_distributed

Objective = Callable[[nn.Module, Any], tuple[torch.Tensor, dict[str, Any]]]


class NonFiniteLossError(FloatingPointError):
    """The loss became NaN or Inf; the message names the step and the last good checkpoint."""


@dataclass
class TrainResult:
    history: list[dict[str, Any]]
    best_epoch: int | None
    best_value: float | None
    monitor: str
    run_dir: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def final(self) -> dict[str, Any]:
        return self.history[-1] if self.history else {}


def batch_size_of(batch: Any) -> int:
    """Number of samples in a batch: the leading size of its first tensor (1 if none)."""
    if torch.is_tensor(batch):
        return int(batch.shape[0]) if batch.ndim else 1
    if isinstance(batch, dict):
        batch = list(batch.values())
    if isinstance(batch, (list, tuple)):
        for item in batch:
            if torch.is_tensor(item) and item.ndim:
                return int(item.shape[0])
    return 1


class _Mean:
    """Sample-weighted running means of named metrics."""

    def __init__(self) -> None:
        self.sums: dict[str, float] = {}
        self.count = 0

    def add(self, metrics: dict[str, float], n: int) -> None:
        for k, v in metrics.items():
            self.sums[k] = self.sums.get(k, 0.0) + float(v) * n
        self.count += n

    def result(self, dist_info: DistInfo, device: torch.device) -> dict[str, float]:
        keys = sorted(self.sums)
        if dist_info.enabled:  # average over every rank's samples
            vec = torch.tensor([self.sums[k] for k in keys] + [self.count], dtype=torch.float64, device=device)
            torch.distributed.all_reduce(vec)
            return {k: float(vec[i] / vec[-1]) for i, k in enumerate(keys)}
        return {k: self.sums[k] / max(self.count, 1) for k in keys}


class Trainer:
    """Train ``model`` by minimising ``objective`` over batches from ``train_source``.

    Keyword overrides of :class:`TrainConfig` fields may be passed directly
    (``Trainer(model, objective, loader, epochs=5, lr=1e-3)``). With ``run_dir`` the Trainer
    writes ``config.json``, ``metrics.jsonl``/``metrics.csv``, ``checkpoint.pt`` (every
    ``checkpoint_every`` epochs), ``best.pt`` (best ``monitor`` value) and ``model.pt`` (final).
    ``model_config`` is the JSON-able description needed to rebuild the model; it is stored with
    every checkpoint and checked on resume.
    """

    def __init__(self, model: nn.Module, objective: Objective, train_source: Iterable, *,
                 val_source: Iterable | None = None, val_objective: Objective | None = None,
                 config: TrainConfig | None = None, run_dir: str | Path | None = None,
                 model_config: dict[str, Any] | None = None,
                 callbacks: Iterable[Callable[[Trainer, dict[str, Any]], None]] = (),
                 extra_config: dict[str, Any] | None = None, **overrides: Any):
        base = (config or TrainConfig()).to_dict()
        base.update(overrides)
        self.config = TrainConfig.from_dict(base)
        self.objective = objective
        self.val_objective = val_objective or objective
        self.train_source, self.val_source = train_source, val_source
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.model_config = model_config
        self.extra_config = dict(extra_config or {})
        self.callbacks = list(callbacks)
        self.monitor = self.config.monitor or ("val_loss" if val_source is not None else "train_loss")

        self.device = resolve_device(self.config.device)
        self.dist, self.device = setup_distributed(self.device)
        self.use_amp = self.config.precision == "bf16" or (
            self.config.precision == "auto" and self.device.type == "cuda")

        self.model = model.to(self.device)
        self.train_source = self._prepare_source(train_source, shard=True)
        self.val_source = self._prepare_source(val_source, shard=False) if val_source is not None else None
        if self.dist.enabled:
            from torch.nn.parallel import DistributedDataParallel as DDP

            ids = [self.device.index] if self.device.type == "cuda" else None
            self.wrapped: nn.Module = DDP(self.model, device_ids=ids)
        else:
            self.wrapped = self.model

        params = [p for p in self.model.parameters() if p.requires_grad]
        if not params:
            raise ValueError("the model has no trainable parameters")
        self.optimizer = self.config.make_optimizer(params)
        self.steps_per_epoch = len(self.train_source)
        if self.steps_per_epoch < 1:
            raise ValueError("the training source yields no batches (is the data set smaller than a batch "
                             "with drop_last=True?)")
        self.scheduler, self.scheduler_interval = self.config.make_scheduler(self.optimizer, self.steps_per_epoch)

        self.epoch = 0  # epochs completed
        self.global_step = 0
        self.history: list[dict[str, Any]] = []
        self.best_value: float | None = None
        self.best_epoch: int | None = None
        self._best_state: dict[str, torch.Tensor] | None = None

    # -- set-up helpers -------------------------------------------------------------------
    def _prepare_source(self, source: Iterable, shard: bool) -> Iterable:
        if hasattr(source, "to"):
            source = source.to(self.device) or source
        if shard and self.dist.enabled:
            if not hasattr(source, "shard"):
                raise ValueError("distributed training needs a batch source with shard(rank, world_size)")
            source = source.shard(self.dist.rank, self.dist.world_size) or source
        return source

    @property
    def is_main(self) -> bool:
        return self.dist.is_main

    def _autocast(self):
        if not self.use_amp:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16)

    def _progress_enabled(self) -> bool:
        if not self.is_main:
            return False
        return sys.stderr.isatty() if self.config.progress is None else bool(self.config.progress)

    # -- checkpoints ----------------------------------------------------------------------
    @property
    def checkpoint_path(self) -> Path | None:
        return self.run_dir / "checkpoint.pt" if self.run_dir else None

    def state_dict(self) -> dict[str, Any]:
        state = {
            "model": model_state(self.model),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict() if self.scheduler else {},
            "epoch": self.epoch,
            "global_step": self.global_step,
            "best_value": self.best_value,
            "best_epoch": self.best_epoch,
            "history": json.dumps(self.history),
            "model_config": config_json(self.model_config),
            "train_config": json.dumps(self.config.to_dict(), sort_keys=True),
            "rng": rng_state(),
        }
        if hasattr(self.train_source, "state_dict"):
            state["train_source"] = self.train_source.state_dict()
        return state

    def load_state_dict(self, state: dict[str, Any], source: str = "checkpoint") -> None:
        load_model_state(self.model, state["model"], saved_config=state.get("model_config"),
                         expected_config=self.model_config, source=source)
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler and state.get("scheduler"):
            self.scheduler.load_state_dict(state["scheduler"])
        self.epoch, self.global_step = int(state["epoch"]), int(state["global_step"])
        self.best_value, self.best_epoch = state["best_value"], state["best_epoch"]
        self.history = json.loads(state["history"])
        set_rng_state(state["rng"])
        if "train_source" in state and hasattr(self.train_source, "load_state_dict"):
            self.train_source.load_state_dict(state["train_source"])

    def _resume(self, resume: bool | str | Path) -> None:
        if resume is True:
            if self.run_dir is None:
                raise CheckpointError("resume=True needs a run_dir to resume from")
            target = self.run_dir
        else:
            target = Path(resume)
        if target.suffix != ".pt":
            if not target.is_dir():
                raise CheckpointError(f"resume directory {target} does not exist")
            target = target / "checkpoint.pt"
        self.load_state_dict(load_checkpoint(target, map_location=self.device), source=str(target))

    def _write_run_files(self) -> None:
        if not (self.run_dir and self.is_main):
            return
        with atomic_path(self.run_dir / "metrics.jsonl") as tmp:
            tmp.write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in self.history))
        keys: list[str] = []
        for rec in self.history:
            keys += [k for k in rec if k not in keys]
        rows = [",".join(keys)] + [",".join("" if r.get(k) is None else f"{r[k]}" for k in keys) for r in self.history]
        with atomic_path(self.run_dir / "metrics.csv") as tmp:
            tmp.write_text("\n".join(rows) + "\n")

    def _save_model(self, name: str, **info: Any) -> None:
        if self.run_dir and self.is_main:
            save_checkpoint(self.run_dir / name, {"model": model_state(self.model),
                                                  "model_config": config_json(self.model_config), **info})

    # -- the loop ------------------------------------------------------------------------
    def _step(self, batch: Any, epoch: int, step: int) -> tuple[float, dict[str, float]]:
        out: dict[str, Any] = {}

        def closure() -> torch.Tensor:
            self.optimizer.zero_grad(set_to_none=True)
            with self._autocast():
                loss, metrics = self.objective(self.wrapped, batch)
            if not bool(torch.isfinite(loss.detach()).all()):
                ckpt = self.checkpoint_path if (self.checkpoint_path and self.checkpoint_path.exists()) else None
                where = f"last good checkpoint: {ckpt}" if ckpt else "no checkpoint was written yet"
                raise NonFiniteLossError(
                    f"loss is {float(loss.detach().float())} at epoch {epoch + 1}, step {step + 1} "
                    f"(global step {self.global_step + 1}); training stopped, {where}")
            loss.backward()
            if self.config.grad_clip:
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
            out["loss"], out["metrics"] = loss, metrics
            return loss

        if isinstance(self.optimizer, torch.optim.LBFGS):
            self.optimizer.step(closure)
        else:
            closure()
            self.optimizer.step()
        if self.scheduler is not None and self.scheduler_interval == "step":
            self.scheduler.step()
        self.global_step += 1
        metrics = {k: float(v) for k, v in out["metrics"].items()}
        return float(out["loss"].detach()), metrics

    @torch.no_grad()
    def evaluate(self, source: Iterable, objective: Objective | None = None, prefix: str = "") -> dict[str, float]:
        """Sample-weighted means of the objective's loss and metrics over ``source`` (no gradients,
        no autocast)."""
        objective = objective or self.val_objective
        was_training = self.model.training
        self.model.eval()
        acc = _Mean()
        for batch in source:  # full precision: reported errors must not carry bf16 rounding
            loss, metrics = objective(self.model, batch)
            acc.add({"loss": float(loss), **{k: float(v) for k, v in metrics.items()}}, batch_size_of(batch))
        self.model.train(was_training)
        return {f"{prefix}{k}": v for k, v in acc.result(DistInfo(), self.device).items()}

    def fit(self, resume: bool | str | Path = False) -> TrainResult:
        """Run the remaining epochs; ``resume`` continues from a run directory or checkpoint file."""
        cfg = self.config
        if resume:
            self._resume(resume)
        else:
            torch.manual_seed(cfg.seed)
        if self.run_dir and self.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            write_json_atomic(self.run_dir / "config.json", {
                "model": self.model_config, "train": cfg.to_dict(), **self.extra_config})
        total = cfg.epochs * self.steps_per_epoch
        bar = tqdm(total=total, initial=self.epoch * self.steps_per_epoch, desc="train", unit="step",
                   disable=not self._progress_enabled(), dynamic_ncols=True)
        try:
            while self.epoch < cfg.epochs:
                self._run_epoch(bar)
        finally:
            bar.close()
        self._save_model("model.pt", epoch=self.epoch)
        return TrainResult(self.history, self.best_epoch, self.best_value, self.monitor, self.run_dir)

    def _run_epoch(self, bar) -> None:
        cfg, epoch = self.config, self.epoch
        if hasattr(self.train_source, "set_epoch"):
            self.train_source.set_epoch(epoch)
        self.model.train()
        acc = _Mean()
        start = time.perf_counter()
        for step, batch in enumerate(self.train_source):
            loss, metrics = self._step(batch, epoch, step)
            acc.add({"loss": loss, **metrics}, batch_size_of(batch))
            bar.update(1)
            if step % 10 == 0:
                bar.set_postfix(epoch=epoch + 1, loss=f"{loss:.3e}", refresh=False)
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        seconds = time.perf_counter() - start
        if self.scheduler is not None and self.scheduler_interval == "epoch":
            self.scheduler.step()
        record: dict[str, Any] = {"epoch": epoch + 1}
        record.update({f"train_{k}": v for k, v in acc.result(self.dist, self.device).items()})
        record["lr"] = self.optimizer.param_groups[0]["lr"]
        record["epoch_seconds"] = seconds
        record["samples_per_second"] = acc.count * self.dist.world_size / max(seconds, 1e-12)
        last = epoch + 1 == cfg.epochs
        if self.val_source is not None and ((epoch + 1) % cfg.validate_every == 0 or last):
            record.update(self.evaluate(self.val_source, prefix="val_"))
        self.epoch = epoch + 1
        self.history.append(record)
        self._track_best(record)
        if self.run_dir and self.is_main and (self.epoch % cfg.checkpoint_every == 0 or last):
            save_checkpoint(self.checkpoint_path, self.state_dict())
        self._write_run_files()
        shown = {k: f"{v:.3e}" for k, v in record.items() if k.startswith(("train_loss", "val_loss"))}
        bar.set_postfix(epoch=self.epoch, **shown)
        for cb in self.callbacks:
            cb(self, record)

    def _track_best(self, record: dict[str, Any]) -> None:
        value = record.get(self.monitor)
        if value is None or not math.isfinite(value):
            return
        if self.best_value is None or value < self.best_value:
            self.best_value, self.best_epoch = float(value), self.epoch
            if self.run_dir is None:  # no files: keep the best weights in memory for load_best()
                self._best_state = {k: v.detach().clone() for k, v in model_state(self.model).items()}
            self._save_model("best.pt", epoch=self.epoch, monitor=self.monitor, value=float(value))

    def load_best(self) -> nn.Module:
        """Load the weights of the best epoch (by ``monitor``) into the model and return it."""
        if self.run_dir is None and self._best_state is not None:
            self.model.load_state_dict(self._best_state)
            return self.model
        if self.run_dir is None or not (self.run_dir / "best.pt").exists():
            raise CheckpointError("no best weights yet: train first (with a validation source or monitor)")
        state = load_checkpoint(self.run_dir / "best.pt", map_location=self.device)
        load_model_state(self.model, state["model"], saved_config=state.get("model_config"),
                         expected_config=self.model_config, source=str(self.run_dir / "best.pt"))
        return self.model
