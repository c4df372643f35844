"""SFNO: the spatiotemporal Fourier neural operator of Cao, Brarda, Li and Xi (ICLR 2025).

Maps a window of vorticity ``(b, x, y, t_in)`` (or ``(b, 1, x, y, t_in)``) on a periodic grid to
the following window ``(b, x, y, t_out)`` for any ``t_out`` chosen at call time. Not the
spherical FNO of neuraloperator.

Layout:

* lifting: the vorticity plus a positional encoding (periodic ``x, y`` features and temporal
  sinusoids) goes through ``GroupNorm(1)`` (a per-sample layer norm in place of a data-set
  normalizer) and a 1x1 convolution to ``width`` channels; a space-time spectral convolution then
  resamples the time axis from ``t_in`` frames to ``latent_steps``;
* ``n_layers`` blocks ``v <- act(FFN(SpectralConv(v)) + Conv1x1(v))`` with 3D (x, y, t) spectral
  convolutions (``modes = (m_x, m_y, m_t)``);
* a 1x1 reduction to one channel, then the output operator :class:`OutputOperator`: a 1->1
  spectral convolution with a complex Fourier bias over the last input frame followed by the
  latent sequence (zero-padded in time), whose inverse Fourier series is evaluated at the
  requested output times and added to the last input frame (the network predicts increments).

Times: the input frames are one spacing apart and the ``out_steps`` output frames of training
continue at the same spacing, covering the horizon ``(0, H]`` after the last input frame. With
``t_out`` other than ``out_steps`` the same horizon is sampled at ``t_out`` equispaced points
(``t_out = 2 out_steps`` is a temporal super-resolution by two).

Spectral convolutions use ``norm="forward"`` FFTs, so their Fourier coefficients are amplitudes
and the trained weights apply unchanged on finer grids; they run in float32 under bf16 autocast
and in the input's dtype otherwise (float64 for refinement).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

ACTIVATIONS = {"gelu": nn.GELU, "relu": nn.ReLU, "silu": nn.SiLU, "tanh": nn.Tanh}


def _full_precision(x: Tensor) -> tuple[Tensor, bool]:
    """``x`` in float32 when autocast is on (FFTs of bf16 are not supported), and whether it was."""
    if torch.is_autocast_enabled(x.device.type):
        return x.float(), True
    return x, False


def corner_slices(modes_x: int, modes_y: int) -> list[tuple[slice, slice]]:
    """The four low-frequency corners ``(+-k_x, +-k_y)`` of an FFT-ordered (x, y) spectrum."""
    sx = [slice(0, modes_x), slice(-modes_x, None)]
    sy = [slice(0, modes_y), slice(-modes_y, None)]
    return [(a, b) for b in sy for a in sx]


class SpectralConv3d(nn.Module):
    """Space-time spectral convolution ``(b, c_in, x, y, t) -> (b, c_out, x, y, t_out)``.

    Keeps the modes ``|k_x| < m_x``, ``|k_y| < m_y``, ``0 <= k_t < m_t`` of the rFFT over
    ``(x, y, t)`` (four corner weight blocks), multiplies them by complex weights
    ``(c_in, c_out, m_x, m_y, m_t)`` and, with ``out_steps``, resamples time by evaluating the
    inverse transform on ``out_steps`` points (amplitudes kept, ``norm="forward"``).
    """

    def __init__(self, in_channels: int, out_channels: int, modes: Sequence[int], out_steps: int | None = None):
        super().__init__()
        modes = tuple(int(m) for m in modes)
        if len(modes) != 3 or min(modes) < 1:
            raise ValueError(f"modes must be three positive integers (m_x, m_y, m_t), got {modes}")
        self.in_channels, self.out_channels, self.modes, self.out_steps = in_channels, out_channels, modes, out_steps
        scale = 1.0 / (in_channels * out_channels)
        self.weight = nn.ParameterList(
            [nn.Parameter(scale * torch.rand(in_channels, out_channels, *modes, dtype=torch.cfloat)) for _ in range(4)])

    def check_input(self, x: Tensor, what: str = "input") -> None:
        mx, my, mt = self.modes
        *_, nx, ny, nt = x.shape
        if nx < 2 * mx or ny < 2 * my:
            raise ValueError(f"{what} grid {nx}x{ny} is smaller than the spectral modes need: modes "
                             f"({mx}, {my}) keep |k| < m on each axis, so the grid needs at least "
                             f"{2 * mx}x{2 * my} points")
        if nt // 2 + 1 < mt:
            raise ValueError(f"{what} has {nt} time points but {mt} temporal modes need at least "
                             f"{2 * (mt - 1)}")

    def mix(self, x_hat: Tensor) -> Tensor:
        """Multiply the kept modes of ``x_hat`` ``(b, c_in, x, y, t//2+1)`` by the weights."""
        mx, my, mt = self.modes
        out = torch.zeros(x_hat.shape[0], self.out_channels, *x_hat.shape[2:], dtype=x_hat.dtype,
                          device=x_hat.device)
        for (sx, sy), w in zip(corner_slices(mx, my), self.weight):
            out[..., sx, sy, :mt] = torch.einsum("bixyt,ioxyt->boxyt", x_hat[..., sx, sy, :mt], w.to(x_hat.dtype))
        return out

    def forward(self, x: Tensor, out_steps: int | None = None) -> Tensor:
        x, cast = _full_precision(x)
        with torch.autocast(x.device.type, enabled=False) if cast else contextlib.nullcontext():
            self.check_input(x)
            nx, ny, nt = x.shape[-3:]
            steps = out_steps or self.out_steps or nt
            x_hat = torch.fft.rfftn(x, dim=(-3, -2, -1), norm="forward")
            return torch.fft.irfftn(self.mix(x_hat), s=(nx, ny, steps), dim=(-3, -2, -1), norm="forward")


class FourierBiasConv(SpectralConv3d):
    """1->1 :class:`SpectralConv3d` plus a complex Fourier bias on the kept modes (``bias_scale * b``)."""

    def __init__(self, modes: Sequence[int], bias_scale: float = 0.1):
        super().__init__(1, 1, modes)
        self.bias_scale = float(bias_scale)
        self.bias = nn.ParameterList([nn.Parameter(torch.zeros(*self.modes, dtype=torch.cfloat)) for _ in range(4)])

    def mix(self, x_hat: Tensor) -> Tensor:
        out = super().mix(x_hat)
        mx, my, mt = self.modes
        for (sx, sy), b in zip(corner_slices(mx, my), self.bias):
            out[..., sx, sy, :mt] = out[..., sx, sy, :mt] + self.bias_scale * b.to(x_hat.dtype)
        return out


class OutputOperator(nn.Module):
    """Latent ``(b, 1, x, y, L)`` and last input frame ``(b, x, y, 1)`` -> ``(b, x, y, t_out)``.

    The sequence ``[last frame, latent]`` (``L + 1`` points over the horizon ``[0, H]``) is
    zero-padded to ``P = 2 (L + 1)`` points in time (so the Fourier series is not forced to be
    periodic over the window), transformed, passed through :attr:`conv` (a
    :class:`FourierBiasConv`) and its Fourier series is evaluated at the times
    ``k H / t_out``, ``k = 1..t_out``; the result is added to the last frame. ``conv`` is the
    layer the Spectral-Refiner replaces.
    """

    def __init__(self, modes: Sequence[int], latent_steps: int, bias_scale: float = 0.1):
        super().__init__()
        self.latent_steps = int(latent_steps)
        self.conv = FourierBiasConv(modes, bias_scale)

    @property
    def period(self) -> int:
        return 2 * (self.latent_steps + 1)

    def time_basis(self, t_out: int, n_modes: int, dtype: torch.dtype, device) -> Tensor:
        """``(n_modes, t_out)`` complex factors ``a_m exp(2 pi i m p_k / P)`` of the inverse real DFT."""
        P = self.period
        p = torch.arange(1, t_out + 1, dtype=torch.float64, device=device) * (self.latent_steps / t_out)
        m = torch.arange(n_modes, dtype=torch.float64, device=device)
        weight = torch.full((n_modes,), 2.0, dtype=torch.float64, device=device)
        weight[0] = 1.0
        if P % 2 == 0 and n_modes > P // 2:
            weight[P // 2] = 1.0  # the Nyquist term appears once in a real series
        phase = torch.polar(weight[:, None], 2 * math.pi * m[:, None] * p[None, :] / P)
        return phase.to(dtype)

    def time_derivative_basis(self, t_out: int, n_modes: int, dtype: torch.dtype, device) -> Tensor:
        """``d/dk`` of :meth:`time_basis` (``k`` the output frame index): ``(n_modes, t_out)``."""
        m = torch.arange(n_modes, dtype=torch.float64, device=device)
        rate = (2j * math.pi / self.period) * m[:, None] * (self.latent_steps / t_out)
        return (self.time_basis(t_out, n_modes, torch.complex128, device) * rate).to(dtype)

    def forward(self, v: Tensor, w_last: Tensor, t_out: int, derivative: bool = False) -> Tensor:
        """``(b, x, y, t_out)`` frames; with ``derivative`` their exact time derivative in the series'
        own representation, per frame spacing (divide by the spacing for time units)."""
        v, cast = _full_precision(v)
        with torch.autocast(v.device.type, enabled=False) if cast else contextlib.nullcontext():
            w_last = w_last.to(v.dtype)
            if v.shape[-1] != self.latent_steps:
                raise ValueError(f"output operator expects {self.latent_steps} latent steps, got {v.shape[-1]}")
            seq = torch.cat([w_last[:, None], v], dim=-1)
            seq = torch.nn.functional.pad(seq, (0, self.period - seq.shape[-1]))
            self.conv.check_input(seq, "output operator input")
            coef = self.conv.mix(torch.fft.rfftn(seq, dim=(-3, -2, -1), norm="forward"))[:, 0]
            mt = self.conv.modes[2]
            if derivative:
                basis = self.time_derivative_basis(t_out, mt, coef.dtype, coef.device)
            else:
                basis = self.time_basis(t_out, mt, coef.dtype, coef.device)
            spec = torch.einsum("bxym,mk->bkxy", coef[..., :mt], basis)  # (b, t_out, x, y)
            inc = torch.fft.ifft2(spec, norm="forward").real.permute(0, 2, 3, 1)
            return inc if derivative else w_last + inc


class SpaceTimeEncoding(nn.Module):
    """Positional features ``(1, 4 + n_time, x, y, t)``: ``sin/cos 2 pi x``, ``sin/cos 2 pi y`` and
    ``exp(beta tau) sin|cos(pi j tau)`` of the relative frame position ``tau in (0, 1]``."""

    def __init__(self, n_time: int = 8, beta: float = -0.01):
        super().__init__()
        self.n_time, self.beta = int(n_time), float(beta)

    @property
    def channels(self) -> int:
        return 4 + self.n_time

    def forward(self, nx: int, ny: int, nt: int, dtype: torch.dtype, device) -> Tensor:
        x = torch.arange(nx, dtype=torch.float64, device=device) / nx
        y = torch.arange(ny, dtype=torch.float64, device=device) / ny
        tau = torch.arange(1, nt + 1, dtype=torch.float64, device=device) / nt
        feats = [f(2 * math.pi * x)[:, None, None].expand(nx, ny, nt) for f in (torch.sin, torch.cos)]
        feats += [f(2 * math.pi * y)[None, :, None].expand(nx, ny, nt) for f in (torch.sin, torch.cos)]
        for j in range(self.n_time):
            basis = torch.sin if j % 2 == 0 else torch.cos
            feats.append((torch.exp(self.beta * tau) * basis(math.pi * (j // 2 + 1) * tau))
                         [None, None, :].expand(nx, ny, nt))
        return torch.stack(feats)[None].to(dtype)


class Pointwise(nn.Linear):
    """1x1 convolution over the channel axis 1 of ``(b, c, *grid)`` (a matrix product: on CPUs
    ``nn.Conv3d`` with a 1x1x1 kernel is many times slower)."""

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(x.movedim(1, -1)).movedim(-1, 1)


class PointwiseFFN(nn.Sequential):
    def __init__(self, width: int, hidden: int, activation: str):
        super().__init__(Pointwise(width, hidden), ACTIVATIONS[activation](), Pointwise(hidden, width))


class SFNO(nn.Module):
    """Spatiotemporal FNO; see the module docstring. ``forward(x, t_out=None)``."""

    def __init__(self, modes: Sequence[int] = (12, 12, 5), width: int = 20, n_layers: int = 4,
                 latent_steps: int = 10, out_steps: int = 10, channel_expansion: int = 4,
                 activation: str = "gelu", pe_time_channels: int = 8, beta: float = -0.01,
                 bias_scale: float = 0.1):
        super().__init__()
        modes = tuple(int(m) for m in modes)
        if len(modes) != 3 or min(modes) < 1:
            raise ValueError(f"modes must be three positive integers (m_x, m_y, m_t), got {modes}")
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}; known: {', '.join(ACTIVATIONS)}")
        if latent_steps < 2 * (modes[2] - 1) or latent_steps < 1:
            raise ValueError(f"latent_steps={latent_steps} cannot hold {modes[2]} temporal modes: need "
                             f">= {2 * (modes[2] - 1)}")
        if out_steps < 1 or n_layers < 1 or width < 1:
            raise ValueError(f"out_steps, n_layers and width must be >= 1, got {out_steps}, {n_layers}, {width}")
        self.modes, self.width, self.latent_steps, self.out_steps = modes, width, int(latent_steps), int(out_steps)
        self.activation = activation
        self.encoding = SpaceTimeEncoding(pe_time_channels, beta)
        self.norm = nn.GroupNorm(1, 1 + self.encoding.channels, eps=1e-6)
        self.lift = Pointwise(1 + self.encoding.channels, width)
        self.lift_conv = SpectralConv3d(width, width, modes, out_steps=latent_steps)
        self.lift_ffn = PointwiseFFN(width, channel_expansion * width, activation)
        self.convs = nn.ModuleList(SpectralConv3d(width, width, modes) for _ in range(n_layers))
        self.ffns = nn.ModuleList(PointwiseFFN(width, channel_expansion * width, activation) for _ in range(n_layers))
        self.skips = nn.ModuleList(Pointwise(width, width) for _ in range(n_layers))
        self.act = ACTIVATIONS[activation]()
        self.reduction = Pointwise(width, 1)
        self.output_operator = OutputOperator(modes, latent_steps, bias_scale)

    @property
    def min_input_steps(self) -> int:
        """Fewest input frames the temporal modes need."""
        return max(1, 2 * (self.modes[2] - 1))

    def _window(self, x: Tensor) -> tuple[Tensor, bool]:
        if x.ndim == 5:
            if x.shape[1] != 1:
                raise ValueError(f"SFNO takes one vorticity channel: (b, x, y, t) or (b, 1, x, y, t), got shape "
                                 f"{tuple(x.shape)}")
            return x[:, 0], True
        if x.ndim != 4:
            raise ValueError(f"SFNO expects a vorticity window (b, x, y, t_in) or (b, 1, x, y, t_in), got a "
                             f"rank-{x.ndim} tensor of shape {tuple(x.shape)}")
        return x, False

    def check_input(self, w: Tensor) -> None:
        b, nx, ny, nt = w.shape
        mx, my, _ = self.modes
        if nt < self.min_input_steps:
            raise ValueError(f"the input window has {nt} frames but the SFNO's {self.modes[2]} temporal modes need "
                             f"at least t_in = {self.min_input_steps}")
        if nx < 2 * mx or ny < 2 * my:
            raise ValueError(f"the grid {nx}x{ny} is smaller than the modes ({mx}, {my}) need: at least "
                             f"{2 * mx}x{2 * my} points")

    def latent(self, x: Tensor) -> tuple[Tensor, Tensor, bool]:
        """The output operator's input: latent ``(b, 1, x, y, L)``, last frame ``(b, x, y, 1)``, channel flag."""
        w, channel = self._window(x)
        self.check_input(w)
        nx, ny, nt = w.shape[1:]
        pe = self.encoding(nx, ny, nt, w.dtype, w.device).expand(w.shape[0], -1, -1, -1, -1)
        v = self.lift(self.norm(torch.cat([w[:, None], pe], dim=1)))
        v = self.act(self.lift_ffn(self.lift_conv(v)) + v[..., -1:])
        for conv, ffn, skip in zip(self.convs, self.ffns, self.skips):
            v = self.act(ffn(conv(v)) + skip(v))
        return self.reduction(v), w[..., -1:], channel

    def forward(self, x: Tensor, t_out: int | None = None) -> Tensor:
        """``(b, x, y, t_in)`` -> ``(b, x, y, t_out)`` (with a channel axis in, one out)."""
        t_out = self.out_steps if t_out is None else int(t_out)
        if t_out < 1:
            raise ValueError(f"t_out must be >= 1, got {t_out}")
        v, w_last, channel = self.latent(x)
        out = self.output_operator(v, w_last, t_out)
        return out[:, None] if channel else out


    def time_derivative(self, x: Tensor, t_out: int | None = None) -> Tensor:
        """Exact ``d/dt`` of :meth:`forward`'s Fourier-in-time series at its output frames, in units of
        the output frame spacing: ``(b, x, y, t_out)`` (divide by the spacing for time units)."""
        t_out = self.out_steps if t_out is None else int(t_out)
        v, w_last, channel = self.latent(x)
        out = self.output_operator(v, w_last, t_out, derivative=True)
        return out[:, None] if channel else out


def build_sfno(modes: Sequence[int] = (12, 12, 5), width: int = 20, n_layers: int = 4, latent_steps: int = 10,
               out_steps: int = 10, channel_expansion: int = 4, activation: str = "gelu",
               pe_time_channels: int = 8, beta: float = -0.01, bias_scale: float = 0.1,
               in_channels: int | None = None, out_channels: int | None = None) -> SFNO:
    """An :class:`SFNO`. ``in_channels``/``out_channels`` are accepted for the run machinery and
    must be 1 (one vorticity channel)."""
    for name, value in (("in_channels", in_channels), ("out_channels", out_channels)):
        if value not in (None, 1):
            raise ValueError(f"SFNO maps one vorticity channel to one; got {name}={value}")
    return SFNO(modes, width, n_layers, latent_steps, out_steps, channel_expansion, activation,
                pe_time_channels, beta, bias_scale)


__all__ = ["SFNO", "FourierBiasConv", "OutputOperator", "SpaceTimeEncoding", "SpectralConv3d", "build_sfno",
           "corner_slices"]
