"""Data-set generation: every sample from its own seeded stream, in parallel, written atomically."""

from __future__ import annotations

import hashlib
import json
import os
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from pdeml import problems
from pdeml.data.formats import save_dataset


def _sample(problem, index: int, seed: int, resolution: int) -> tuple[np.ndarray, np.ndarray]:
    try:
        x, y = problem.sample(index, seed, resolution)
    except FloatingPointError as err:
        raise FloatingPointError(f"{problem.name} sample {index} (seed {seed}): {err}") from err
    for name, arr in (("input", x), ("solution", y)):
        if not np.all(np.isfinite(arr)):
            raise FloatingPointError(f"{problem.name} sample {index} (seed {seed}): the {name} contains NaN or Inf")
    return x, y


def _one_blas_thread():
    """One BLAS thread per solve: a reference solve works on small vectors, where threads cost
    more than they give, and parallelism comes from the worker processes instead."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # optional: only a speed matter
        import contextlib

        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def _solve_chunk(args: tuple[str, dict, int, int, list[int]]) -> tuple[list[int], np.ndarray, np.ndarray]:
    name, params, seed, resolution, indices = args
    problem = problems.get(name, **params)
    with _one_blas_thread():
        pairs = [_sample(problem, i, seed, resolution) for i in indices]
    return indices, np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs])


def generate_arrays(problem: str, n: int, resolution: int, seed: int = 0, workers: int = 1,
                    params: dict[str, Any] | None = None, progress: bool | None = None,
                    chunk: int = 8, start: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Samples ``start .. start+n-1`` of ``problem`` at ``resolution``.

    The result does not depend on ``workers`` (every sample has its own random stream). The
    first sample is solved before any worker starts, so bad parameters fail at once.
    """
    params = dict(params or {})
    prob = problems.get(problem, **params)  # validates the name and parameters up front
    prob.check_resolution(resolution)
    if n < 1:
        raise ValueError(f"number of samples must be >= 1, got {n}")
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    with _one_blas_thread():
        x0, y0 = _sample(prob, start, seed, resolution)
    xs = np.empty((n, *x0.shape), dtype=x0.dtype)
    ys = np.empty((n, *y0.shape), dtype=y0.dtype)
    xs[0], ys[0] = x0, y0
    jobs = [(problem, params, seed, resolution, list(range(s, min(s + chunk, start + n))))
            for s in range(start + 1, start + n, chunk)]
    disable = (not _is_tty()) if progress is None else not progress
    with tqdm(total=n, initial=1, desc=f"generate {problem} {resolution}", unit="sample", disable=disable) as bar:
        if workers == 1:
            _collect(map(_solve_chunk, jobs), xs, ys, bar, start)
        else:
            with ProcessPoolExecutor(max_workers=workers, mp_context=_mp_context(prob),
                                     initializer=_worker_init) as pool:
                _collect(pool.map(_solve_chunk, jobs), xs, ys, bar, start)
    return xs, ys


def _collect(results, xs: np.ndarray, ys: np.ndarray, bar, start: int) -> None:
    for idx, xb, yb in results:
        xs[idx[0] - start: idx[-1] + 1 - start] = xb
        ys[idx[0] - start: idx[-1] + 1 - start] = yb
        bar.update(len(idx))


def _worker_init() -> None:
    """One torch thread per worker: the workers are the parallelism, and an OpenMP pool inherited
    through fork must not be entered again (it can hang)."""
    import sys

    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)


def _mp_context(prob):
    # fork needs no importable __main__ (works from notebooks and stdin), but CUDA cannot be
    # used again in a forked child: problems that solve on a GPU get spawned workers
    import multiprocessing

    on_gpu = str(getattr(prob, "device", "cpu")).startswith("cuda")
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() and not on_gpu else "spawn"
    return get_context(method)


def _is_tty() -> bool:
    import sys

    return sys.stderr.isatty()


def _file_attrs(prob, problem: str, resolution: int, seed: int) -> dict[str, Any]:
    return {"problem": problem, "params": prob.params, "resolution": int(resolution), "seed": int(seed),
            "solver": prob.solver, "spatial_dims": int(prob.dim)}


def generate(problem: str, n: int, resolution: int, out: str | os.PathLike, seed: int = 0,
             workers: int = 1, params: dict[str, Any] | None = None,
             progress: bool | None = None) -> Path:
    """Generate ``n`` samples and write them to the pdeml HDF5 file ``out``."""
    prob = problems.get(problem, **dict(params or {}))
    xs, ys = generate_arrays(problem, n, resolution, seed, workers, params, progress)
    return save_dataset(out, xs, ys, **_file_attrs(prob, problem, resolution, seed))


def parse_shard(text: str) -> tuple[int, int]:
    """``"i/n"`` -> ``(i, n)`` with ``0 <= i < n``."""
    try:
        i, n = (int(v) for v in str(text).split("/"))
    except ValueError:
        raise ValueError(f"a shard is written i/n (e.g. 3/16), got {text!r}") from None
    if n < 1 or not 0 <= i < n:
        raise ValueError(f"shard {text!r} out of range: need 0 <= i < n")
    return i, n


