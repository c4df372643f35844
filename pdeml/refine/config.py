"""The options of a Spectral-Refiner run: one validated dataclass (``[refine]`` in TOML, ``--set refine.key=value``)."""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any

from pdeml.config import Config, ConfigError, check_choice, check_positive
from pdeml.refine.residual import ALPHA, STENCILS

METHODS = ("adam", "lbfgs")


@dataclass
class RefineConfig(Config):
    """How :class:`~pdeml.refine.SpectralRefiner` fine-tunes; the problem (``nu``, ``dt``, forcing) is not here.

    ``modes``: ``(m_x, m_y, m_t)`` of the new layer (clamped to what the grid holds) or None for
    every mode; ``method``: ``"adam"`` (the paper's loop: ``steps`` Adam iterations on weights and
    bias with learning rates ``lr_bias`` and ``lr_weight``) or ``"lbfgs"`` (at most ``steps``
    L-BFGS iterations with a strong-Wolfe line search on the bias alone, ``history_size`` pairs);
    ``rtol``: stop once every sample's estimator is below ``rtol`` times its start (0: run all
    ``steps``); ``bias_scale``: the Fourier bias enters as ``bias_scale * b`` (None: ``1 / (n_x
    n_y)``); ``s``: Sobolev index of the loss's spatial norm (-1: ``H^-1``, 0: ``L2``);
    ``order``/``step``/``alpha``: estimator settings (see :func:`pdeml.refine.ns_residual`);
    ``anchor``: known input frames in the loss window (None: ``order // 2``); ``batch_size``:
    samples refined together (independent layers); ``device``: None runs where the model is.
    """

    section = "refine"

    modes: tuple[int, int, int] | None = (64, 64, 6)
    steps: int = 50
    method: str = "adam"
    lr_bias: float = 2e-1
    lr_weight: float = 1e-4
    rtol: float = 0.0
    history_size: int = 20
    bias_scale: float | None = None
    s: float = -1.0
    order: int = 4
    step: float = 0.0
    alpha: float = ALPHA
    anchor: int | None = None
    batch_size: int = 4
    device: Any = None

    def validate(self) -> None:
        check_choice("refine.method", self.method, METHODS)
        if not (isinstance(self.rtol, (int, float)) and math.isfinite(self.rtol) and 0 <= self.rtol < 1):
            raise ConfigError(f"refine.rtol must be a number in [0, 1), got {self.rtol!r}")
        check_positive("refine.steps", self.steps, int, allow_zero=True)
        check_choice("refine.order", self.order, sorted(STENCILS))
        if self.modes is not None:
            if (not isinstance(self.modes, (list, tuple)) or len(self.modes) != 3
                    or not all(isinstance(m, numbers.Integral) and not isinstance(m, bool) and m >= 1 for m in self.modes)):
                raise ConfigError(f"refine.modes must be three positive integers or None, got {self.modes!r}")
            self.modes = tuple(int(m) for m in self.modes)
        if self.anchor is not None and not (isinstance(self.anchor, numbers.Integral) and self.order // 2 <= self.anchor <= self.order):
            raise ConfigError(f"refine.anchor must be between {self.order // 2} and {self.order} known frames for "
                              f"order {self.order}, got {self.anchor!r}")
        check_positive("refine.lr_bias", self.lr_bias)
        check_positive("refine.lr_weight", self.lr_weight)
        check_positive("refine.history_size", self.history_size, int)
        check_positive("refine.batch_size", self.batch_size, int)
        if self.bias_scale is not None:
            check_positive("refine.bias_scale", self.bias_scale)
        check_positive("refine.alpha", self.alpha)
        for key in ("s", "step"):
            if not (isinstance(getattr(self, key), (int, float)) and math.isfinite(getattr(self, key))):
                raise ConfigError(f"refine.{key} must be a finite number, got {getattr(self, key)!r}")


__all__ = ["METHODS", "RefineConfig"]
