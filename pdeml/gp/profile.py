"""The profile solvers of GP-HM: ``U`` at its conditional optimum for the current kernel.

Dense least squares (QR, Gauss–Newton for a nonlinear operator) on grids of at most
``MAX_PROFILE_NODES`` nodes; on larger grids, preconditioned CG in the eigenbasis of the per-axis
pencils: :class:`KroneckerProfile` for linear operators that are sums of one-axis terms with
constant coefficients, :class:`VariableProfile` (matrix-free, preconditioned by a
constant-coefficient surrogate) for any other linear operator.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import torch

from pdeml.gp.kronecker import kron_matvec, mode_apply, mode_dot, outer_product, outer_sum
from pdeml.gp.model import GPField, KernelTerms, negative_log_joint
from pdeml.gp.operators import GridOperator

MAX_PROFILE_NODES = 2048
# the Kronecker preconditioner of an odd-order operator: |r| below this fraction of its RMS is raised to it
IMAGINARY_FLOOR = 1e-8


def whitened_terms(model: GPField, op: GridOperator, consistent: bool = True, kernel: KernelTerms | None = None,
                   rows: torch.Tensor | None = None):
    """The dense profile's matrices in whitened coordinates ``U = L z`` (``K = L L^T``, ``L`` the
    Kronecker product of the per-axis Cholesky factors, so ``U^T K^-1 U = |z|^2``):
    ``(DL, BL, factors)`` with ``DL[(axis, order)] z`` = that derivative of the conditional mean
    ``u`` of ``U`` and ``BL z = u(X)`` (N x N each), ``factors`` the per-axis ``L_k``.

    Per axis, ``K_k^(r) K_k^-1 L_k = K_k^(r) L_k^-T`` is one triangular solve, and the jitter-free
    ``K_k K_k^-1 L_k = L_k - c_k L_k^-T`` (``c_k`` the jitter); derivatives and ``B`` as in
    :meth:`GPField.grid_terms` (``B = I`` without ``consistent``). ``kernel``: the step's
    :meth:`GPField.kernel_terms`, when already evaluated. ``rows`` (a boolean mask over the
    nodes): ``BL`` only at those nodes, which on one axis saves a triangular solve with ``N``
    right-hand sides."""
    if kernel is None:
        kernel = model.kernel_terms(op.max_order)
    mats = [[m.detach() for m in per_axis] for per_axis in kernel.mats]
    chol = kernel.chol
    shape = model.shape

    def kron_all(per_axis):
        out = per_axis[0].contiguous()
        for m in per_axis[1:]:
            out = torch.kron(out, m.contiguous())
        return out

    def times_inverse_factor(axis, order):  # K_k^(r) L_k^-T = (L_k^-1 K_k^(r)T)^T
        return torch.linalg.solve_triangular(chol[axis], mats[axis][order].T, upper=False).T

    def smooth(k, select=None):  # L_k - c_k L_k^-T (its rows ``select``), or L_k without consistent
        low = chol[k] if select is None else chol[k][select]
        if not consistent:
            return low
        eye = torch.eye(shape[k], dtype=low.dtype, device=low.device)
        eye = eye if select is None else eye[:, select]
        jitter = float(model.jitter * model.kernels[k].variance)
        return low - jitter * torch.linalg.solve_triangular(chol[k], eye, upper=False).T

    factors = [smooth(k) for k in range(len(shape))] if len(shape) > 1 else []
    DL = {(axis, order): kron_all([times_inverse_factor(k, order) if k == axis else factors[k]
                                   for k in range(len(shape))])
          for axis, order in op.needs}
    if len(shape) == 1:
        BL = smooth(0, rows)
    else:
        BL = kron_all(factors) if rows is None else kron_all(factors)[rows.reshape(-1)]
    return DL, BL, list(chol)


def ridge_least_squares(A: torch.Tensor, b: torch.Tensor, block: int = 128) -> torch.Tensor:
    """``argmin |z|^2 + |A z - b|^2`` (``A`` m x n): the least-squares problem of ``[I; A]``, by
    Householder QR that skips the identity's zeros.

    The reflector of a column of ``[I; A]`` is nonzero only on that column's row of ``I`` and on
    the rows of ``A`` (earlier reflectors leave the rest of ``I`` untouched). So each block of
    ``block`` columns is one QR of ``[I_b; A_panel]`` (``torch.geqrf``), applied to the trailing
    columns and to ``b`` in compact WY form, ``Q^T X = X - V T^T V^T X`` with
    ``T = (I + D striu(V^T V))^-1 D``, ``D = diag(tau)``: matrix products throughout, about
    ``2 m n^2`` flops against ``2 (m + n) n^2 - 2 n^3 / 3`` for a dense QR of ``[I; A]``, ``Q``
    never formed, the same backward stability. ``R`` then gives ``z`` by one triangular solve."""
    m, n = A.shape
    if b.shape != (m,):
        raise ValueError(f"b must have shape ({m},) to match A {tuple(A.shape)}, got {tuple(b.shape)}")
    low = torch.cat([A, b[:, None]], 1)  # the rows of A and b, updated block by block
    R = torch.zeros(n, n + 1, dtype=A.dtype, device=A.device)  # [R | Q^T rhs] on the identity's rows
    eye = torch.eye(min(block, n), dtype=A.dtype, device=A.device)
    for j0 in range(0, n, block):
        j1 = min(j0 + block, n)
        w = j1 - j0
        a, tau = torch.geqrf(torch.cat([eye[:w, :w], low[:, j0:j1]]))
        R[j0:j1, j0:j1] = a[:w].triu()
        # the reflectors V: unit lower triangular on the identity's rows, a[w:] on A's
        top, bottom = a[:w].tril(-1) + eye[:w, :w], a[w:]
        unit = eye[:w, :w] + tau[:, None] * (top.T @ top + bottom.T @ bottom).triu(1)
        # T^T V^T X, with the top of X zero: the identity's rows below this block are still zero
        W = tau[:, None] * torch.linalg.solve_triangular(unit.T, bottom.T @ low[:, j1:], upper=False,
                                                         unitriangular=True)
        R[j0:j1, j1:] = -top @ W
        low[:, j1:] -= bottom @ W
    return torch.linalg.solve_triangular(R[:, :n], R[:, n:], upper=True)[:, 0]


def conditional_optimum(model: GPField, batch: dict[str, Any], newton_steps: int = 3,
                        kernel: KernelTerms | None = None) -> torch.Tensor:
    """The grid values minimising the negative log joint for the current kernel and noise
    precisions: a least-squares problem in the whitened ``z`` (``U = L z``, :func:`whitened_terms`),
    ``min |z|^2 + v |J L z + r0|^2 + tau_b |E L z - g|^2``, solved by QR, in Gauss–Newton steps from
    the current ``U`` for a nonlinear operator (its Jacobian from the operator's pointwise
    partials). Dense: for grids of at most ``MAX_PROFILE_NODES`` nodes."""
    op: GridOperator = batch["operator"]
    with torch.no_grad():
        n = model.U.numel()
        mask = batch["boundary"].reshape(-1)
        f, g = batch["forcing"].reshape(-1), batch["boundary_values"]
        zero = torch.zeros(n, dtype=model.U.dtype, device=model.U.device)
        # a linear operator whose partial in u vanishes (-Lap u, transport) reads the values only
        # through the Dirichlet data: then only the boundary rows of BL are built
        values = not op.linear or bool(op.partials(zero, {k: zero for k in op.needs})[1].any())
        DL, BL, factors = whitened_terms(model, op, batch.get("consistent", True), kernel,
                                         rows=None if values else mask)
        sv, sb = model.log_v.exp().sqrt(), (batch["boundary_weight"] * model.log_tau.exp()).sqrt()
        EL = BL[mask] if values else BL  # the conditional mean at the boundary nodes

        def unwhiten(z):
            return kron_matvec(factors, z.reshape(model.shape)).reshape(-1)

        def whiten(u):
            t = u.reshape(model.shape)
            for axis, low in enumerate(factors):
                t = mode_apply(lambda m, low=low: torch.linalg.solve_triangular(low, m, upper=False), t, axis)
            return t.reshape(-1)

        # Gauss-Newton starts from the current U; a linear operator's step does not depend on it
        z = zero if op.linear else whiten(model.U.detach().reshape(-1))

        def linearise(z):
            """``(J L, r0)`` with ``L[u] - f ~ J L z + r0`` around ``z``, ``J L`` times ``sqrt(v)``."""
            u = BL @ z if values else zero
            L, du, dd = op.partials(u, {k: m @ z for k, m in DL.items()})
            JL = (sv * du)[:, None] * BL if values else None
            for k, m in DL.items():
                JL = (sv * dd[k])[:, None] * m if JL is None else JL.addcmul_((sv * dd[k])[:, None], m)
            if op.linear:  # L(0) - f, exactly: no J u - J u round-off in the right-hand side
                return JL, op.apply(zero, {k: zero for k in DL}).expand(zero.shape) - f
            return JL, L - f - JL @ z / sv

        def objective(z):  # the U-dependent part of the negative log joint, up to a factor 1/2
            residual = op.apply(BL @ z, {k: m @ z for k, m in DL.items()}) - f
            return float(z.square().sum() + sv**2 * residual.square().sum() + sb**2 * (EL @ z - g).square().sum())

        for _ in range(newton_steps if not op.linear else 1):
            JL, r0 = linearise(z)
            new = ridge_least_squares(torch.cat([JL, sb * EL]), torch.cat([-sv * r0, sb * g]))
            if op.linear:
                z = new
                break
            # damped Gauss-Newton: halve the step until the objective decreases
            start, step = objective(z), new - z
            for _ in range(8):
                if objective(z + step) < start:
                    break
                step = 0.5 * step
            z = z + step
        return unwhiten(z).reshape(model.shape)


class KroneckerProfile:
    """The conditional optimum of ``U`` on large grids for a linear operator that is a sum of one-axis
    terms, ``L[U] = sum_k (S_k K_k^-1 along axis k) U`` with each ``S_k`` a combination of kernel
    derivative matrices that is symmetric (even orders) or antisymmetric (odd orders).

    Per axis the pencil ``(S_k, K_k)`` is diagonalised: with ``K_k = L_k L_k^T`` and the (unitary)
    eigenvectors ``W_k`` of ``L_k^-1 S_k L_k^-T`` (times ``i`` when antisymmetric),
    ``G_k = L_k W_k`` gives ``U = (G_1 (x) ... (x) G_D) beta``, a prior ``|beta|^2`` and
    ``L[U] = G (m * beta)`` with ``m`` the sums of the per-axis eigenvalues. The normal equations
    of the least-squares profile, ``(I + v m* G^H G m + s G^H E^T E G) beta = v m* G^H f + s G^H E^T g``,
    are solved by preconditioned conjugate gradients; each iteration costs a few Kronecker
    products, ``O(N sum n_k)``.

    Preconditioners (``preconditioner``, else ``batch["preconditioner"]``, else ``"auto"``; with
    ``final``, the solve at the learned kernel, ``"auto"`` is ``"kronecker"`` wherever it applies):
    ``"diagonal"``, the diagonal of the normal matrix in the
    ``beta`` basis (exact only when ``G^H G`` is diagonal, as for circulant kernels; with long
    learned length-scales ``G^H G`` is far from it); ``"kronecker"`` (for symmetric ``S_k``, i.e.
    real ``m``; antisymmetric parts fall back to the diagonal), ``m^-1 Z (v Gamma + d)^-1 Z^T m^-1`` with
    ``G^H G = Z Gamma Z^T`` (per-axis eigendecompositions) and ``d`` the diagonal of
    ``Z^T diag(m^-2) Z``: the inverse of ``m (v G^H G + Z d Z^T) m ~ I + v m G^H G m``, so it is
    exact in the dominant term whatever the kernel, and leaves out only the boundary rows. When every
    part is antisymmetric (first-order transport, ``beta u_x + u_y``), ``m = -i r`` with ``r`` real,
    the dominant term is ``v R G^H G R`` and the same construction applies with ``r`` in the place of
    ``m`` (``G^H G`` from per-axis Hermitian eigendecompositions; ``|r|`` raised to
    ``IMAGINARY_FLOOR`` x its RMS where it vanishes); mixed parts fall back to the diagonal.
    ``"auto"`` is that Kronecker form for an all-antisymmetric operator and otherwise
    :meth:`auto_preconditioner`, the diagonal here (the setting the Poisson 2D benchmark figures
    come from).

    ``parts`` replaces the operator's own ``S_k`` (:class:`VariableProfile` passes a surrogate).
    """

    def auto_preconditioner(self) -> str:
        """What ``"auto"`` means, decided once ``m`` is known."""
        return "diagonal"

    @torch.no_grad()
    def __init__(self, model: GPField, batch: dict[str, Any], preconditioner: str | None = None,
                 parts: Sequence[torch.Tensor] | None = None, final: bool = False):
        op: GridOperator = batch["operator"]
        kron, mats = model.factorize(op.max_order, "cholesky")
        own_parts = parts is None
        if parts is None:
            parts = axis_parts(mats, op, model.dim)
        symmetric = [bool(torch.allclose(S, S.T)) for S in parts]
        self.dtype = model.U.dtype if all(symmetric) else torch.complex128
        self.G, self.G_inv, mus = [], [], []
        for low, S, sym in zip(kron.chol, parts, symmetric):
            C = torch.linalg.solve_triangular(low, torch.linalg.solve_triangular(low, S, upper=False).T, upper=False)
            if sym:
                mu, W = torch.linalg.eigh(0.5 * (C + C.T))
            else:  # antisymmetric: L^-1 S L^-T = W diag(-i nu) W^H
                nu, W = torch.linalg.eigh(1j * (0.5 * (C - C.T)).to(torch.complex128))
                mu = -1j * nu
            mu, W = mu.to(self.dtype), W.to(self.dtype)
            self.G.append(low.to(self.dtype) @ W)
            eye = torch.eye(low.shape[0], dtype=low.dtype, device=low.device)
            self.G_inv.append(W.conj().T @ torch.linalg.solve_triangular(low, eye, upper=False).to(self.dtype))
            mus.append(mu)
        self.m = outer_sum(mus)
        self.v = model.log_v.exp().detach()
        self.s = (batch["boundary_weight"] * model.log_tau.exp()).detach()
        self.mask = batch["boundary"]
        g = torch.zeros_like(batch["forcing"])
        g[self.mask] = batch["boundary_values"]
        self.g = g
        self.GH = [G.conj().T for G in self.G]
        self.rhs = self.v * self.m.conj() * kron_matvec(self.GH, batch["forcing"].to(self.dtype)) \
            + self.s * kron_matvec(self.GH, g.to(self.dtype))
        squares = [G.abs() ** 2 for G in self.G]
        gram = outer_product([s.sum(0) for s in squares])  # diag(G^H G)
        edge = gram - outer_product([s[1:-1].sum(0) for s in squares])  # diag(G^H E^T E G)
        self.edge = edge
        self.inv_diag = 1.0 / (1.0 + self.v * self.m.abs() ** 2 * gram + self.s * edge)
        real = self.dtype != torch.complex128
        # every part antisymmetric (first-order transport, beta u_x + u_y): m = -i r with r real, so the
        # dominant term v m* G^H G m is v R G^H G R and the Kronecker construction applies with r
        imaginary = own_parts and not any(symmetric)
        requested = preconditioner or batch.get("preconditioner") or "auto"
        if requested not in ("auto", "kronecker", "diagonal"):
            raise ValueError(f"preconditioner must be 'auto', 'kronecker' or 'diagonal', got {requested!r}")
        # the final solve (final=True) converges at the learned kernel: "auto" is the Kronecker form
        # wherever it applies
        self.preconditioner = requested if requested != "auto" else "kronecker" if final else self.auto_preconditioner()
        if requested == "auto" and imaginary:
            self.preconditioner = "kronecker"
        if self.preconditioner == "kronecker" and not imaginary and (
                not real or (requested == "auto" and bool((self.m == 0).any()))):
            self.preconditioner = "diagonal"  # m is complex (mixed parts) or vanishes
        if self.preconditioner == "kronecker" and imaginary:
            r = (1j * self.m).real
            floor = IMAGINARY_FLOOR * float(r.square().mean().sqrt())
            gram_eig = [torch.linalg.eigh(G.conj().T @ G) for G in self.G]  # complex Hermitian per axis
            self.Z, self.ZT = [z for _, z in gram_eig], [z.conj().T for _, z in gram_eig]
            self.gamma = outer_product([g for g, _ in gram_eig])
            self.set_scale(torch.where(r >= 0, 1.0, -1.0) * r.abs().clamp_min(max(floor, 1e-300)))
        elif self.preconditioner == "kronecker":
            if bool((self.m == 0).any()):
                raise ValueError("the 'kronecker' preconditioner needs symmetric operator parts with nonzero "
                                 "eigenvalue sums m (e.g. -Lap u), or antisymmetric ones only; use 'diagonal'")
            eig = [torch.linalg.eigh(0.5 * (G.T @ G + (G.T @ G).T)) for G in self.G]
            self.Z, self.ZT = [z for _, z in eig], [z.T for _, z in eig]
            self.gamma = outer_product([g for g, _ in eig])
            self.set_scale(self.m)

    def set_scale(self, scale: torch.Tensor) -> None:
        """The Kronecker preconditioner with ``scale`` (real, nonzero) in the place of ``m``."""
        self.scale = scale
        d = kron_matvec([(z.abs() ** 2).T.to(scale.dtype) for z in self.Z], 1.0 / scale**2)
        self.inv_core = 1.0 / (self.v * self.gamma + d)

    def precondition(self, r: torch.Tensor) -> torch.Tensor:
        """The preconditioner applied to a residual in the ``beta`` basis."""
        if self.preconditioner == "diagonal":
            return self.inv_diag * r
        return kron_matvec(self.Z, self.inv_core * kron_matvec(self.ZT, r / self.scale)) / self.scale

    def normal(self, beta: torch.Tensor) -> torch.Tensor:
        """The normal matrix times ``beta``."""
        u = kron_matvec(self.G, beta)
        r = kron_matvec(self.G, self.m * beta)
        return beta + self.v * self.m.conj() * kron_matvec(self.GH, r) + self.s * kron_matvec(self.GH, u * self.mask)

    def coefficients(self, U: torch.Tensor) -> torch.Tensor:
        """``beta`` with ``G beta = U``."""
        return kron_matvec(self.G_inv, U.to(self.dtype))

    @torch.no_grad()
    def solve(self, U0: torch.Tensor, rtol: float = 1e-8, maxiter: int = 300,
              warn: bool = True) -> tuple[torch.Tensor, int]:
        """``(U, iterations)``: preconditioned CG from ``U0``, to ``|r| <= rtol |rhs|``."""
        beta = self.coefficients(U0)
        r = self.rhs - self.normal(beta)
        z = self.precondition(r)
        p, rz = z, torch.vdot(r.reshape(-1), z.reshape(-1)).real
        bound = rtol * float(torch.linalg.vector_norm(self.rhs))
        it = 0
        while float(torch.linalg.vector_norm(r)) > bound and it < maxiter:
            q = self.normal(p)
            alpha = rz / torch.vdot(p.reshape(-1), q.reshape(-1)).real
            beta, r = beta + alpha * p, r - alpha * q
            z = self.precondition(r)
            rz, rz_old = torch.vdot(r.reshape(-1), z.reshape(-1)).real, rz
            p = z + (rz / rz_old) * p
            it += 1
        if it == maxiter and warn:
            warnings.warn(f"the {type(self).__name__} solve stopped after {maxiter} CG iterations at a relative "
                          f"residual of {float(torch.linalg.vector_norm(r)) / max(bound / rtol, 1e-300):.1e}",
                          RuntimeWarning, stacklevel=2)
        return kron_matvec(self.G, beta).real.to(U0.dtype), it


class VariableProfile(KroneckerProfile):
    """The conditional optimum of ``U`` on large grids for any linear operator, variable coefficients
    included, matrix-free.

    A linear operator on the grid is ``L[U] = c * U + sum_t a_t * (D_t U) + L[0]``, one term per
    derivative ``t = (axis k, order r)`` it reads, with ``D_t = K_k^(r) K_k^-1`` along axis ``k``
    (the derivative form of :class:`KroneckerProfile`). The coefficients ``a_t(x)``, ``c(x)`` are the
    operator's pointwise partials on the grid (:meth:`GridOperator.partials`), so nothing here
    depends on the PDE. Each term is a Kronecker product times a diagonal: in the ``beta`` basis of a
    :class:`KroneckerProfile` (``U = G beta``), ``D_t G = G_1 (x) ... (x) H_k^(r) (x) ... (x) G_D``
    with ``H_k^(r) = K_k^(r) K_k^-1 G_k``. The normal equations of the least-squares profile,
    ``(I + v (JG)^H (JG) + s G^H E^T E G) beta = v (JG)^H (f - L[0]) + s G^H E^T g`` with ``J`` the
    linear part of ``L``, are solved by preconditioned CG; one product with the normal matrix costs
    ``2 (D (D - 1) + T + 1)`` one-axis products (``T`` terms), ``O(N sum n_k)``, and the ``N x N``
    matrix is never formed.

    The basis is that of the constant-coefficient surrogate: every ``a_t`` and ``c`` replaced by its
    mean over the grid, odd orders left out on an axis that also has even ones (they would make
    ``S_k`` neither symmetric nor antisymmetric). With constant coefficients the system is exactly
    that of :class:`KroneckerProfile`. Preconditioners: ``"kronecker"`` (what ``"auto"`` gives), the
    surrogate's Kronecker preconditioner with ``m`` replaced by :meth:`symbol_scale`, exact in the
    dominant term ``v (JG)^H (JG)`` when the coefficients are constant; ``"diagonal"``, the exact
    diagonal of this normal matrix (Jacobi).
    """

    def auto_preconditioner(self) -> str:
        """``"kronecker"``, the surrogate's (a complex basis, from first-order-only axes, falls back to the
        diagonal)."""
        return "kronecker"

    @torch.no_grad()
    def __init__(self, model: GPField, batch: dict[str, Any], preconditioner: str | None = None,
                 final: bool = False):
        op: GridOperator = batch["operator"]
        if not op.linear:
            raise ValueError(f"VariableProfile needs a linear operator; {op.name} is not linear")
        zero = torch.zeros(model.shape, dtype=model.U.dtype, device=model.U.device)
        at_zero, c, coefficients = op.partials(zero, {key: zero for key in op.needs})
        self.terms = [(key, a) for key, a in sorted(coefficients.items()) if bool(a.any())]
        self.c = c if bool(c.any()) else None

        kron, mats = model.factorize(op.max_order, "cholesky")
        parts = [torch.zeros_like(kron.factors[k]) for k in range(model.dim)]
        even = {k for (k, r), _ in self.terms if r % 2 == 0}
        for (k, r), a in self.terms:
            if r % 2 == 0 or k not in even:
                parts[k] = parts[k] + float(a.mean()) * mats[k][r]
        if self.c is not None:  # c U = (c K_0 K_0^-1 along axis 0) U
            parts[0] = parts[0] + float(self.c.mean()) * kron.factors[0]
        super().__init__(model, batch, preconditioner, parts=parts, final=final)

        # H_k^(r) = K_k^(r) K_k^-1 G_k, and K_k^-1 G_k = L_k^-T W_k = G_inv_k^H
        self.factors = [[self.G[j] if j != k else mats[k][r].to(self.dtype) @ self.G_inv[k].conj().T
                         for j in range(model.dim)] for (k, r), _ in self.terms]
        self.rhs = self.adjoint(self.v * (batch["forcing"] - at_zero), self.s * self.g)
        # the exact diagonal: diag((JG)^H (JG)) = sum_{t, t'} (prod_k conj(F_tk) F_t'k)^T (a_t a_t')
        rows = list(zip(self.factors, [a for _, a in self.terms]))
        if self.c is not None:
            rows.append((self.G, self.c))
        gram = torch.zeros(model.shape, dtype=model.U.dtype, device=model.U.device)
        for i, (Fi, ai) in enumerate(rows):
            for j, (Fj, aj) in enumerate(rows[i:], start=i):
                t = kron_matvec([(x.conj() * y).T for x, y in zip(Fi, Fj)], (ai * aj).to(self.dtype)).real
                gram = gram + (t if j == i else 2 * t)
        self.inv_diag = 1.0 / (1.0 + self.v * gram + self.s * self.edge)
        if self.preconditioner == "kronecker":
            self.set_scale(self.symbol_scale(mats))

    def symbol_scale(self, mats: Sequence[Sequence[torch.Tensor]]) -> torch.Tensor:
        """``sign(m) sqrt(mean_x (sum_t a_t(x) mu_t)^2)``, the root mean square over the grid of the
        local symbol, in the place of ``m`` in the Kronecker preconditioner. ``mu_t`` are the
        eigenvalues of the even-order terms and of ``c`` (1) in the surrogate's basis (exact for an axis
        whose even-order terms are of one order; first orders are left out). With constant
        coefficients it is ``m``; with variable ones it stays away from zero where an indefinite
        surrogate (a variable wavenumber) has ``m ~ 0``, which the operator does not."""
        dim = len(self.G)
        symbols = []
        for (k, r), a in self.terms:
            if r % 2 == 0:
                mu = torch.diagonal(self.G_inv[k] @ mats[k][r].to(self.dtype) @ self.G_inv[k].conj().T).real
                symbols.append((mu.reshape([-1 if j == k else 1 for j in range(dim)]), a))
        if self.c is not None:
            symbols.append((torch.ones([1] * dim, dtype=self.c.dtype, device=self.c.device), self.c))
        square = torch.zeros_like(self.m.real)
        for i, (mi, ai) in enumerate(symbols):
            for j, (mj, aj) in enumerate(symbols[i:], start=i):
                square = square + (1 if j == i else 2) * float((ai * aj).mean()) * mi * mj
        return torch.where(self.m.real >= 0, 1.0, -1.0) * square.clamp_min(0).sqrt()

    def _others(self, beta: torch.Tensor, factors: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        """Per axis ``k``, ``beta`` with ``factors[j]`` applied along every axis ``j != k``."""
        out = []
        for k in range(beta.ndim):
            t = beta
            for j, f in enumerate(factors):
                if j != k:
                    t = mode_dot(f, t, j)
            out.append(t)
        return out

    def apply(self, beta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(U, J U)`` for ``U = G beta``: the grid values and the linear part of the operator."""
        partial = self._others(beta, self.G)
        U = mode_dot(self.G[0], partial[0], 0)
        out = self.c * U if self.c is not None else torch.zeros_like(U)
        for ((k, _), a), F in zip(self.terms, self.factors):
            out = out + a * mode_dot(F[k], partial[k], k)
        return U, out

    def adjoint(self, r: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        """``(JG)^H r + G^H w`` for grid functions ``r`` (a residual) and ``w`` (on the values)."""
        r, w = r.to(self.dtype), w.to(self.dtype)
        if self.c is not None:
            w = w + self.c * r
        along = [mode_dot(self.GH[0], w, 0)] + [None] * (r.ndim - 1)
        for ((k, _), a), F in zip(self.terms, self.factors):
            t = mode_dot(F[k].conj().T, a * r, k)
            along[k] = t if along[k] is None else along[k] + t
        total = 0
        for k, t in enumerate(along):
            if t is None:
                continue
            for j, GH in enumerate(self.GH):
                if j != k:
                    t = mode_dot(GH, t, j)
            total = total + t
        return total

    def normal(self, beta: torch.Tensor) -> torch.Tensor:
        """The normal matrix times ``beta``."""
        U, Ju = self.apply(beta)
        return beta + self.adjoint(self.v * Ju, self.s * (U * self.mask))


def axis_parts(mats: Sequence[Sequence[torch.Tensor]], op: GridOperator, dim: int) -> list[torch.Tensor]:
    """Per axis ``S_k``, the operator applied to that axis' kernel derivative matrices ``mats[k]``
    (``[K_k, K_k', K_k'']``) alone: ``L[U] = sum_k (S_k K_k^-1 along axis k) U`` when the operator
    is a sum of one-axis terms (:func:`kronecker_separable`)."""
    zero = torch.zeros((), dtype=mats[0][0].dtype, device=mats[0][0].device)
    return [torch.as_tensor(op.apply(zero, {(ax, o): mats[ax][o] if ax == k else zero for ax, o in op.needs}))
            for k in range(dim)]


def kronecker_separable(model: GPField, op: GridOperator) -> bool:
    """Whether :class:`KroneckerProfile` applies: the operator is linear, a sum of one-axis terms,
    and each ``S_k`` is symmetric or antisymmetric (checked on the model's current kernel)."""
    if not op.linear:
        return False
    with torch.no_grad():
        kron, mats = model.factorize(op.max_order, "cholesky")
        try:  # an operator with variable coefficients reads x, which matrices cannot stand in for
            parts = axis_parts(mats, op, model.dim)
        except (RuntimeError, ValueError, IndexError):
            return False
        if any(p.shape != (n, n) for p, n in zip(parts, model.shape)):
            return False
        if not all(torch.allclose(p, p.T) or torch.allclose(p, -p.T) for p in parts):
            return False
        # the sum of one-axis terms must reproduce the operator on a random grid function
        U = torch.randn(model.shape, dtype=model.U.dtype, generator=torch.Generator().manual_seed(0)).to(model.U.device)
        derivs = {(ax, o): mode_dot(mats[ax][o], kron.solve_mode(U, ax), ax) for ax, o in op.needs}
        total = sum(mode_dot(p, kron.solve_mode(U, k), k) for k, p in enumerate(parts))
        want = op.apply(U, derivs)
        return bool(torch.allclose(total, want, rtol=1e-8, atol=1e-8 * float(want.abs().max())))


class NoiseSchedule:
    """The profile's residual and boundary noise, one value per Adam step: held at ``start`` (a
    standard deviation) for the first ``hold`` fraction of ``steps``, then lowered geometrically to
    ``end``. ``scale`` is the mean square that the residual noise is relative to (the forcing's,
    see ``GPSolver._noise_scale``). The boundary noise starts at the same ``start`` x RMS(``scale``)
    and is lowered, the same fraction of the way in log, to ``end`` x RMS(``boundary_scale``), the
    solution's scale: with ``follow`` it is the mean square of the current iterate ``U`` at each
    step (``boundary_scale``, default ``scale``, until ``U`` is nonzero). The two scales differ by
    the operator's symbol: for ``-u_xx`` at ``k`` radians per unit the forcing is ``k^2`` times the
    solution, so a final boundary noise relative to the forcing leaves the Dirichlet data, and with
    them every component the residual cannot see (a linear part), ``k^2`` times too loose.

    A loose noise lets the prior shape the kernel: it locks the frequencies. A tight one makes
    collocation exact, so forcing terms far below the dominant one (a low-order trend under a
    high frequency, whose forcing is ``k^2`` times smaller) are fitted too, and the kernel learns
    them in the remaining steps. Each call of :meth:`apply` is one step.
    """

    def __init__(self, start: float, end: float, scale: float, steps: int, hold: float = 0.3,
                 boundary_scale: float | None = None, follow: bool = False):
        self.start, self.end, self.scale, self.steps, self.hold = start, end, scale, max(int(steps), 1), hold
        self.boundary_scale = scale if boundary_scale is None else boundary_scale
        self.follow = follow
        self.calls = 0

    def noise(self, step: int) -> float:
        frac = step / max(self.steps - 1, 1)
        frac = min(1.0, max(0.0, (frac - self.hold) / (1.0 - self.hold)))
        return self.start * (self.end / self.start) ** frac

    def set(self, model: GPField, noise: float) -> None:
        """Residual noise ``noise`` x RMS(``scale``); the boundary noise the same fraction of the
        way (in log) from ``start`` x RMS(``scale``) to ``end`` x RMS(``boundary_scale``)."""
        log_v = -math.log(noise**2 * self.scale) if self.scale > 0 else 0.0
        frac = math.log(noise / self.start) / math.log(self.end / self.start) if self.end < self.start else 1.0
        log_tau = log_v
        if self.scale > 0 and self.boundary_scale > 0:
            log_tau = -((1 - frac) * math.log(self.start**2 * self.scale)
                        + frac * math.log(self.end**2 * self.boundary_scale))
        with torch.no_grad():
            model.log_v.fill_(log_v)
            model.log_tau.fill_(log_tau)

    def apply(self, model: GPField) -> None:
        if self.follow:  # the solution's scale from the current iterate (the previous step's optimum)
            scale = float(model.U.detach().pow(2).mean())
            if scale > 0 and math.isfinite(scale):
                self.boundary_scale = scale
        self.set(model, self.noise(self.calls))
        self.calls += 1


def profiled_objective(model: GPField, batch: dict[str, Any]):
    """The negative log joint at the conditional optimum of ``U`` (set in place): its gradient in
    the kernel parameters is the gradient of the profile (``dL/dU = 0`` there). On the CG paths the
    metrics add ``profile_cg``, the iterations of the step's solve.

    ``batch["profile"]`` says how ``U`` is found: ``"dense"`` (the default on grids of at most
    ``MAX_PROFILE_NODES`` nodes), ``"kronecker"`` (the default on larger ones:
    :class:`KroneckerProfile`) or ``"variable"`` (:class:`VariableProfile`). The CG solves are warm
    started from the current ``U`` and capped at ``batch["profile_cg"]`` iterations (the solver
    polishes ``U`` once the kernel has settled)."""
    schedule = batch.get("noise_schedule")
    if schedule is not None:
        schedule.apply(model)
    kind = batch.get("profile") or ("dense" if model.U.numel() <= MAX_PROFILE_NODES else "kronecker")
    iterations, kernel = None, None
    if kind == "dense":  # one kernel evaluation and factorization for the solve and the loss
        kernel = model.kernel_terms(batch["operator"].max_order)
    with torch.no_grad():
        if kind == "dense":
            model.U.copy_(conditional_optimum(model, batch, kernel=kernel))
        else:
            U, iterations = PROFILES[kind](model, batch).solve(model.U.detach(), maxiter=batch["profile_cg"],
                                                               warn=False)
            model.U.copy_(U)
    loss, metrics = negative_log_joint(model, batch, kernel)
    if iterations is not None:  # the history's train_profile_cg: mean CG iterations per step
        metrics["profile_cg"] = torch.tensor(float(iterations))
    return loss, metrics


PROFILES = {"kronecker": KroneckerProfile, "variable": VariableProfile}


__all__ = ["MAX_PROFILE_NODES", "PROFILES", "KroneckerProfile", "NoiseSchedule", "VariableProfile", "axis_parts",
           "conditional_optimum", "kronecker_separable", "ridge_least_squares", "whitened_terms", "profiled_objective"]
