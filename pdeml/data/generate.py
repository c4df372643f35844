"""Data-set generation: every sample from its own seeded stream, in parallel, written atomically."""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from pdeml import problems
from pdeml.data.formats import save_dataset


def _solve_chunk(args: tuple[str, dict, int, int, list[int]]) -> tuple[list[int], np.ndarray, np.ndarray]:
    name, params, seed, resolution, indices = args
    problem = problems.get(name, **params)
    pairs = [problem.sample(i, seed, resolution) for i in indices]
    return indices, np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs])


def generate_arrays(problem: str, n: int, resolution: int, seed: int = 0, workers: int = 1,
                    params: dict[str, Any] | None = None, progress: bool | None = None,
                    chunk: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """Samples ``0..n-1`` of ``problem`` at ``resolution``; the result does not depend on ``workers``."""
    params = dict(params or {})
    prob = problems.get(problem, **params)  # validates the name and parameters up front
    prob.check_resolution(resolution)
    if n < 1:
        raise ValueError(f"number of samples must be >= 1, got {n}")
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    x0, y0 = prob.sample(0, seed, resolution)
    xs = np.empty((n, *x0.shape), dtype=x0.dtype)
    ys = np.empty((n, *y0.shape), dtype=y0.dtype)
    xs[0], ys[0] = x0, y0
    jobs = [(problem, params, seed, resolution, list(range(s, min(s + chunk, n)))) for s in range(1, n, chunk)]
    disable = (not _is_tty()) if progress is None else not progress
    with tqdm(total=n, initial=1, desc=f"generate {problem} {resolution}", unit="sample", disable=disable) as bar:
        if workers == 1:
            results = map(_solve_chunk, jobs)
            _collect(results, xs, ys, bar)
        else:
            with ProcessPoolExecutor(max_workers=workers, mp_context=_mp_context()) as pool:
                _collect(pool.map(_solve_chunk, jobs), xs, ys, bar)
    return xs, ys


def _collect(results, xs: np.ndarray, ys: np.ndarray, bar) -> None:
    for idx, xb, yb in results:
        xs[idx[0]: idx[-1] + 1] = xb
        ys[idx[0]: idx[-1] + 1] = yb
        bar.update(len(idx))


def _mp_context():
    # fork needs no importable __main__ (works from notebooks and stdin); children only run SciPy
    import multiprocessing

    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    return get_context(method)


def _is_tty() -> bool:
    import sys

    return sys.stderr.isatty()


def generate(problem: str, n: int, resolution: int, out: str | os.PathLike, seed: int = 0,
             workers: int = 1, params: dict[str, Any] | None = None,
             progress: bool | None = None) -> Path:
    """Generate ``n`` samples and write them to the pdeml HDF5 file ``out``."""
    prob = problems.get(problem, **dict(params or {}))
    xs, ys = generate_arrays(problem, n, resolution, seed, workers, params, progress)
    return save_dataset(out, xs, ys, problem=problem, params=prob.params, resolution=int(resolution),
                        seed=int(seed), solver=prob.solver)


def cached_dataset(problem: str, n: int, resolution: int, seed: int = 0,
                   cache_dir: str | os.PathLike | None = None, workers: int = 1,
                   params: dict[str, Any] | None = None, progress: bool | None = None) -> Path:
    """Path of a generated data set in the cache, generating it on the first call."""
    cache = Path(cache_dir or os.environ.get("PDEML_DATA", "data/cache"))
    path = cache / f"{problem}_r{resolution}_n{n}_s{seed}.h5"
    if not path.exists():
        generate(problem, n, resolution, path, seed=seed, workers=workers, params=params, progress=progress)
    return path
