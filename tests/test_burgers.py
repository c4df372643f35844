import math

import numpy as np
import pytest
import torch

from pdeml import problems
from pdeml.problems.burgers import Burgers1D, cole_hopf_solution
from pdeml.solvers.spectral import burgers_1d, burgers_step, dealias_mask

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def nodes(n):
    return torch.arange(n, dtype=torch.float64) / n


def test_matches_cole_hopf_and_is_second_order_in_time():
    n, nu, t = 64, 0.05, 0.5
    x = nodes(n)
    u0, exact = cole_hopf_solution(x, 0.0, nu), cole_hopf_solution(x, t, nu)
    errs = [float((burgers_1d(u0, nu, dt, t)[..., -1] - exact).norm() / exact.norm()) for dt in (1e-2, 5e-3, 2.5e-3)]
    orders = [math.log2(errs[i] / errs[i + 1]) for i in range(len(errs) - 1)]
    assert min(orders) >= 1.8, (errs, orders)
    assert errs[-1] < 1e-5
    # the nonlinear term matters: the heat equation alone would be far off
    k = 2 * math.pi * torch.fft.rfftfreq(n, 1 / n, dtype=torch.float64)
    heat = torch.fft.irfft(torch.fft.rfft(u0) * torch.exp(-nu * k**2 * t), n=n)
    assert float((heat - exact).norm() / exact.norm()) > 0.05
    # a single step agrees with the integrator
    assert torch.allclose(burgers_step(u0, nu, 1e-2), burgers_1d(u0, nu, 1e-2, 1e-2)[..., -1], atol=1e-15)


def test_mass_is_conserved_and_energy_decays():
    p = Burgers1D(ic="sines", nu=0.01, abs_prob=0.0, window_prob=0.0)
    u0 = torch.as_tensor(p.sample_initial_condition(np.random.default_rng(1), 128))
    traj = burgers_1d(u0, 0.01, 1e-3, 0.5, record_every=0.05)
    mass = traj.mean(dim=0)
    energy = 0.5 * (traj**2).mean(dim=0)
    assert float((mass - u0.mean()).abs().max()) < 1e-14
    assert bool((energy[1:] < energy[:-1]).all()) and float(energy[0]) < 0.5 * float((u0**2).mean())


def test_dealias_mask_1d():
    for n in (8, 12, 64, 1024):
        k = torch.fft.rfftfreq(n, 1 / n)
        assert torch.equal(dealias_mask(n, 1), 3 * k < n)


def test_batch_equals_one_by_one():
    rng = np.random.default_rng(0)
    p = Burgers1D(ic="sines")
    u0 = torch.as_tensor(np.stack([p.sample_initial_condition(rng, 64) for _ in range(3)]))
    batched = burgers_1d(u0, 0.02, 1e-3, 0.1, record_times=[0.05, 0.1])
    assert batched.shape == (3, 64, 2)
    for i in range(3):
        assert torch.allclose(batched[i], burgers_1d(u0[i], 0.02, 1e-3, 0.1, record_times=[0.05, 0.1]),
                              rtol=0, atol=1e-14)


def test_sample_is_reproducible_and_shaped():
    p = problems.get("burgers", solver_resolution=128, dt=1e-3, t_final=0.2)
    x1, y1 = p.sample(4, seed=1, resolution=64)
    x2, y2 = p.sample(4, seed=1, resolution=64)
    x3, _ = p.sample(5, seed=1, resolution=64)
    assert x1.shape == y1.shape == (1, 64) and x1.dtype == np.float32
    assert np.array_equal(x1, x2) and np.array_equal(y1, y2) and not np.array_equal(x1, x3)
    # the GRF has zero mean on the solver grid, and x is that field at every other node
    u0 = p.sample_initial_condition(problems.sample_rng(1, 4))
    assert abs(u0.mean()) < 1e-14 and np.allclose(x1[0], u0[::2], atol=1e-6)
    q = Burgers1D.recipe("pdebench-0.1", solver_resolution=128, dt=1e-3, t_final=0.1, n_snapshots=10)
    xq, yq = q.sample(0, 0, 32)
    assert xq.shape == (1, 32) and yq.shape == (1, 32, 10)
    assert q.nu == pytest.approx(0.1 / math.pi)


def test_recipes():
    fno = Burgers1D.recipe("fno")
    assert (fno.nu, fno.alpha, fno.tau, fno.sigma, fno.t_final, fno.n_snapshots) == (0.1, 2.0, 5.0, 25.0, 1.0, 1)
    pde = Burgers1D.recipe("pdebench-0.001")
    assert (pde.t_final, pde.n_snapshots, pde.ic) == (2.0, 200, "sines")
    with pytest.raises(ValueError, match="known recipes: fno"):
        Burgers1D.recipe("nope")


def test_bad_inputs_raise_before_work():
    u0 = torch.sin(2 * math.pi * nodes(32))
    for nu in (-0.1, 0.0):
        with pytest.raises(ValueError, match="viscosity nu must be .*> 0.*got"):
            burgers_1d(u0, nu, 1e-3, 0.1)
    with pytest.raises(ValueError, match=">= 8, got 6"):
        burgers_1d(torch.zeros(6), 0.1, 1e-3, 0.1)
    with pytest.raises(ValueError, match=r"dt=0\.1 violates .*use dt <= 0\.009"):
        burgers_1d(u0, 0.1, 0.1, 1.0)
    with pytest.raises(ValueError, match="viscosity"):
        problems.get("burgers", nu=-1.0)
    with pytest.raises(ValueError, match="unknown initial condition"):
        problems.get("burgers", ic="steps")


def test_blow_up_raises_floating_point_error():
    u0 = 50 * torch.sin(2 * math.pi * nodes(16))
    dt = 0.9 / 16 / 50
    with pytest.raises(FloatingPointError, match=r"simulation time t=\d"):
        burgers_1d(u0, 1e-9, dt, 4000 * dt, check_every=10, max_cfl=1.0)


def test_under_resolved_shock_warns():
    p = Burgers1D(nu=1e-4, ic="sines", solver_resolution=64, dt=1e-4, t_final=1e-3)
    with pytest.warns(UserWarning, match="under-resolves"):
        p.solve(torch.sin(2 * math.pi * nodes(64)))
