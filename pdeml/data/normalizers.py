"""Unit-Gaussian normalizers, fitted on the training split and saved inside the model."""

from __future__ import annotations

import torch
from torch import nn


class UnitGaussianNormalizer(nn.Module):
    """``encode(v) = (v - mean) / (std + eps)``; ``decode`` inverts it.

    ``mode="channel"``: one mean/std per channel (over batch and space), resolution independent.
    ``mode="pointwise"``: one mean/std per channel and grid point (over the batch), as in the
    FNO reference code; only valid at the training resolution.

    The statistics are buffers, so they travel with the model's ``state_dict`` and load into a
    fresh, unfitted normalizer.
    """

    def __init__(self, mode: str = "channel", eps: float = 1e-6):
        super().__init__()
        if mode not in ("channel", "pointwise"):
            raise ValueError(f"normalizer mode must be 'channel' or 'pointwise', got {mode!r}")
        self.mode, self.eps = mode, float(eps)
        self.register_buffer("mean", torch.empty(0))
        self.register_buffer("std", torch.empty(0))

    @property
    def fitted(self) -> bool:
        return self.mean.numel() > 0

    @torch.no_grad()
    def fit(self, data: torch.Tensor) -> UnitGaussianNormalizer:
        """Fit on ``data`` of shape (batch, channels, *space)."""
        if data.ndim < 3:
            raise ValueError(f"fit expects (batch, channels, *space), got shape {tuple(data.shape)}")
        dims = (0,) if self.mode == "pointwise" else (0, *range(2, data.ndim))
        data = data.double()
        self.mean = data.mean(dim=dims, keepdim=True).squeeze(0).float()
        self.std = data.std(dim=dims, keepdim=True).squeeze(0).float()
        return self

    def _check(self, v: torch.Tensor) -> None:
        if not self.fitted:
            raise RuntimeError("normalizer is not fitted: call fit(train_data) or load a state_dict")
        if self.mode == "pointwise" and tuple(v.shape[1:]) != tuple(self.mean.shape):
            raise ValueError(f"pointwise normalizer was fitted on samples of shape {tuple(self.mean.shape)}, "
                             f"got {tuple(v.shape[1:])}; use mode='channel' to change resolution")

    def _stats(self, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self._check(v)
        mean, std = self.mean, self.std
        if self.mode == "channel":
            extra = v.ndim - 1 - mean.ndim
            shape = (mean.shape[0],) + (1,) * (mean.ndim - 1 + extra)
            mean, std = mean.reshape(shape), std.reshape(shape)
        return mean.to(v.dtype), std.to(v.dtype)

    def encode(self, v: torch.Tensor) -> torch.Tensor:
        mean, std = self._stats(v)
        return (v - mean) / (std + self.eps)

    def decode(self, v: torch.Tensor) -> torch.Tensor:
        mean, std = self._stats(v)
        return v * (std + self.eps) + mean

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys,
                              unexpected_keys, error_msgs):
        # the buffers' shapes are only known once fitted: take them from the state dict
        for name in ("mean", "std"):
            key = prefix + name
            if key in state_dict:
                setattr(self, name, torch.empty_like(state_dict[key], device=getattr(self, name).device))
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys,
                                      unexpected_keys, error_msgs)

    def extra_repr(self) -> str:
        return f"mode={self.mode!r}, fitted={self.fitted}"
