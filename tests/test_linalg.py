"""pdeml.linalg: DCDM network and loss, Ritz vectors, dcdm_solve, fcg, DeepPreconditioner, CLI, bench."""

import json

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla
import torch

from pdeml.cli import main
from pdeml.linalg import (
    DCDMNet,
    DeepPreconditioner,
    NonFiniteError,
    NonPositiveCurvatureError,
    dcdm_loss,
    dcdm_solve,
    fcg,
    lanczos,
    load_preconditioner,
    ritz_rhs,
    ritz_vectors,
)
from pdeml.problems.obstacles import random_mask
from pdeml.problems.pressure import PressureSystem


def _scipy_cg_iterations(A, b, **kw):
    count = [0]
    x, info = spla.cg(A, b, callback=lambda xk: count.__setitem__(0, count[0] + 1), **kw)
    return x, info, count[0]


@pytest.fixture(scope="module")
def neumann16():
    """A singular 16x16 Neumann system with obstacles and a compatible right-hand side."""
    system, b = PressureSystem(dim=2, walls="neumann").sample_system(np.random.default_rng(3), 16)
    assert system.is_singular
    return system, b


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A network trained by `pdeml train-preconditioner` on 16x16 Neumann systems (a few seconds)."""
    out = tmp_path_factory.mktemp("dcdm")
    torch.manual_seed(0)
    code = main(["train-preconditioner", "--dim", "2", "--grid", "16", "--systems", "2", "--ritz", "60",
                 "--samples", "200", "--epochs", "4", "--lr", "2e-3", "--device", "cpu", "--out", str(out), "--quiet"])
    assert code == 0
    return out


# -- network and loss ---------------------------------------------------------------------


@pytest.mark.parametrize("shape,levels", [((9, 13), 1), ((5, 6, 7), 1), ((11, 20), 3)])
def test_network_any_grid_and_zero_in_solids(shape, levels):
    torch.manual_seed(0)
    net = DCDMNet(dim=len(shape), levels=levels)
    mask = torch.from_numpy(random_mask(np.random.default_rng(0), shape, "spheres", count=2))
    b = torch.randn(3, *shape)
    q = net(b, mask)
    assert q.shape == (3, *shape)
    assert torch.all(q[:, ~mask] == 0) and q[:, mask].abs().sum() > 0
    assert torch.allclose(net(b[1], mask), q[1], atol=1e-6)  # unbatched == batched
    with pytest.raises(ValueError, match="grid axes"):
        net(torch.randn(2, 3, *shape))


def test_loss_is_scale_invariant_and_zero_for_the_inverse(neumann16):
    system, _ = neumann16
    op = system.torch_operator(dtype=torch.float64)
    g = torch.Generator().manual_seed(0)
    b = op.project(torch.randn(4, system.n, generator=g, dtype=torch.float64))
    q = torch.randn(4, system.n, generator=g, dtype=torch.float64)
    base = dcdm_loss(b, q, op(q))
    assert torch.all((base > 0) & (base <= 1))
    for c in (1e-3, -2.0, 1e4):
        assert torch.allclose(dcdm_loss(b, c * q, op(c * q)), base, rtol=1e-10)
        assert torch.allclose(dcdm_loss(c * b, q, op(q)), base, rtol=1e-10)
    # f = A^+ (up to a constant) gives loss 0
    exact = torch.from_numpy(np.stack([system.solve(bi) for bi in b.numpy()]))
    assert dcdm_loss(b, 3.0 * exact, op(3.0 * exact)).max() < 1e-20
    # a zero direction is the zero step: loss 1, not NaN
    assert torch.allclose(dcdm_loss(b, torch.zeros_like(q), torch.zeros_like(q)), torch.ones(4, dtype=torch.float64))


# -- Ritz vectors -----------------------------------------------------------------------


def test_ritz_vectors_match_extreme_eigenvalues_and_avoid_null_space(neumann16):
    system, _ = neumann16
    A = system.matrix
    alpha, beta, V = lanczos(A, 40, null_space=system.null_space)
    T = np.diag(alpha) + np.diag(beta, 1) + np.diag(beta, -1)
    assert np.allclose(V.T @ V, np.eye(V.shape[1]), atol=1e-10)
    assert np.allclose(V.T @ (A @ V), T, atol=1e-9)
    theta, W = ritz_vectors(A, 80, null_space=system.null_space)
    lam = np.linalg.eigvalsh(A.toarray())  # lam[0] = 0: the constant
    assert abs(lam[0]) < 1e-10 and theta.min() > 1e-6
    assert np.isclose(theta.min(), lam[1], rtol=1e-4) and np.isclose(theta.max(), lam[-1], rtol=1e-6)
    assert np.abs(system.null_space.T @ W).max() < 1e-10
    B = ritz_rhs(W, 50, low_boost=9.0, seed=1)
    assert np.allclose(np.linalg.norm(B, axis=1), 1.0)
    # the boost puts most of the energy on the low half
    coef = B @ W
    half = W.shape[1] // 2
    assert (coef[:, :half] ** 2).sum() > 20 * (coef[:, half:] ** 2).sum()


# -- fcg ---------------------------------------------------------------------------------


def test_fcg_identity_matches_cg_and_exact_inverse_takes_one_step(neumann16):
    system, b = neumann16
    A = system.matrix
    x, info = fcg(A, b, null_space=system.null_space, rtol=1e-8)
    x_cg, info_cg, its = _scipy_cg_iterations(A, b, rtol=1e-8)
    assert info == 0 == info_cg and info.iterations == its
    assert np.allclose(x, system.project(x_cg), rtol=0, atol=1e-9 * np.abs(x).max())
    assert np.allclose(x, system.solve(b), atol=1e-6 * np.abs(x).max())
    # M = A^+ (a pseudo-inverse on range(A)): one step
    inverse = spla.LinearOperator(A.shape, matvec=lambda r: system.solve(system.project(np.ravel(r))))
    x1, info1 = fcg(system, b, M=inverse, rtol=1e-10)
    assert info1 == 0 and info1.iterations == 1
    assert np.allclose(x1, system.solve(b), atol=1e-9)
    # relative residual history is recorded and ends below rtol
    assert info.relative_residuals[0] == pytest.approx(1.0) and info.rtol_reached <= 1e-8
    assert len(info.residuals) == info.iterations + 1


def test_fcg_torch_operator_matches_numpy(neumann16):
    system, b = neumann16
    op = system.torch_operator(dtype=torch.float64)
    xt, info_t = fcg(op, torch.from_numpy(b), M=lambda r: r / torch.from_numpy(system.matrix.diagonal()), rtol=1e-9)
    xn, info_n = fcg(system.matrix, b, M=sp.diags(1.0 / system.matrix.diagonal()), rtol=1e-9,
                     null_space=system.null_space)
    assert torch.is_tensor(xt) and isinstance(xn, np.ndarray)
    assert info_t.iterations == info_n.iterations
    assert np.allclose(xt.numpy(), xn, atol=1e-8)


# -- DCDM with a trained network ------------------------------------------------------------


def test_train_preconditioner_round_trip(trained, neumann16):
    state = torch.load(trained / "model.pt", weights_only=True)
    config = json.loads(state["model_config"])
    assert config["name"] == "dcdm" and config["dim"] == 2
    model = load_preconditioner(trained)
    assert all(torch.equal(model.state_dict()[k], v) for k, v in state["model"].items())
    saved = json.loads((trained / "config.json").read_text())
    assert saved["training"]["grids"] == [[16, 16], [16, 16]]
    with pytest.raises(Exception, match="does not exist"):
        load_preconditioner(trained / "missing.pt")


class ExactInverse(torch.nn.Module):
    """A stand-in "network" that solves the system exactly (float64): f(b) = A^+ b on the grid."""

    dim = 2

    def __init__(self, system):
        super().__init__()
        self.system = system
        self.scale = torch.nn.Parameter(torch.ones((), dtype=torch.float64))

    def forward(self, b, mask=None):
        rows = [self.system.solve(self.system.to_flat(bi.double().numpy())) for bi in b.detach()]
        return self.scale * torch.from_numpy(self.system.to_grid(np.stack(rows)))


def test_dcdm_with_exact_network_takes_one_step(neumann16):
    system, b = neumann16
    x, info = dcdm_solve(system, b, model=ExactInverse(system), rtol=1e-10)
    assert info == 0 and info.iterations == 1
    assert np.allclose(x, system.solve(b), atol=1e-10)


def test_dcdm_converges_to_direct_solution(trained, neumann16):
    system, b = neumann16  # a mask not seen in training
    model = load_preconditioner(trained)
    x, info = dcdm_solve(system, b, model=model, rtol=1e-8, maxiter=400, residual_direction=True)
    assert info == 0 and info.rtol_reached <= 1e-8
    assert np.allclose(x, system.solve(b), atol=1e-6 * np.abs(x).max())
    # the paper's iteration (network direction only) decreases the residual too
    _, info_paper = dcdm_solve(system, b, model=model, rtol=1e-8, maxiter=20)
    assert info_paper.relative_residuals[-1] < 0.5
    # the same through a plain CSR matrix, a mask and the null space
    x2, info2 = dcdm_solve(system.matrix, b, model=model, mask=system.mask, null_space=system.null_space, rtol=1e-8,
                           maxiter=400, residual_direction=True)
    assert info2.iterations == info.iterations and np.allclose(x2, x, atol=1e-9 * np.abs(x).max())
    # torch in, torch out
    xt, _ = dcdm_solve(system.torch_operator(dtype=torch.float64), torch.from_numpy(b), model=model, rtol=1e-8,
                       maxiter=400, residual_direction=True)
    assert torch.is_tensor(xt) and np.allclose(xt.numpy(), x, atol=1e-6 * np.abs(x).max())


def test_dcdm_all_directions_converges_where_two_stall(trained, neumann16):
    """With every previous direction kept, DCDM is a Galerkin method: the A-norm error never grows
    and the search space grows by one dimension per step, so it converges for this network, which
    the paper's two-direction window leaves far from the tolerance."""
    system, b = neumann16
    model = load_preconditioner(trained)
    exact = system.solve(b)
    iterates = []
    x, info = dcdm_solve(system, b, model=model, rtol=1e-8, maxiter=system.n, window=None,
                         callback=lambda xk: iterates.append(xk.copy()))
    assert info == 0 and info.iterations <= system.n // 2 and np.allclose(x, exact, atol=1e-6 * np.abs(x).max())
    energy = [float((e := exact - system.project(xk)) @ (system.matrix @ e)) for xk in iterates]
    assert all(e1 <= e0 * (1 + 1e-9) for e0, e1 in zip(energy, energy[1:]))
    _, info_two = dcdm_solve(system, b, model=model, rtol=1e-8, maxiter=info.iterations)
    assert info_two != 0 and info_two.rtol_reached > 1e3 * info.rtol_reached


