"""The papers' training recipes as run configurations (``RunSpec.from_dict`` / ``pdeml train --config``).

Each preset has the sections ``data``, ``model``, ``loss`` and ``train`` of a run file; take a
copy with :func:`run_preset`, change what you need (resolution, sample counts, device) and
pass it on::

    from pdeml.models.presets import run_preset
    from pdeml.models.workflow import RunSpec, train_operator

    values = run_preset("mgno_darcy", data={"resolution": 85, "n_train": 200})
    run = train_operator(RunSpec.from_dict(values), "runs/mgno")

Choices where pdeml and the authors' code differ:

* MgNO's OneCycle schedule is stepped once per epoch, as the authors do
  (``scheduler_interval = "epoch"``); drop that option to sample the same curve every batch.
* MgNO reports the test error at the epoch of the best validation relative L2, so its preset
  holds out 100 validation samples and monitors ``val_rel_l2``.
* Normalizers: MgNO's Darcy runs use one global Gaussian normalizer (pdeml ``"channel"``),
  LSM the FNO code's pointwise one (``"pointwise"``, valid only at the training resolution).
"""

from __future__ import annotations

import copy
from typing import Any

from pdeml.config import ConfigError

RUN_PRESETS: dict[str, dict[str, Any]] = {
    # MgNO (He, Liu, Xu, ICLR 2024), Darcy: 4 layers, C_u 24, 6 levels; H1 loss; 500 epochs
    "mgno_darcy": {
        "data": {"problem": "darcy", "resolution": 211, "n_train": 1000, "n_val": 100, "n_test": 100,
                 "batch_size": 8, "normalize": "channel"},
        "model": {"name": "mgno", "preset": "darcy"},
        "loss": "h1",
        "train": {"epochs": 500, "optimizer": "adam", "lr": 5e-4, "weight_decay": 1e-4,
                  "scheduler": "onecycle",
                  "scheduler_options": {"pct_start": 0.2, "div_factor": 2.0, "final_div_factor": 100.0},
                  "scheduler_interval": "epoch", "monitor": "val_rel_l2"},
    },
    # LSM (Wu et al., ICML 2023), Darcy 85x85: d_model 64, patch 6; relative L2; 501 epochs
    "lsm_darcy": {
        "data": {"problem": "darcy", "resolution": 85, "n_train": 1000, "n_val": 0, "n_test": 200,
                 "batch_size": 20, "normalize": "pointwise"},
        "model": {"name": "lsm", "preset": "darcy"},
        "loss": "relative_l2",
        "train": {"epochs": 501, "optimizer": "adam", "lr": 5e-4, "weight_decay": 1e-4,
                  "scheduler": "step", "scheduler_options": {"step_size": 100, "gamma": 0.5}},
    },
}


def run_preset(name: str, **overrides: dict[str, Any] | str) -> dict[str, Any]:
    """A deep copy of preset ``name``; each keyword (``data=``, ``model=``, ``train=`` dicts or
    ``loss=`` a string) updates that section."""
    if name not in RUN_PRESETS:
        raise ConfigError(f"unknown run preset {name!r}; known presets: {', '.join(sorted(RUN_PRESETS))}")
    values = copy.deepcopy(RUN_PRESETS[name])
    for section, update in overrides.items():
        if section not in values:
            raise ConfigError(f"unknown section {section!r}; known sections: {', '.join(values)}")
        if isinstance(update, dict):
            values[section].update(copy.deepcopy(update))
        else:
            values[section] = update
    return values


__all__ = ["RUN_PRESETS", "run_preset"]
