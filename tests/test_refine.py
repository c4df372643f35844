import json
import math
import re

import pytest
import torch

from pdeml.models import build
from pdeml.problems.navier_stokes import NavierStokes2D, taylor_green
from pdeml.refine import (
    ALPHA,
    SpectralRefiner,
    ns_error_estimate,
    ns_estimator,
    ns_residual,
    residual_norm,
    time_derivative,
)
from pdeml.solvers.spectral import navier_stokes_2d


def _grid(n):
    t = torch.arange(n, dtype=torch.float64) / n
    return torch.meshgrid(t, t, indexing="ij")


def test_h_minus_one_norm_of_a_single_mode():
    n, T, dt, A, (k1, k2) = 32, 5, 0.1, 0.7, (3, -2)
    X, Y = _grid(n)
    mode = A * torch.cos(2 * math.pi * (k1 * X + k2 * Y))
    R = mode[None, :, :, None].expand(2, n, n, T)
    got = residual_norm(R, dt)
    expect = math.sqrt(T * dt * (A**2 / 2) / (ALPHA + 4 * math.pi**2 * (k1**2 + k2**2)))
    torch.testing.assert_close(got, torch.full((2,), expect, dtype=torch.float64), rtol=1e-12, atol=0)


def test_residual_of_exact_taylor_green_is_round_off():
    n, nu, dt, kappa = 32, 1e-2, 0.05, 2
    X, Y = _grid(n)
    times = [k * dt for k in range(7)]
    w = torch.stack([taylor_green(X, Y, t, nu, k=kappa) for t in times], dim=-1)[None]
    rate = 2 * nu * (2 * math.pi * kappa) ** 2
    R = ns_residual(w, times, nu, w_t=-rate * w)  # the exact time derivative
    assert float(R.abs().max()) < 1e-10 * float((rate * w).abs().max())
    # with the trajectory's own finite difference the residual is the stencil's O(dt^4) error
    errs = []
    for h in (0.04, 0.02, 0.01):
        w = torch.stack([taylor_green(X, Y, k * h, nu, k=kappa) for k in range(5)], dim=-1)[None]
        errs.append(float(ns_estimator(w, h, nu)))
    assert errs[0] / errs[1] > 14 and errs[1] / errs[2] > 15


def test_residual_of_forced_steady_shear_flow_is_round_off():
    # w = A cos(2 pi m y) has no convection; it is steady under f = nu (2 pi m)^2 A cos(2 pi m y)
    n, nu, A, m = 32, 1e-3, 1.3, 3
    X, Y = _grid(n)
    w = (A * torch.cos(2 * math.pi * m * Y))[None, :, :, None].expand(1, n, n, 5).contiguous()

    def forcing(x, y):
        return nu * (2 * math.pi * m) ** 2 * A * torch.cos(2 * math.pi * m * y) + 0 * x

    assert float(ns_residual(w, 0.1, nu, forcing).abs().max()) < 1e-10
    assert float(ns_residual(w, 0.1, nu, None).abs().max()) > 0.1  # without the forcing it is not steady


def test_estimator_separates_a_solver_trajectory_from_a_perturbed_one(one_torch_thread):
    prob = NavierStokes2D(nu=1e-2, forcing="fno")
    w0 = torch.as_tensor(prob.sample_initial_vorticity(__import__("numpy").random.default_rng(1), 32))
    f = prob.forcing(*_grid(32))
    h = 0.02
    traj = navier_stokes_2d(w0, f, 1e-2, 1e-3, 8 * h, record_every=h)[None]
    exact = ns_estimator(traj, h, 1e-2, f)
    noise = 1e-3 * traj.abs().max() * torch.randn(traj.shape, generator=torch.Generator().manual_seed(0),
                                                  dtype=torch.float64)
    perturbed = ns_estimator(traj + noise, h, 1e-2, f)
    assert float(perturbed) > 50 * float(exact)


