"""Ritz vectors of a symmetric matrix by Lanczos, and the DCDM training right-hand sides built from them.

DCDM trains on right-hand sides ``b = sum_j c_j v_j`` over Ritz vectors ``v_j`` of ``A`` (not on
random vectors): ``c_j ~ N(0, 1)``, the low-eigenvalue half multiplied by ``low_boost`` (9 in the
paper) so that the smooth modes, where CG struggles, dominate; each ``b`` normalized.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.linalg import eigh_tridiagonal
from tqdm.auto import tqdm


def _project(v: np.ndarray, N: np.ndarray | None) -> np.ndarray:
    return v if N is None else v - N @ (N.T @ v)


def lanczos(A: Any, steps: int, v0: np.ndarray | None = None, *, null_space: Any = None, seed: int = 0,
            progress: bool | None = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``steps`` Lanczos steps on symmetric ``A`` (anything with ``A @ v``, ``(n, n)``), with full
    reorthogonalization (two Gram-Schmidt passes).

    The start vector (``v0`` or a seeded Gaussian) and every Lanczos vector are projected
    orthogonally to ``null_space`` (``(n, k)``, any basis), so the Krylov space stays in range(A).
    Returns ``(alpha (m,), beta (m-1,), V (n, m))`` with ``V^T A V = tridiag(beta, alpha, beta)``;
    ``m < steps`` when an invariant subspace is found first.
    """
    n = int(A.shape[0])
    if A.shape != (n, n):
        raise ValueError(f"A must be square (n, n), got shape {A.shape}")
    steps = int(steps)
    N = None
    if null_space is not None:
        N = null_space.toarray() if sp.issparse(null_space) else np.asarray(null_space, dtype=np.float64)
        N = np.linalg.qr(N.reshape(n, -1))[0]
    rank = n - (0 if N is None else N.shape[1])
    if not 1 <= steps <= rank:
        raise ValueError(f"Lanczos steps must be in [1, {rank}] (the rank of A's range), got {steps}")
    v = np.random.default_rng(seed).standard_normal(n) if v0 is None else np.asarray(v0, dtype=np.float64).copy()
    if v.shape != (n,):
        raise ValueError(f"v0 must have shape ({n},), got {v.shape}")
    v = _project(v, N)
    norm = np.linalg.norm(v)
    if not norm > 0:
        raise ValueError("the Lanczos start vector has no component in range(A)")
    V = np.zeros((n, steps))
    alpha, beta = np.zeros(steps), np.zeros(max(steps - 1, 0))
    V[:, 0] = v / norm
    bar = tqdm(total=steps, desc="lanczos", unit="step", disable=not progress, leave=False)
    m = steps
    try:
        for j in range(steps):
            w = np.asarray(A @ V[:, j], dtype=np.float64).reshape(-1)
            alpha[j] = V[:, j] @ w
            Vj = V[:, : j + 1]
            for _ in range(2):  # twice is enough (Kahan-Parlett)
                w -= Vj @ (Vj.T @ w)
            w = _project(w, N)
            bar.update(1)
            if j + 1 == steps:
                break
            b = np.linalg.norm(w)
            if b <= 1e-12 * max(abs(alpha[: j + 1]).max(), 1e-300):
                m = j + 1  # invariant subspace: the Ritz pairs are exact
                break
            beta[j] = b
            V[:, j + 1] = w / b
    finally:
        bar.close()
    return alpha[:m], beta[: m - 1], V[:, :m]


def ritz_vectors(A: Any, steps: int, *, null_space: Any = None, seed: int = 0,
                 progress: bool | None = False) -> tuple[np.ndarray, np.ndarray]:
    """Ritz values ``(m,)`` (ascending) and Ritz vectors ``(n, m)`` (orthonormal columns) of symmetric
    ``A`` from ``steps`` Lanczos steps (see :func:`lanczos`), null-space Ritz pairs dropped."""
    alpha, beta, V = lanczos(A, steps, null_space=null_space, seed=seed, progress=progress)
    theta, Y = eigh_tridiagonal(alpha, beta) if alpha.size > 1 else (alpha.copy(), np.ones((1, 1)))
    keep = theta > 1e-10 * max(abs(theta).max(), 1e-300)
    return theta[keep], V @ Y[:, keep]


def ritz_coefficient_weights(m: int, low_boost: float = 9.0) -> np.ndarray:
    """Weights ``(m,)`` of the coefficients of ``m`` ascending Ritz vectors: ``low_boost`` on the
    first (low-eigenvalue) half, 1 on the rest."""
    w = np.ones(int(m))
    w[: int(m) // 2] = float(low_boost)
    return w


def ritz_rhs(vectors: np.ndarray, count: int, *, low_boost: float = 9.0, seed: int = 0) -> np.ndarray:
    """``count`` unit right-hand sides ``(count, n)`` = normalized ``vectors @ (w * c)``, ``c ~ N(0, 1)``
    (``vectors`` ``(n, m)`` in ascending eigenvalue order, ``w`` from :func:`ritz_coefficient_weights`)."""
    m = vectors.shape[1]
    c = np.random.default_rng(seed).standard_normal((int(count), m)) * ritz_coefficient_weights(m, low_boost)
    b = c @ vectors.T
    return b / np.linalg.norm(b, axis=1, keepdims=True)
