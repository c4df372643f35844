"""AAS peak problems: closed forms, autograd residuals, FD references."""

import numpy as np
import pytest
import torch

from pdeml import problems

CASES = [("peak2d", {}), ("two_peaks", {}), ("gaussian_nd", {}), ("gaussian_nd", {"dim": 3})]


def random_points(p, n=300, seed=0, near=None):
    gen = torch.Generator().manual_seed(seed)
    pts = 2 * torch.rand(n, p.dim, generator=gen, dtype=torch.float64) - 1
    if near is not None:  # half of the points inside the peaks, where the forcing is large
        pts[: n // 2] = torch.tensor(near, dtype=torch.float64) + 0.05 * (pts[: n // 2])
    return pts.requires_grad_(True)


@pytest.mark.parametrize("name,params", CASES)
def test_residual_of_exact_solution_vanishes(name, params):
    p = problems.get(name, **params)
    pts = random_points(p, near=(0.5, 0.5) if p.dim == 2 else None)
    r = p.residual(lambda x: p.exact_on_points(x), pts).detach()
    f = p.forcing(*pts.detach().unbind(1))
    assert r.shape == (pts.shape[0],)
    assert float(r.abs().max()) < 1e-12 * float(f.abs().max()), (float(r.abs().max()), float(f.abs().max()))
    r_bad = p.residual(lambda x: 1.01 * p.exact_on_points(x), pts)
    assert float(r_bad.detach().abs().max()) > 1e-3 * float(f.abs().max())


@pytest.mark.parametrize("name,params", CASES)
def test_numpy_and_torch_agree(name, params):
    p = problems.get(name, **params)
    pts = np.random.default_rng(1).uniform(-1, 1, (100, p.dim))
    coords = [pts[:, i] for i in range(p.dim)]
    tcoords = [torch.tensor(c) for c in coords]
    for fn in (p.exact, p.forcing):
        assert np.allclose(fn(*tcoords).numpy(), fn(*coords), rtol=1e-12, atol=1e-12)


def test_closed_forms():
    p = problems.get("peak2d")
    assert p.domain == [(-1.0, 1.0)] * 2
    assert p.exact(0.5, 0.5) == 1.0 and p.forcing(0.5, 0.5) == 4000.0
    tp = problems.get("two_peaks")
    assert np.isclose(tp.exact(-0.5, -0.5), 1.0) and np.isclose(tp.exact(0.5, 0.5), 1.0)
    g = problems.get("gaussian_nd")
    assert g.dim == 10 and g.domain == [(-1.0, 1.0)] * 10
    assert g.exact(*[0.0] * 10) == 1.0 and g.forcing(*[0.0] * 10) == 200.0


@pytest.mark.parametrize("name", ["peak2d", "two_peaks"])
def test_fd_reference_converges_second_order(name):
    p = problems.get(name)
    errs = []
    for n in (101, 201, 401):
        x, y = p.sample(0, 0, n)
        assert x.shape == y.shape == (1, n, n) and y.dtype == np.float32
        errs.append(np.abs(p.reference(n) - p.exact(*p.grid(n))).max())
    orders = np.log2(np.array(errs[:-1]) / errs[1:])
    assert orders.min() >= 1.9 and errs[-1] < 1e-2, (errs, orders)


def test_gaussian_nd_grid_reference_only_in_low_dimension():
    p = problems.get("gaussian_nd", dim=2)
    errs = [np.abs(p.reference(n) - p.exact(*p.grid(n))).max() for n in (33, 65)]
    assert np.log2(errs[0] / errs[1]) >= 1.9
    with pytest.raises(ValueError, match="d = 10 > 3"):
        problems.get("gaussian_nd").sample(0, 0, 8)


def test_bad_input():
    p = problems.get("peak2d")
    with pytest.raises(ValueError, match="require grad"):
        p.residual(p.exact_on_points, torch.zeros(3, 2, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"\(n, 2\)"):
        p.residual(p.exact_on_points, torch.zeros(3, 3, dtype=torch.float64, requires_grad=True))
    with pytest.raises(ValueError, match=r"\(n,\) or \(n, 1\)"):
        p.residual(lambda x: x, torch.zeros(3, 2, dtype=torch.float64, requires_grad=True))
    with pytest.raises(ValueError, match="beta must be positive"):
        problems.get("peak2d", beta=0)
    with pytest.raises(ValueError, match="dim must be a positive integer"):
        problems.get("gaussian_nd", dim=0)
    with pytest.raises(ValueError, match="needs 10 coordinate arrays"):
        problems.get("gaussian_nd").exact(np.zeros(3), np.zeros(3))
