import math

import numpy as np
import pytest
import torch

from pdeml import problems
from pdeml.problems.navier_stokes import NavierStokes2D, taylor_green
from pdeml.problems.random_fields import grf_periodic
from pdeml.solvers.spectral import (
    convection,
    dealias_mask,
    derivative,
    inverse_laplacian,
    laplacian,
    navier_stokes_2d,
    spectral_grid_2d,
    velocity_from_vorticity,
)

TWO_PI = 2 * math.pi


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def grid(n):
    t = torch.arange(n, dtype=torch.float64) / n
    return torch.meshgrid(t, t, indexing="ij")


def fno_forcing(n):
    x, y = grid(n)
    return 0.1 * (torch.sin(TWO_PI * (x + y)) + torch.cos(TWO_PI * (x + y)))


def smooth_vorticity(n, seed=0, scale=3.0):
    """A GRF vorticity (FNO law) restricted to the dealiased modes, scaled so max|u| is O(1)."""
    w = torch.as_tensor(grf_periodic(np.random.default_rng(seed), n, 2.5, 7.0, sigma=7.0**1.5))
    w_hat = torch.fft.rfft2(w) * spectral_grid_2d(n).dealias
    return scale * torch.fft.irfft2(w_hat, s=(n, n))


def test_spectral_derivatives_and_inverse_laplacian_closed_forms():
    x, y = grid(32)
    u = torch.sin(TWO_PI * 3 * x) * torch.cos(TWO_PI * 2 * y)
    assert torch.allclose(derivative(u, dim=-2), TWO_PI * 3 * torch.cos(TWO_PI * 3 * x) * torch.cos(TWO_PI * 2 * y),
                          atol=1e-11)
    assert torch.allclose(derivative(u, dim=-1, order=2), -(TWO_PI * 2) ** 2 * u, atol=1e-9)
    assert torch.allclose(laplacian(u), -(TWO_PI**2) * 13 * u, atol=1e-9)
    # a period L scales the wavenumbers by 1 / L
    assert torch.allclose(derivative(torch.sin(TWO_PI * x[:, 0]), L=2.0), 0.5 * TWO_PI * torch.cos(TWO_PI * x[:, 0]),
                          atol=1e-12)
    f = torch.randn(3, 32, 32, dtype=torch.float64)
    psi = inverse_laplacian(f)
    assert abs(float(psi.mean())) < 1e-14
    assert torch.allclose(laplacian(psi), f - f.mean(dim=(-1, -2), keepdim=True), atol=1e-12)
    assert torch.allclose(inverse_laplacian(laplacian(psi)), psi, atol=1e-12)


def test_velocity_of_single_mode_is_divergence_free_and_exact():
    x, y = grid(16)
    kx, ky = 2, 3
    w = torch.cos(TWO_PI * (kx * x + ky * y))
    u, v = velocity_from_vorticity(w)
    k2 = TWO_PI**2 * (kx**2 + ky**2)
    # psi = w / |k|^2, u = psi_y, v = -psi_x
    s = torch.sin(TWO_PI * (kx * x + ky * y))
    assert torch.allclose(u, -TWO_PI * ky * s / k2, atol=1e-14)
    assert torch.allclose(v, TWO_PI * kx * s / k2, atol=1e-14)
    assert float((derivative(u, -2) + derivative(v, -1)).abs().max()) < 1e-13
    assert torch.allclose(derivative(v, -2) - derivative(u, -1), w, atol=1e-12)  # curl u = w


