"""A neural operator together with its data normalizers: takes raw inputs, returns raw outputs."""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn

from pdeml.config import ConfigError
from pdeml.data.normalizers import UnitGaussianNormalizer


def with_preset(model: str, presets: dict[str, dict[str, Any]], preset: str | None,
                config: dict[str, Any]) -> dict[str, Any]:
    """Constructor arguments: the named preset's values, overridden by ``config``."""
    values: dict[str, Any] = {}
    if preset is not None:
        if preset not in presets:
            raise ConfigError(f"unknown {model} preset {preset!r}; known presets: {', '.join(sorted(presets))}")
        values.update(copy.deepcopy(presets[preset]))
    values.update(config)
    return values


class NormalizedOperator(nn.Module):
    """``forward(x) = y_normalizer.decode(net(x_normalizer.encode(x)))``.

    The normalizers are submodules, so they are saved and loaded with the model's state dict
    and a trained model is used on raw data. ``normalize="none"`` skips them.
    """

    def __init__(self, net: nn.Module, normalize: str = "channel"):
        super().__init__()
        if normalize not in ("channel", "pointwise", "none"):
            raise ValueError(f"normalize must be 'channel', 'pointwise' or 'none', got {normalize!r}")
        self.net = net
        self.normalize = normalize
        if normalize != "none":
            self.x_normalizer = UnitGaussianNormalizer(normalize)
            self.y_normalizer = UnitGaussianNormalizer(normalize)

    def fit_normalizers(self, x: torch.Tensor, y: torch.Tensor) -> NormalizedOperator:
        if self.normalize != "none":
            self.x_normalizer.fit(x)
            self.y_normalizer.fit(y)
            self.to(next(self.net.parameters()).device)
        return self

    def state_dict(self, *args, **kwargs):
        # neuraloperator models add a Python-object "_metadata" entry; keep tensors only so the
        # state round-trips through load_state_dict and weights_only loading
        state = super().state_dict(*args, **kwargs)
        for key in [k for k, v in state.items() if not torch.is_tensor(v)]:
            del state[key]
        return state

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.normalize == "none":
            return self.net(x)
        # decode in float32 even under bf16 autocast: the output scale must not be rounded
        return self.y_normalizer.decode(self.net(self.x_normalizer.encode(x)).float())