def test_deep_preconditioner_inside_scipy_cg(trained, neumann16):
    system, b = neumann16
    M = DeepPreconditioner(load_preconditioner(trained), system=system)
    Mop = M  # a LinearOperator itself; as_linear_operator() returns it
    r = system.project(np.random.default_rng(0).standard_normal(system.n))
    assert np.allclose(Mop @ r, M(r)) and np.allclose(M(2.5 * r), 2.5 * M(r), rtol=1e-5, atol=1e-8)
    assert np.abs(system.null_space.T @ M(r)).max() < 1e-8  # output in range(A)
    xt = M(torch.from_numpy(r).float())
    assert xt.dtype == torch.float32 and np.allclose(xt.numpy(), M(r), rtol=1e-4, atol=1e-5 * np.abs(M(r)).max())
    # an exact network: scipy's cg converges in one step with the plugin
    exact = DeepPreconditioner(ExactInverse(system), system=system)  # directly as M=
    count = [0]
    x, info = spla.cg(system.matrix, b, M=exact, rtol=1e-9, callback=lambda xk: count.__setitem__(0, count[0] + 1))
    assert info == 0 and count[0] == 1 and np.allclose(system.project(x), system.solve(b), atol=1e-9)
    xm, info_m = spla.minres(system.matrix, b, M=exact, rtol=1e-9)
    assert info_m == 0 and np.allclose(system.project(xm), system.solve(b), atol=1e-8)
    # the trained (nonlinear) network inside scipy cg and pdeml's fcg: both reduce the residual
    x_net, _ = spla.cg(system.matrix, b, M=Mop, rtol=1e-7, maxiter=15)
    xf, info_f = fcg(system, b, M=M, rtol=1e-7, maxiter=15)
    for xx in (x_net, xf):
        assert np.linalg.norm(b - system.matrix @ xx) < 0.5 * np.linalg.norm(b)


