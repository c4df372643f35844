"""GP-HM beyond sums of one-axis terms: the matrix-free profile for linear operators with variable
coefficients (:class:`~pdeml.gp.profile.VariableProfile`), and 3D Poisson on a tensor grid."""

import math

import numpy as np
import pytest
import torch

from pdeml import problems
from pdeml.gp import GPSolver, negative_log_joint
from pdeml.gp.profile import (
    KroneckerProfile,
    VariableProfile,
    conditional_optimum,
    kronecker_separable,
)
from pdeml.problems import PDE, xp_of

VARIABLE = [("poisson2d_varcoef", {"freq": 3.0}), ("helmholtz2d_varwave", {"freq": 3.0, "k0": 2.0})]


def _setup(problem, shape, shift=0.4, rho=None):
    """A solver's model at a kernel away from its initial values, and its profile batch (the CG
    paths' derivative form, the held profile noise)."""
    s = GPSolver(problem, shape, profile_steps=1, device="cpu", progress=False)
    with torch.no_grad():
        for k in s.model.kernels:
            if rho is None:
                k.log_inv_lengthscale.add_(shift)
            else:
                k.log_inv_lengthscale.fill_(math.log(rho))
    batch = s._batch()
    batch["consistent"] = False
    s._set_profile_noise(batch)
    return s, batch


def _nodes_error(u, p, shape):
    exact = p.exact(*p.grid(shape))
    return float(np.linalg.norm(np.asarray(u) - exact) / np.linalg.norm(exact))


@pytest.mark.parametrize("name, params", VARIABLE)
@pytest.mark.parametrize("preconditioner", ["kronecker", "diagonal"])
def test_matrix_free_solve_matches_the_dense_least_squares_optimum(name, params, preconditioner):
    s, batch = _setup(problems.get(name, **params), [20, 18])
    assert not kronecker_separable(s.model, s.operator)  # variable coefficients: no Kronecker profile
    with torch.no_grad():
        dense = conditional_optimum(s.model, batch)
        solver = VariableProfile(s.model, batch, preconditioner=preconditioner)
        assert solver.preconditioner == preconditioner
        U, iters = solver.solve(torch.zeros(20, 18, dtype=torch.float64), rtol=1e-12, maxiter=3000)
        assert 0 < iters < 3000
        assert float((U - dense).norm() / dense.norm()) < 1e-8  # 1e-12 measured
        assert solver.solve(dense, rtol=1e-6)[1] == 0  # a warm start at the optimum needs no iteration


