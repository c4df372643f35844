"""``pdeml bench trainer``: pdeml's loop against neuraloperator's Trainer on the same FNO and data.

Both train an identical copy of one FNO (same initial weights, normalizers inside the model)
with Adam at a constant learning rate for the same number of epochs on the same Darcy data.
pdeml iterates index slices of device-resident tensors; neuraloperator's Trainer takes a torch
DataLoader over its ``TensorDataset`` (dict samples, default collation), as in its examples.
"""

from __future__ import annotations

import copy
import time
import warnings
from typing import Any

import torch
from torch import nn

from pdeml.data import DeviceLoader, cached_dataset, load_dataset
from pdeml.device import resolve_device
from pdeml.models import build, count_parameters
from pdeml.models.operator import NormalizedOperator
from pdeml.models.workflow import evaluate_model, operator_objective
from pdeml.train import Trainer

PRESETS: dict[str, dict[str, Any]] = {
    "tiny": {"resolution": 16, "n_train": 64, "n_test": 16, "epochs": 2, "batch_size": 8, "modes": 6, "width": 16, "repeats": 1},
    "small": {"resolution": 32, "n_train": 1000, "n_test": 100, "epochs": 10, "batch_size": 20, "modes": 12, "width": 32, "repeats": 2},
    "paper": {"resolution": 85, "n_train": 1000, "n_test": 100, "epochs": 500, "batch_size": 20, "modes": 12, "width": 32, "repeats": 1},
}


class _KeywordAdapter(nn.Module):
    """neuraloperator's Trainer calls ``model(**sample)``; pass ``x`` through, ignore ``y``."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor, **_: Any) -> torch.Tensor:
        return self.model(x)


def _train_neuralop(model: nn.Module, train, settings: dict[str, Any], device: torch.device) -> float:
    from neuralop.data.datasets.tensor_dataset import TensorDataset
    from neuralop.losses import LpLoss
    from neuralop.training import Trainer as NeuralopTrainer

    loader = torch.utils.data.DataLoader(TensorDataset(train.x, train.y), batch_size=settings["batch_size"],
                                         shuffle=True, num_workers=0)
    opt = torch.optim.Adam(model.parameters(), lr=settings["lr"])
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=10**9, gamma=1.0)  # constant lr, as in pdeml's run
    trainer = NeuralopTrainer(model=_KeywordAdapter(model), n_epochs=settings["epochs"], device=str(device),
                              eval_interval=10**9, verbose=False)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer.train(loader, {}, opt, sched, training_loss=LpLoss(d=2, p=2, reduction="sum"))
    return time.perf_counter() - start


def _train_pdeml(model: nn.Module, train, settings: dict[str, Any], device: torch.device) -> float:
    loader = DeviceLoader(train, settings["batch_size"], shuffle=True, seed=0)
    trainer = Trainer(model, operator_objective("relative_l2"), loader, epochs=settings["epochs"],
                      optimizer="adam", lr=settings["lr"], device=str(device), progress=False)
    start = time.perf_counter()
    trainer.fit()
    return time.perf_counter() - start


def run(preset: str = "small", device: str = "auto", progress: bool | None = None,
        out: str | None = None) -> list[dict[str, Any]]:
    s = {**PRESETS[preset], "lr": 2e-3}
    dev = resolve_device(device)
    path = cached_dataset("darcy", s["n_train"] + s["n_test"], s["resolution"], seed=0, progress=progress)
    train, test = load_dataset(path).split(s["n_train"], s["n_test"])
    torch.manual_seed(0)
    base = NormalizedOperator(build("fno", n_modes=(s["modes"], s["modes"]), hidden_channels=s["width"]))
    base.fit_normalizers(train.x, train.y)
    methods = (("neuraloperator Trainer + DataLoader", _train_neuralop), ("pdeml Trainer", _train_pdeml))
    rows: list[dict[str, Any]] = [{} for _ in methods]
    # run the pair `repeats` times, alternating, and keep each method's fastest run: on a shared
    # machine this removes most of the noise from the ratio
    for _ in range(s["repeats"]):
        for row, (name, fn) in zip(rows, methods):
            model = copy.deepcopy(base).to(dev)
            torch.manual_seed(1)
            seconds = fn(model, train.to(dev), s, dev)
            if row and row["train_s"] <= seconds:
                continue
            metrics, _ = evaluate_model(model, test)
            row.update({"method": name, "epochs": s["epochs"], "samples_per_s": s["epochs"] * s["n_train"] / seconds,
                        "train_s": seconds, "test_rel_l2": metrics["rel_l2"], "test_rel_h1": metrics["rel_h1"],
                        "params": count_parameters(model.net)})
    ref = rows[0]["samples_per_s"]
    for r in rows:
        r["throughput_ratio"] = r["samples_per_s"] / ref
    return rows
