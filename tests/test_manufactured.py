"""GP-HM manufactured high-frequency / multiscale problems: exact data, FD references, PINN residuals."""

import numpy as np
import pytest
import torch

from pdeml import problems

ELLIPTIC_1D = ["poisson1d_sin100", "poisson1d_sin6cos100", "poisson1d_multiscale", "allen_cahn1d_sin100"]
# the rest of the GP-HM paper's cases (exact data and residual checks only; their frequencies on the
# grids of the convergence test are pre-asymptotic)
PAPER_EXTRA = ["poisson1d_mix", "poisson1d_xsin200", "poisson1d_sin500_trend", "poisson2d_sincos_sum",
               "allen_cahn1d_sin6cos100"]
# beyond the paper: variable coefficients and the 3D grid
BEYOND = ["poisson2d_varcoef", "helmholtz2d_varwave", "poisson3d_sin"]
ALL = ELLIPTIC_1D + ["poisson2d_sin100", "allen_cahn2d", "advection_sin200"] + PAPER_EXTRA + BEYOND


def max_error(p, n):
    ref = p.reference(n)
    return np.abs(ref - p.exact(*p.grid(n))).max()


def test_sin100_error_at_4000_points_is_the_second_order_prediction():
    # sin(100 x) vanishes at both ends of [0, 2 pi] and is an eigenvector of the discrete Dirichlet
    # Laplacian with eigenvalue 4 sin^2(kh/2) / h^2, so u_h = k^2 h^2 / (4 sin^2(kh/2)) u exactly:
    # error = (kh)^2 / 12 + O((kh)^4) = 2.06e-3 at 4000 nodes
    n, k = 4000, 100.0
    h = 2 * np.pi / (n - 1)
    predicted = k**2 * h**2 / (4 * np.sin(k * h / 2) ** 2) - 1
    err = max_error(problems.get("poisson1d_sin100"), n)
    assert abs(err - predicted) < 0.01 * predicted, (err, predicted)
    assert abs(predicted - (k * h) ** 2 / 12) < 0.01 * predicted


@pytest.mark.parametrize("name", ELLIPTIC_1D)
def test_1d_high_frequency_converge_second_order(name):
    p = problems.get(name)
    sizes = [1001, 2001, 4001]
    errs = np.array([max_error(p, n) for n in sizes])
    orders = np.log2(errs[:-1] / errs[1:])
    assert orders.min() >= 1.9, (errs, orders)
    amplitude = np.abs(p.exact(p.grid(4001)[0])).max()
    assert errs[-1] < 3e-3 * amplitude


def test_poisson2d_sin100_converges():
    p = problems.get("poisson2d_sin100")
    errs = np.array([max_error(p, n) for n in (500, 1000)])  # kh = 1.26, 0.63: pre-asymptotic, then 2nd order
    assert errs[1] < 0.035 and np.log2(errs[0] / errs[1]) >= 1.9, errs


def test_allen_cahn_newton_converges_to_roundoff_and_fd_accuracy():
    p = problems.get("allen_cahn1d_sin100")
    u, history = p.reference(4000, return_history=True)
    assert len(history) <= 8
    assert history[-1] < 1e-13 * np.abs(p.forcing(p.grid(4000)[0])).max()  # round-off level
    assert history[-2] < 1e-2 * history[-3] ** 1.5 or history[-2] < 1e-6  # superlinear
    # the FD error of the nonlinear problem is that of the linear operator, (kh)^2 / 12
    err = np.abs(u - p.exact(*p.grid(4000))).max()
    poisson = max_error(problems.get("poisson1d_sin100"), 4000)
    assert abs(err - poisson) < 0.05 * poisson, (err, poisson)


def test_allen_cahn2d_newton_and_convergence():
    p = problems.get("allen_cahn2d")
    errs = []
    for n in (101, 201, 401):
        u, history = p.reference(n, return_history=True)
        assert history[-1] < 1e-13 * np.abs(p.forcing(*p.grid(n))).max()
        errs.append(np.abs(u - p.exact(*p.grid(n))).max())
    orders = np.log(np.array(errs[:-1]) / errs[1:]) / np.log(2)
    assert orders.min() >= 1.9, (errs, orders)


