import json
import math

import numpy as np
import pytest
import torch

from pdeml import problems
from pdeml.pinn import BoxFlow, Domain, box_geometry, make_sampler, solve_pinn
from pdeml.problems.pde import autograd_derivatives

CASES = [("peak2d", {}), ("two_peaks", {}), ("gaussian_nd", {"dim": 10}), ("poisson1d_sin100", {}),
         ("allen_cahn1d_sin100", {}), ("poisson2d_sin100", {}), ("advection_sin200", {}), ("allen_cahn2d", {})]


@pytest.mark.parametrize("name,params", CASES)
def test_exact_solution_residual_vanishes(name, params):
    prob = problems.get(name, **params)
    dom = Domain.from_problem(prob, dtype=torch.float64)
    x = dom.sample_interior(400, torch.Generator().manual_seed(0)).requires_grad_(True)
    if name in ("peak2d", "two_peaks"):  # put half of the points on the peaks, where f is large
        x = torch.cat([x[:200], 0.5 + 0.03 * torch.randn(200, 2, dtype=torch.float64)]).detach().requires_grad_(True)
    r = prob.residual(lambda p: prob.exact_on_points(p), x)
    f = prob.forcing(*[x[:, i] for i in range(prob.dim)])
    scale = max(float(f.detach().abs().max()), 1.0)
    assert r.shape == (x.shape[0],)
    assert float(r.detach().abs().max()) < 1e-9 * scale


def test_hessian_diagonal_matches_closed_form():
    x = torch.randn(50, 4, dtype=torch.float64, requires_grad=True)
    u = torch.sin(x[:, 0]) * x[:, 1] ** 3 + torch.exp(x[:, 2]) + x[:, 3] * x[:, 0]
    d = autograd_derivatives(u, x, [(k, 2) for k in range(4)])
    h = torch.stack([d[(k, 2)] for k in range(4)], dim=1)
    expected = torch.stack([-torch.sin(x[:, 0]) * x[:, 1] ** 3, 6 * torch.sin(x[:, 0]) * x[:, 1],
                            torch.exp(x[:, 2]), torch.zeros_like(x[:, 3])], dim=1)
    assert torch.allclose(h, expected, atol=1e-12)


def _randomize(flow, scale=0.4, seed=0):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in flow.parameters():
            p.copy_(scale * torch.randn(p.shape, generator=g, dtype=p.dtype))


@pytest.mark.parametrize("dim,layers,n", [(1, 2, 4000), (2, 1, 300), (2, 2, 300), (3, 2, 40)])
def test_flow_density_integrates_to_one_and_samples_stay_inside(dim, layers, n):
    flow = BoxFlow(dim, layers=layers, bins=8, hidden=16).double()
    _randomize(flow, 0.2)
    t = (torch.arange(n, dtype=torch.float64) + 0.5) / n
    grid = torch.stack(torch.meshgrid(*([t] * dim), indexing="ij"), -1).reshape(-1, dim)
    q = flow.log_prob(grid).exp()
    assert float(q.max() / q.min()) > 1.5  # a non-trivial density
    assert abs(float(q.mean()) - 1.0) < (1e-3 if dim < 3 else 1e-2)  # midpoint-rule error
    y = flow.sample(5000, torch.Generator().manual_seed(1))
    assert y.shape == (5000, dim) and float(y.min()) >= 0.0 and float(y.max()) <= 1.0
    # sampling (base -> cube) and density (cube -> base) are inverse maps
    z = torch.rand(200, dim, dtype=torch.float64)
    back = flow.transform(z)
    for block in flow.blocks:
        back, _ = block(back)
    assert torch.allclose(back, z, atol=1e-10)


def test_flow_samples_inside_in_10d_and_identity_at_start():
    flow = BoxFlow(10, layers=2, bins=8, hidden=16).double()
    y = flow.sample(100)
    assert float(flow.log_prob(y).abs().max()) < 1e-12  # a new flow is uniform
    _randomize(flow, 0.3)
    y = flow.sample(2000)
    assert float(y.min()) >= 0 and float(y.max()) <= 1