# -- bad input ---------------------------------------------------------------------------


def test_bad_input_errors(neumann16):
    system, b = neumann16
    A = system.matrix
    net = DCDMNet(dim=2)
    with pytest.raises(ValueError, match="square"):
        fcg(sp.random(5, 4, density=0.5, format="csr"), np.ones(5))
    nonsym = A + sp.random(system.n, system.n, density=0.01, random_state=0, format="csr")
    with pytest.raises(ValueError, match="symmetric"):
        fcg(nonsym, b)
    with pytest.raises(ValueError, match="symmetric"):
        dcdm_solve(nonsym, b, model=net, mask=system.mask)
    bad = b.copy()
    bad[3] = np.nan
    with pytest.raises(ValueError, match="NaN or Inf"):
        dcdm_solve(system, bad, model=net)
    with pytest.raises(ValueError, match="does not match A"):
        dcdm_solve(A, b, model=net, grid=(16, 16))
    with pytest.raises(ValueError, match="needs grid"):
        dcdm_solve(A, b, model=net)
    with pytest.raises(ValueError, match="b has"):
        fcg(A, b[:-1])
    with pytest.raises(ValueError, match="3D"):
        DeepPreconditioner(DCDMNet(dim=3), system=system)


class NaNAfterFirst(torch.nn.Module):
    """Returns the input once, then NaN: a network that breaks down mid-solve."""

    dim = 2

    def __init__(self):
        super().__init__()
        self.calls = 0
        self.w = torch.nn.Parameter(torch.ones(()))

    def forward(self, b, mask=None):
        self.calls += 1
        return b * self.w if self.calls == 1 else torch.full_like(b, float("nan"))


