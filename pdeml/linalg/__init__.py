"""Deep conjugate-direction method (DCDM), flexible CG and a learned-preconditioner plugin.

``dcdm_solve(A, b, model=net)`` and ``fcg(A, b, M=M)`` return ``(x, info)`` like
``scipy.sparse.linalg.cg``; ``coarse=`` adds the algebraic coarse correction of ``CoarseSpace``
as a second direction. ``MultigridPreconditioner(A, grid=..., smoother=...)`` is a symmetric
V-cycle with learned smoothers for plain ``scipy.sparse.linalg.cg``; ``DeepPreconditioner``
wraps a DCDM network as ``M=``. ``train_dcdm``, ``train_multigrid`` and
``pdeml train-preconditioner`` train them. Names are imported on first use, so ``pdeml`` starts without loading torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "DCDMNet": "network",
    "ResidualBlock": "network",
    "dcdm_solve": "krylov",
    "fcg": "krylov",
    "SolveInfo": "krylov",
    "NonPositiveCurvatureError": "krylov",
    "NonFiniteError": "krylov",
    "DeepPreconditioner": "preconditioner",
    "FluidGrid": "preconditioner",
    "lanczos": "ritz",
    "ritz_vectors": "ritz",
    "ritz_rhs": "ritz",
    "dcdm_loss": "training",
    "dcdm_objective": "training",
    "divergence_rhs": "training",
    "train_dcdm": "training",
    "load_preconditioner": "training",
    "RitzBatches": "training",
    "CoarseSpace": "coarse",
    "constant_null_space": "coarse",
    "MultigridPreconditioner": "multigrid",
    "SmootherNet": "multigrid",
    "train_multigrid": "multigrid",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f"pdeml.linalg.{_EXPORTS[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'pdeml.linalg' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