def test_the_solve_is_a_stationary_point_of_the_loss_in_U():
    # the profile's gradient in the kernel is that of the loss because dL/dU = 0 at the solve
    s, batch = _setup(problems.get("poisson2d_varcoef", freq=3.0), [20, 18])
    with torch.no_grad():
        U, _ = VariableProfile(s.model, batch).solve(torch.zeros(20, 18, dtype=torch.float64), rtol=1e-12,
                                                     maxiter=3000)

    def gradient_norm(values):
        s.model.U.data.copy_(values)
        s.model.U.grad = None
        negative_log_joint(s.model, batch)[0].backward()
        return float(s.model.U.grad.norm())

    step = 1e-3 * torch.randn(20, 18, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    assert gradient_norm(U) < 1e-6 * gradient_norm(U + step)


def test_constant_coefficients_give_the_kronecker_profile_system():
    # -Lap u: a sum of one-axis terms with constant coefficients, which KroneckerProfile solves
    s, batch = _setup(problems.get("poisson2d_sin100", freq=3.0), [20, 18])
    assert kronecker_separable(s.model, s.operator)
    with torch.no_grad():
        variable = VariableProfile(s.model, batch, preconditioner="kronecker")
        kron = KroneckerProfile(s.model, batch, preconditioner="kronecker")
        beta = torch.randn(20, 18, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
        assert float((variable.normal(beta) - kron.normal(beta)).norm() / kron.normal(beta).norm()) < 1e-12
        assert float((variable.rhs - kron.rhs).norm() / kron.rhs.norm()) < 1e-12
        # the surrogate is the operator itself: the same preconditioner, the same iterations
        zero = torch.zeros(20, 18, dtype=torch.float64)
        # (to within one iteration: the last digits of a sum depend on the thread count)
        assert abs(variable.solve(zero, rtol=1e-10)[1] - kron.solve(zero, rtol=1e-10)[1]) <= 1


def test_surrogate_preconditioner_needs_far_fewer_iterations_than_the_diagonal():
    # long length-scales (1 / 0.2 on [0, 2 pi]): the kernel matrices are far from circulant
    s, batch = _setup(problems.get("poisson2d_varcoef", freq=8.0), [32, 30], rho=0.2)
    iters = {}
    with torch.no_grad():
        dense = conditional_optimum(s.model, batch)
        for name in ("diagonal", "kronecker"):
            solver = VariableProfile(s.model, batch, preconditioner=name)
            U, iters[name] = solver.solve(torch.zeros(32, 30, dtype=torch.float64), rtol=1e-10, maxiter=1000,
                                          warn=False)
            if name == "kronecker":
                assert float((U - dense).norm() / dense.norm()) < 1e-7
    assert 5 * iters["kronecker"] < iters["diagonal"], iters  # 55 against 420 measured


def test_symbol_scale_is_m_for_constant_coefficients_and_keeps_an_indefinite_surrogate_off_zero():
    with torch.no_grad():
        s, batch = _setup(problems.get("helmholtz2d_varwave", freq=3.0, k0=2.0, amp=0.0), [20, 18])
        solver = VariableProfile(s.model, batch)
        assert solver.preconditioner == "kronecker" and torch.allclose(solver.scale, solver.m, rtol=1e-10)
        # kappa^2 from 49 to 169 inside the kernel's spectrum: the surrogate is indefinite, m ~ 0 somewhere
        s, batch = _setup(problems.get("helmholtz2d_varwave", freq=8.0, k0=10.0), [32, 30])
        solver = VariableProfile(s.model, batch)
        assert (solver.m > 0).any() and (solver.m < 0).any()
        assert float(solver.m.abs().min()) < 1.0 < 10.0 < float(solver.scale.abs().min())  # 0.3, 29 measured
        zero = torch.zeros(32, 30, dtype=torch.float64)
        symbol = solver.solve(zero, rtol=1e-10, maxiter=3000, warn=False)[1]
        solver.set_scale(solver.m)  # the surrogate's own m
        plain = solver.solve(zero, rtol=1e-10, maxiter=3000, warn=False)[1]
    assert 3 * symbol < plain, (symbol, plain)  # 193 against 1,420 measured


def test_variable_coefficient_pde_above_the_dense_limit_beats_fd_on_the_same_nodes():
    p = problems.get("poisson2d_varcoef", freq=4.0)
    assert GPSolver(p, 20, profile_steps=1, device="cpu")._profile == "dense"  # small grids stay dense
    s = GPSolver(p, 48, profile_steps=15, device="cpu", progress=False).fit()  # 2,304 nodes
    assert s._profile == "variable" and s.history[-1]["polish_cg"] >= 0
    gp, fd = _nodes_error(s.solution, p, 48), _nodes_error(p.fd_solve(48), p, 48)
    assert gp < 0.5 * fd, (gp, fd)  # 6.5e-3 against 2.3e-2 measured
    assert s.history[-1]["relative_l2"] < 0.5 * s.history[0]["relative_l2"]  # the kernel learned
    assert all(r["train_profile_cg"] <= s.profile_cg for r in s.history if "train_profile_cg" in r)


class _VarCoef3D(PDE):
    """``-div(a grad u) + c u = f`` in 3D with ``a = 1 + 0.3 x y``, ``c = 1 + z``, exact ``u = sin x cos y e^z``."""

    domain = [(0.0, 1.0), (0.0, 1.5), (0.0, 1.0)]

    def operator(self, u, d, x):
        a = 1 + 0.3 * x[0] * x[1]
        return -a * d.laplacian() - 0.3 * x[1] * d["x"] - 0.3 * x[0] * d["y"] + (1 + x[2]) * u

    def exact(self, x, y, z):
        xp = xp_of(x)
        return xp.sin(x) * xp.cos(y) * xp.exp(z)

    def forcing(self, x, y, z):
        xp = xp_of(x)
        u = self.exact(x, y, z)
        u_x, u_y = xp.cos(x) * xp.cos(y) * xp.exp(z), -xp.sin(x) * xp.sin(y) * xp.exp(z)
        return (1 + 0.3 * x * y) * u - 0.3 * y * u_x - 0.3 * x * u_y + (1 + z) * u


# the frequency estimate reads windowed FFTs of a non-periodic forcing: too coarse a grid for it, and the
# smallest that keeps the dense solve cheap
@pytest.mark.filterwarnings("ignore:.*points on axis:UserWarning")
def test_matrix_free_solve_in_three_dimensions():
    p = _VarCoef3D()
    pts = torch.rand(50, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0)).requires_grad_(True)
    residual = p.residual(lambda q: p.exact(*q.unbind(1)), pts).detach()
    assert float(residual.abs().max()) < 1e-12  # the forcing is that of the exact solution
    s, batch = _setup(p, [8, 7, 6], shift=0.0)
    with torch.no_grad():
        dense = conditional_optimum(s.model, batch)
        U, iters = VariableProfile(s.model, batch).solve(torch.zeros(8, 7, 6, dtype=torch.float64), rtol=1e-12,
                                                         maxiter=2000)
    assert 0 < iters < 2000 and float((U - dense).norm() / dense.norm()) < 1e-8


def test_poisson3d_on_a_tensor_grid_uses_the_kronecker_profile(tmp_path):
    from pdeml.gp.plots import save_fit_figure

    p = problems.get("poisson3d_sin", a=1.0, b=2.0, c=3.0)
    s = GPSolver(p, 16, profile_steps=20, device="cpu", progress=False).fit()  # 4,096 nodes
    assert s._profile == "kronecker" and s.solution.shape == (16, 16, 16)
    gp, fd = _nodes_error(s.solution, p, 16), _nodes_error(p.fd_solve(16), p, 16)
    assert s.relative_l2() < 0.06 and gp < 0.5 * fd, (s.relative_l2(), gp, fd)  # 0.042, 0.11 (FD) measured
    assert save_fit_figure(s, tmp_path / "fit.png").stat().st_size > 0  # a plane of the 3D grid