def shard_range(n_samples: int, shard: int, n_shards: int) -> tuple[int, int]:
    """Sample indices ``[start, stop)`` of one shard (contiguous, sizes differ by at most one)."""
    return shard * n_samples // n_shards, (shard + 1) * n_samples // n_shards


def shard_path(out: str | os.PathLike, shard: int, n_shards: int) -> Path:
    out = Path(out)
    return out.with_name(f"{out.stem}.shard-{shard:04d}-of-{n_shards:04d}.h5")


def generate_shard(problem: str, n: int, resolution: int, out: str | os.PathLike, shard: int, n_shards: int,
                   seed: int = 0, workers: int = 1, params: dict[str, Any] | None = None,
                   progress: bool | None = None) -> tuple[Path, bool]:
    """Write shard ``shard`` of ``n_shards`` of the data set ``out`` to its part file.

    Returns ``(path, skipped)``: a part file that is complete and was made with the same
    arguments is kept as it is, so re-running an interrupted job only does what is missing.
    """
    if n_shards > n:
        raise ValueError(f"cannot split {n} samples into {n_shards} shards")
    prob = problems.get(problem, **dict(params or {}))
    start, stop = shard_range(n, shard, n_shards)
    path = shard_path(out, shard, n_shards)
    attrs = {**_file_attrs(prob, problem, resolution, seed), "shard": shard, "n_shards": n_shards,
             "index_start": start, "index_stop": stop, "n_total": n}
    if path.exists() and _part_matches(path, attrs):
        return path, True
    xs, ys = generate_arrays(problem, stop - start, resolution, seed, workers, params, progress, start=start)
    return save_dataset(path, xs, ys, **attrs), False


def _part_matches(path: Path, attrs: dict[str, Any]) -> bool:
    from pdeml.data.formats import DataError, read_pdeml_attrs

    try:
        found = read_pdeml_attrs(path)
    except DataError:
        return False  # unreadable (e.g. cut off by a kill before the rename): regenerate
    return all(found.get(k) == v for k, v in attrs.items())


def merge_shards(out: str | os.PathLike, n_shards: int | None = None) -> Path:
    """Join the part files of ``out`` into ``out``; the bytes equal an unsharded generation."""
    from pdeml.data.formats import DataError, load_dataset, read_pdeml_attrs

    out = Path(out)
    if n_shards is None:
        found = sorted(out.parent.glob(f"{out.stem}.shard-*-of-*.h5"))
        counts = {int(p.stem.rsplit("-of-", 1)[1]) for p in found}
        if len(counts) != 1:
            raise DataError(f"no unique set of part files for {out} (found {[p.name for p in found]})")
        n_shards = counts.pop()
    parts = [shard_path(out, i, n_shards) for i in range(n_shards)]
    missing = [i for i, p in enumerate(parts) if not p.exists()]
    if missing:
        raise DataError(f"cannot merge {out}: shards {missing} of {n_shards} are missing "
                        f"(run generate with --shard i/{n_shards} for them)")
    metas = [read_pdeml_attrs(p) for p in parts]
    keys = ("problem", "params", "resolution", "seed", "solver", "n_total")
    for i, meta in enumerate(metas):
        if any(meta.get(k) != metas[0].get(k) for k in keys) or meta.get("n_shards") != n_shards:
            raise DataError(f"part {parts[i].name} was made with other arguments than {parts[0].name}")
        expect = shard_range(metas[0]["n_total"], i, n_shards)
        if (meta.get("index_start"), meta.get("index_stop")) != expect:
            raise DataError(f"part {parts[i].name} holds samples {meta.get('index_start')}..{meta.get('index_stop')},"
                            f" expected {expect[0]}..{expect[1]}")
    data = [load_dataset(p) for p in parts]
    xs = np.concatenate([d.x.numpy() for d in data])
    ys = np.concatenate([d.y.numpy() for d in data])
    attrs = {k: metas[0][k] for k in ("problem", "params", "resolution", "seed", "solver", "spatial_dims")
             if k in metas[0]}
    return save_dataset(out, xs, ys, **attrs)


def cached_dataset(problem: str, n: int, resolution: int, seed: int = 0,
                   cache_dir: str | os.PathLike | None = None, workers: int = 1,
                   params: dict[str, Any] | None = None, progress: bool | None = None) -> Path:
    """Path of a generated data set in the cache, generating it on the first call."""
    cache = Path(cache_dir or os.environ.get("PDEML_DATA", "data/cache"))
    prob = problems.get(problem, **dict(params or {}))
    key = hashlib.sha256(json.dumps(prob.params, sort_keys=True).encode()).hexdigest()[:10]
    path = cache / f"{problem}_r{resolution}_n{n}_s{seed}_{key}.h5"
    if path.exists():
        from pdeml.data.formats import read_pdeml_attrs

        found = read_pdeml_attrs(path).get("params")
        if json.dumps(found, sort_keys=True) != json.dumps(prob.params, sort_keys=True):
            raise ValueError(f"cached data set {path} was made with parameters {found}, not {prob.params}; "
                             f"delete it to regenerate")
    else:
        generate(problem, n, resolution, path, seed=seed, workers=workers, params=params, progress=progress)
    return path
