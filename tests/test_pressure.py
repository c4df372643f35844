import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla
import torch

from pdeml import problems
from pdeml.problems.obstacles import random_mask, random_velocity
from pdeml.solvers.pressure import (
    divergence,
    largest_fluid_component,
    pressure_gradient,
    pressure_system,
    solve_pressure,
)

WALLS = ["neumann", "dirichlet", "open_top", {"x-": "dirichlet", "y+": "dirichlet"}]


def mask_2d(seed=0, kind="mixed"):
    return random_mask(np.random.default_rng(seed), (16, 16), kind, 4)


def mask_3d(seed=0, kind="mixed"):
    return random_mask(np.random.default_rng(seed), (8, 8, 8), kind, 3)


def split_mask():
    """16 x 12 fluid with a solid column at i = 7: two fluid components."""
    m = np.ones((16, 12), dtype=bool)
    m[7] = False
    return m


@pytest.mark.parametrize("walls", WALLS)
@pytest.mark.parametrize("make", [mask_2d, mask_3d])
def test_matrix_is_symmetric_with_integer_stencil(make, walls):
    S = pressure_system(make(), walls)
    A = S.matrix
    assert isinstance(A, sp.csr_matrix) and A.shape == (S.n, S.n) and S.n == S.mask.sum()
    assert abs(A - A.T).max() == 0
    assert np.all(A.data[A.data < 0] == -1)
    # diagonally dominant: each diagonal entry >= number of fluid neighbours
    assert np.all(A.diagonal() >= -(A - sp.diags(A.diagonal())).sum(axis=1).A1)


@pytest.mark.parametrize("make", [mask_2d, mask_3d])
@pytest.mark.parametrize("dirichlet", ["ghost", "face"])
def test_dirichlet_walls_give_positive_definite_matrix(make, dirichlet):
    mask = largest_fluid_component(make())  # an enclosed pocket would be singular even with Dirichlet walls
    S = pressure_system(mask, "dirichlet", dirichlet=dirichlet)
    assert S.null_space is None and not S.is_singular
    assert np.linalg.eigvalsh(S.matrix.toarray()).min() > 1e-3


@pytest.mark.parametrize("mask,count", [(split_mask(), 2), (largest_fluid_component(mask_3d(1)), 1)])
def test_neumann_null_space_is_constant_per_component(mask, count):
    S = pressure_system(mask, "neumann")
    N = S.null_space.toarray()
    assert N.shape == (S.n, count)
    np.testing.assert_allclose(N.T @ N, np.eye(count), atol=1e-14)
    assert np.abs(S.matrix @ N).max() < 1e-13
    ev = np.linalg.eigvalsh(S.matrix.toarray())
    assert np.all(ev > -1e-12)
    assert np.sum(ev < 1e-10) == count and ev[count] > 1e-3
    for j in range(count):  # constant on its component, zero elsewhere
        col = N[:, j]
        assert np.ptp(col[col != 0]) < 1e-15


def test_only_components_without_dirichlet_wall_are_singular():
    m = split_mask()
    S = pressure_system(m, {"x-": "dirichlet"})  # the left part touches x-, the right part does not
    assert S.null_space.shape[1] == 1
    right = S.to_grid(S.null_space.toarray()[:, 0])
    assert np.all(right[:7] == 0) and np.all(right[8:] > 0)
    pocket = np.ones((10, 10), dtype=bool)
    pocket[3:7, 3:7] = False
    pocket[4:6, 4:6] = True  # enclosed by solid: singular even with Dirichlet walls
    assert pressure_system(pocket, "dirichlet").null_space.shape[1] == 1


def _tridiag(n, low, high, w):
    """1D integer stencil on n cells; ends get +w for a Dirichlet wall, nothing for Neumann."""
    T = np.diag(np.full(n, 2.0)) - np.eye(n, k=1) - np.eye(n, k=-1)
    T[0, 0] = 1 + (w if low == "dirichlet" else 0)
    T[-1, -1] = 1 + (w if high == "dirichlet" else 0)
    return T