def test_gradient_penalty_zero_for_constant_density():
    flow = BoxFlow(2, bins=8, hidden=16).double()
    u = torch.rand(256, 2, dtype=torch.float64)
    assert float(flow.gradient_penalty(u)) < 1e-25  # exactly 0 up to round-off
    dom = Domain(box_geometry([(-1, 1), (-1, 1)]), dtype=torch.float64)
    s = make_sampler("aas", dom, lambda x: torch.zeros(len(x)), n_points=10, steps_per_round=1, rounds=1)
    s.flow.double()
    assert float(s.gradient_penalty(256)) < 1e-25
    _randomize(s.flow)
    assert float(s.gradient_penalty(256)) > 0.0


def _toy_sampler(name, **kw):
    dom = Domain(box_geometry([(-1, 1), (-1, 1)]))
    center = torch.tensor([0.5, 0.5])

    def residual(model, x):  # a fixed high-residual bump at (0.5, 0.5)
        return torch.exp(-50 * ((x - center) ** 2).sum(1))

    s = make_sampler(name, dom, lambda x: torch.zeros(len(x)), n_points=1000, steps_per_round=1, rounds=5,
                     seed=0, **kw)
    return s.bind(torch.nn.Identity(), residual), center


def test_aas_moves_samples_toward_high_residual_region():
    s, center = _toy_sampler("aas", flow_steps=20, flow_batch=1024, pool_factor=2, flow_hidden=32,
                             penalty_points=256)
    near = []
    for r in range(5):
        s.set_epoch(r)
        near.append(float(((s.batch["interior"] - center).norm(dim=1) < 0.3).float().mean()))
    assert near[0] < 0.1  # the first round is uniform: area fraction pi 0.09 / 4 = 0.07
    assert near[-1] > 3 * near[0]
    assert s.info["flow_expected_w"] > 2  # E_p[r^2] over E_U[r^2]


def _sharp_bump_sampler(**kw):
    dom = Domain(box_geometry([(-1, 1), (-1, 1)]))
    center = torch.tensor([0.5, 0.5])

    def residual(model, x):  # r^2 has a standard deviation of 0.035 per axis around (0.5, 0.5)
        return torch.exp(-200 * ((x - center) ** 2).sum(1))

    s = make_sampler("aas", dom, lambda x: torch.zeros(len(x)), steps_per_round=1, rounds=5, seed=0,
                     pool_factor=2, flow_hidden=32, **{"n_points": 1000, "flow_steps": 50, "flow_batch": 1024, **kw})
    return s.bind(torch.nn.Identity(), residual), center


def test_aas_flow_reaches_a_sharp_residual_peak():
    # four flow updates of 50 steps must move a good share of the flow's mass onto a peak covering
    # 1.8% of the box (the disk of radius 0.15): 44% without the penalty (17% with beta = 1e-4);
    # ten small steps per round left it at 6%, with E_p[w] about 5
    s, center = _sharp_bump_sampler()
    for r in range(5):
        s.set_epoch(r)
    x = s.domain.from_unit(s.flow.sample(4000, torch.Generator().manual_seed(5)))
    assert float(((x - center).norm(dim=1) < 0.15).float().mean()) > 0.12
    assert s.info["flow_expected_w"] > 10  # E_p[r^2] / E_U[r^2]
    ratio, _ = _sharp_bump_sampler(update="ratio", beta=1e-3, flow_steps=20, pool_moves=0)
    for r in range(3):
        ratio.set_epoch(r)
    assert ratio.info["flow_expected_w"] > 2 and ratio.info["flow_penalty"] > 0


def test_aas_mixes_uniform_points_and_snapshot_shows_both():
    s, center = _sharp_bump_sampler(n_points=2000, snapshot_points=1000, uniform_fraction=0.5, beta=0.0)
    for r in range(3):
        s.set_epoch(r)
    near = lambda p: float(((torch.as_tensor(p) - center).norm(dim=1) < 0.15).float().mean())  # noqa: E731
    batch, snap = s.batch["interior"], s.snapshots[-1]["points"]
    flow_share = near(s.domain.from_unit(s.flow.sample(4000, torch.Generator().manual_seed(5))))
    assert abs(near(batch) - (0.5 * flow_share + 0.5 * 0.018)) < 0.05  # half flow, half uniform
    assert abs(near(snap) - near(batch)) < 0.05  # the plotted prefix is representative
    with pytest.raises(ValueError, match="update must be"):
        _sharp_bump_sampler(update="nope")


