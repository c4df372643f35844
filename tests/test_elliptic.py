"""Elliptic FD solver (1D/2D/3D, Dirichlet/Neumann/periodic, Helmholtz) and the Poisson/Helmholtz problems."""

import sys

import numpy as np
import pytest

from pdeml import problems
from pdeml.solvers.elliptic import (
    assemble_elliptic,
    axis_nodes,
    grid_coordinates,
    solve_elliptic,
    solve_helmholtz,
)

TWO_PI = 2 * np.pi
PHASES = (0.3, 1.1, 2.0)


def manufactured(coords, helmholtz=False):
    """u = prod sin(2 pi x_i + p_i), a = 1 + 0.5 prod cos(2 pi x_i) (both periodic, nonzero on the
    boundary); returns u, a, f, grad u, c for -div(a grad u) + c u = f."""
    d = len(coords)
    s = [np.sin(TWO_PI * x + p) for x, p in zip(coords, PHASES)]
    ds = [TWO_PI * np.cos(TWO_PI * x + p) for x, p in zip(coords, PHASES)]
    u = np.prod(s, axis=0)
    grad = [ds[k] * np.prod([s[i] for i in range(d) if i != k], axis=0) for k in range(d)]
    cs = [np.cos(TWO_PI * x) for x in coords]
    a = 1 + 0.5 * np.prod(cs, axis=0)
    grad_a = [-0.5 * TWO_PI * np.sin(TWO_PI * coords[k]) * np.prod([cs[i] for i in range(d) if i != k], axis=0)
              for k in range(d)]
    f = -(sum(ga * gu for ga, gu in zip(grad_a, grad)) + a * (-d * TWO_PI**2 * u))
    c = None
    if helmholtz:
        c = -20.0 * (1 + 0.3 * np.prod([np.sin(np.pi * x) for x in coords], axis=0))
        f = f + c * u
    return u, a, f, grad, c


def outward_flux(a, grad, d):
    """Per axis (g_low, g_high) with g = a du/dn on the outward normal."""
    flux = []
    for k in range(d):
        pair = []
        for sign, end in ((-1, 0), (1, -1)):
            sl = [slice(None)] * d
            sl[k] = end
            pair.append(sign * (a * grad[k])[tuple(sl)])
        flux.append(tuple(pair))
    return flux


def zero_mean(u, bc):
    w = np.ones(u.shape)
    if bc == "neumann":
        for k, n in enumerate(u.shape):
            wk = np.ones(n)
            wk[[0, -1]] = 0.5
            w = w * wk.reshape([-1 if i == k else 1 for i in range(u.ndim)])
    return u - (w * u).sum() / w.sum()


def errors(d, bc, sizes, helmholtz=False):
    errs = []
    for n in sizes:
        coords = grid_coordinates((n,) * d, bc)
        u, a, f, grad, c = manufactured(coords, helmholtz)
        uh = solve_elliptic(a, f, c=c, bc=bc, boundary=u, flux=outward_flux(a, grad, d))
        if bc != "dirichlet" and c is None:
            u = zero_mean(u, bc)  # the pure Neumann/periodic solution is the zero-mean one
        errs.append(np.abs(uh - u).max())
    return np.array(errs)


def orders(errs, sizes, bc):
    h = np.array([1 / n if bc == "periodic" else 1 / (n - 1) for n in sizes])
    return np.log(errs[:-1] / errs[1:]) / np.log(h[:-1] / h[1:])


SIZES = {
    (1, "dirichlet"): [17, 33, 65, 129], (1, "neumann"): [17, 33, 65, 129], (1, "periodic"): [16, 32, 64, 128],
    (2, "dirichlet"): [17, 33, 65], (2, "neumann"): [17, 33, 65], (2, "periodic"): [16, 32, 64],
    (3, "dirichlet"): [9, 17, 33], (3, "neumann"): [9, 17, 33], (3, "periodic"): [12, 24],
}


@pytest.mark.parametrize("d,bc", sorted(SIZES))
def test_second_order_convergence_variable_coefficient(d, bc):
    sizes = SIZES[(d, bc)]
    errs = errors(d, bc, sizes)
    p = orders(errs, sizes, bc)
    assert p.min() >= 1.9, (errs, p)


@pytest.mark.parametrize("d,bc", [(1, "dirichlet"), (1, "neumann"), (2, "dirichlet"), (2, "neumann"), (2, "periodic")])
def test_helmholtz_second_order(d, bc):
    sizes = [32, 64, 128] if bc == "periodic" else [33, 65, 129]
    errs = errors(d, bc, sizes, helmholtz=True)
    p = orders(errs, sizes, bc)
    assert p.min() >= 1.9, (errs, p)


def test_solve_helmholtz_constant_wavenumber():
    # -u'' - k^2 u = f with u = sin(3 pi x) on [0, 1], k = 5: f = (9 pi^2 - 25) u
    errs = []
    for n in (65, 129):
        (x,) = grid_coordinates((n,))
        u = np.sin(3 * np.pi * x)
        errs.append(np.abs(solve_helmholtz(np.full(n, 5.0), (9 * np.pi**2 - 25) * u) - u).max())
    assert np.log2(errs[0] / errs[1]) > 1.9