@pytest.mark.parametrize("shape", [(6, 9), (4, 5, 3)])
@pytest.mark.parametrize("walls", ["dirichlet", "neumann", "open_top", {"x+": "dirichlet"}])
@pytest.mark.parametrize("dirichlet", ["ghost", "face"])
def test_without_obstacles_matrix_is_kronecker_sum(shape, walls, dirichlet):
    S = pressure_system(np.ones(shape, dtype=bool), walls, dirichlet=dirichlet)
    w = {"ghost": 1.0, "face": 2.0}[dirichlet]
    K = np.zeros((S.n, S.n))
    for a, n in enumerate(shape):
        factors = [np.eye(m) for m in shape]
        factors[a] = _tridiag(n, *S.walls[a], w)
        term = factors[0]
        for f in factors[1:]:
            term = np.kron(term, f)  # C order: axis 0 varies slowest
        K += term
    np.testing.assert_array_equal(S.matrix.toarray(), K)


@pytest.mark.parametrize("dirichlet,eig1d", [
    ("ghost", lambda k, N: 2 - 2 * np.cos(k * np.pi / (N + 1))),  # p = 0 at the ghost-cell centre
    ("face", lambda k, N: 4 * np.sin(k * np.pi / (2 * N)) ** 2),  # p = 0 on the wall face
])
def test_dirichlet_laplacian_eigenvalues_match_closed_form(dirichlet, eig1d):
    N = 10
    S = pressure_system(np.ones((N, N), dtype=bool), "dirichlet", dirichlet=dirichlet)
    lam = eig1d(np.arange(1, N + 1), N)
    expected = np.sort((lam[:, None] + lam[None, :]).ravel())
    np.testing.assert_allclose(np.linalg.eigvalsh(S.matrix.toarray()), expected, atol=1e-12)


@pytest.mark.parametrize("walls", ["neumann", "open_top"])
@pytest.mark.parametrize("make", [mask_2d, mask_3d])
def test_torch_operator_matches_csr(make, walls):
    S = pressure_system(make(), walls)
    op = S.torch_operator(torch.float64)
    assert op.shape == (S.n, S.n)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(3, S.n, generator=g, dtype=torch.float64)
    ref = (S.matrix @ x.numpy().T).T
    np.testing.assert_allclose(op.matvec(x).numpy(), ref, atol=1e-12)
    np.testing.assert_allclose(op(x[0]).numpy(), ref[0], atol=1e-12)
    # full-grid input: solid values are ignored, the result is zero in solids
    u = torch.randn(3, *S.grid_shape, generator=g, dtype=torch.float64)
    Au = op.apply_grid(u).numpy()
    np.testing.assert_allclose(Au, S.to_grid((S.matrix @ S.to_flat(u.numpy()).T).T), atol=1e-12)
    assert np.all(Au[:, ~S.mask] == 0)
    # float32 input runs in float32
    y32 = op.matvec(x.float())
    assert y32.dtype == torch.float32
    np.testing.assert_allclose(y32.numpy(), ref, rtol=1e-5, atol=1e-4)
    # the SciPy LinearOperator view gives the same products
    L = op.as_linear_operator()
    np.testing.assert_allclose(L @ x[0].numpy(), ref[0], atol=1e-12)
    np.testing.assert_allclose(L.matmat(x.numpy().T), ref.T, atol=1e-12)


def test_torch_operator_is_differentiable_and_projects():
    S = pressure_system(split_mask(), "neumann")
    op = S.torch_operator(torch.float64)
    x = torch.randn(2, S.n, dtype=torch.float64, requires_grad=True)
    energy = 0.5 * (x * op.matvec(x)).sum()
    energy.backward()
    np.testing.assert_allclose(x.grad.numpy(), (S.matrix @ x.detach().numpy().T).T, atol=1e-12)
    b = np.random.default_rng(0).standard_normal((2, S.n))
    np.testing.assert_allclose(op.project(torch.from_numpy(b)).numpy(), S.project(b), atol=1e-14)
    assert S.nullspace_residual(S.project(b)[0]) < 1e-14


