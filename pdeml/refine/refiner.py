"""Spectral-Refiner: per-sample fine-tuning of a trained SFNO's output layer against the
Navier–Stokes residual in ``L2(0, T; H^-1)`` (Cao, Brarda, Li, Xi, ICLR 2025).

The trained network is frozen and run once; the input of its output operator (latent sequence and
last input frame) is cached. Its 1->1 spectral convolution is replaced by a wider one (modes
``(64, 64, 6)`` or untruncated), initialised with the trained weights and Fourier bias in the
low-frequency corner and zeros elsewhere, and only that layer is optimised, one independent copy
per sample, in float64, by Adam with two parameter groups (bias, weights). The loss is the
estimator of :mod:`pdeml.refine.residual` on the window ``[last input frames, prediction]``, so
the known input frames anchor the refined trajectory; no data enter.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from pdeml.losses import relative_l2
from pdeml.models.sfno import SFNO, corner_slices
from pdeml.refine.config import RefineConfig
from pdeml.refine.residual import forcing_on_grid, ns_residual, residual_norm


@dataclass
class RefineResult:
    """What :meth:`SpectralRefiner.refine` returns (CPU tensors, float64)."""

    prediction: Tensor  #: (b, n, n, t_out) refined vorticity
    initial: Tensor  #: (b, n, n, t_out) the SFNO's own prediction
    history: Tensor  #: (b, steps + 1) estimator before each step and after the last
    error_history: Tensor | None = None  #: (b, steps + 1) relative L2 error, when a target was given
    seconds: float = 0.0  #: wall time of the refinement (all batches, without the SFNO pass)
    info: dict = field(default_factory=dict)

    @property
    def initial_estimate(self) -> Tensor:
        return self.history[:, 0]

    @property
    def final_estimate(self) -> Tensor:
        return self.history[:, -1]


def _unwrap(model: nn.Module) -> SFNO:
    """The SFNO inside ``model`` (itself, or the ``.net`` of a run's operator wrapper without normalizers)."""
    if isinstance(model, SFNO):
        return model
    net = getattr(model, "net", None)
    if isinstance(net, SFNO) and getattr(model, "normalize", "none") == "none":
        return net
    raise TypeError(f"SpectralRefiner needs a trained SFNO (pdeml.models.build('sfno')), got {type(model).__name__}")


class SpectralRefiner:
    """Fine-tune the output layer of a trained SFNO per sample against the H^-1 residual.

    ``nu``: viscosity; ``dt``: spacing of the model's frames (time units); ``forcing``: ``f(X, Y)``
    callable, ``(n, n)`` tensor or None; ``L``: side of the periodic box. How it refines is a
    :class:`~pdeml.refine.RefineConfig`: pass ``config=`` and/or its fields as keywords
    (``steps=100, method="lbfgs"``); unknown keywords raise a ``ConfigError`` listing the known ones.
    """

    def __init__(self, model: nn.Module, *, nu: float, dt: float, forcing: Tensor | Callable | None = None,
                 L: float = 1.0, config: RefineConfig | None = None, **options: Any):
        self.model = _unwrap(model)
        base = config or RefineConfig()
        self.config = cfg = base.replace(**options) if options else base
        if not (math.isfinite(nu) and nu > 0) or not (math.isfinite(dt) and dt > 0):
            raise ValueError(f"nu and dt must be finite numbers > 0, got nu={nu!r}, dt={dt!r}")
        self.nu, self.dt, self.forcing, self.L = float(nu), float(dt), forcing, float(L)
        self.method, self.rtol, self.history_size, self.s = cfg.method, float(cfg.rtol), int(cfg.history_size), float(cfg.s)
        self.order = cfg.order
        self.anchor = cfg.order // 2 if cfg.anchor is None else int(cfg.anchor)
        self.modes = cfg.modes
        self.steps, self.lr_bias, self.lr_weight = int(cfg.steps), float(cfg.lr_bias), float(cfg.lr_weight)
        self.bias_scale, self.step, self.alpha = cfg.bias_scale, float(cfg.step), float(cfg.alpha)
        self.device = cfg.device  # the SFNO itself is never optimised: it runs once under no_grad

    # -- the frozen network ------------------------------------------------------------------
    @torch.no_grad()
    def cache(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Latent ``(b, 1, n, n, L)`` and last frame ``(b, n, n, 1)`` of the frozen SFNO, float64."""
        self.model.eval()
        v, w_last, _ = self.model.latent(x)
        return v.double(), w_last.double()

    def layer_modes(self, n: int) -> tuple[int, int, int]:
        period = self.model.output_operator.period
        full = (n // 2, n // 2, period // 2 + 1)
        if self.modes is None:
            return full
        return tuple(min(m, f) for m, f in zip(self.modes, full))

    def _init_layer(self, b: int, modes: tuple[int, int, int], device) -> tuple[list[Tensor], list[Tensor]]:
        """Per-sample weights and biases ``(b, M_x, M_y, M_t)`` x 4 corners, trained values in the corner."""
        old = self.model.output_operator.conv
        mx, my, mt = old.modes
        Mx, My, Mt = modes
        if Mx < mx or My < my or Mt < mt:
            raise ValueError(f"the refined layer's modes {modes} must contain the trained modes {old.modes}")
        weights, biases = [], []
        # the trained corner blocks sit at the low-|k| end of each new block: [0, m) on the positive
        # side, the last m entries on the negative side
        for c, (w_old, b_old) in enumerate(zip(old.weight, old.bias)):  # corners in corner_slices order
            ax = slice(0, mx) if c % 2 == 0 else slice(Mx - mx, Mx)
            ay = slice(0, my) if c // 2 == 0 else slice(My - my, My)
            w = torch.zeros(b, Mx, My, Mt, dtype=torch.complex128, device=device)
            bias = torch.zeros_like(w)
            w[:, ax, ay, :mt] = w_old.detach()[0, 0].to(device, torch.complex128)
            bias[:, ax, ay, :mt] = (old.bias_scale * b_old.detach()).to(device, torch.complex128)
            weights.append(w.requires_grad_(True))
            biases.append(bias)
        return weights, biases

    # -- the refined output ------------------------------------------------------------------
    def _output(self, seq_hat: list[Tensor], w_last: Tensor, weights: list[Tensor], biases: list[Tensor],
                basis: Tensor, n: int, modes: tuple[int, int, int]) -> Tensor:
        Mx, My, Mt = modes
        coef = torch.zeros(w_last.shape[0], n, n, Mt, dtype=torch.complex128, device=w_last.device)
        for (sx, sy), s, w, b in zip(corner_slices(Mx, My), seq_hat, weights, biases):
            coef[:, sx, sy] = coef[:, sx, sy] + w * s + b
        spec = torch.einsum("bxym,mk->bkxy", coef, basis)
        return w_last + torch.fft.ifft2(spec, norm="forward").real.permute(0, 2, 3, 1)

    def estimate(self, window: Tensor) -> Tensor:
        """Estimator per sample of a window ``(b, n, n, T)`` (frames ``dt`` apart), shape ``(b,)``."""
        R = ns_residual(window, self.dt, self.nu, self._forcing(window.shape[1], window.device), L=self.L,
                        order=self.order, step=self.step)
        return residual_norm(R, self.dt, L=self.L, s=self.s, alpha=self.alpha)

    def _forcing(self, n: int, device) -> Tensor | None:
        key = (n, str(device))
        if getattr(self, "_forcing_key", None) != key:
            self._forcing_cache = forcing_on_grid(self.forcing, n, self.L, device=device)
            self._forcing_key = key
        return self._forcing_cache

    def refine(self, x: Tensor, t_out: int | None = None, *, target: Tensor | None = None,
               batch_size: int | None = None, progress: bool | None = None) -> RefineResult:
        """Refine the SFNO's prediction for inputs ``x`` ``(b, n, n, t_in)`` (or ``(b, 1, n, n, t_in)``).

        ``t_out`` defaults to the model's ``out_steps``; frames are ``dt`` apart. ``target``
        ``(b, n, n, t_out)`` (optional) records the relative L2 error at every step; ``batch_size``
        defaults to the configuration's.
        """
        from tqdm.auto import tqdm

        batch_size = self.config.batch_size if batch_size is None else batch_size

        t_out = self.model.out_steps if t_out is None else int(t_out)
        if x.ndim == 5:
            x = x[:, 0]
        if x.ndim != 4:
            raise ValueError(f"expected inputs (b, n, n, t_in) or (b, 1, n, n, t_in), got shape {tuple(x.shape)}")
        p = self.order // 2
        if x.shape[-1] < self.anchor:
            raise ValueError(f"the loss needs the last {self.anchor} input frames, the inputs have {x.shape[-1]}")
        if t_out < p + 1:
            raise ValueError(f"t_out={t_out} leaves no refined frame at the centre of an order-{self.order} stencil")
        if target is not None:
            if target.ndim == 5:
                target = target[:, 0]
            if target.shape != (*x.shape[:3], t_out):
                raise ValueError(f"target shape {tuple(target.shape)} does not match {(*x.shape[:3], t_out)}")
        model_device = next(self.model.parameters()).device
        device = torch.device(self.device) if self.device is not None else model_device
        show = sys.stderr.isatty() if progress is None else bool(progress)
        preds, inits, hists, errs, seconds = [], [], [], [], 0.0
        bar = tqdm(total=x.shape[0] * self.steps, desc="refine", unit="step", disable=not show)
        for start in range(0, x.shape[0], batch_size):
            xb = x[start:start + batch_size]
            tb = None if target is None else target[start:start + batch_size].to(device, torch.float64)
            out = self._refine_batch(xb.to(model_device), t_out, tb, device, bar)
            preds.append(out[0])
            inits.append(out[1])
            hists.append(out[2])
            errs.append(out[3])
            seconds += out[4]
        bar.close()
        n = x.shape[1]
        return RefineResult(torch.cat(preds), torch.cat(inits), _cat_columns(hists),
                            None if target is None else _cat_columns(errs), seconds,
                            {"modes": self.layer_modes(n), "steps": self.steps, "lr_bias": self.lr_bias,
                             "lr_weight": self.lr_weight, "bias_scale": self._bias_scale(n), "method": self.method,
                             "rtol": self.rtol, "s": self.s})

    def _bias_scale(self, n: int) -> float:
        return 1.0 / (n * n) if self.bias_scale is None else float(self.bias_scale)

    def _refine_batch(self, x: Tensor, t_out: int, target: Tensor | None, device, bar):
        v, w_last = self.cache(x)
        v, w_last = v.to(device), w_last.to(device)
        frames = x[..., -self.anchor:].to(device, torch.float64)
        op = self.model.output_operator
        n = v.shape[-2]
        modes = self.layer_modes(n)
        start = time.perf_counter()
        seq = torch.cat([w_last[:, None], v], dim=-1)
        seq = torch.nn.functional.pad(seq, (0, op.period - seq.shape[-1]))
        seq_full = torch.fft.rfftn(seq, dim=(-3, -2, -1), norm="forward")[:, 0]
        seq_hat = [seq_full[:, sx, sy, :modes[2]] for sx, sy in corner_slices(modes[0], modes[1])]
        basis = op.time_basis(t_out, modes[2], torch.complex128, device)
        weights, bias0 = self._init_layer(v.shape[0], modes, device)
        scale = self._bias_scale(n)
        # the bias is optimised in units of ``scale``; its trained part enters as the starting value
        biases = [(b / scale).clone().requires_grad_(True) for b in bias0]
        # Adam moves every coordinate by about its learning rate, however little it matters; an eps
        # above round-off keeps the coefficients whose gradient is numerical noise where they are
        # (and the result independent of how samples are batched)
        optimizer = torch.optim.Adam([{"params": biases, "lr": self.lr_bias},
                                      {"params": weights, "lr": self.lr_weight}], eps=1e-10)

        def forward() -> Tensor:
            return self._output(seq_hat, w_last, weights, [scale * b for b in biases], basis, n, modes)

        def loss_of(pred: Tensor) -> Tensor:
            return self.estimate(torch.cat([frames, pred], dim=-1))

        with torch.no_grad():
            initial = forward()
            # each sample's loss is its estimator relative to the start: scale-free gradients
            scale0 = loss_of(initial).clamp_min(1e-300)
        history, errors = [], []
        if self.method == "lbfgs":
            # optimise a diagonally rescaled shift of the bias: bias = start + D(k) c with
            # D(k)^-2 ~ the loss's curvature in a mode of wavenumber k, (alpha + |k|^2)^s (1/dt^2 + U^2 |k|^2),
            # U the largest speed of the last frame (time derivative and transport dominate the residual)
            start_b = [b.detach() for b in biases]
            precond = self._preconditioner(w_last, n, modes)
            shifts = [torch.zeros_like(b, requires_grad=True) for b in start_b]
            fixed = [w.detach() for w in weights]  # no gradient work for the weights

            def shifted() -> Tensor:
                bias = [scale * (b + d * c) for b, d, c in zip(start_b, precond, shifts)]
                return self._output(seq_hat, w_last, fixed, bias, basis, n, modes)

            return self._lbfgs(shifted, loss_of, shifts, initial, scale0, target, device, bar, start)
        for _ in range(self.steps):
            if self.rtol and history and bool(torch.all(history[-1] <= self.rtol * scale0)):
                break
            optimizer.zero_grad(set_to_none=True)
            pred = forward()
            est = loss_of(pred)
            history.append(est.detach())
            if target is not None:
                errors.append(relative_l2(pred.detach(), target, reduction="none"))
            (est / scale0).sum().backward()  # samples are independent: the sum keeps their gradients apart
            optimizer.step()
            bar.update(v.shape[0])
        with torch.no_grad():
            final = forward()
            history.append(loss_of(final))
            if target is not None:
                errors.append(relative_l2(final, target, reduction="none"))
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        seconds = time.perf_counter() - start
        hist = torch.stack(history, dim=1).cpu()
        err = torch.stack(errors, dim=1).cpu() if target is not None else None
        return final.cpu(), initial.cpu(), hist, err, seconds

    def _preconditioner(self, w_last: Tensor, n: int, modes: tuple[int, int, int]) -> list[Tensor]:
        """Per-corner scaling ``(b, M_x, M_y, 1)`` of the bias shift, largest entry 1 per sample."""
        from pdeml.solvers.spectral import velocity_from_vorticity

        u, v = velocity_from_vorticity(w_last[..., 0], L=self.L)
        speed = torch.sqrt(u**2 + v**2).amax(dim=(-2, -1))[:, None, None, None]  # (b, 1, 1, 1)
        k = torch.fft.fftfreq(n, d=self.L / n, dtype=torch.float64, device=w_last.device) * 2 * math.pi
        out = []
        for sx, sy in corner_slices(modes[0], modes[1]):
            ksq = (k[sx][:, None] ** 2 + k[sy][None, :] ** 2)[None, :, :, None]
            curvature = (self.alpha + ksq) ** self.s * (1 / self.dt**2 + speed**2 * ksq + (self.nu * ksq) ** 2)
            out.append(curvature.rsqrt())
        top = torch.stack([d.amax(dim=(1, 2, 3)) for d in out]).amax(dim=0)[:, None, None, None]
        return [d / top for d in out]

    def _lbfgs(self, forward, loss_of, biases, initial, scale0, target, device, bar, start):
        """L-BFGS on the bias: the loss is the sum over samples of ``(estimator / its start)^2``; the
        history holds the estimator after each iteration (its line search may evaluate more often)."""
        optimizer = torch.optim.LBFGS(biases, lr=1.0, max_iter=1, max_eval=25, history_size=self.history_size,
                                      tolerance_grad=0.0, tolerance_change=0.0, line_search_fn="strong_wolfe")

        def closure() -> Tensor:
            optimizer.zero_grad(set_to_none=True)
            loss = ((loss_of(forward()) / scale0) ** 2).sum()
            loss.backward()
            return loss

        history, errors = [scale0.clone()], []
        if target is not None:
            errors.append(relative_l2(initial, target, reduction="none"))
        for _ in range(self.steps):
            if self.rtol and bool(torch.all(history[-1] <= self.rtol * scale0)):
                break
            optimizer.step(closure)
            with torch.no_grad():
                pred = forward()
                history.append(loss_of(pred))
                if target is not None:
                    errors.append(relative_l2(pred, target, reduction="none"))
            bar.update(initial.shape[0])
            if len(history) > 2 and bool(torch.all(history[-1] >= history[-2])):
                break  # no progress left at this precision
        with torch.no_grad():
            final = forward()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        seconds = time.perf_counter() - start
        err = torch.stack(errors, dim=1).cpu() if target is not None else None
        return final.cpu(), initial.cpu(), torch.stack(history, dim=1).cpu(), err, seconds


def _cat_columns(parts: list[Tensor]) -> Tensor:
    """Stack per-batch histories ``(b_i, steps_i)`` that stopped early, repeating each one's last value."""
    width = max(p.shape[1] for p in parts)
    return torch.cat([torch.cat([p, p[:, -1:].expand(-1, width - p.shape[1])], dim=1) for p in parts])


__all__ = ["RefineResult", "SpectralRefiner"]
