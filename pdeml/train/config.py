"""Training configuration: one dataclass, readable from TOML, with the optimizer and scheduler factories."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import torch

OPTIMIZERS = ("adam", "adamw", "sgd", "lbfgs")
SCHEDULERS = ("none", "onecycle", "step", "cosine")


@dataclass
class TrainConfig:
    """Everything the Trainer needs to know that is not the model, the objective or the data.

    ``scheduler`` ``"onecycle"`` steps every batch; ``"step"`` and ``"cosine"`` step every epoch;
    ``scheduler_interval`` (``"step"`` or ``"epoch"``) overrides that (e.g. one-cycle stepped per
    epoch, as some reference codes do).
    ``scheduler_options`` go to the torch scheduler (e.g. ``pct_start``, ``div_factor``,
    ``final_div_factor``; ``step_size``, ``gamma``). ``precision="auto"`` is bf16 autocast on
    CUDA and float32 on CPU. ``progress=None`` shows a bar only when stderr is a terminal.
    """

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

    def __post_init__(self) -> None:
        self.optimizer = self.optimizer.lower()
        self.scheduler = (self.scheduler or "none").lower()
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {self.optimizer!r}; known optimizers: {', '.join(OPTIMIZERS)}")
        if self.scheduler not in SCHEDULERS:
            raise ValueError(f"unknown scheduler {self.scheduler!r}; known schedulers: {', '.join(SCHEDULERS)}")
        if self.scheduler_interval not in (None, "step", "epoch"):
            raise ValueError(f"scheduler_interval must be 'step' or 'epoch', got {self.scheduler_interval!r}")
        if self.precision not in ("auto", "fp32", "bf16"):
            raise ValueError(f"precision must be 'auto', 'fp32' or 'bf16', got {self.precision!r}")
        if self.epochs < 1:
            raise ValueError(f"epochs must be >= 1, got {self.epochs}")
        if self.lr <= 0:
            raise ValueError(f"lr must be positive, got {self.lr}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown training option(s) {unknown}; known options: {sorted(known)}")
        return cls(**values)

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


def read_toml(path) -> dict[str, Any]:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    with open(path, "rb") as fh:
        return tomllib.load(fh)