def test_time_derivative_orders():
    t = torch.linspace(0, 1, 11, dtype=torch.float64)
    for order in (2, 4, 6):
        d = time_derivative(torch.sin(t)[None], 0.1, order)
        p = order // 2
        err = float((d - torch.cos(t[p:len(t) - p])).abs().max())
        assert err < {2: 2e-3, 4: 4e-6, 6: 1e-8}[order]
    with pytest.raises(ValueError, match="at least 5 snapshots"):
        time_derivative(torch.zeros(1, 4), 0.1, 4)


def test_residual_bad_input():
    with pytest.raises(ValueError, match=r"\(b, n, n, T\)"):
        ns_residual(torch.zeros(8, 8, 6), 0.1, 1e-3)
    with pytest.raises(ValueError, match="equispaced"):
        ns_residual(torch.zeros(1, 8, 8, 6), [0, 0.1, 0.3, 0.4, 0.5, 0.6], 1e-3)
    with pytest.raises(ValueError, match="forcing of shape"):
        ns_residual(torch.zeros(1, 8, 8, 6), 0.1, 1e-3, torch.zeros(16, 16))


def test_error_estimate_of_exact_taylor_green_is_round_off():
    n, nu, h, kappa = 32, 1e-2, 0.005, 1
    X, Y = _grid(n)
    w = torch.stack([taylor_green(X, Y, k * h, nu, k=kappa) for k in range(12)], dim=-1)[None]
    est = ns_error_estimate(w[..., :2], w[..., 2:], h, nu)
    size = float(torch.linalg.vector_norm(w[..., 2]) / n)  # L2 norm of one frame over the unit box
    assert float(est.initial) < 1e-11 * size and float(est.evolution) < 1e-10 * size
    # the same trajectory with a tendency of the wrong viscosity is far from round-off
    assert float(ns_error_estimate(w[..., :2], w[..., 2:], h, 2 * nu).total) > 1e-4 * size


def test_error_estimate_grows_with_an_injected_initial_error(flow, one_torch_thread):
    traj, forcing = flow
    known, truth = traj[..., :6], traj[..., 6:]
    X, Y = _grid(N)
    shape = (torch.sin(2 * math.pi * (2 * X + Y)) + 0.5 * torch.cos(2 * math.pi * 5 * Y))[None, :, :, None]
    size = float(torch.linalg.vector_norm(truth[..., 0]) / (N * 2**0.5))
    initial, total, errors = [], [], []
    for eps in (1e-3, 1e-2, 3e-2, 1e-1):
        pred = truth + eps * size * shape  # an offset at the first frame carried through the window
        est = ns_error_estimate(known, pred, H, NU, forcing)
        initial.append(est.initial)
        total.append(est.total)
        errors.append(torch.linalg.vector_norm(pred - truth, dim=(1, 2)).amax(dim=-1) / N)
    initial, total, errors = torch.stack(initial), torch.stack(total), torch.stack(errors)
    assert torch.all(initial.diff(dim=0) > 0) and torch.all(total.diff(dim=0) > 0)
    # linear in the injected size once it dominates the reference's own residual
    torch.testing.assert_close(total[3] / total[2], torch.full((2,), 10 / 3, dtype=torch.float64), rtol=0.05, atol=0)
    # the initial part carries it: a constant offset makes no residual after the first frame but
    # through convection and diffusion
    assert torch.all(initial[3] > 0.3 * errors[3]) and torch.all(total[3] > errors[3])  # reliable, C = 1


