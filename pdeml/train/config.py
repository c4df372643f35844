"""Training configuration: one validated dataclass, with the optimizer and scheduler factories."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from pdeml.config import Config, ConfigError, check_choice, check_positive

OPTIMIZERS = ("adam", "adamw", "sgd", "lbfgs")
SCHEDULERS = ("none", "onecycle", "step", "cosine")


@dataclass
class TrainConfig(Config):
    """Everything the Trainer needs to know that is not the model, the objective or the data.

    ``scheduler`` ``"onecycle"`` steps every batch; ``"step"`` and ``"cosine"`` step every epoch;
    ``scheduler_interval`` (``"step"`` or ``"epoch"``) overrides that (e.g. one-cycle stepped per
    epoch, as some reference codes do).
    ``scheduler_options`` go to the torch scheduler (e.g. ``pct_start``, ``div_factor``,
    ``final_div_factor``; ``step_size``, ``gamma``). ``precision="auto"`` is bf16 autocast on
    CUDA and float32 on CPU. ``progress=None`` shows a bar only when stderr is a terminal.
    """

    section = "train"

    epochs: int = 10
    optimizer: str = "adam"
    lr: float = 1e-3
    weight_decay: float = 0.0
    momentum: float = 0.9
    scheduler: str = "none"
    scheduler_options: dict[str, Any] = field(default_factory=dict)
    scheduler_interval: str | None = None
    grad_clip: float | None = None
    precision: str = "auto"
    device: str = "auto"
    validate_every: int = 1
    checkpoint_every: int = 1
    monitor: str | None = None
    seed: int = 0
    progress: bool | None = None

    def validate(self) -> None:
        if not isinstance(self.optimizer, str):
            raise ConfigError(f"train.optimizer must be a string, got {self.optimizer!r}")
        self.optimizer = self.optimizer.lower()
        self.scheduler = (self.scheduler or "none").lower()
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(f"unknown optimizer {self.optimizer!r}; known optimizers: {', '.join(OPTIMIZERS)}")
        if self.scheduler not in SCHEDULERS:
            raise ConfigError(f"unknown scheduler {self.scheduler!r}; known schedulers: {', '.join(SCHEDULERS)}")
        if not isinstance(self.scheduler_options, dict):
            raise ConfigError(f"train.scheduler_options must be a table, got {self.scheduler_options!r}")
        # a copy, so configurations made by replace() or from another's to_dict() never share it
        self.scheduler_options = dict(self.scheduler_options)
        check_choice("train.scheduler_interval", self.scheduler_interval, (None, "step", "epoch"))
        check_choice("train.precision", self.precision, ("auto", "fp32", "bf16"))
        check_positive("train.epochs", self.epochs, int)
        check_positive("train.lr", self.lr)
        check_positive("train.weight_decay", self.weight_decay, allow_zero=True)
        check_positive("train.validate_every", self.validate_every, int)
        check_positive("train.checkpoint_every", self.checkpoint_every, int)
        if self.grad_clip is not None:
            check_positive("train.grad_clip", self.grad_clip)
        check_choice("train.progress", self.progress, (None, True, False))

    def make_optimizer(self, params) -> torch.optim.Optimizer:
        if self.optimizer == "adam":
            return torch.optim.Adam(params, lr=self.lr, weight_decay=self.weight_decay)
        if self.optimizer == "adamw":
            return torch.optim.AdamW(params, lr=self.lr, weight_decay=self.weight_decay)
        if self.optimizer == "sgd":
            return torch.optim.SGD(params, lr=self.lr, momentum=self.momentum, weight_decay=self.weight_decay)
        return torch.optim.LBFGS(params, lr=self.lr, line_search_fn="strong_wolfe")

    def make_scheduler(self, optimizer: torch.optim.Optimizer, steps_per_epoch: int):
        """Returns ``(scheduler or None, "step" | "epoch")``."""
        opts = dict(self.scheduler_options)
        natural = "step" if self.scheduler == "onecycle" else "epoch"
        interval = self.scheduler_interval or natural
        ticks = self.epochs * (steps_per_epoch if interval == "step" else 1)
        if self.scheduler == "onecycle":
            opts.setdefault("max_lr", self.lr)
            return torch.optim.lr_scheduler.OneCycleLR(optimizer, total_steps=ticks, **opts), interval
        if self.scheduler == "step":
            opts.setdefault("step_size", max(1, ticks // 4))
            opts.setdefault("gamma", 0.5)
            return torch.optim.lr_scheduler.StepLR(optimizer, **opts), interval
        if self.scheduler == "cosine":
            opts.setdefault("T_max", ticks)
            return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, **opts), interval
        return None, interval