def test_network_nan_mid_solve_keeps_the_iterate(neumann16):
    system, b = neumann16
    with pytest.raises(NonFiniteError, match="NaN") as err:
        dcdm_solve(system, b, model=NaNAfterFirst())
    assert err.value.info.iterations == 1 and np.isfinite(err.value.x).all()
    assert np.linalg.norm(b - system.matrix @ err.value.x) < np.linalg.norm(b)


def test_indefinite_matrix_returns_iterate_so_far():
    n = 50
    d = np.linspace(1.0, 2.0, n)
    d[-1] = -1.0  # one negative eigenvalue
    A = sp.diags(d).tocsr()
    b = np.ones(n)
    with pytest.raises(NonPositiveCurvatureError, match="non-positive curvature") as err:
        fcg(A, b, M=sp.diags(1.0 / np.abs(d)), rtol=1e-12)
    assert isinstance(err.value.x, np.ndarray) and err.value.x.shape == (n,)
    assert err.value.info < 0 and np.isfinite(err.value.x).all()


# -- benchmark -----------------------------------------------------------------------------


def test_bench_dcdm_tiny(tmp_path):
    assert main(["bench", "dcdm", "--preset", "tiny", "--out", str(tmp_path), "--device", "cpu"]) == 0
    rows = json.loads((tmp_path / "dcdm.json").read_text())["results"]
    solved = [r for r in rows if "iterations" in r]
    assert {r["grid"] for r in solved} == {"12^2", "16^2"}
    assert {r["rtol"] for r in solved} == {1e-4, 1e-6}
    classical = [r for r in solved if r["method"] in ("CG", "IC(0)-PCG", "AMG-PCG", "V-cycle (Jacobi), CG",
                                                         "learned V-cycle, CG")]
    assert len(classical) == 20 and all(r["converged"] and r["rel_residual"] < r["rtol"] for r in classical)
    its = {(r["grid"], r["rtol"], r["method"]): r["iterations"] for r in classical}
    for g, tol in {(g, t) for g, t, _ in its}:
        assert its[g, tol, "learned V-cycle, CG"] < its[g, tol, "IC(0)-PCG"] < its[g, tol, "CG"]
    net_rows = [r for r in solved if r["method"].startswith("DCDM")]
    assert len(net_rows) == 12 and all(0 < r["rel_residual"] < 1 for r in net_rows)
    assert [r["method"] for r in solved if r["grid"] == "16^2"].count("CG, M=net") == 0  # training size only
    assert (tmp_path / "dcdm_residuals_2d.png").stat().st_size > 1000


def test_coarse_direction_removes_the_two_direction_stall(trained, neumann16):
    """The paper's window of two stalls with this network, and says so; adding the algebraic coarse
    correction as a second direction each step converges with the same window."""
    system, b = neumann16
    model = load_preconditioner(trained)
    _, info_two = dcdm_solve(system, b, model=model, rtol=1e-8, maxiter=400)
    assert info_two.stalled and info_two > 0 and "stalled" in repr(info_two)
    x, info = dcdm_solve(system, b, model=model, rtol=1e-8, maxiter=400, coarse=True)
    assert info == 0 and not info.stalled and info.iterations < 150
    assert np.allclose(x, system.solve(b), atol=1e-6 * np.abs(x).max())
    # the same coarse space passed explicitly, on the bare matrix with a mask (null space found from A)
    from pdeml.linalg import CoarseSpace

    x2, info2 = dcdm_solve(system.matrix, b, model=model, mask=system.mask, null_space=system.null_space,
                           rtol=1e-8, maxiter=400, coarse=CoarseSpace(system.matrix, mask=system.mask))
    assert info2 == 0 and np.allclose(x2, x, atol=1e-6 * np.abs(x).max())


def test_fcg_takes_scipy_argument_order(neumann16):
    system, b = neumann16
    x0 = np.random.default_rng(0).standard_normal(system.n)
    x, info = fcg(system.matrix, b, x0, M=sp.diags(1.0 / system.matrix.diagonal()), rtol=1e-9,
                  null_space=system.null_space)
    assert info == 0 and np.allclose(x, system.solve(b), atol=1e-7)
    with pytest.raises(TypeError):
        fcg(system.matrix, b, None, None)  # M is keyword-only, as in scipy.sparse.linalg.cg