def test_error_estimate_bad_input():
    with pytest.raises(ValueError, match=r"known frames \(b, n, n, t_known\) and a prediction"):
        ns_error_estimate(torch.zeros(1, 8, 8, 2), torch.zeros(1, 16, 16, 6), 0.1, 1e-3)
    with pytest.raises(ValueError, match="needs the last 2 known frames, got 1"):
        ns_error_estimate(torch.zeros(1, 8, 8, 1), torch.zeros(1, 8, 8, 6), 0.1, 1e-3)
    with pytest.raises(ValueError, match="at least 3 predicted frames, got 2"):
        ns_error_estimate(torch.zeros(1, 8, 8, 2), torch.zeros(1, 8, 8, 2), 0.1, 1e-3)
    with pytest.raises(ValueError, match=r"\(b, n, n, T\)"):
        ns_error_estimate(torch.zeros(8, 8, 2), torch.zeros(8, 8, 6), 0.1, 1e-3)


# -- the refiner -----------------------------------------------------------------------------

NU, H, N = 1e-2, 0.05, 16


@pytest.fixture(scope="module")
def flow():
    """A solver trajectory ``(2, N, N, 12)`` from two random initial vorticities, frames ``H`` apart."""
    import numpy as np

    prob = NavierStokes2D(nu=NU, forcing="fno")
    w0 = torch.stack([torch.as_tensor(prob.sample_initial_vorticity(np.random.default_rng(s), N)) for s in (3, 4)])
    return navier_stokes_2d(w0, prob.forcing(*_grid(N)), NU, 5e-3, 12 * H, record_every=H), prob.forcing


def _perturbed_model():
    """An SFNO whose prediction is the last input frame plus a fixed smooth perturbation."""
    torch.manual_seed(0)
    model = build("sfno", modes=(4, 4, 3), width=4, n_layers=1, latent_steps=6, out_steps=6, channel_expansion=1)
    conv = model.output_operator.conv
    with torch.no_grad():
        for w in conv.weight:
            w.zero_()
        for b in conv.bias:
            b.copy_(0.005 / conv.bias_scale * torch.randn(b.shape, dtype=b.dtype, generator=torch.Generator().manual_seed(1)))
    return model


def test_refiner_starts_from_the_sfno_and_lowers_residual_and_error(flow, one_torch_thread):
    traj, forcing = flow
    x, truth = traj[..., :6], traj[..., 6:]
    model = _perturbed_model()
    with torch.no_grad():
        sfno = model(x.float(), t_out=6).double()
    refiner = SpectralRefiner(model, nu=NU, dt=H, forcing=forcing, modes=None, steps=40, lr_bias=0.2)
    res = refiner.refine(x.float(), target=truth, batch_size=2, progress=False)
    torch.testing.assert_close(res.initial, sfno, rtol=0, atol=1e-5)  # the wide layer starts as the trained one
    assert res.prediction.dtype == torch.float64 and res.prediction.shape == truth.shape
    assert res.history.shape == (2, 41) and res.error_history.shape == (2, 41)
    # a time-constant perturbation of about 55% of the flow: the estimator falls five-fold and the
    # true error by a quarter (the H^-1 norm weighs a steady error only through nu and convection)
    assert torch.all(res.error_history[:, 0] > 0.4)
    assert torch.all(res.final_estimate < 0.2 * res.initial_estimate)
    assert torch.all(res.error_history[:, -1] < 0.8 * res.error_history[:, 0])
    # samples are refined independently: one at a time gives the same result
    one = refiner.refine(x[:1].float(), target=truth[:1], batch_size=1, progress=False)
    torch.testing.assert_close(one.prediction[0], res.prediction[0], rtol=0, atol=1e-5)


def test_refiner_accepts_a_loaded_run_and_checks_input(flow):
    from pdeml.models.operator import NormalizedOperator

    traj, forcing = flow
    wrapped = NormalizedOperator(_perturbed_model(), normalize="none")
    refiner = SpectralRefiner(wrapped, nu=NU, dt=H, forcing=forcing, modes=(64, 64, 6), steps=1)
    assert refiner.layer_modes(N) == (8, 8, 6)  # clamped to what a 16^2 grid and the time period hold
    with pytest.raises(ValueError, match="expected inputs"):
        refiner.refine(traj[0, ..., :6].float())
    with pytest.raises(ValueError, match="target shape"):
        refiner.refine(traj[..., :6].float(), target=traj[..., :5])
    with pytest.raises(TypeError, match="trained SFNO"):
        SpectralRefiner(torch.nn.Linear(2, 2), nu=NU, dt=H)


