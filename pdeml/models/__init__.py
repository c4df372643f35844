"""Neural operators, built by name: ``pdeml.models.build("fno", n_modes=(12, 12))``."""

from __future__ import annotations

from typing import Any

from torch import nn

from pdeml.config import ConfigError, check_arguments
from pdeml.models.fno import build_fno
from pdeml.models.operator import NormalizedOperator
from pdeml.registry import Registry

MODELS: Registry = Registry("model")
MODELS.register("fno", doc="Fourier neural operator of the neuraloperator package (baseline)")(build_fno)
# -- operators --
MODELS.register_lazy("mgno", "pdeml.models.mgno:build_mgno",
                     "multigrid neural operator (He, Liu, Xu, ICLR 2024); preset='darcy' for the paper's model")
MODELS.register_lazy("lsm", "pdeml.models.lsm:build_lsm",
                     "latent spectral model (Wu et al., ICML 2023); preset='darcy' for the authors' settings")
MODELS.register_lazy("sfno", "pdeml.models.sfno:build_sfno",
                     "spatiotemporal FNO for vorticity windows (Cao et al., ICLR 2025); not the spherical FNO")


def build(name: str, **config: Any) -> nn.Module:
    """Build the model registered as ``name`` from its constructor arguments."""
    factory = MODELS.get(name)
    try:
        check_arguments(factory, config, "options")
        return factory(**config)
    except ConfigError as err:
        raise ConfigError(f"bad configuration for model {name!r}: {err}") from None


def resolve_preset(name: str, config: dict[str, Any]) -> dict[str, Any]:
    """``config`` with its ``preset`` replaced by the constructor arguments it stands for.

    A run stores the result, so a later edit of a preset table never changes what an old run
    rebuilds. Builders with presets expose ``builder.arguments(preset=None, **config)``.
    """
    cfg = dict(config)
    preset = cfg.pop("preset", None)
    if preset is None:
        return cfg
    arguments = getattr(MODELS.get(name), "arguments", None)
    if arguments is None:
        raise ValueError(f"model {name!r} has no presets, got preset={preset!r}")
    return arguments(preset, **cfg)


def names() -> list[str]:
    return MODELS.names()


def count_parameters(model: nn.Module) -> int:
    """Number of real trainable parameters (a complex weight counts twice)."""
    return sum(p.numel() * (2 if p.is_complex() else 1) for p in model.parameters() if p.requires_grad)


__all__ = ["MODELS", "NormalizedOperator", "build", "count_parameters", "names", "resolve_preset"]
