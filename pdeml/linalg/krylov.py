"""Conjugate-direction solvers for symmetric positive (semi-)definite systems: DCDM and flexible CG.

Both build each search direction from a preconditioner applied to the residual, A-orthogonalize it
against the last few directions, and step with the exact line search ``alpha = p.r / p.Ap``.
They return ``(x, info)`` like ``scipy.sparse.linalg.cg``: ``info`` is a :class:`SolveInfo`, an
``int`` (0 converged, ``k > 0`` not converged after ``k`` iterations, ``< 0`` breakdown) that also
carries the residual history.

``A`` may be a SciPy sparse matrix, a ``LinearOperator``, a dense NumPy array or torch tensor, a
:class:`~pdeml.solvers.pressure.PressureLinearSystem` or a matrix-free
:class:`~pdeml.solvers.pressure.PressureOperator`. NumPy ``b`` gives a float64 NumPy ``x``; a
torch ``b`` is solved in its dtype on its device (a pressure operator then runs there too) and
gives a torch ``x``. Singular systems (Neumann walls) have ``b`` and every direction projected
onto range(A) when the null space is known (pressure systems, or ``null_space=``).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla
import torch

from pdeml.linalg.preconditioner import DeepPreconditioner
from pdeml.solvers.pressure import PressureLinearSystem, PressureOperator


class SolveInfo(int):
    """``info`` of a solve: an ``int`` like SciPy's (0 converged, ``> 0`` iterations done without
    converging, ``< 0`` breakdown) with ``iterations``, ``residuals`` (``||r_k||`` for
    ``k = 0..iterations``, absolute), ``rtol_reached`` (final ``||r|| / ||b||``), ``converged``
    and ``message``."""

    iterations: int
    residuals: list[float]
    b_norm: float
    message: str

    def __new__(cls, code: int, iterations: int, residuals: list[float], b_norm: float, message: str):
        obj = super().__new__(cls, code)
        obj.iterations, obj.residuals, obj.b_norm, obj.message = iterations, residuals, b_norm, message
        return obj

    @property
    def converged(self) -> bool:
        return int(self) == 0

    @property
    def stalled(self) -> bool:
        """The solve stopped because the residual stopped decreasing (see ``stall=``)."""
        return "stalled:" in self.message

    @property
    def relative_residuals(self) -> list[float]:
        """``||r_k|| / ||b||``."""
        scale = self.b_norm if self.b_norm > 0 else 1.0
        return [r / scale for r in self.residuals]

    @property
    def rtol_reached(self) -> float:
        return self.relative_residuals[-1]

    def __repr__(self) -> str:
        return (f"SolveInfo({int(self)}, iterations={self.iterations}, "
                f"relative residual={self.rtol_reached:.3e}, {self.message!r})")


class NonPositiveCurvatureError(ValueError):
    """``p.Ap <= 0`` for a nonzero direction: ``A`` is not positive definite (on range(A)).

    ``x`` holds the iterate so far (same type as the solution would have), ``info`` the
    :class:`SolveInfo` up to the failure."""

    def __init__(self, message: str, x: Any, info: SolveInfo):
        super().__init__(message)
        self.x, self.info = x, info


class NonFiniteError(FloatingPointError):
    """A NaN or Inf appeared during the iteration; ``x`` and ``info`` hold the last finite state."""

    def __init__(self, message: str, x: Any, info: SolveInfo):
        super().__init__(message)
        self.x, self.info = x, info


# --------------------------------------------------------------------------------------------
# operators


class _Operator:
    """``A`` as ``matvec(x)`` on torch vectors ``(n,)`` of the working dtype/device, plus the
    null-space projection (or ``None``) and the fluid mask when ``A`` knows it."""

    def __init__(self, A: Any, work: torch.Tensor, null_space: Any = None):
        self.mask = None
        self._project: Callable[[torch.Tensor], torch.Tensor] | None = None
        system = None
        if isinstance(A, PressureLinearSystem):
            system = A
            A = A.matrix if work.device.type == "cpu" else A.torch_operator(dtype=work.dtype, device=work.device)
        if isinstance(A, PressureOperator):
            system = A.system
            op = A
            self._matvec = op.matvec
            self.n = op.n
            if system.is_singular:
                self._project = op.project
        elif sp.issparse(A) or isinstance(A, (np.ndarray, spla.LinearOperator)) or (
                hasattr(A, "shape") and hasattr(A, "dot") and not torch.is_tensor(A)):
            shape = tuple(A.shape)
            self._check_square(shape)
            self.n = shape[0]
            self._matvec = _numpy_map(A)
        elif torch.is_tensor(A):
            self._check_square(tuple(A.shape))
            self.n = int(A.shape[0])
            self._matvec = _tensor_map(A)
        else:
            raise TypeError(f"A must be a SciPy sparse matrix, LinearOperator, NumPy array, torch tensor, "
                            f"PressureLinearSystem or PressureOperator; got {type(A).__name__}")
        if system is not None:
            self.mask = system.mask
            if system.is_singular and self._project is None:
                null_space = system.null_space
        if null_space is not None and self._project is None:
            N = null_space.toarray() if sp.issparse(null_space) else np.asarray(null_space, dtype=np.float64)
            N = N.reshape(self.n, -1) if N.ndim == 1 else N
            if N.shape[0] != self.n:
                raise ValueError(f"null_space must have shape ({self.n}, k), got {N.shape}")
            Q, _ = np.linalg.qr(N)  # orthonormal columns, whatever the user passed
            Nt = torch.from_numpy(Q).to(device=work.device, dtype=work.dtype)
            self._project = lambda x: x - Nt @ (Nt.T @ x)

    @staticmethod
    def _check_square(shape: tuple[int, ...]) -> None:
        if len(shape) != 2 or shape[0] != shape[1]:
            raise ValueError(f"A must be a square matrix (n, n), got shape {shape}")

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self._matvec(x)

    def project(self, x: torch.Tensor) -> torch.Tensor:
        return x if self._project is None else self._project(x)

    def check_symmetric(self, work: torch.Tensor, seed: int = 0) -> None:
        """Randomized check ``|u.Av - v.Au| <= tol ||u|| ||v|| ||A||_est`` (two products)."""
        g = torch.Generator().manual_seed(seed)
        u = torch.randn(self.n, generator=g, dtype=torch.float64).to(device=work.device, dtype=work.dtype)
        v = torch.randn(self.n, generator=g, dtype=torch.float64).to(device=work.device, dtype=work.dtype)
        Au, Av = self(u), self(v)
        lhs, rhs = float(torch.dot(u, Av)), float(torch.dot(v, Au))
        scale = max(float(torch.linalg.vector_norm(Au) * torch.linalg.vector_norm(v)),
                    float(torch.linalg.vector_norm(Av) * torch.linalg.vector_norm(u)), 1e-300)
        tol = 1e4 * torch.finfo(work.dtype).eps
        if abs(lhs - rhs) > tol * scale:
            raise ValueError(f"A must be symmetric: for random u, v, |u.Av - v.Au| / (||u|| ||Av||) = "
                             f"{abs(lhs - rhs) / scale:.3e} > {tol:.1e}; CG-type methods need a symmetric "
                             f"positive (semi-)definite matrix (pass check_symmetry=False to skip this check)")


def _as_work_vector(b: Any, name: str = "b") -> tuple[torch.Tensor, bool]:
    """``b`` as a 1D torch tensor (float64 for NumPy input) and whether the input was NumPy."""
    if torch.is_tensor(b):
        t = b.detach()
        if not t.is_floating_point():
            t = t.to(torch.float64)
        as_numpy = False
    else:
        if name == "x0" and (sp.issparse(b) or isinstance(b, spla.LinearOperator) or callable(b)):
            raise TypeError(f"x0 must be a vector, got a {type(b).__name__}: the arguments follow "
                            f"scipy.sparse.linalg.cg's order (A, b, x0=None, *, M=...); pass a preconditioner as M=")
        arr = np.asarray(b)
        if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
            raise TypeError(f"{name} must be a real float array, got dtype {arr.dtype}")
        t = torch.from_numpy(np.array(arr, dtype=np.float64))
        as_numpy = True
    if t.dim() == 2 and 1 in t.shape:
        t = t.reshape(-1)
    if t.dim() != 1:
        raise ValueError(f"{name} must be a vector (n,), got shape {tuple(t.shape)}")
    return t, as_numpy


def _check_finite(t: torch.Tensor, name: str) -> None:
    if not bool(torch.isfinite(t).all()):
        bad = int((~torch.isfinite(t)).sum())
        raise ValueError(f"{name} contains {bad} NaN or Inf value(s) of {t.numel()}")


# --------------------------------------------------------------------------------------------
# the shared iteration


def _conjugate_directions(A: Any, b: Any, precond: Callable[[torch.Tensor], torch.Tensor], *, x0: Any, rtol: float,
                          atol: float, maxiter: int | None, default_maxiter: Callable[[int], int],
                          callback: Callable[[Any], None] | None, window: int | None, true_residual: bool,
                          null_space: Any, check_symmetry: bool, name: str, residual_direction: bool = False,
                          coarse: Any = None, stall: int | None = 100,
                          on_operator: Callable[[_Operator, int], None] | None = None) -> tuple[Any, SolveInfo]:
    if rtol < 0 or atol < 0:
        raise ValueError(f"rtol and atol must be >= 0, got rtol={rtol}, atol={atol}")
    if window is not None and int(window) < 1:
        raise ValueError(f"window must be >= 1 (or None for all previous directions), got {window}")
    if stall is not None and int(stall) < 1:
        raise ValueError(f"stall must be >= 1 iterations (or None to never stop on stagnation), got {stall}")
    bt, as_numpy = _as_work_vector(b)
    _check_finite(bt, "b")
    op = _Operator(A, bt, null_space)
    if bt.shape[0] != op.n:
        raise ValueError(f"b has {bt.shape[0]} entries but A is {op.n} x {op.n}")
    if on_operator is not None:
        on_operator(op, op.n)
    if check_symmetry:
        op.check_symmetric(bt)
    coarse_map = _coarse_space(coarse, A, op, null_space)
    extra: list[Callable[[torch.Tensor], torch.Tensor]] = []
    if coarse_map is not None:
        extra.append(coarse_map)
    if residual_direction:
        extra.append(lambda r: r)
    maxiter = default_maxiter(op.n) if maxiter is None else int(maxiter)

    def out(x: torch.Tensor) -> Any:
        return x.cpu().numpy() if as_numpy else x

    b_proj = op.project(bt)
    if x0 is None:
        x = torch.zeros_like(bt)
        r = b_proj.clone()
    else:
        x, _ = _as_work_vector(x0, "x0")
        x = x.to(device=bt.device, dtype=bt.dtype).clone()
        if x.shape != bt.shape:
            raise ValueError(f"x0 must have shape {tuple(bt.shape)}, got {tuple(x.shape)}")
        _check_finite(x, "x0")
        r = op.project(b_proj - op(x))
    b_norm = float(torch.linalg.vector_norm(b_proj))
    tol = max(rtol * b_norm, atol)
    res = [float(torch.linalg.vector_norm(r))]

    def info(code: int, k: int, message: str) -> SolveInfo:
        return SolveInfo(code, k, list(res), b_norm, message)

    if res[0] <= tol:
        return out(op.project(x) if x0 is not None else x), info(0, 0, "converged")
    # (p, Ap, p.Ap) of the directions of the last `window` steps
    P: deque = deque(maxlen=None if window is None else int(window) * (1 + len(extra)))
    # stagnation: no 0.1% drop of the residual AND a negligible energy decrease over `stall` steps
    best, best_at = res[0], 0
    gains = [0.0]  # cumulative decrease of the energy 2 phi(x) = x.Ax - 2 b.x, step by step
    flat = 100 * torch.finfo(bt.dtype).eps  # a relative energy decrease below this is round-off
    for k in range(1, maxiter + 1):
        z = precond(r)
        if not bool(torch.isfinite(z).all()):
            raise NonFiniteError(f"{name}: the preconditioner returned NaN/Inf at iteration {k}; "
                                 f"the iterate so far is in .x", out(x), info(-2, k - 1, "non-finite direction"))
        step = torch.zeros_like(x)
        r_step = r
        gain = 0.0
        new_dirs = []
        for raw in [z, *(f(r_step) for f in extra)]:
            p = op.project(raw)
            Ap = op(p)
            # modified Gram-Schmidt in the A inner product (this step's directions included)
            for pj, Apj, pApj in (*P, *new_dirs):
                beta = torch.dot(p, Apj) / pApj
                p = p - beta * pj
                Ap = Ap - beta * Apj
            pAp = torch.dot(p, Ap)
            p_norm = float(torch.linalg.vector_norm(p))
            if p_norm == 0.0:
                continue
            if not float(pAp) > 0.0:
                raise NonPositiveCurvatureError(
                    f"{name}: non-positive curvature p.Ap = {float(pAp):.3e} (||p|| = {p_norm:.3e}) at iteration "
                    f"{k}: A is not positive definite on the directions searched (indefinite or not SPD); "
                    f"the iterate so far is in .x", out(x), info(-3, k - 1, "non-positive curvature"))
            # A-orthogonal directions: the minimum over their span is one line search each, from r_step
            alpha = torch.dot(p, r_step) / pAp
            gain += float(alpha * torch.dot(p, r_step))
            step = step + alpha * p
            r = r - alpha * Ap
            new_dirs.append((p, Ap, pAp))
        if not new_dirs:
            return out(x), info(-1, k - 1, "breakdown: the new direction is zero (the preconditioner "
                                           "returned a combination of previous directions)")
        x = x + step
        if true_residual:
            r = op.project(b_proj - op(x))
        rn = float(torch.linalg.vector_norm(r))
        if not np.isfinite(rn):
            raise NonFiniteError(f"{name}: the residual became NaN/Inf at iteration {k}", out(x - step),
                                 info(-2, k - 1, "non-finite residual"))
        res.append(rn)
        gains.append(gains[-1] + gain)
        P.extend(new_dirs)
        if callback is not None:
            callback(out(x))
        if rn <= tol:
            return out(op.project(x)), info(0, k, "converged")
        if rn < 0.999 * best:
            best, best_at = rn, k
        elif stall is not None and _stagnant(gains, best_at, int(stall), flat):
            return out(op.project(x)), info(k, k, "stalled: " + _stall_message(res, gains, best_at, b_norm))
    message = f"not converged in {maxiter} iterations"
    if _stagnant(gains, best_at, 100, flat):
        message += "; stalled: " + _stall_message(res, gains, best_at, b_norm)
    return out(op.project(x)), info(maxiter, maxiter, message)


def _stagnant(gains: list[float], best_at: int, window: int, flat: float) -> bool:
    """No residual progress for ``window`` steps, and over them the energy decreased by at most
    ``flat`` of its decrease so far or 1e-6 of its decrease over the ``window`` steps before: a slow
    but converging CG keeps lowering the energy at a slowly changing rate, a stalled iteration
    stops lowering it (the residual norm alone is not monotone in CG)."""
    k = len(gains) - 1
    if k - best_at < window:
        return False
    last = gains[k] - gains[k - window]
    before = gains[k - window] - gains[max(k - 2 * window, 0)]
    return last <= flat * gains[k] or last <= 1e-6 * before


def _stall_message(res: list[float], gains: list[float], best_at: int, b_norm: float) -> str:
    k = len(res) - 1
    return (f"the residual has not dropped below {res[best_at]:.3e} (relative {res[best_at] / max(b_norm, 1e-300):.3e}) "
            f"in the last {k - best_at} iterations, and the energy decreased by "
            f"{(gains[k] - gains[best_at]) / max(gains[k], 1e-300):.1e} of its total decrease over them")


# --------------------------------------------------------------------------------------------
# public solvers


def fcg(A: Any, b: Any, x0: Any = None, *, M: Any = None, rtol: float = 1e-5, atol: float = 0.0,
        maxiter: int | None = None, callback: Callable[[Any], None] | None = None, window: int | None = 2,
        true_residual: bool = False, coarse: Any = None, null_space: Any = None, check_symmetry: bool = True,
        stall: int | None = None) -> tuple[Any, SolveInfo]:
    """Flexible preconditioned CG: ``x, info = fcg(A, b, x0=None, M=M)``, SciPy's argument order.

    ``M`` approximates ``A^-1`` and may be nonlinear or change between calls: ``None``
    (identity: plain CG), a SciPy sparse matrix / ``LinearOperator`` (a
    :class:`~pdeml.linalg.DeepPreconditioner` or :class:`~pdeml.linalg.MultigridPreconditioner`
    among them) / array / torch tensor (applied as ``M @ r``), or any callable taking and
    returning a vector like ``b``. Each direction ``M(r)`` is A-orthogonalized against the last
    ``window`` directions (``None``: all of them); for a fixed SPD ``M`` every window gives
    CG's iterates in exact arithmetic.

    ``coarse``: a :class:`~pdeml.linalg.CoarseSpace` (or ``True`` / a block size for a pressure
    system ``A``): its correction ``Q r`` is searched as a second direction every step.
    Stops when ``||r|| <= max(rtol ||b||, atol)`` (``b`` projected onto range(A) when the null
    space is known); ``maxiter`` defaults to ``10 n``. ``stall=k``: stop early (``info > 0``,
    ``info.stalled``) when over ``k`` iterations the residual has not dropped by 0.1% and the
    energy ``x.Ax - 2 b.x`` has all but stopped decreasing (by at most 100 eps of its decrease so far,
    or 1e-6 of its decrease over the ``k`` iterations before) (off by default:
    a fixed SPD ``M`` cannot stall; a run that ends at ``maxiter`` stagnant says so either way). ``true_residual`` recomputes ``b - Ax`` each step instead of updating it.
    Returns ``(x, info)``; raises :class:`NonPositiveCurvatureError` (with ``.x``) when
    ``p.Ap <= 0``.
    """
    precond = _preconditioner(M, b)
    return _conjugate_directions(A, b, precond, x0=x0, rtol=rtol, atol=atol, maxiter=maxiter,
                                 default_maxiter=lambda n: 10 * n, callback=callback, window=window,
                                 true_residual=true_residual, null_space=null_space,
                                 check_symmetry=check_symmetry, name="fcg", coarse=coarse, stall=stall,
                                 on_operator=lambda op, n: _check_preconditioner_size(M, n))


def dcdm_solve(A: Any, b: Any, x0: Any = None, *, model: torch.nn.Module, rtol: float = 1e-6, atol: float = 0.0,
               maxiter: int | None = None, callback: Callable[[Any], None] | None = None, grid: Any = None,
               mask: Any = None, window: int | None = 2, coarse: Any = None, residual_direction: bool = False,
               null_space: Any = None, check_symmetry: bool = True, stall: int | None = 100) -> tuple[Any, SolveInfo]:
    """Deep conjugate-direction method: ``x, info = dcdm_solve(A, b, model=net, grid=...)``.

    Each step: ``q = f(r / rms(r))`` from the network ``model`` (a :class:`~pdeml.linalg.DCDMNet`)
    on the grid, A-orthogonalized against the last ``window`` directions (2, as in the paper),
    exact line search ``alpha = p.r / p.Ap``, and the true residual ``b - Ax`` recomputed (the
    network is nonlinear, so there is no global conjugacy to rely on). It is :func:`fcg` with the
    network as ``M`` and ``true_residual=True``.

    With the paper's two directions the iteration stalls once the error sits in the lowest
    eigenmodes of ``A``, which the local network does not reach (see docs/dcdm.md).
    ``coarse=True`` (or a block size, or a :class:`~pdeml.linalg.CoarseSpace`) adds the
    algebraic coarse correction ``Q r = Z (Z^T A Z)^+ Z^T r`` as a second direction every step,
    which removes the stall; ``window=None`` keeps every direction instead (``O(k n)`` memory).

    The unknowns are placed on the grid by ``A`` itself when it is a pressure system/operator,
    else by ``mask`` (bool grid, unknowns = True cells in C order) or ``grid`` (a shape: every
    cell an unknown). ``maxiter`` defaults to 1000; ``stall`` (100) as in :func:`fcg`. Returns
    ``(x, info)``; raises :class:`NonPositiveCurvatureError` (with ``.x``) when ``p.Ap <= 0``.
    """
    holder: dict[str, Any] = {}

    def place(op: _Operator, n: int) -> None:
        if grid is None and mask is None:
            if op.mask is None:
                raise ValueError("dcdm_solve needs grid= (a shape) or mask= (a bool fluid mask) to place the "
                                 "unknowns of A on the network's grid")
            pre = DeepPreconditioner(model, mask=op.mask)
        else:
            pre = DeepPreconditioner(model, grid, mask=mask)
        if pre.n != n:
            where = f"mask with {pre.n} fluid cells" if not pre.fluid.full else f"grid {pre.fluid.shape} ({pre.n} cells)"
            raise ValueError(f"the {where} does not match A, which is {n} x {n}")
        holder["M"] = pre
        if op.mask is None:
            op.mask = pre.fluid.mask  # for coarse=True on a plain matrix

    return _conjugate_directions(A, b, lambda r: holder["M"].directions(r[None])[0], x0=x0, rtol=rtol, atol=atol,
                                 maxiter=maxiter, default_maxiter=lambda n: 1000, callback=callback,
                                 window=window, true_residual=True, null_space=null_space,
                                 check_symmetry=check_symmetry, name="dcdm_solve", on_operator=place,
                                 residual_direction=residual_direction, coarse=coarse, stall=stall)


def _coarse_space(coarse: Any, A: Any, op: _Operator, null_space: Any) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """``coarse=`` as a map on work vectors: ``None``/``False``, ``True`` (blocks of 4), a block size, or a
    :class:`CoarseSpace`."""
    from pdeml.linalg.coarse import CoarseSpace

    if coarse is None or coarse is False:
        return None
    if isinstance(coarse, CoarseSpace):
        space = coarse
    elif coarse is True or isinstance(coarse, (int, np.integer)):
        block = 4 if coarse is True else int(coarse)
        if isinstance(A, (PressureLinearSystem, PressureOperator)):
            space = CoarseSpace(A, block=block, null_space=null_space)
        elif op.mask is not None and (sp.issparse(A) or isinstance(A, np.ndarray)):
            space = CoarseSpace(A, mask=op.mask, block=block, null_space=null_space)
        else:
            raise ValueError("coarse=True needs A as a pressure system, or a SciPy/NumPy matrix with a grid "
                             "(dcdm_solve's grid=/mask=); otherwise pass coarse=CoarseSpace(A, grid=...)")
    else:
        raise TypeError(f"coarse must be None, True, a block size or a CoarseSpace; got {type(coarse).__name__}")
    if space.n != op.n:
        raise ValueError(f"the coarse space has {space.n} unknowns but A is {op.n} x {op.n}")
    return space


def _check_preconditioner_size(M: Any, n: int) -> None:
    shape = getattr(M, "shape", None)
    if M is not None and shape is not None and tuple(shape) != (n, n):
        raise ValueError(f"preconditioner M has shape {tuple(shape)} but A is {n} x {n}")


def _numpy_map(M: Any) -> Callable[[torch.Tensor], torch.Tensor]:
    """A SciPy/NumPy matrix or LinearOperator applied to torch vectors (in float64 on the host)."""
    def apply(x: torch.Tensor) -> torch.Tensor:
        y = M @ x.detach().cpu().numpy().astype(np.float64, copy=False)
        return torch.from_numpy(np.asarray(y, dtype=np.float64).reshape(-1)).to(x.device, x.dtype)
    return apply


def _tensor_map(M: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
    """A torch matrix applied to vectors, cast once per (device, dtype) of the vectors."""
    cache: dict[tuple[Any, Any], torch.Tensor] = {}

    def apply(x: torch.Tensor) -> torch.Tensor:
        key = (x.device, x.dtype)
        if key not in cache:
            cache[key] = M.to(device=x.device, dtype=x.dtype)
        return cache[key] @ x
    return apply


def _preconditioner(M: Any, b: Any) -> Callable[[torch.Tensor], torch.Tensor]:
    """``M`` as a map on torch work vectors."""
    if M is None:
        return lambda r: r
    if isinstance(M, DeepPreconditioner):
        return M
    if sp.issparse(M) or isinstance(M, (np.ndarray, spla.LinearOperator)):
        return _numpy_map(M)
    if torch.is_tensor(M):
        return _tensor_map(M)
    if callable(M):
        if torch.is_tensor(b):
            return M

        def apply_numpy(r: torch.Tensor) -> torch.Tensor:
            z = np.asarray(M(r.cpu().numpy().copy()), dtype=np.float64)
            if z.shape != (r.shape[0],):
                raise ValueError(f"preconditioner M returned shape {z.shape}, expected ({r.shape[0]},)")
            return torch.from_numpy(z).to(r.device, r.dtype)
        return apply_numpy
    raise TypeError(f"M must be None, a matrix, a LinearOperator, a DeepPreconditioner or a callable; "
                    f"got {type(M).__name__}")