def test_error_estimate_of_a_refined_window_keeps_its_first_frame_part(flow, one_torch_thread):
    """Refinement drives the residual to nothing, not the first frame's mismatch: the residual part then
    lies 60x below the error, the total (first frame + residual) within 3x of it."""
    traj, forcing = flow
    x, truth = traj[..., :6], traj[..., 6:]
    res = SpectralRefiner(_perturbed_model(), nu=NU, dt=H, forcing=forcing, modes=None, steps=40, method="lbfgs",
                          s=0.0, rtol=0.01).refine(x.float(), target=truth, batch_size=2, progress=False)
    frame_err = torch.linalg.vector_norm(res.prediction - truth, dim=(1, 2)) / N
    est = ns_error_estimate(x, res.prediction, H, NU, forcing)
    assert torch.all(est.residual < frame_err.amax(dim=1) / 60)  # 0.015-0.016 of the error
    assert torch.all(est.total > frame_err.amax(dim=1) / 3)  # 0.45-0.46
    torch.testing.assert_close(est.first_frame, frame_err[:, 0], rtol=0.05, atol=0)  # untouched by the loss
    before = ns_error_estimate(x, res.initial, H, NU, forcing)
    assert torch.all(before.total > (torch.linalg.vector_norm(res.initial - truth, dim=(1, 2)) / N).amax(dim=1))


def test_bench_spectral_refiner_tiny(tmp_path, monkeypatch):
    from pdeml.cli import main

    monkeypatch.setenv("PDEML_DATA", str(tmp_path / "cache"))
    assert main(["bench", "spectral-refiner", "--preset", "tiny", "--out", str(tmp_path), "--device", "cpu"]) == 0
    rows = json.loads((tmp_path / "spectral-refiner.json").read_text())["results"]
    samples, summary = [r for r in rows if r["row"].startswith("test sample")], rows[-1]
    assert len(samples) == 2 and summary["row"] == "summary"
    assert [r["row"] for r in rows if r["row"].startswith("solver")] == ["solver 16^2, dt 0.02"]
    for r in samples:
        assert 0 < r["rel_l2_sfno"] < 2 and r["estimator_refined"] < r["estimator_sfno"]
        assert r["estimator_reference"] < 1e-3 * r["estimator_sfno"]  # the truth nearly solves the equations
    assert -1 <= summary["spearman_estimator_error"] <= 1 and summary["spearman_pairs"] == 4
    assert summary["solver_ms"] > 0 and summary["sfno_ms"] > 0
    for name in ("panels", "history", "estimator"):
        assert (tmp_path / f"spectral_refiner_{name}.png").stat().st_size > 1000