@pytest.mark.parametrize("n", [8, 12, 48, 64])
def test_dealias_mask_keeps_the_largest_alias_free_set(n):
    k = torch.fft.fftfreq(n, 1 / n).long()
    kept = set(k[dealias_mask(n, 1, real=False)].tolist())
    for k1 in kept:  # a product of two kept modes never aliases onto a kept mode
        for k2 in kept:
            s = k1 + k2
            alias = (s + n // 2) % n - n // 2
            assert alias == s or alias not in kept, (n, k1, k2)
    assert kept == {int(v) for v in k if 3 * abs(int(v)) < n}  # and nothing more is removed
    mask = dealias_mask(n, 2)
    kr = torch.fft.rfftfreq(n, 1 / n)
    expected = (k.abs()[:, None] * 3 < n) & (kr.abs()[None, :] * 3 < n)
    assert mask.shape == (n, n // 2 + 1) and torch.equal(mask, expected)


def test_taylor_green_matches_exact_solution():
    n, nu, t = 64, 1e-3, 1.0
    x, y = grid(n)
    w0 = taylor_green(x, y, 0.0, nu)
    # the convection term of the exact vortex vanishes to round-off
    assert float(convection(w0).abs().max()) < 1e-11 * float(w0.abs().max()) ** 2
    w = navier_stokes_2d(w0, None, nu, 1e-3, t, record_times=[0.5, t])
    exact = taylor_green(x, y, t, nu)
    rel = float((w[..., -1] - exact).norm() / exact.norm())
    assert rel <= 1e-10, rel
    # the velocity helper agrees with the stream-function velocity
    _, u, v = taylor_green(x, y, 0.0, nu, velocity=True)
    us, vs = velocity_from_vorticity(w0)
    assert torch.allclose(us, u, atol=1e-13) and torch.allclose(vs, v, atol=1e-13)
    # NumPy inputs give the same values
    xn, yn = x.numpy(), y.numpy()
    assert np.allclose(taylor_green(xn, yn, t, nu), exact.numpy())


def test_second_order_in_time_with_convection():
    n, nu, t_final = 32, 1e-2, 0.5
    w0, f = smooth_vorticity(n), fno_forcing(n)
    ref = navier_stokes_2d(w0, f, nu, t_final / 320, t_final)[..., -1]
    dts = [t_final / 20, t_final / 40, t_final / 80]
    errs = [float((navier_stokes_2d(w0, f, nu, dt, t_final)[..., -1] - ref).norm() / ref.norm()) for dt in dts]
    orders = [math.log2(errs[i] / errs[i + 1]) for i in range(len(errs) - 1)]
    assert min(orders) >= 1.8, (errs, orders)
    # convection matters in this run: the solution is far from pure diffusion
    heat = torch.fft.irfft2(torch.fft.rfft2(w0) * torch.exp(nu * t_final * spectral_grid_2d(n).laplacian), s=(n, n))
    assert float((heat - ref).norm() / ref.norm()) > 0.05


def enstrophy_mismatch(w0, f, nu, dt, t_final):
    """|E(T) - E(0) - int_0^T (-nu ||grad w||^2 + <f, w>) dt| / int |rate|, trapezoid on every step."""
    traj = torch.cat([w0[..., None], navier_stokes_2d(w0, f, nu, dt, t_final, record_every=dt)], dim=-1)
    ens = 0.5 * (traj**2).mean(dim=(0, 1))  # unit torus: the squared L2 norm is the grid mean
    frames = traj.movedim(-1, 0)
    grad2 = (derivative(frames, -2) ** 2 + derivative(frames, -1) ** 2).mean(dim=(-1, -2))
    rate = -nu * grad2 + (f[..., None] * traj).mean(dim=(0, 1))
    integral = 0.5 * dt * (rate[1:] + rate[:-1]).sum()
    return float((ens[-1] - ens[0] - integral).abs() / (dt * rate.abs().sum())), float(ens[-1] - ens[0])


def test_enstrophy_balance_along_a_run():
    # d/dt (1/2)||w||^2 = -nu ||grad w||^2 + <f, w>: the dealiased convection does no work on a
    # field inside the 2/3 band, so the balance holds up to the O(dt^2) time-stepping error
    n, nu = 32, 5e-3
    w0, f = smooth_vorticity(n, seed=1), fno_forcing(n)
    coarse, change = enstrophy_mismatch(w0, f, nu, 4e-3, 0.4)
    fine, _ = enstrophy_mismatch(w0, f, nu, 2e-3, 0.4)
    assert fine < 2e-5, (coarse, fine)
    assert coarse / fine > 3.5  # second order
    assert abs(change) > 0.01  # the balance is not trivially 0 = 0


def test_batch_equals_one_by_one():
    n = 16
    w0 = torch.stack([smooth_vorticity(n, seed=s) for s in range(3)])
    f = fno_forcing(n)
    batched = navier_stokes_2d(w0, f, 1e-3, 1e-2, 0.3, record_every=0.1)
    assert batched.shape == (3, n, n, 3)
    for i in range(3):
        single = navier_stokes_2d(w0[i], f, 1e-3, 1e-2, 0.3, record_every=0.1)
        assert torch.allclose(batched[i], single, rtol=0, atol=1e-13)


def test_float32_input_is_solved_in_float64_by_default():
    w0 = smooth_vorticity(16).float()
    assert navier_stokes_2d(w0, None, 1e-3, 1e-2, 0.02).dtype == torch.float64
    assert navier_stokes_2d(w0, None, 1e-3, 1e-2, 0.02, dtype=None).dtype == torch.float32


def test_grf_periodic_statistics():
    rng = np.random.default_rng(0)
    s, alpha, tau, sigma = 16, 2.5, 7.0, 3.0
    fields = np.stack([grf_periodic(rng, s, alpha, tau, sigma=sigma) for _ in range(2000)])
    k = np.fft.fftfreq(s, 1 / s)
    lam = 4 * np.pi**2 * (k[:, None] ** 2 + k[None, :] ** 2) + tau**2
    var = sigma**2 * lam ** (-alpha)
    var[0, 0] = 0.0
    assert np.allclose(fields.mean(axis=(1, 2)), 0.0, atol=1e-14)
    assert abs(fields.var() / var.sum() - 1) < 0.05
    a = grf_periodic(np.random.default_rng(5), 8)
    assert np.array_equal(a, grf_periodic(np.random.default_rng(5), 8)) and a.shape == (8, 8)
    assert grf_periodic(np.random.default_rng(5), 8, dim=1).shape == (8,)


def test_sample_is_reproducible_and_shaped():
    p = problems.get("navier_stokes", nu=1e-3, dt=1e-2, t_final=0.4, n_snapshots=4, solver_resolution=32)
    x1, y1 = p.sample(2, seed=3, resolution=16)
    x2, y2 = p.sample(2, seed=3, resolution=16)
    x3, _ = p.sample(3, seed=3, resolution=16)
    assert x1.shape == (1, 16, 16) and y1.shape == (1, 16, 16, 4) and y1.dtype == np.float32
    assert np.array_equal(x1, x2) and np.array_equal(y1, y2) and not np.array_equal(x1, x3)
    # stride downsampling: the output is the solver field at every other node
    full = p.solve(p.sample_initial_vorticity(problems.sample_rng(3, 2)))
    assert np.allclose(y1[0], full[::2, ::2, 1:].numpy(), atol=1e-6)
    # input window: t_in frames in x, the rest in y
    q = NavierStokes2D(nu=1e-3, dt=1e-2, t_final=0.6, warmup=0.2, n_snapshots=4, t_in=1, solver_resolution=16)
    xq, yq = q.sample(0, 0, 16)
    assert xq.shape == (1, 16, 16, 1) and yq.shape == (1, 16, 16, 3)
    assert q.record_times == pytest.approx([0.3, 0.4, 0.5, 0.6])


def test_recipes():
    sr = NavierStokes2D.recipe("spectral-refiner")
    assert (sr.nu, sr.dt, sr.warmup, sr.t_final, sr.n_snapshots, sr.solver_resolution) == (1e-3, 1e-3, 30, 50, 100, 256)
    assert NavierStokes2D.recipe("fno-1e-5").n_snapshots == 20
    assert NavierStokes2D.recipe("fno-1e-3", t_final=10.0).t_final == 10.0
    with pytest.raises(ValueError, match="known recipes: fno-1e-3"):
        NavierStokes2D.recipe("nope")
    x, y = grid(4)
    assert torch.allclose(NavierStokes2D(forcing="kolmogorov").forcing(x, y),
                          -0.4 * math.pi * torch.cos(4 * math.pi * y))


def test_bad_inputs_raise_before_work():
    w0 = smooth_vorticity(16)
    for nu in (-1e-3, 0.0):
        with pytest.raises(ValueError, match="viscosity nu must be .*> 0.*got"):
            navier_stokes_2d(w0, None, nu, 1e-3, 0.1)
    with pytest.raises(ValueError, match="resolution must be an even number of points >= 8, got 4"):
        navier_stokes_2d(torch.zeros(4, 4), None, 1e-3, 1e-3, 0.1)
    with pytest.raises(ValueError, match="got 15"):
        navier_stokes_2d(torch.zeros(15, 15), None, 1e-3, 1e-3, 0.1)
    speed = float(torch.sqrt(sum(c**2 for c in velocity_from_vorticity(w0))).max())
    with pytest.raises(ValueError, match=r"dt=0\.5 violates .*use dt <= "):
        navier_stokes_2d(w0, None, 1e-3, 0.5, 1.0)
    assert 0.5 * speed * 16 > 1
    with pytest.raises(ValueError, match="not a multiple of dt"):
        navier_stokes_2d(w0, None, 1e-3, 1e-2, 0.1, record_times=[0.015])
    with pytest.raises(ValueError, match="NaN"):
        navier_stokes_2d(torch.full((8, 8), float("nan")), None, 1e-3, 1e-3, 0.1)
    with pytest.raises(ValueError, match="viscosity"):
        problems.get("navier_stokes", nu=-1.0)
    with pytest.raises(ValueError, match="unknown forcing 'x'"):
        problems.get("navier_stokes", forcing="x")
    with pytest.raises(ValueError, match="must divide solver_resolution=32"):
        problems.get("navier_stokes", solver_resolution=32, dt=1e-2, t_final=0.1, n_snapshots=1).sample(0, 0, 12)
    with pytest.raises(ValueError, match="resolution"):
        problems.get("navier_stokes").sample(0, 0, 4)


def test_blow_up_raises_floating_point_error_naming_the_time():
    # nearly inviscid, coarse grid, dt inside a (too loose) advective bound of 1: Heun's explicit step is
    # unstable for the resolved advection and the run must stop with the time it reached
    w0 = smooth_vorticity(16, scale=200.0)
    speed = float(torch.sqrt(sum(c**2 for c in velocity_from_vorticity(w0))).max())
    dt = 0.9 / 16 / speed
    with pytest.raises(FloatingPointError, match=r"simulation time t=\d"):
        navier_stokes_2d(w0, None, 1e-9, dt, 2000 * dt, check_every=10, max_cfl=1.0)


def test_coarse_warmup_then_frames_on_the_solver_grid():
    from pdeml.solvers.spectral import spectral_upsample

    kw = dict(nu=1e-3, dt=1e-2, t_final=0.6, warmup=0.4, n_snapshots=2, solver_resolution=32)
    coarse = NavierStokes2D(**kw, warmup_resolution=16, warmup_dt=2e-2)
    w0 = coarse.sample_initial_vorticity(np.random.default_rng(0))
    assert w0.shape == (16, 16)
    traj = coarse.solve(w0)
    assert traj.shape == (32, 32, 3)
    # the first frame is the 16^2 warm-up interpolated onto 32^2, the others the 32^2 run from it
    warm16 = NavierStokes2D(nu=1e-3, dt=2e-2, t_final=0.4, n_snapshots=1, solver_resolution=16).solve(w0)[..., -1]
    assert torch.allclose(traj[..., 0], spectral_upsample(warm16, 32), atol=1e-12)
    frames = NavierStokes2D(nu=1e-3, dt=1e-2, t_final=0.2, n_snapshots=2, solver_resolution=32).solve(traj[..., 0])
    assert torch.allclose(traj, frames, atol=1e-12)
    # the trajectory approaches the all-32^2 one as the warm-up grid is refined (1.4e-2 on 16^2)
    fine = NavierStokes2D(**kw).solve(spectral_upsample(torch.as_tensor(w0), 32))
    rel16 = float((traj - fine).norm() / fine.norm())
    finer = NavierStokes2D(**kw, warmup_resolution=24, warmup_dt=2e-2).solve(spectral_upsample(torch.as_tensor(w0), 24))
    rel24 = float((finer - fine).norm() / fine.norm())
    assert 0 < rel24 < 0.6 * rel16 < 0.6 * 0.03
    x, y = coarse.sample(0, 0, 16)
    assert x.shape == (1, 16, 16) and y.shape == (1, 16, 16, 2)
    assert coarse.params["warmup_resolution"] == 16
    with pytest.raises(ValueError, match="warmup_resolution needs a warm-up"):
        NavierStokes2D(warmup_resolution=16, solver_resolution=32)
    with pytest.raises(ValueError, match="even integer in"):
        NavierStokes2D(warmup=1.0, t_final=2.0, warmup_resolution=64, solver_resolution=32)
    with pytest.raises(ValueError, match="must be on that grid"):
        coarse.solve(np.zeros((32, 32)))
    with pytest.raises(ValueError, match="warmup_dt must be > 0"):
        NavierStokes2D(warmup=1.0, t_final=2.0, warmup_dt=0.0)
