"""GP-HM's options: one validated dataclass, the defaults in one place."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pdeml.config import Config, ConfigError, check_choice, check_positive

OPTIMIZERS = ("adam", "lbfgs")
PRECONDITIONERS = ("auto", "diagonal", "kronecker")


def default_points(dim: int) -> int:
    """Points per dimension when none are given: the paper's 400 in 1D, 256 per axis in 2D, 64 in 3D."""
    return {1: 400, 2: 256}.get(dim, 64)


@dataclass
class GPConfig(Config):
    """Options of :class:`~pdeml.gp.solver.GPSolver` (see its docstring for what each one does).

    ``points_per_dim`` None: :func:`default_points`. ``steps`` / ``profile_steps`` None: chosen
    from the operator's structure (300 profile steps where a profile applies, else 2000 Adam
    steps).
    """

    section = "gp"

    points_per_dim: int | list[int] | None = None
    kernel: str = "student-t"
    components: int = 30
    freq_scale: float | list[float] | None = None
    lr: float = 1e-2
    steps: int | None = None
    optimizer: str = "adam"
    lbfgs_steps: int = 0
    profile_steps: int | None = None
    profile_lr: float = 0.05
    profile_noise: float = 1e-4
    final_noise: float = 1e-10
    profile_cg: int = 120
    profile_preconditioner: str = "auto"
    polish_cg: int = 10000
    boundary_weight: float = 200.0
    jitter: float | None = None
    polish_jitter: float | None = None
    lengthscale_init: float = 1.0
    smooth_weight: float = 1e-2
    smooth_length: float = 0.5
    eval_points: int | list[int] | None = None
    track_every: int | None = None
    device: str = "auto"
    seed: int = 0
    progress: bool | None = None
    run_dir: Any = None

    def validate(self) -> None:
        from pdeml.gp.kernels import FAMILIES

        self.optimizer = str(self.optimizer).lower()
        check_choice("gp.optimizer", self.optimizer, OPTIMIZERS)
        check_choice("gp.kernel", self.kernel, tuple(FAMILIES))
        check_choice("gp.profile_preconditioner", self.profile_preconditioner, PRECONDITIONERS)
        check_positive("gp.components", self.components, int)
        for name in ("steps", "lbfgs_steps", "profile_steps"):
            if getattr(self, name) is not None:
                check_positive(f"gp.{name}", getattr(self, name), int, allow_zero=True)
        for name in ("profile_cg", "polish_cg"):
            check_positive(f"gp.{name}", getattr(self, name), int)
        for name in ("lr", "profile_lr", "boundary_weight", "profile_noise", "final_noise", "lengthscale_init"):
            check_positive(f"gp.{name}", getattr(self, name))
        for name in ("jitter", "polish_jitter"):
            if getattr(self, name) is not None:
                check_positive(f"gp.{name}", getattr(self, name), allow_zero=True)
        check_positive("gp.smooth_weight", self.smooth_weight, allow_zero=True)
        check_positive("gp.smooth_length", self.smooth_length)
        if self.final_noise > self.profile_noise:
            raise ConfigError(f"need gp.final_noise <= gp.profile_noise, got final_noise={self.final_noise!r}, "
                              f"profile_noise={self.profile_noise!r}")
        if self.track_every is not None:
            check_positive("gp.track_every", self.track_every, int)


__all__ = ["GPConfig", "OPTIMIZERS", "PRECONDITIONERS", "default_points"]
