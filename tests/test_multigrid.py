"""pdeml.linalg: the multigrid preconditioner with learned smoothers, and the algebraic coarse space."""

import json

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla
import torch

from pdeml.cli import main
from pdeml.linalg import (
    CoarseSpace,
    MultigridPreconditioner,
    SmootherNet,
    constant_null_space,
    fcg,
    load_preconditioner,
    train_multigrid,
)
from pdeml.linalg.multigrid import TorchHierarchy
from pdeml.problems.pressure import PressureSystem


def _cg(A, b, M=None, rtol=1e-8):
    count = [0]
    x, info = spla.cg(A, b, M=M, rtol=rtol, maxiter=2000, callback=lambda xk: count.__setitem__(0, count[0] + 1))
    return x, info, count[0]


def _variable_coefficient(shape, seed=0):
    """``-div(a grad u)`` with Dirichlet walls on a cell grid, ``a`` a smooth positive random field
    varying by a factor of about 50: the 5-point (2D) or 7-point (3D) stencil as CSR."""
    rng = np.random.default_rng(seed)
    a = np.exp(2.0 * np.tanh(np.fft.ifftn(np.fft.fftn(rng.standard_normal(shape)) *
                                          np.exp(-0.05 * sum(np.meshgrid(*[np.fft.fftfreq(n) * n for n in shape],
                                                                         indexing="ij")) ** 2)).real * 3))
    n = int(np.prod(shape))
    idx = np.arange(n).reshape(shape)
    rows, cols, vals = [], [], []
    diag = np.zeros(shape)
    for ax in range(len(shape)):
        lo = [slice(None)] * len(shape)
        hi = [slice(None)] * len(shape)
        lo[ax], hi[ax] = slice(0, -1), slice(1, None)
        face = 2.0 / (1.0 / a[tuple(lo)] + 1.0 / a[tuple(hi)])  # harmonic mean on interior faces
        diag[tuple(lo)] += face
        diag[tuple(hi)] += face
        i, j = idx[tuple(lo)].ravel(), idx[tuple(hi)].ravel()
        rows += [i, j]
        cols += [j, i]
        vals += [-face.ravel(), -face.ravel()]
        for end in (0, -1):  # Dirichlet walls: a ghost value of 0 half a cell out
            sl = [slice(None)] * len(shape)
            sl[ax] = end
            diag[tuple(sl)] += 2.0 * a[tuple(sl)]
    A = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n))
    return (A + sp.diags(diag.ravel())).tocsr()


@pytest.fixture(scope="module")
def smoother():
    """A smoother trained for 2D Neumann pressure systems at 24x24 (about two seconds)."""
    problem = PressureSystem(dim=2, walls="neumann")
    rng = np.random.default_rng(0)
    systems = [problem.system(problem.sample_mask(rng, 24)) for _ in range(2)]
    torch.manual_seed(0)
    model, result = train_multigrid(systems, samples=60, epochs=5, ritz=60, lr=1e-2, coarsest=16, device="cpu",
                                    progress=False)
    return model, result


@pytest.fixture(scope="module")
def unseen():
    problem = PressureSystem(dim=2, walls="neumann")
    return {n: problem.sample_system(np.random.default_rng(100 + n), n) for n in (32, 64)}


def _random_smoother(dim=2, channels=2, seed=1):
    net = SmootherNet(dim=dim, channels=channels, stencil="box")
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        net.weight.copy_(torch.randn(net.weight.shape, generator=g))
        net.theta_logit.fill_(4.0)  # theta close to its bound 1.8
    return net


# -- the preconditioner is a fixed SPD map -------------------------------------------------


@pytest.mark.parametrize("which", ["trained", "random"])
def test_vcycle_is_symmetric_positive_definite(which, smoother, unseen):
    system, _ = unseen[32]
    net = smoother[0] if which == "trained" else _random_smoother()
    M = MultigridPreconditioner(system, smoother=net, coarsest=16)
    assert len(M.levels) >= 3
    rng = np.random.default_rng(0)
    U, V = rng.standard_normal((2, 20, system.n))
    MU, MV = M.matmat(U.T).T, M.matmat(V.T).T
    sym = np.abs(np.sum(U * MV, 1) - np.sum(V * MU, 1)) / (np.linalg.norm(U, axis=1) * np.linalg.norm(MV, axis=1))
    assert sym.max() < 1e-12
    assert np.all(np.sum(U * MU, 1) > 0)  # on every vector, the null space of the Neumann matrix included
    ones = np.ones(system.n)
    assert ones @ (M @ ones) > 0
    # linear: M(a u + v) = a M u + M v
    assert np.allclose(M @ (2.5 * U[0] + V[0]), 2.5 * MU[0] + MV[0], rtol=1e-12, atol=1e-12 * np.abs(MU[0]).max())


