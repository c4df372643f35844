"""Reproducible comparisons: ``pdeml bench NAME --preset tiny|small|paper --out DIR``.

Each benchmark is a module with ``run(preset, device, progress, out) -> list of rows`` (it may
save figures in ``out``) and a ``PRESETS`` dict with at least the presets of
:data:`pdeml.bench.record.PRESETS` (a benchmark may add its own); ``run_benchmark`` writes the
record.
"""

from __future__ import annotations

import os
from typing import Any

from pdeml.bench.record import write_record
from pdeml.device import resolve_device
from pdeml.registry import Registry

BENCHMARKS: Registry = Registry("benchmark")
BENCHMARKS.register_lazy("trainer", "pdeml.bench.trainer",
                         "pdeml's training loop against neuraloperator's Trainer (same FNO, data)")
BENCHMARKS.register_lazy("operators", "pdeml.bench.operators",
                         "MgNO, LSM and FNO at equal budget on Darcy and Navier-Stokes (rollout)")
BENCHMARKS.register_lazy("solvers", "pdeml.bench.solvers",
                         "reference-solver throughput (Darcy FD, Navier-Stokes IMEX) and cost exponents")
BENCHMARKS.register_lazy("spectral-refiner", "pdeml.bench.spectral_refiner",
                         "SFNO + Spectral-Refiner on Navier-Stokes: error, H^-1 estimator, time against the solver")
BENCHMARKS.register_lazy("sfno-estimator", "pdeml.bench.sfno_estimator",
                         "does the Navier-Stokes a-posteriori estimator rank SFNO errors (checkpoints x windows)")
BENCHMARKS.register_lazy("aas", "pdeml.bench.aas",
                         "PINN samplers (uniform, RAR, RAD, AAS) on the peak problems, 3 seeds")
BENCHMARKS.register_lazy("gp", "pdeml.bench.gp",
                         "GP-HM on high-frequency/multiscale PDEs against a PINN and finite differences")
BENCHMARKS.register_lazy("dcdm", "pdeml.bench.dcdm",
                         "DCDM against CG, Jacobi-, IC- and AMG-PCG on 2D/3D pressure systems")


def run_benchmark(name: str, preset: str = "small", out: str | os.PathLike = "bench-out",
                  device: str = "auto", progress: bool | None = None,
                  command: str | None = None, workers: int = 1) -> dict[str, Any]:
    """Run benchmark ``name`` with ``preset`` and write ``out/name.json`` and ``out/name.md``;
    ``workers`` > 1 for a benchmark that runs independent jobs in parallel processes."""
    import inspect

    module = BENCHMARKS.get(name)
    if preset not in module.PRESETS:
        raise ValueError(f"unknown preset {preset!r} for benchmark {name!r}; known presets: "
                         f"{', '.join(module.PRESETS)}")
    options = {}
    if workers != 1:
        if "workers" not in inspect.signature(module.run).parameters:
            raise ValueError(f"benchmark {name!r} runs its jobs in one process; --workers does not apply")
        options["workers"] = int(workers)
    rows = module.run(preset=preset, device=device, progress=progress, out=str(out), **options)
    return write_record(out, name, preset, resolve_device(device), rows, command=command,
                        notes=(module.__doc__ or "").strip(), extra={"settings": module.PRESETS[preset]})


__all__ = ["BENCHMARKS", "run_benchmark"]