def test_mixed_boundary_conditions_per_axis():
    errs = []
    sizes = [(17, 16), (33, 32), (65, 64)]
    for shape in sizes:
        coords = grid_coordinates(shape, ("dirichlet", "periodic"))
        u, a, f, grad, _ = manufactured(coords)
        errs.append(np.abs(solve_elliptic(a, f, bc=("dirichlet", "periodic"), boundary=u) - u).max())
    assert min(np.log2(errs[i] / errs[i + 1]) for i in range(2)) >= 1.9, errs


def test_periodic_grid_and_zero_mean():
    x = axis_nodes(8, "periodic", 0.0, 2.0)
    assert np.allclose(x, np.arange(8) / 4) and x[-1] < 2.0
    assert np.allclose(axis_nodes(5, "neumann"), [0, 0.25, 0.5, 0.75, 1.0])
    n = 64
    (x,) = grid_coordinates((n,), "periodic")
    f = np.cos(TWO_PI * x) + 0.5 * np.sin(4 * np.pi * x)  # zero mean: compatible
    u = solve_elliptic(1.0, f, bc="periodic")
    assert abs(u.mean()) < 1e-13
    # the discrete Fourier modes are exact eigenvectors: u = f_k / lambda_k(h)
    h = 1 / n
    lam1, lam2 = (2 * np.sin(np.pi * h) / h) ** 2, (2 * np.sin(2 * np.pi * h) / h) ** 2
    assert np.allclose(u, np.cos(TWO_PI * x) / lam1 + 0.5 * np.sin(4 * np.pi * x) / lam2, atol=1e-12)
    # translation invariance of the periodic problem
    assert np.allclose(solve_elliptic(1.0, np.roll(f, 5), bc="periodic"), np.roll(u, 5), atol=1e-12)


def test_pure_neumann_compatibility():
    with pytest.raises(ValueError, match="incompatible.*int f dx \\+ int g ds = 0"):
        solve_elliptic(np.ones((9, 9)), 1.0, bc="neumann")
    with pytest.raises(ValueError, match="incompatible"):
        solve_elliptic(np.ones(9), 0.0, bc="neumann", flux=[(1.0, 0.0)])
    # f = 1 balanced by an outward flux g = -1/2 on both ends of [0, 1]: u = -x^2/2 + x/2 + const
    (x,) = grid_coordinates((33,), "neumann")
    u = solve_elliptic(np.ones(33), 1.0, bc="neumann", flux=[(-0.5, -0.5)])
    exact = zero_mean(-x**2 / 2 + x / 2, "neumann")
    assert np.abs(u - exact).max() < 1e-12  # quadratic: the scheme is exact
    # a reaction term c > 0 removes the null space: no compatibility needed
    u = solve_elliptic(np.ones(17), 1.0, c=1.0, bc="neumann")
    assert np.allclose(u, 1.0)
    assert not assemble_elliptic(1.0, np.ones(9), c=1.0, bc="periodic").singular


def test_matrix_symmetric_positive_definite_and_volume_scaled():
    rng = np.random.default_rng(0)
    for bc in ("dirichlet", "neumann", "periodic"):
        a = rng.uniform(1, 5, size=(6, 7))
        A = assemble_elliptic(a, 0.0, bc=bc).matrix.toarray()
        assert np.allclose(A, A.T)
        eig = np.linalg.eigvalsh(A)
        if bc == "dirichlet":
            assert eig.min() > 0
        else:  # one zero eigenvalue (constants), the rest positive
            assert abs(eig[0]) < 1e-10 and eig[1] > 1e-8


def test_dst_matches_direct():
    rng = np.random.default_rng(1)
    f = rng.standard_normal((20, 30))
    g = rng.standard_normal((20, 30))
    for c in (None, 3.0, -7.0):
        d = solve_elliptic(2.0, f, c=c, boundary=g, lengths=(1.0, 2.0))
        s = solve_elliptic(2.0, f, c=c, boundary=g, lengths=(1.0, 2.0), method="dst")
        assert np.allclose(d, s, atol=1e-10)
    with pytest.raises(ValueError, match="constant coefficient"):
        solve_elliptic(rng.uniform(1, 2, (8, 8)), 1.0, method="dst")
    with pytest.raises(ValueError, match="Dirichlet on every axis"):
        solve_elliptic(1.0, np.zeros((8, 8)), bc="periodic", method="dst")


def test_amg_matches_direct():
    pytest.importorskip("pyamg")
    for d, bc in ((2, "dirichlet"), (2, "neumann"), (2, "periodic"), (3, "dirichlet")):
        n = 33 if d == 2 else 13
        coords = grid_coordinates((n,) * d, bc)
        u, a, f, grad, _ = manufactured(coords)
        kw = dict(bc=bc, boundary=u, flux=outward_flux(a, grad, d))
        assert np.allclose(solve_elliptic(a, f, method="amg", rtol=1e-12, **kw), solve_elliptic(a, f, **kw), atol=1e-9)
    # Helmholtz (indefinite): AMG-preconditioned GMRES
    coords = grid_coordinates((33, 33))
    u, a, f, _, c = manufactured(coords, helmholtz=True)
    assert np.allclose(solve_elliptic(a, f, c=c, boundary=u, method="amg", rtol=1e-12),
                       solve_elliptic(a, f, c=c, boundary=u), atol=1e-9)


