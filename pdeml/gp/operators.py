"""The PDE operator on GP-HM's tensor grid, and the frequency content that initialises the kernels.

The operator is the problem's own (:meth:`~pdeml.problems.pde.PDE.operator`, written once for
every method): :class:`GridOperator` evaluates it on grid values and derivative grids, with the
node coordinates as ``x``. Nothing here depends on the problem's class.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from pdeml.problems.pde import PDE


@dataclass(frozen=True, eq=False)
class GridOperator:
    """``L[u]`` from values and derivatives: ``apply(u, derivs)`` with ``derivs[(axis, order)]`` =
    ``d^order u / dx_axis^order``, either on the node grid (grid-shaped) or flattened (``(N,)``);
    ``needs`` lists the (axis, order) pairs read, ``linear`` whether it is affine."""

    pde: PDE
    coords: tuple[torch.Tensor, ...]   # node coordinates, grid-shaped (meshgrid, ``ij``)

    @property
    def name(self) -> str:
        return f"the operator of {self.pde.name}"

    @property
    def needs(self) -> tuple[tuple[int, int], ...]:
        return self.pde.needs

    @property
    def linear(self) -> bool:
        return self.pde.linear

    @property
    def max_order(self) -> int:
        """The highest derivative order read (0 for none): how many kernel derivatives to build."""
        return max((order for _, order in self.needs), default=0)

    def apply(self, u: torch.Tensor, derivs: Mapping[tuple[int, int], torch.Tensor]) -> torch.Tensor:
        grid_shape = self.coords[0].shape
        if tuple(u.shape) == tuple(grid_shape) or u.ndim == 0:
            x = self.coords
        else:
            x = tuple(c.reshape(-1) for c in self.coords)
        return self.pde.apply_operator(u, derivs, x)

    def partials(self, u: torch.Tensor, derivs: Mapping[tuple[int, int], torch.Tensor]):
        """``(L, dL/du, {key: dL/dd_key})`` at flattened values: the operator is pointwise, so the
        gradient of ``sum L`` gives the per-node partials (zeros where ``L`` does not depend on one)."""
        with torch.enable_grad():
            u = u.detach().clone().requires_grad_(True)
            d = {k: v.detach().clone().requires_grad_(True) for k, v in derivs.items()}
            out = torch.as_tensor(self.apply(u, d), dtype=u.dtype, device=u.device).expand(u.shape)
            inputs = [u, *d.values()]
            grads = torch.autograd.grad(out.sum(), inputs, allow_unused=True) if out.requires_grad \
                else [None] * len(inputs)
        grads = [torch.zeros_like(u) if g is None else g for g in grads]
        return out.detach(), grads[0], dict(zip(d, grads[1:]))


def grid_operator(problem: PDE, axes: Sequence[torch.Tensor]) -> GridOperator:
    """The problem's operator on the tensor grid of the 1D node ``axes`` (float64 tensors)."""
    if not isinstance(problem, PDE):
        raise TypeError(f"GP-HM needs a pdeml.problems.PDE (an operator, forcing and Dirichlet data), got "
                        f"{type(problem).__name__}")
    coords = tuple(torch.meshgrid(*[a.to(torch.float64) for a in axes], indexing="ij"))
    return GridOperator(problem, coords)


# --------------------------------------------------------------------------- frequency content


def estimate_frequencies(problem: PDE, samples: int = 4096) -> list[float]:
    """Highest significant frequency per axis, in cycles per unit: from Hann-windowed FFTs of the
    forcing along interior lines and of the Dirichlet data (exact solution) along boundary lines.

    A frequency is significant when its amplitude is at least 1% of the line's peak.
    """
    domain = problem.domain
    dim = len(domain)
    out = []
    for axis, (lo, hi) in enumerate(domain):
        length = hi - lo
        t = np.linspace(lo, hi, samples)
        freqs = np.fft.rfftfreq(samples, d=length / (samples - 1))
        window = np.hanning(samples)
        lines = []
        others = [k for k in range(dim) if k != axis]
        for frac in (0.31, 0.57, 0.83):  # interior lines of the forcing
            coords = [t if k == axis else np.full(samples, domain[k][0] + frac * (domain[k][1] - domain[k][0]))
                      for k in range(dim)]
            lines.append(np.broadcast_to(problem.forcing(*coords), (samples,)))
        for end in (0, 1):  # boundary lines of the Dirichlet data
            if not others:
                break
            coords = [t if k == axis else np.full(samples, domain[k][end]) for k in range(dim)]
            lines.append(np.broadcast_to(problem.dirichlet(*coords), (samples,)))
        s_max = 0.0
        for line in lines:
            line = np.asarray(line, dtype=np.float64) - np.mean(line)
            if not np.all(np.isfinite(line)) or np.max(np.abs(line)) < 1e-12:
                continue
            amp = np.abs(np.fft.rfft(line * window))
            s_max = max(s_max, float(freqs[np.nonzero(amp >= 1e-2 * amp.max())[0].max()]))
        out.append(s_max)
    return out


__all__ = ["GridOperator", "estimate_frequencies", "grid_operator"]