@pytest.mark.parametrize("name, params, sizes", [
    ("poisson2d_varcoef", {"freq": 4.0}, (65, 129, 257)),
    ("helmholtz2d_varwave", {"freq": 4.0, "k0": 3.0}, (65, 129, 257)),
    ("poisson3d_sin", {"a": 1.0, "b": 2.0, "c": 3.0}, (17, 33, 65)),
])
def test_variable_coefficient_and_3d_cases_converge_second_order(name, params, sizes):
    # the FD reference, an independent discretisation, converges to the exact solution
    p = problems.get(name, **params)
    errs = np.array([max_error(p, n) for n in sizes])
    orders = np.log2(errs[:-1] / errs[1:])
    assert orders.min() >= 1.9, (errs, orders)


def test_advection_reference_is_exact_transport():
    p = problems.get("advection_sin200")
    assert p.domain == [(0.0, 2 * np.pi), (0.0, 1.0)]
    x, y = p.sample(0, 0, 129)
    assert np.all(x == 0) and y.shape == (1, 129, 129)
    assert max_error(p, 129) < 1e-12


@pytest.mark.parametrize("name", ALL)
def test_exact_and_forcing_agree_between_numpy_and_torch(name):
    p = problems.get(name)
    rng = np.random.default_rng(0)
    coords = [rng.uniform(lo, hi, 50) for lo, hi in p.domain]
    tcoords = [torch.tensor(c, dtype=torch.float64) for c in coords]
    for fn in (p.exact, p.forcing):
        out_t = fn(*tcoords)
        assert isinstance(out_t, torch.Tensor)
        assert np.allclose(out_t.numpy(), fn(*coords), rtol=1e-12, atol=1e-9)


@pytest.mark.parametrize("name", ALL)
def test_pinn_residual_of_exact_solution_vanishes(name):
    p = problems.get(name)
    gen = torch.Generator().manual_seed(0)
    lo = torch.tensor([d[0] for d in p.domain], dtype=torch.float64)
    hi = torch.tensor([d[1] for d in p.domain], dtype=torch.float64)
    points = (lo + (hi - lo) * torch.rand(200, p.dim, generator=gen, dtype=torch.float64)).requires_grad_(True)
    r = p.residual(lambda pts: p.exact(*pts.unbind(1)), points)
    scale = max(1.0, float(p.forcing(*points.detach().unbind(1)).abs().max()))
    assert r.shape == (200,)
    r = r.detach()
    assert float(r.abs().max()) < 1e-11 * max(scale, 1e4), float(r.abs().max())
    # a wrong solution has a large residual (the cubic term breaks the homogeneous advection too)
    r_bad = p.residual(lambda pts: 1.01 * p.exact(*pts.unbind(1)) + 0.01 * pts[:, 0] ** 3, points)
    assert float(r_bad.detach().abs().max()) > 1e-3 * scale


@pytest.mark.parametrize("name", ALL)
def test_sample_shapes_and_dtype(name):
    p = problems.get(name)
    assert p.has_exact
    # Newton on the FD Allen-Cahn system diverges from 0 on grids far below sin(6x)cos(100x)'s Nyquist
    n = 201 if name == "allen_cahn1d_sin6cos100" else 33
    x, y = p.sample(0, seed=0, resolution=n)
    assert x.shape == y.shape == (1,) + (n,) * p.dim
    assert x.dtype == y.dtype == np.float32
    assert np.allclose(x[0], p.forcing(*p.grid(n)), rtol=1e-6, atol=1e-6 * max(1.0, np.abs(x).max()))


def test_residual_bad_points():
    p = problems.get("poisson1d_sin100")
    with pytest.raises(ValueError, match="require grad"):
        p.residual(lambda pts: pts[:, 0], torch.zeros(4, 1))
    with pytest.raises(ValueError, match=r"shape \(n, 1\)"):
        p.residual(lambda pts: pts[:, 0], torch.zeros(4, 2, requires_grad=True))
    with pytest.raises(TypeError, match="torch tensor"):
        p.residual(lambda pts: pts[:, 0], np.zeros((4, 1)))
    with pytest.raises(ValueError, match="resolution"):
        p.sample(0, 0, 2)