@pytest.mark.parametrize("walls", ["neumann", "dirichlet", "open_top"])
@pytest.mark.parametrize("make", [mask_2d, mask_3d])
def test_solve_has_small_residual(make, walls):
    S = pressure_system(make(), walls)
    b = S.project(np.random.default_rng(1).standard_normal(S.n))
    x = solve_pressure(S, b, method="direct")
    assert np.linalg.norm(S.matrix @ x - b) <= 1e-10 * np.linalg.norm(b)
    x_cg = solve_pressure(S, b, method="cg", rtol=1e-12)
    assert np.abs(x_cg - x).max() <= 1e-8 * np.abs(x).max()
    if S.is_singular:
        assert np.abs(S.null_space.T @ x).max() < 1e-10  # zero mean on each singular component
    # grid in, grid out (0 in solids)
    xg = S.solve(S.to_grid(b))
    np.testing.assert_allclose(S.to_flat(xg), x, atol=1e-10)
    assert np.all(xg[~S.mask] == 0)


@pytest.mark.parametrize("walls", ["neumann", "open_top"])
@pytest.mark.parametrize("dirichlet", ["ghost", "face"])
def test_projection_makes_velocity_divergence_free(walls, dirichlet):
    S = pressure_system(mask_2d(3), walls, dirichlet=dirichlet)
    rng = np.random.default_rng(0)
    p = rng.standard_normal(S.n)
    np.testing.assert_allclose(divergence(S, pressure_gradient(S, p)), -(S.matrix @ p), atol=1e-12)
    u = random_velocity(rng, S)
    b = -divergence(S, u)
    x = S.solve(b, strict=True)  # a closed region's net outflow sums to 0: compatible
    u_new = [ui - gi for ui, gi in zip(u, pressure_gradient(S, x))]
    assert np.abs(divergence(S, u_new)).max() < 1e-10 * np.abs(b).max()


@pytest.mark.parametrize("kind", ["spheres", "boxes", "blobs", "mixed"])
def test_masks_are_seeded(kind):
    for shape in [(16, 16), (8, 8, 8)]:
        a = random_mask(np.random.default_rng(5), shape, kind, 4)
        b = random_mask(np.random.default_rng(5), shape, kind, 4)
        c = random_mask(np.random.default_rng(6), shape, kind, 4)
        assert a.dtype == bool and a.shape == shape
        assert np.array_equal(a, b) and not np.array_equal(a, c)
        assert 0.3 <= a.mean() < 1


def test_largest_component_keeps_one_region():
    from scipy import ndimage

    m = split_mask()
    m[:, :3] = True
    m[7, :] = False
    kept = largest_fluid_component(m)
    assert ndimage.label(kept)[1] == 1
    assert kept.sum() == max(m[:7].sum(), m[8:].sum())


@pytest.mark.parametrize("params,res", [({}, 16), ({"dim": 3, "walls": "open_top", "obstacles": "spheres"}, 8),
                                        ({"obstacles": "blobs", "walls": {"y+": "dirichlet"}}, 16)])