def test_rar_grows_and_rad_concentrates():
    rar, center = _toy_sampler("rar", pool_factor=4)
    sizes = []
    for r in range(5):
        rar.set_epoch(r)
        sizes.append(rar.batch["interior"].shape[0])
    assert sizes[0] == 500 and sizes[-1] == 1000 and sizes == sorted(sizes)
    added = rar.batch["interior"][500:]
    assert float((added - center).norm(dim=1).max()) < 0.6  # the top-residual points
    rad, _ = _toy_sampler("rad")
    rad.set_epoch(0)
    rad.set_epoch(1)
    frac = float(((rad.batch["interior"] - center).norm(dim=1) < 0.3).float().mean())
    assert frac > 0.15
    assert rad.batch["interior"].unique(dim=0).shape[0] == 1000  # drawn without replacement


def test_sampler_state_roundtrip():
    s, _ = _toy_sampler("aas", flow_steps=2, flow_hidden=8, penalty_points=64)
    s.set_epoch(0)
    s.set_epoch(1)
    state = s.state_dict()
    t, _ = _toy_sampler("aas", flow_steps=2, flow_hidden=8, penalty_points=64)
    t.load_state_dict(state)
    assert torch.equal(t.batch["interior"], s.batch["interior"])
    y = torch.rand(10, 2)
    assert torch.allclose(t.flow.log_prob(y), s.flow.log_prob(y))


def test_disk_geometry_sampling_and_distance_factor():
    import deepxde as dde

    dom = Domain(dde.geometry.Disk([0.0, 0.0], 1.0), dtype=torch.float64)
    g = torch.Generator().manual_seed(0)
    x = dom.sample_interior(500, g)
    assert float(x.norm(dim=1).max()) <= 1.0 and abs(dom.volume_fraction - math.pi / 4) < 0.02
    xb = dom.sample_boundary(100, g)
    assert torch.allclose(xb.norm(dim=1), torch.ones(100, dtype=torch.float64), atol=1e-6)
    assert float(dom.distance_factor(xb).abs().max()) < 1e-6
    assert float(dom.distance_factor(x[:50]).min()) > 0
    st = Domain(dde.geometry.GeometryXTime(dde.geometry.Interval(0, 1), dde.geometry.TimeDomain(0, 2)))
    assert st.dim == 2 and st.sample_interior(10, g).shape == (10, 2)
    assert float(st.sample_interior(200, g)[:, 1].max()) > 1.0


def test_pinn_converges_on_smooth_problem_float64():
    # -u'' = f on [0, 2 pi], u = sin(1.5 x): a smooth case every PINN must solve
    res = solve_pinn("poisson1d_sin100", problem_params={"freq": 1.5}, sampler="uniform", points=128, steps=1200,
                     rounds=6, width=20, depth=2, lr=1e-2, boundary="exact", device="cpu", dtype=torch.float64,
                     progress=False, eval_resolution=513)
    assert res.relative_l2 < 1e-2
    assert res.history[-1]["relative_l2"] < 0.5 * res.history[0]["relative_l2"] or res.relative_l2 < 3e-3
    x = torch.linspace(0, 2 * math.pi, 7, dtype=torch.float64)[:, None]
    assert torch.allclose(res.predict(x), torch.sin(1.5 * x[:, 0]), atol=0.02)
    assert next(res.model.parameters()).dtype == torch.float64


def test_exact_boundary_conditions_hold_by_construction():
    res = solve_pinn("gaussian_nd", problem_params={"dim": 3, "beta": 2.0}, sampler="rad", points=64, steps=4,
                     rounds=2, width=8, depth=1, boundary="exact", device="cpu", progress=False, eval_points=2000)
    xb = res.domain.sample_boundary(500, torch.Generator().manual_seed(3))
    data = res.problem.exact_on_points(xb)
    with torch.no_grad():
        assert torch.equal(res.predict(xb), res.model.lifting(xb))  # u = g on the boundary, whatever N is
        assert float((res.model.lifting(xb) - data).norm() / data.norm()) < 0.1  # g fits the data
    assert res.options["boundary_points"] == 0
    zero = solve_pinn("peak2d", problem_params={"beta": 10.0}, points=32, steps=2, rounds=1, width=8, depth=1,
                      boundary="exact", lifting="zero", device="cpu", progress=False, eval_resolution=9)
    assert float(zero.predict(zero.domain.sample_boundary(100, torch.Generator())).abs().max()) == 0.0


