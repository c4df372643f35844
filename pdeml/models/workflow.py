"""Operator learning end to end: data split, normalizers, objective, Trainer, evaluation, run loading."""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from pdeml.config import Config, ConfigError, check_arguments, check_choice, check_positive
from pdeml.data import DeviceDataset, DeviceLoader, cached_dataset, load_dataset
from pdeml.device import resolve_device
from pdeml.losses import relative_h1, relative_l2
from pdeml.models.operator import NormalizedOperator
from pdeml.train import CheckpointError, TrainConfig, Trainer, TrainResult, load_checkpoint
from pdeml.train.checkpoint import load_model_state

LOSSES = ("relative_l2", "h1")
NORMALIZERS = ("channel", "pointwise", "none")


def operator_objective(loss: str = "relative_l2", periodic: bool = False):
    """``objective(model, (x, y))``: the relative L2 or H1 loss of ``model(x)`` against ``y``.

    Metrics: ``rel_l2`` always; ``rel_h1`` too when it is the loss or when gradients are off
    (evaluation), so a training step computes only what it needs.
    """
    if loss not in LOSSES:
        raise ConfigError(f"unknown loss {loss!r}; known losses: {', '.join(LOSSES)}")

    def objective(model: nn.Module, batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        x, y = batch
        pred = model(x).float()
        metrics = {"rel_l2": relative_l2(pred, y)}
        if loss == "h1" or not torch.is_grad_enabled():
            metrics["rel_h1"] = relative_h1(pred, y, periodic=periodic)
        value = metrics["rel_l2"] if loss == "relative_l2" else metrics["rel_h1"]
        return value, {k: v.detach() for k, v in metrics.items()}

    return objective


@dataclass
class DataSpec(Config):
    """Where the data comes from and how it is split.

    Either ``path`` (one file: the first ``n_train`` samples train, the next ``n_val`` validate,
    the last ``n_test`` test), or ``train``/``test`` paths, or ``problem`` with ``resolution``
    and ``seed`` (generated once into the cache).
    """

    section = "data"

    path: str | None = None
    train: str | None = None
    test: str | None = None
    problem: str | None = None
    resolution: int = 32
    seed: int = 0
    n_train: int = 1000
    n_val: int = 0
    n_test: int = 100
    batch_size: int = 20
    normalize: str = "channel"
    periodic: bool = False
    workers: int = 1

    def validate(self) -> None:
        for key in ("path", "train", "test", "problem"):
            if getattr(self, key) is not None and not isinstance(getattr(self, key), (str, os.PathLike)):
                raise ConfigError(f"data.{key} must be a string, got {getattr(self, key)!r}")
        check_positive("data.resolution", self.resolution, int)
        check_positive("data.n_train", self.n_train, int)
        check_positive("data.n_val", self.n_val, int, allow_zero=True)
        check_positive("data.n_test", self.n_test, int)
        check_positive("data.batch_size", self.batch_size, int)
        check_positive("data.workers", self.workers, int)
        check_choice("data.normalize", self.normalize, NORMALIZERS)
        check_choice("data.periodic", self.periodic, (True, False))

    def load(self, progress: bool | None = None) -> tuple[DeviceDataset, DeviceDataset | None, DeviceDataset]:
        if self.train and self.test:
            train_all = load_dataset(self.train)
            test = load_dataset(self.test)
            test = test.subset(slice(0, min(self.n_test, len(test))))
        else:
            if self.path:
                full = load_dataset(self.path)
            elif self.problem:
                n = self.n_train + self.n_val + self.n_test
                full = load_dataset(cached_dataset(self.problem, n, self.resolution, self.seed,
                                                   workers=self.workers, progress=progress))
            else:
                raise ConfigError("data needs a 'path', 'train' and 'test' paths, or a 'problem' to generate")
            need = self.n_train + self.n_val + self.n_test
            if need > len(full):
                raise ValueError(f"asked for {self.n_train} train + {self.n_val} val + {self.n_test} test "
                                 f"samples but the data set has {len(full)}")
            train_all = full.subset(slice(0, self.n_train + self.n_val))
            test = full.subset(slice(len(full) - self.n_test, len(full)))
        if self.n_train + self.n_val > len(train_all):
            raise ValueError(f"asked for {self.n_train + self.n_val} training samples, the file has {len(train_all)}")
        train = train_all.subset(slice(0, self.n_train))
        val = train_all.subset(slice(self.n_train, self.n_train + self.n_val)) if self.n_val else None
        return train, val, test


@dataclass
class RunSpec(Config):
    """A training run: data, model (``name`` plus constructor arguments), loss and TrainConfig."""

    section = "run"

    data: DataSpec = field(default_factory=DataSpec)
    model: dict[str, Any] = field(default_factory=lambda: {"name": "fno"})
    loss: str = "relative_l2"
    train: TrainConfig = field(default_factory=TrainConfig)

    def validate(self) -> None:
        if not isinstance(self.model, dict) or "name" not in self.model:
            raise ConfigError(f"the [model] section needs a 'name', got {self.model!r}")
        check_choice("loss", self.loss, LOSSES)
        from pdeml.models import MODELS

        # an unknown name, or an option the model's builder cannot take, fails here, before any data is read
        options = {k: v for k, v in self.model.items() if k != "name"}
        check_arguments(MODELS.get(self.model["name"]), options, f"model {self.model['name']!r}")

    def model_config(self, in_channels: int, out_channels: int) -> dict[str, Any]:
        """The stored model configuration: ``name``, ``normalize`` and the full constructor
        arguments (a ``preset`` expanded, so loading never reads the current preset table)."""
        from pdeml.models import resolve_preset

        cfg = dict(self.model)
        name = cfg.pop("name")
        cfg.setdefault("in_channels", in_channels)
        cfg.setdefault("out_channels", out_channels)
        return {"name": name, **resolve_preset(name, cfg), "normalize": self.data.normalize}


def build_operator(model_config: dict[str, Any]) -> NormalizedOperator:
    """A :class:`NormalizedOperator` from a stored model configuration (``name``, ``normalize``, kwargs)."""
    from pdeml.models import build

    cfg = dict(model_config)
    name, normalize = cfg.pop("name"), cfg.pop("normalize", "channel")
    return NormalizedOperator(build(name, **cfg), normalize=normalize)


@dataclass
class OperatorRun:
    model: NormalizedOperator
    result: TrainResult
    test_metrics: dict[str, float]  # evaluate_model's figures on the test split
    test_pred: torch.Tensor  # the model's predictions for the test split (CPU)
    seconds_per_epoch: float
    test: DeviceDataset


def train_operator(spec: RunSpec, run_dir: str | Path | None = None, resume: bool = False,
                   progress: bool | None = None) -> OperatorRun:
    """Train ``spec.model`` on ``spec.data`` with the one Trainer; test at the best validation epoch."""
    train, val, test = spec.data.load(progress)
    model_config = spec.model_config(train.x.shape[1], train.y.shape[1])
    torch.manual_seed(spec.train.seed)
    model = build_operator(model_config)
    model.fit_normalizers(train.x, train.y)
    device = resolve_device(spec.train.device)
    loader = DeviceLoader(train.to(device), spec.data.batch_size, shuffle=True, seed=spec.train.seed)
    val_loader = DeviceLoader(val, spec.data.batch_size, shuffle=False) if val is not None else None
    objective = operator_objective(spec.loss, spec.data.periodic)
    trainer = Trainer(model, objective, loader, val_source=val_loader, config=spec.train, run_dir=run_dir,
                      model_config=model_config, progress=progress if progress is not None else spec.train.progress,
                      extra_config={"data": spec.data.to_dict(), "loss": spec.loss})
    result = trainer.fit(resume=resume)
    if val_loader is not None:
        trainer.load_best()
    test_metrics, test_pred = evaluate_model(trainer.model, test, spec.data.batch_size, spec.data.periodic)
    secs = [r["epoch_seconds"] for r in result.history]
    return OperatorRun(trainer.model, result, test_metrics, test_pred, sum(secs) / len(secs), test)


def load_run(run_dir: str | Path, device: str | torch.device = "auto", which: str = "best") -> NormalizedOperator:
    """The trained model of a run directory (``which``: ``"best"`` falling back to ``"final"``)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise CheckpointError(f"run directory {run_dir} does not exist")
    cfg_path = run_dir / "config.json"
    if not cfg_path.exists():
        raise CheckpointError(f"{run_dir} is not a run directory (no config.json)")
    model_config = json.loads(cfg_path.read_text())["model"]
    model = build_operator(model_config)
    ckpt = run_dir / "best.pt"
    if which != "best" or not ckpt.exists():
        ckpt = run_dir / "model.pt"
    state = load_checkpoint(ckpt)
    load_model_state(model, state["model"], saved_config=state.get("model_config"),
                     expected_config=model_config, source=str(ckpt))
    return model.to(resolve_device(device)).eval()


@torch.no_grad()
def predict(model: nn.Module, x: torch.Tensor, batch_size: int = 32) -> torch.Tensor:
    """Model outputs for all of ``x``, in batches, on the model's device; returned on the CPU."""
    device = next(model.parameters()).device
    model.eval()
    outs = [model(x[i:i + batch_size].to(device)).float().cpu() for i in range(0, x.shape[0], batch_size)]
    return torch.cat(outs)


def evaluate_model(model: nn.Module, data: DeviceDataset, batch_size: int = 32,
                   periodic: bool = False) -> tuple[dict[str, float], torch.Tensor]:
    """Mean relative L2/H1 over ``data`` plus inference time; returns ``(metrics, predictions)``."""
    start = time.perf_counter()
    pred = predict(model, data.x, batch_size)
    seconds = time.perf_counter() - start
    y = data.y.float().cpu()
    per_sample = relative_l2(pred, y, reduction="none")
    metrics = {
        "n": len(data),
        "rel_l2": float(per_sample.mean()),
        "rel_l2_std": float(per_sample.std()) if len(data) > 1 else 0.0,
        "rel_h1": float(relative_h1(pred, y, periodic=periodic)),
        "ms_per_sample": 1000 * seconds / len(data),
    }
    return metrics, pred