def test_positive_definite_where_power_iteration_underestimates():
    """A Laplacian plus a localized high mode, whose largest eigenvalue a short power iteration
    underestimates by 16%: with theta at its bound the cycle must stay positive definite there."""
    n = 32
    T = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(n, n))
    L = (sp.kron(T, sp.identity(n)) + sp.kron(sp.identity(n), T)).tocsr()
    w = np.zeros((n, n))
    w[16:18, 16:18] = [[1, -1], [-1, 1]]
    w = w.ravel()
    A = (L + 1.6 * sp.csr_matrix(np.outer(w, w))).tocsr()
    net = SmootherNet(dim=2)
    with torch.no_grad():
        net.theta_logit.fill_(10.0)
    M = MultigridPreconditioner(A, grid=(n, n), smoother=net, coarsest=16)
    d = 1.0 / np.sqrt(A.diagonal())
    top = np.linalg.eigh((sp.diags(d) @ A @ sp.diags(d)).toarray())[1][:, -1]
    v = d * top
    assert v @ (M @ v) > 0
    # lambda_max of the smoother (with its 1% identity channel), found by Lanczos, with the 2% margin
    true = 1.01 * np.linalg.eigvalsh((sp.diags(d) @ A @ sp.diags(d)).toarray())[-1]
    assert M.lambdas[0] == pytest.approx(1.02 * true, rel=1e-3)


def test_enclosed_pockets_and_isolated_cells(unseen):
    """Neumann pockets a 2^d block swallows whole, and isolated fluid cells (zero rows of A), are
    null components the cycle must carry, not reject."""
    from pdeml.solvers.pressure import pressure_system

    mask = np.ones((24, 24), bool)
    mask[3:7, 3:7] = False
    mask[4:6, 4:6] = True  # a 2x2 pocket, one coarse cell
    mask[12:15, 12:15] = False
    mask[13, 13] = True  # an isolated cell: a zero row
    system = pressure_system(mask, "neumann")
    assert system.null_space.shape[1] == 3
    M = MultigridPreconditioner(system, coarsest=16)
    b = system.project(np.random.default_rng(0).standard_normal(system.n))
    x, info, its = _cg(system.matrix, b, M=M)
    assert info == 0 and its < 20
    assert np.allclose(system.project(x), system.solve(b), atol=1e-6 * np.abs(x).max())


def test_torch_cycle_matches_the_sparse_cycle(unseen):
    """Training differentiates the torch cycle; applying uses the SciPy one: the two are one map."""
    system, b = unseen[32]
    net = _random_smoother(channels=2)
    M = MultigridPreconditioner(system, smoother=net, coarsest=16)
    h = TorchHierarchy(M.levels, dtype=torch.float64)
    h.lambdas = list(M.lambdas)
    net64 = _random_smoother(channels=2).double()
    with torch.no_grad():
        q = h.cycle(net64, torch.from_numpy(b)[:, None])[:, 0].numpy()
    assert np.allclose(q, M @ b, rtol=1e-10, atol=1e-12 * np.abs(q).max())
    # the warm-started power iteration reaches the set-up's lambda_max estimates
    h.update_lambdas(net64.effective_weight(), 200)
    assert np.allclose(h.lambdas, M.lambdas, rtol=0.05)


# -- convergence ---------------------------------------------------------------------------


def test_learned_vcycle_in_plain_scipy_cg(smoother, unseen):
    model, result = smoother
    history = [h["train_loss"] for h in result.history]
    assert history[-1] < 0.8 * history[0]  # the one-step A-norm error went down in training
    counts = {}
    for n, (system, b) in unseen.items():  # masks not seen in training, 32^2 and 64^2
        x, info, learned = _cg(system.matrix, b, M=MultigridPreconditioner(system, smoother=model))
        assert info == 0 and np.allclose(system.project(x), system.solve(b), atol=1e-6 * np.abs(x).max())
        _, info_j, jacobi = _cg(system.matrix, b, M=MultigridPreconditioner(system))
        _, _, plain = _cg(system.matrix, b)
        assert info_j == 0 and learned < jacobi < plain / 5
        counts[n] = learned
    # near size-independent: at most 30% (or one iteration) more on a grid four times larger
    assert counts[64] <= max(1.3 * counts[32], counts[32] + 1)


def test_user_matrix_on_a_grid_2d_and_3d():
    """A user's variable-coefficient stencil (no pressure system): the V-cycle and the coarse space
    work from the CSR matrix and a grid shape alone."""
    for shape in ((40, 40), (12, 12, 12)):
        A = _variable_coefficient(shape)
        b = np.random.default_rng(1).standard_normal(A.shape[0])
        exact = spla.spsolve(A.tocsc(), b)
        x, info, its = _cg(A, b, M=MultigridPreconditioner(A, grid=shape, coarsest=30))
        _, _, plain = _cg(A, b)
        assert info == 0 and its < plain / 4 and np.allclose(x, exact, rtol=0, atol=1e-6 * np.abs(exact).max())
        space = CoarseSpace(A, grid=shape)
        xc, info_c = fcg(A, b, coarse=space, rtol=1e-8, maxiter=2000)
        _, info_p = fcg(A, b, rtol=1e-8, maxiter=2000)
        assert info_c == 0 and info_c.iterations < info_p.iterations
        assert np.allclose(xc, exact, atol=1e-6 * np.abs(exact).max())