def test_bench_spectral_refiner_on_a_stored_subgrid_with_lbfgs(tmp_path, monkeypatch):
    """The `turbulent` preset's path: nu from the preset, a coarse warm-up, frames kept at every other
    node of the solver grid, the L-BFGS refinement, reference and coarse solves around the stored grid."""
    from pdeml.bench import run_benchmark, spectral_refiner

    monkeypatch.setenv("PDEML_DATA", str(tmp_path / "cache"))
    tiny = spectral_refiner.PRESETS["tiny"]
    cfg = {**tiny, "data": {**tiny["data"], "nu": 1e-4, "store_resolution": 16, "warmup_resolution": 16,
                            "warmup_dt": 2e-2},
           "train_resolution": 8, "refine": {"modes": None, "steps": 4, "method": "lbfgs", "s": 0.0, "rtol": 0.5},
           "coarse": [[64, 1e-2], [8, 2e-2]]}
    monkeypatch.setitem(spectral_refiner.PRESETS, "turbulent", cfg)
    rows = run_benchmark("spectral-refiner", "turbulent", out=tmp_path, device="cpu", progress=False)["results"]
    samples, summary = [r for r in rows if r["row"].startswith("test sample")], rows[-1]
    assert len(samples) == 2
    for r in samples:
        assert r["estimator_refined"] < r["estimator_sfno"] and 0 < r["rel_l2_sfno"] < 2
    assert summary["solver_grid"] == "32^2, dt 0.01"
    # the solver grid, started from the stored 16^2 field, reproduces the stored frames to the modes
    # the 16^2 nodes cannot hold
    assert summary["solver_rel_l2"] < 1e-2
    assert -1 <= summary["spearman_error_estimate"] <= 1
    # the cheapest coarse run at least as accurate as the refined SFNO (the tiny model is poor: 8^2 is)
    match = re.fullmatch(r"(\d+)\^2, dt [\d.e-]+ \(rel. L2 ([\d.e+-]+)\)", summary["solver_at_equal_accuracy"])
    assert match and int(match[1]) in (8, 64) and float(match[2]) <= summary["rel_l2_refined"]
    with pytest.raises(ValueError, match="unknown preset 'huge' for benchmark 'spectral-refiner'; known presets: tiny"):
        run_benchmark("spectral-refiner", "huge", out=tmp_path)


def test_lbfgs_refiner_lowers_the_estimator_as_far_as_adam_in_fewer_iterations(flow, one_torch_thread):
    traj, forcing = flow
    x, truth = traj[..., :6].float(), traj[..., 6:]
    model = _perturbed_model()
    adam = SpectralRefiner(model, nu=NU, dt=H, forcing=forcing, modes=None, steps=40, lr_bias=0.2)
    lbfgs = SpectralRefiner(model, nu=NU, dt=H, forcing=forcing, modes=None, steps=40, method="lbfgs", rtol=0.0)
    a = adam.refine(x, target=truth, batch_size=2, progress=False)
    q = lbfgs.refine(x, target=truth, batch_size=2, progress=False)
    torch.testing.assert_close(q.initial, a.initial)  # same starting point and loss
    torch.testing.assert_close(q.initial_estimate, a.initial_estimate)
    # the iteration at which L-BFGS first reaches Adam's final estimator, per sample
    reached = (q.history <= a.final_estimate[:, None]).float().argmax(dim=1)
    assert torch.all((q.history <= a.final_estimate[:, None]).any(dim=1))
    assert torch.all(reached < 20), reached  # Adam took 40
    assert torch.all(q.error_history[:, -1] < q.error_history[:, 0])
    # early stopping on the estimator: rtol = Adam's reduction stops as soon as it is reached
    ratio = float((a.final_estimate / a.initial_estimate).max())
    stopped = SpectralRefiner(model, nu=NU, dt=H, forcing=forcing, modes=None, steps=40, method="lbfgs",
                              rtol=ratio).refine(x, batch_size=2, progress=False)
    assert torch.all(stopped.final_estimate <= ratio * stopped.initial_estimate)
    assert stopped.history.shape[1] - 1 <= int(reached.max())
    with pytest.raises(ValueError, match="refine.method must be one of 'adam', 'lbfgs'; got 'newton'"):
        SpectralRefiner(model, nu=NU, dt=H, method="newton")
    with pytest.raises(ValueError, match="unknown refine option.*'stepz'.*known options: modes, steps"):
        SpectralRefiner(model, nu=NU, dt=H, stepz=3)


