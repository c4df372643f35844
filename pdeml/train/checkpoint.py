"""Checkpoints: tensors as state dicts, configuration as JSON text; loaded with ``weights_only=True``."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from pdeml.io import atomic_path


class CheckpointError(ValueError):
    """A checkpoint that is missing, unreadable, or made for a different model."""


def save_checkpoint(path: str | os.PathLike, state: dict[str, Any]) -> Path:
    """Atomically ``torch.save`` a dict of tensors, state dicts, numbers and strings."""
    with atomic_path(path) as tmp:
        torch.save(state, tmp)
    return Path(path)


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # noqa: BLE001 - torch raises several types for bad files
        raise CheckpointError(f"cannot read checkpoint {path} ({err})") from err


def model_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """The model's tensors only (some libraries add Python objects to their state dicts, which
    ``weights_only`` loading rightly refuses; the JSON model configuration replaces them)."""
    return {k: v for k, v in model.state_dict().items() if torch.is_tensor(v)}


def config_json(config: dict[str, Any] | None) -> str:
    return json.dumps(config or {}, sort_keys=True)


def load_model_state(model: nn.Module, state: dict[str, torch.Tensor], *, saved_config: str | None = None,
                     expected_config: dict[str, Any] | None = None, source: str = "checkpoint") -> None:
    """Load a model state dict, with an error that names the configuration it was made for."""
    if saved_config is not None and expected_config is not None and saved_config != config_json(expected_config):
        raise CheckpointError(
            f"{source} was made for model configuration {saved_config}, "
            f"but this model has configuration {config_json(expected_config)}"
        )
    try:
        model.load_state_dict(state)
    except RuntimeError as err:
        raise CheckpointError(f"{source} does not fit this model: {err}") from err


def rng_state() -> dict[str, Any]:
    """Every RNG state as tensors and plain numbers (so weights_only loading accepts it)."""
    np_state = np.random.get_state()
    py_version, py_state, py_gauss = random.getstate()
    state = {
        "torch": torch.get_rng_state(),
        "numpy_keys": torch.from_numpy(np_state[1].astype(np.int64)),
        "numpy_pos": int(np_state[2]),
        "numpy_gauss": [int(np_state[3]), float(np_state[4])],
        "python": torch.tensor(py_state, dtype=torch.int64),
        "python_version": int(py_version),
        "python_gauss": py_gauss,
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(("MT19937", state["numpy_keys"].numpy().astype(np.uint32), state["numpy_pos"],
                         state["numpy_gauss"][0], state["numpy_gauss"][1]))
    random.setstate((state["python_version"], tuple(int(v) for v in state["python"].tolist()),
                     state["python_gauss"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