def test_coarse_space_null_space_and_aggregates(unseen):
    system, b = unseen[32]
    N = constant_null_space(system.matrix)
    S = system.null_space.toarray()
    assert N.shape == S.shape and np.allclose(N @ (N.T @ S), S, atol=1e-12)  # the same subspace, found from A
    assert constant_null_space(_variable_coefficient((8, 8))) is None  # Dirichlet: definite
    space = CoarseSpace(system, block=4, smoothing=False)
    assert space.n_coarse >= (32 // 4) ** 2 * 0.5 and space.method == "splu"
    # Q is the A-orthogonal projection onto range(Z) applied to A^+: Z^T (b - A Q b) = 0 for b in range(A)
    q = space(b)
    assert np.abs(space.ZT @ (b - system.matrix @ q)).max() < 1e-10 * np.abs(b).max()
    # with smoothing (the default) a Jacobi term is added: an SPD map, so r.Q(r) > 0 for every r
    smooth = CoarseSpace(system, block=4)
    r = np.random.default_rng(2).standard_normal((5, system.n))
    assert np.allclose(smooth(b), q + b / (4.0 * system.matrix.diagonal()) * 4.0 / (
        np.max(abs(system.matrix).sum(axis=1).A.ravel() / system.matrix.diagonal())), atol=1e-12)
    assert np.all(np.sum(r * smooth(r), axis=1) > 0)
    # the same from the bare CSR matrix and the mask (null space detected) up to a null vector
    q2 = CoarseSpace(system.matrix, mask=system.mask, block=4, smoothing=False)(b)
    assert np.allclose(system.project(q2), system.project(q), atol=1e-10 * np.abs(q).max())
    qt = space(torch.from_numpy(b).float())
    assert qt.dtype == torch.float32 and np.allclose(qt.numpy(), q, rtol=1e-4, atol=1e-5 * np.abs(q).max())


# -- saving, the command line, bad input ---------------------------------------------------


def test_train_preconditioner_multigrid_round_trip(tmp_path, unseen):
    out = tmp_path / "mg"
    assert main(["train-preconditioner", "--kind", "multigrid", "--dim", "2", "--grid", "24", "--systems", "1",
                 "--ritz", "40", "--samples", "30", "--epochs", "2", "--device", "cpu", "--out", str(out),
                 "--quiet"]) == 0
    state = torch.load(out / "model.pt", weights_only=True)
    assert json.loads(state["model_config"])["name"] == "multigrid-smoother"
    model = load_preconditioner(out)
    assert isinstance(model, SmootherNet)
    system, b = unseen[32]
    from_path = MultigridPreconditioner(system, smoother=out)
    from_model = MultigridPreconditioner(system, smoother=model)
    assert np.allclose(from_path @ b, from_model @ b)


def test_bad_input_errors(unseen):
    system, b = unseen[32]
    A = system.matrix
    with pytest.raises(ValueError, match="symmetric"):
        MultigridPreconditioner(A + sp.random(A.shape[0], A.shape[0], density=0.01, random_state=0, format="csr"),
                                mask=system.mask)
    with pytest.raises(ValueError, match="unknowns"):
        MultigridPreconditioner(A, grid=(32, 32))
    with pytest.raises(ValueError, match="grid= .* or mask="):
        MultigridPreconditioner(A)
    with pytest.raises(ValueError, match="places its own"):
        MultigridPreconditioner(system, grid=(32, 32))
    bad = A.copy()
    bad.data[0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        MultigridPreconditioner(bad, mask=system.mask)
    with pytest.raises(ValueError, match="non-positive diagonal"):
        MultigridPreconditioner(-sp.identity(16, format="csr"), grid=(4, 4))
    with pytest.raises(ValueError, match="3D"):
        MultigridPreconditioner(system, smoother=SmootherNet(dim=3))
    with pytest.raises(ValueError, match="unknown stencil"):
        SmootherNet(stencil="cross")
    with pytest.raises(ValueError, match="coarsest"):
        train_multigrid([system], coarsest=10_000, epochs=1, device="cpu", progress=False)
    with pytest.raises(ValueError, match="unknowns"):
        CoarseSpace(A, grid=(8, 8))
    with pytest.raises(ValueError, match="coarse space has"):
        fcg(_variable_coefficient((8, 8)), np.ones(64), coarse=CoarseSpace(A, mask=system.mask))