def test_bench_sfno_estimator_tiny(tmp_path, monkeypatch):
    from pdeml.cli import main

    monkeypatch.setenv("PDEML_DATA", str(tmp_path / "cache"))
    assert main(["bench", "sfno-estimator", "--preset", "tiny", "--out", str(tmp_path), "--device", "cpu"]) == 0
    rows = {r["row"]: r for r in json.loads((tmp_path / "sfno-estimator.json").read_text())["results"]}
    models = [r for name, r in rows.items() if "epoch" in name]
    assert len(models) == 1 and all(r["windows"] == 4 for r in models)
    for r in models:  # parts add up; the unrefined predictions are bounded (effectivity >= 1)
        assert r["residual"] == pytest.approx(r["initial"] + r["evolution"], rel=1e-12)
        assert r["total"] == pytest.approx(r["first_frame"] + r["residual"], rel=1e-12)
        assert r["effectivity_min"] >= 1.0
    for key in ("h-1", "l2", "initial", "evolution", "total", "sfno_dt h-1"):
        assert -1 <= rows[f"spearman: {key}"]["spearman"] <= 1 and rows[f"spearman: {key}"]["pairs"] == 4
    # the reference's own estimate falls with the stencil order (finite-difference error)
    assert rows["floor: reference, spacing 0.1, order 4"]["total"] < 0.1 * rows["floor: reference, spacing 0.1, order 2"]["total"]
    cheap = rows["refine: lbfgs l2, rtol 0.5"]
    assert cheap["resolution"] == 32 and cheap["reduction_mean"] > 0 and cheap["samples_reduced_40pct"].endswith("/2")
    assert (tmp_path / "sfno_estimator_scatter.png").stat().st_size > 1000
    samples = json.loads((tmp_path / "sfno_estimator_samples.json").read_text())
    assert len(samples["rel"]) == 4 and len(samples["max_frame_error"]) == 4
    assert all(t >= m for t, m in zip(samples["total"], samples["max_frame_error"]))  # effectivity >= 1 above


def test_first_frame_part_measures_an_injected_first_frame_error(flow, one_torch_thread):
    traj, forcing = flow
    known, truth = traj[..., :6], traj[..., 6:]
    X, Y = _grid(N)
    bump = 0.05 * torch.cos(2 * math.pi * (X + 3 * Y))[None, :, :, None]
    pred = truth.clone()
    pred[..., :1] += bump  # an error in the first predicted frame only
    est = ns_error_estimate(known, pred, H, NU, forcing)
    true = float(torch.linalg.vector_norm(bump) / N)
    torch.testing.assert_close(est.first_frame, torch.full((2,), true, dtype=torch.float64), rtol=0.02, atol=0)
    assert ns_error_estimate(known[..., -2:], pred, H, NU, forcing).first_frame is None  # needs 3 known frames


# -- pdeml refine RUN --data FILE ------------------------------------------------------------

TINY_NS = ["--set", "problem.nu=1e-3", "--set", "problem.dt=1e-2", "--set", "problem.warmup=0.5",
           "--set", "problem.t_final=2.5", "--set", "problem.n_snapshots=10", "--set", "problem.t_in=6",
           "--set", "problem.solver_resolution=32"]


@pytest.fixture(scope="module")
def sfno_run(tmp_path_factory):
    """A navier_stokes file (4 samples at 16^2, 6 known + 4 later frames) and an SFNO run trained on it for one epoch."""
    from pdeml.cli import main

    root = tmp_path_factory.mktemp("refine_cli")
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert main(["generate", "navier_stokes", "--n", "4", "--res", "16", "--out", str(root / "ns.h5"),
                     "--quiet", *TINY_NS]) == 0
        assert main(["train", "--data", str(root / "ns.h5"), "--model", "sfno", "--epochs", "1", "--device", "cpu",
                     "--out", str(root / "run"), "--set", "data.normalize=none", "--set", "data.n_train=2",
                     "--set", "data.n_test=2", "--set", "data.batch_size=2", "--set", "model.modes=[4,4,3]",
                     "--set", "model.width=4", "--set", "model.n_layers=1", "--set", "model.latent_steps=6",
                     "--set", "model.out_steps=4", "--set", "model.channel_expansion=1"]) == 0
    finally:
        torch.set_num_threads(old)
    return root / "run", root / "ns.h5"