def test_samples_are_reproducible_and_consistent(params, res):
    prob = problems.get("pressure", **params)
    x, y = prob.sample(2, 7, res)
    x2, y2 = prob.sample(2, 7, res)
    x3, _ = prob.sample(3, 7, res)
    d = prob.dim
    assert x.shape == (2,) + (res,) * d and y.shape == (1,) + (res,) * d
    assert x.dtype == np.float32 and y.dtype == np.float32
    assert np.array_equal(x, x2) and np.array_equal(y, y2) and not np.array_equal(x, x3)
    mask = x[0] > 0.5
    assert set(np.unique(x[0])) <= {0.0, 1.0}
    assert np.all(x[1][~mask] == 0) and np.all(y[0][~mask] == 0)
    S = prob.system(mask)
    r = S.matrix @ S.to_flat(y[0].astype(np.float64)) - S.to_flat(x[1].astype(np.float64))
    assert np.linalg.norm(r) < 1e-5 * np.linalg.norm(x[1])
    if S.is_singular:
        assert abs(y[0][mask].mean()) < 1e-5 * np.abs(y).max()


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match="2D or 3D"):
        pressure_system(np.ones(8, dtype=bool))
    with pytest.raises(ValueError, match="2D or 3D"):
        pressure_system(np.ones((2, 2, 2, 2), dtype=bool))
    with pytest.raises(ValueError, match="no fluid cells"):
        pressure_system(np.zeros((4, 4), dtype=bool))
    with pytest.raises(ValueError, match="boolean or 0/1"):
        pressure_system(np.full((4, 4), 0.5))
    with pytest.raises(ValueError, match="unknown walls 'open'.*known presets"):
        pressure_system(np.ones((4, 4), dtype=bool), "open")
    with pytest.raises(ValueError, match="unknown wall type 'robin' on face y\\+"):
        pressure_system(np.ones((4, 4), dtype=bool), {"y+": "robin"})
    with pytest.raises(ValueError, match="unknown wall face 'z\\+' for a 2D grid"):
        pressure_system(np.ones((4, 4), dtype=bool), {"z+": "dirichlet"})
    with pytest.raises(ValueError, match="unknown dirichlet placement"):
        pressure_system(np.ones((4, 4), dtype=bool), "dirichlet", dirichlet="wall")
    S = pressure_system(np.ones((4, 4), dtype=bool), "neumann")
    with pytest.raises(ValueError, match=r"incompatible with the singular \(Neumann\)"):
        solve_pressure(S, np.ones(S.n), strict=True)
    x = solve_pressure(S, np.ones(S.n))  # projected to 0 without strict
    assert np.abs(x).max() == 0
    with pytest.raises(ValueError, match=r"shape \(16,\) or the grid shape \(4, 4\)"):
        solve_pressure(S, np.ones(5))
    with pytest.raises(ValueError, match="unknown method"):
        solve_pressure(S, np.zeros(S.n), method="lu")
    op = S.torch_operator(torch.float64)
    with pytest.raises(ValueError, match=r"expected unknowns of shape \(16,\)"):
        op.matvec(torch.zeros(15, dtype=torch.float64))
    with pytest.raises(TypeError, match="floating-point"):
        op.matvec(torch.zeros(16, dtype=torch.int64))
    with pytest.raises(ValueError, match="dim must be 2 or 3"):
        problems.get("pressure", dim=4)
    with pytest.raises(ValueError, match="unknown obstacle kind 'cones'"):
        problems.get("pressure", obstacles="cones")
    with pytest.raises(ValueError, match="unknown wall type"):
        problems.get("pressure", walls={"x-": "periodic"})


def test_linear_operator_plugs_into_scipy_cg():
    S = pressure_system(mask_2d(2), "neumann")
    L = S.torch_operator(torch.float64).as_linear_operator()
    b = S.project(np.random.default_rng(0).standard_normal(S.n))
    x, info = spla.cg(L, b, rtol=1e-10, maxiter=2000)
    assert info == 0
    np.testing.assert_allclose(S.project(x), S.solve(b), atol=1e-7 * np.abs(b).max())


def test_problem_accepts_wall_pairs_per_axis():
    from pdeml import problems

    p = problems.get("pressure", walls=[("neumann", "neumann"), ("neumann", "dirichlet")], obstacles="none")
    x, y = p.sample(0, 0, 8)
    q = problems.get("pressure", **p.params)  # the recorded parameters rebuild the same problem
    assert np.array_equal(q.sample(0, 0, 8)[1], y) and x.shape == (2, 8, 8)