def test_onecycle_schedule_warms_up_then_decays_to_the_cosine_floor():
    from pdeml.pinn.solve import DEFAULTS, _scheduler_options
    from pdeml.train.config import TrainConfig

    general = {**DEFAULTS, "scheduler": "onecycle", "lr": 3e-3, "warmup": 0.1}
    config = TrainConfig(epochs=10, lr=3e-3, scheduler="onecycle", scheduler_interval="step",
                         scheduler_options=_scheduler_options(general))
    opt = config.make_optimizer([torch.nn.Parameter(torch.zeros(1))])
    sched, _ = config.make_scheduler(opt, 100)
    lrs = []
    for _ in range(1000):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs[0] == pytest.approx(3e-3 / 25) and lrs.index(max(lrs)) == 99 and max(lrs) == pytest.approx(3e-3)
    assert lrs[-1] == pytest.approx(3e-3 * DEFAULTS["eta_min_ratio"], rel=1e-3)
    with pytest.raises(ValueError, match="warmup must be in"):
        solve_pinn("peak2d", scheduler="onecycle", warmup=0.0, steps=2)


def test_bad_input_errors():
    with pytest.raises(KeyError, match="known samplers: aas, rad, rar, uniform"):
        solve_pinn("peak2d", sampler="nope", steps=2)
    import deepxde as dde

    with pytest.raises(ValueError, match="dimension 2, but problem 'gaussian_nd' has dimension 10"):
        solve_pinn("gaussian_nd", geometry=dde.geometry.Disk([0, 0], 1), steps=2)
    with pytest.raises(ValueError, match="'beta' is an option of sampler aas"):
        solve_pinn("peak2d", sampler="rad", beta=1.0, steps=2)
    with pytest.raises(ValueError, match="multiple of rounds"):
        solve_pinn("peak2d", steps=25, rounds=10)
    prob = problems.get("peak2d")
    with pytest.raises(ValueError, match=r"shape \(n, 2\)"):
        prob.residual(lambda p: p.sum(1), torch.zeros(5, 3, requires_grad=True))
    res = solve_pinn("peak2d", problem_params={"beta": 10.0}, points=16, steps=2, rounds=1, width=4, depth=1,
                     device="cpu", progress=False, eval_resolution=9)
    with pytest.raises(ValueError, match=r"shape \(n, 2\), got \(4, 3\)"):
        res.predict(torch.zeros(4, 3))


def test_cli_solve_pinn(tmp_path, capsys):
    from pdeml.cli import main

    out = tmp_path / "solve"
    assert main(["solve", "peak2d", "--method", "pinn", "--sampler", "aas", "--points", "32", "--steps", "4",
                 "--set", "pinn.rounds=2", "--set", "pinn.width=8", "--set", "pinn.depth=1", "--set", "pinn.flow_steps=2",
                 "--set", "pinn.eval_resolution=17", "--set", "pinn.beta=0.01", "--out", str(out), "--device", "cpu",
                 "--quiet"]) == 0
    result = json.loads((out / "result.json").read_text())
    assert result["method"] == "pinn" and result["sampler"] == "aas" and result["steps"] == 4
    assert math.isfinite(result["relative_l2"]) and result["relative_l2"] > 0
    for key in ("solution_figure", "sampler_figure", "error_history_figure"):
        assert (out / result[key].split("/")[-1]).stat().st_size > 1000
    from pdeml.solution import Solution

    reloaded = Solution.load(out / "solution.pt")  # rebuilds peak2d and the network: same error on the same grid
    prob = reloaded.pde
    x, y = prob.grid(17)
    pts = np.stack([x.ravel(), y.ravel()], axis=1)
    u = prob.exact(x, y).ravel()
    assert np.linalg.norm(reloaded.predict(pts) - u) / np.linalg.norm(u) == pytest.approx(result["relative_l2"], rel=1e-5)
    assert main(["solve", "peak2d", "--method", "pinn", "--kernel", "gaussian", "--out", str(out)]) == 2
    assert "--kernel does not apply to --method pinn" in capsys.readouterr().err
    assert main(["solve", "peak2d", "--method", "pinn", "--set", "gp.components=3", "--out", str(out)]) == 2
    assert "unknown section(s) ['gp']" in capsys.readouterr().err
