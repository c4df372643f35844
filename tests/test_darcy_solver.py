import numpy as np
import pytest

from pdeml import problems
from pdeml.solvers import darcy_matrix, solve_darcy

PI = np.pi


def manufactured(s):
    t = np.linspace(0, 1, s)
    x, y = np.meshgrid(t, t, indexing="ij")
    a = 1 + 0.5 * np.sin(2 * PI * x) * np.cos(PI * y)
    ax = 0.5 * 2 * PI * np.cos(2 * PI * x) * np.cos(PI * y)
    ay = -0.5 * PI * np.sin(2 * PI * x) * np.sin(PI * y)
    u = np.sin(PI * x) * np.sin(2 * PI * y)
    ux = PI * np.cos(PI * x) * np.sin(2 * PI * y)
    uy = 2 * PI * np.sin(PI * x) * np.cos(2 * PI * y)
    lap = -(PI**2 + 4 * PI**2) * u
    f = -(ax * ux + ay * uy + a * lap)
    return a, f, u


def test_second_order_convergence_on_manufactured_solution():
    sizes = [17, 33, 65, 129]
    errors = []
    for s in sizes:
        a, f, u = manufactured(s)
        errors.append(np.abs(solve_darcy(a, f) - u).max())
    orders = [np.log2(errors[i] / errors[i + 1]) for i in range(len(errors) - 1)]
    assert min(orders) >= 1.9, (errors, orders)
    assert errors[-1] < 1e-3


def test_matrix_is_symmetric_positive_definite():
    rng = np.random.default_rng(0)
    a = rng.uniform(1, 5, size=(9, 9))
    A = darcy_matrix(a).toarray()
    assert np.allclose(A, A.T)
    assert np.linalg.eigvalsh(A).min() > 0


def test_amg_matches_direct():
    pytest.importorskip("pyamg")
    a, f, _ = manufactured(33)
    assert np.allclose(solve_darcy(a, f, method="amg", rtol=1e-12), solve_darcy(a, f), atol=1e-9)


def test_darcy_problem_sampling_is_seeded_and_binary():
    p = problems.get("darcy")
    x1, y1 = p.sample(3, seed=7, resolution=32)
    x2, y2 = p.sample(3, seed=7, resolution=32)
    x3, _ = p.sample(4, seed=7, resolution=32)
    assert np.array_equal(x1, x2) and np.array_equal(y1, y2)
    assert not np.array_equal(x1, x3)
    assert set(np.unique(x1)) <= {3.0, 12.0}
    assert x1.shape == y1.shape == (1, 32, 32)
    # u = 0 on the boundary, positive inside (maximum principle with f = 1 > 0)
    assert np.all(y1[0, 0] == 0) and np.all(y1[0, :, -1] == 0)
    assert y1[0, 1:-1, 1:-1].min() > 0


def test_constant_coefficient_matches_series_solution():
    # -Lap u = 1 on the unit square: u(1/2, 1/2) = 0.07367135...
    s = 129
    u = solve_darcy(np.ones((s, s)), 1.0)
    assert abs(u[64, 64] - 0.0736713532814) < 5e-5


def test_bad_input():
    with pytest.raises(ValueError, match="positive"):
        solve_darcy(np.zeros((8, 8)))
    with pytest.raises(ValueError, match="square"):
        solve_darcy(np.ones((8, 9)))
    with pytest.raises(ValueError, match="NaN"):
        solve_darcy(np.full((8, 8), np.nan))
    with pytest.raises(ValueError, match="resolution"):
        problems.get("darcy").sample(0, 0, 2)
    with pytest.raises(KeyError, match="known problems: .*darcy"):
        problems.get("nope")
