"""The FNO of the neuraloperator package, the baseline every pdeml operator is compared with."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from neuralop.layers.spectral_convolution import SpectralConv
from neuralop.models import FNO as _NeuralopFNO

from pdeml.config import check_arguments


class FP32SpectralConv(SpectralConv):
    """neuraloperator's spectral convolution, run in float32 even under bf16 autocast.

    FFTs of bf16 tensors are not supported, so under mixed precision the spectral layers run
    in full precision while the pointwise layers around them use bf16.
    """

    def forward(self, x: torch.Tensor, output_shape=None) -> torch.Tensor:
        if torch.is_autocast_enabled(x.device.type):
            with torch.autocast(device_type=x.device.type, enabled=False):
                return super().forward(x.float(), output_shape)
        return super().forward(x, output_shape)


def build_fno(in_channels: int = 1, out_channels: int = 1, n_modes: Sequence[int] = (12, 12),
              hidden_channels: int = 32, n_layers: int = 4, **kwargs) -> _NeuralopFNO:
    """neuraloperator FNO (grid positional embedding, GELU, lifting/projection ratio 2).

    Input ``(batch, in_channels, *space)`` with ``len(n_modes)`` spatial axes; output
    ``(batch, out_channels, *space)``. Extra keyword arguments go to ``neuralop.models.FNO``.
    """
    n_modes = tuple(int(m) for m in n_modes)
    values = dict(n_modes=n_modes, in_channels=in_channels, out_channels=out_channels,
                  hidden_channels=hidden_channels, n_layers=n_layers, conv_module=FP32SpectralConv, **kwargs)
    check_arguments(_NeuralopFNO, values, "FNO")
    return _NeuralopFNO(**values)