def test_amg_missing_dependency_message(monkeypatch):
    monkeypatch.setitem(sys.modules, "pyamg", None)  # makes `import pyamg` raise ImportError
    with pytest.raises(ImportError, match=r"pip install 'pdeml\[amg\]'"):
        solve_elliptic(np.ones((9, 9)), 1.0, method="amg")


def test_bad_input():
    with pytest.raises(ValueError, match="positive"):
        solve_elliptic(-np.ones(9), 1.0)
    with pytest.raises(ValueError, match="NaN"):
        solve_elliptic(np.ones(9), np.full(9, np.nan))
    with pytest.raises(ValueError, match=r"shape \(8,\), expected the grid shape \(9,\)"):
        solve_elliptic(np.ones(9), np.ones(8))
    with pytest.raises(ValueError, match="unknown boundary condition 'robin'"):
        solve_elliptic(np.ones((9, 9)), 1.0, bc="robin")
    with pytest.raises(ValueError, match="one entry per axis"):
        solve_elliptic(np.ones((9, 9)), 1.0, bc=("dirichlet",))
    with pytest.raises(ValueError, match="unknown method 'lu'"):
        solve_elliptic(np.ones(9), 1.0, method="lu")
    with pytest.raises(ValueError, match="at least 3 nodes"):
        solve_elliptic(np.ones((2, 9)), 1.0)
    with pytest.raises(ValueError, match="1D, 2D or 3D"):
        solve_elliptic(np.ones((3, 3, 3, 3)), 1.0)
    with pytest.raises(ValueError, match="at least one of a, f, c"):
        solve_elliptic(1.0, 1.0)
    with pytest.raises(ValueError, match="lengths"):
        solve_elliptic(np.ones(9), 1.0, lengths=-1.0)
    with pytest.raises(ValueError, match=r"flux\[0\]\[1\] has shape"):
        solve_elliptic(np.ones((9, 9)), 0.0, bc="neumann", flux=[(0.0, np.zeros(4)), (0.0, 0.0)])
    with pytest.raises(ValueError, match="one \\(low, high\\) pair per axis"):
        solve_elliptic(np.ones((9, 9)), 0.0, bc="neumann", flux=[(0.0, 0.0)])


@pytest.mark.parametrize("name", ["poisson", "helmholtz"])
@pytest.mark.parametrize("dim,bc", [(1, "dirichlet"), (2, "neumann"), (2, "periodic"), (3, "dirichlet")])
def test_random_problems_sample(name, dim, bc):
    p = problems.get(name, dim=dim, bc=bc)
    res = 9 if dim == 3 else 24
    x1, y1 = p.sample(2, seed=5, resolution=res)
    x2, y2 = p.sample(2, seed=5, resolution=res)
    x3, _ = p.sample(3, seed=5, resolution=res)
    assert x1.shape == (2,) + (res,) * dim and y1.shape == (1,) + (res,) * dim
    assert x1.dtype == y1.dtype == np.float32
    assert np.array_equal(x1, x2) and np.array_equal(y1, y2) and not np.array_equal(x1, x3)
    assert np.all(np.isfinite(y1)) and np.abs(y1).max() > 0
    if name == "poisson":
        assert x1[0].min() > 0  # log-normal coefficient
    else:
        assert p.k0 * (1 - p.eps) <= x1[0].min() and x1[0].max() <= p.k0 * (1 + p.eps)
    # y solves the discrete problem defined by x
    a, c = (x1[0], None) if name == "poisson" else (np.ones_like(x1[0]), -x1[0].astype(np.float64) ** 2)
    u = solve_elliptic(a, x1[1], c=c, bc=bc)
    assert np.allclose(u, y1[0], atol=1e-5 * max(1.0, np.abs(u).max()))
    if bc == "dirichlet":
        assert np.all(y1[0][0] == 0) and np.all(y1[0][-1] == 0)


def test_random_problem_bad_parameters():
    with pytest.raises(ValueError, match="dim must be 1, 2 or 3"):
        problems.get("poisson", dim=4)
    with pytest.raises(ValueError, match="unknown bc"):
        problems.get("poisson", bc="robin")
    with pytest.raises(ValueError, match="k0 > 0"):
        problems.get("helmholtz", k0=-1.0)


def test_semilinear_without_dirichlet_axis_is_refused_up_front():
    from pdeml.solvers.elliptic import solve_semilinear

    with pytest.raises(ValueError, match="needs at least one Dirichlet axis, got bc='periodic'"):
        solve_semilinear(1.0, np.zeros(16), lambda u: u**3, lambda u: 3 * u**2, bc="periodic")
