"""PINN networks: a plain MLP and the solution ansatz that scales inputs and imposes Dirichlet data."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

ACTIVATIONS = {"tanh": nn.Tanh, "sin": None, "gelu": nn.GELU, "silu": nn.SiLU, "softplus": nn.Softplus}


class Sine(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sin(x)


def _activation(name: str) -> nn.Module:
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; known activations: {', '.join(ACTIVATIONS)}")
    return Sine() if name == "sin" else ACTIVATIONS[name]()


class MLP(nn.Module):
    """Fully connected network ``(n, in_dim) -> (n, out_dim)``: ``depth`` hidden layers of ``width``.

    Smooth activations only (tanh by default): PDE residuals differentiate it twice.
    Xavier-normal weights, zero biases.
    """

    def __init__(self, in_dim: int, out_dim: int = 1, width: int = 64, depth: int = 4,
                 activation: str = "tanh"):
        super().__init__()
        if depth < 1 or width < 1:
            raise ValueError(f"depth and width must be >= 1, got depth={depth}, width={width}")
        dims = [in_dim] + [width] * depth
        layers: list[nn.Module] = []
        for a, b in zip(dims[:-1], dims[1:]):
            layers += [nn.Linear(a, b), _activation(activation)]
        layers.append(nn.Linear(dims[-1], out_dim))
        self.net = nn.Sequential(*layers)
        for m in self.net:
            if isinstance(m, nn.Linear):
                nn.init.xavier_normal_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class PINNModel(nn.Module):
    """The approximate solution ``u(x)`` (n,) at points ``x`` (n, dim).

    Inputs are mapped from the domain's bounding box ``[low, high]`` to ``[-1, 1]^dim`` before the
    MLP, whose last layer starts at zero. With ``boundary="exact"`` the output is ``g(x) + d(x) N(x)``: ``d`` the domain's distance
    factor (zero on the boundary), ``g`` a lifting of the Dirichlet data (a small network fitted to
    the boundary values before training, then frozen), so the Dirichlet data hold by
    construction; with ``boundary="penalty"`` it is ``N(x)`` and the loss penalises the data.
    """

    def __init__(self, dim: int, low: Sequence[float], high: Sequence[float], width: int = 64,
                 depth: int = 4, activation: str = "tanh", boundary: str = "penalty",
                 distance=None, lifting: nn.Module | None = None):
        super().__init__()
        if boundary not in ("penalty", "exact"):
            raise ValueError(f"boundary must be 'penalty' or 'exact', got {boundary!r}")
        if boundary == "exact" and distance is None:
            raise ValueError("boundary='exact' needs a distance factor d(x)")
        self.dim, self.boundary = int(dim), boundary
        self.net = MLP(dim, 1, width, depth, activation)
        # start from u = g: for concentrated solutions a random O(1) output is far worse than 0
        nn.init.zeros_(self.net.net[-1].weight)
        self.register_buffer("center", torch.tensor([(a + b) / 2 for a, b in zip(low, high)]))
        self.register_buffer("half_width", torch.tensor([(b - a) / 2 for a, b in zip(low, high)]))
        self.distance = distance
        self.lifting = lifting
        if lifting is not None:
            for p in lifting.parameters():
                p.requires_grad_(False)
        self.config: dict[str, Any] = {"dim": self.dim, "low": [float(v) for v in low],
                                       "high": [float(v) for v in high], "width": width, "depth": depth,
                                       "activation": activation, "boundary": boundary}

    def network(self, x: torch.Tensor) -> torch.Tensor:
        return self.net((x - self.center) / self.half_width)[:, 0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise ValueError(f"points must have shape (n, {self.dim}), got {tuple(x.shape)}")
        u = self.network(x)
        if self.boundary == "exact":
            u = self.distance(x) * u
            if self.lifting is not None:
                u = u + self.lifting(x)
        return u


class Lifting(nn.Module):
    """A small MLP ``g(x)`` (n,) fitted to Dirichlet data; inputs scaled like :class:`PINNModel`."""

    def __init__(self, dim: int, low: Sequence[float], high: Sequence[float], width: int = 32, depth: int = 2,
                 shift: float = 0.0, scale: float = 1.0):
        super().__init__()
        self.net = MLP(dim, 1, width, depth, "tanh")
        self.register_buffer("center", torch.tensor([(a + b) / 2 for a, b in zip(low, high)]))
        self.register_buffer("half_width", torch.tensor([(b - a) / 2 for a, b in zip(low, high)]))
        # the data's mean and spread: the network itself fits values of order 1
        self.register_buffer("shift", torch.tensor(float(shift)))
        self.register_buffer("scale", torch.tensor(float(scale)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shift + self.scale * self.net((x - self.center) / self.half_width)[:, 0]