def test_refine_command_certifies_each_sample(sfno_run, tmp_path, capsys, one_torch_thread):
    from pdeml.cli import main
    from pdeml.data import load_dataset

    run, data = sfno_run
    out = tmp_path / "out"
    assert main(["refine", str(run), "--data", str(data), "--n", "2", "--steps", "10", "--device", "cpu",
                 "--out", str(out), "--save-predictions", "--quiet", "--set", "certify.threshold=0.5"]) == 0
    printed = capsys.readouterr().out
    assert "| sample | estimate_sfno | first_frame_sfno | residual_sfno" in printed and "trusted" in printed
    record = json.loads((out / "refine.json").read_text())
    assert record["nu"] == 1e-3 and record["dt"] == pytest.approx(0.2) and (record["t_in"], record["t_out"]) == (6, 4)
    assert record["config"]["refine"]["steps"] == 10 and record["config"]["certify"]["threshold"] == 0.5
    rows = record["samples"]
    assert [r["sample"] for r in rows] == [2, 3]  # the last two
    for r in rows:
        for k in ("sfno", "refined"):
            assert r[f"residual_{k}"] == pytest.approx(r[f"initial_{k}"] + r[f"evolution_{k}"], rel=1e-12)
            assert r[f"estimate_{k}"] == pytest.approx(r[f"first_frame_{k}"] + r[f"residual_{k}"], rel=1e-12)
            assert 0 < r[f"rel_l2_{k}"] < 2 and r[f"relative_estimate_{k}"] > 0
        assert r["estimate_refined"] <= r["estimate_sfno"] and r["loss_refined"] <= r["loss_sfno"]
        assert r["seconds"] > 0
        assert r["relative_bound_refined"] >= r["relative_estimate_sfno"]  # the SFNO's estimate plus the move
        # the unrefined estimate bounds the largest frame error (1.61-1.72 on this one-epoch model, >= 1.23 on the benchmark)
        assert 1.0 < r["effectivity_sfno"] < 4
        assert r["trusted"] == (max(r["relative_estimate_refined"], r["relative_bound_refined"]) <= 0.5)
    refined = load_dataset(out / "refined.h5")
    assert refined.x.shape == (2, 1, 16, 16, 6) and refined.y.shape == (2, 1, 16, 16, 4)
    assert refined.meta["problem"] == "navier_stokes" and refined.meta["samples"] == [2, 3]


def _error_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("pdeml: error:") and "\n" not in err, err
    return err


def test_refine_command_refuses_bad_data_and_options(sfno_run, tmp_path, capsys):
    from pdeml.cli import main
    from pdeml.data import save_dataset

    run, data = sfno_run
    darcy = save_dataset(tmp_path / "darcy.h5", torch.zeros(2, 1, 16, 16), torch.zeros(2, 1, 16, 16), problem="darcy")
    assert main(["refine", str(run), "--data", str(darcy), "--out", str(tmp_path)]) == 2
    assert "expected a navier_stokes data set" in _error_line(capsys)
    broken = tmp_path / "broken.h5"
    broken.write_bytes(b"not an hdf5 file")
    assert main(["refine", str(run), "--data", str(broken), "--out", str(tmp_path)]) == 2
    assert "not a readable HDF5 file" in _error_line(capsys)
    # 8 known + 4 predicted frames do not fit in the file's 10
    assert main(["refine", str(run), "--data", str(data), "--t-in", "8", "--out", str(tmp_path)]) == 2
    assert "needs 12 frames per sample, the file holds 10" in _error_line(capsys)
    assert main(["refine", str(run), "--data", str(data), "--set", "refine.x=1"]) == 2
    assert "unknown refine option(s) ['x']; known options: modes, steps" in _error_line(capsys)
    assert main(["refine", str(tmp_path / "nowhere"), "--data", str(data)]) == 2
    assert "does not exist" in _error_line(capsys)
    assert not (tmp_path / "refine.json").exists()
