import numpy as np
import pytest
import torch

from pdeml import problems
from pdeml.models import build, count_parameters, names
from pdeml.models.mgno import MgNO, level_sizes, min_grid_size
from pdeml.models.presets import RUN_PRESETS, run_preset
from pdeml.models.workflow import RunSpec, build_operator, train_operator
from pdeml.train import load_checkpoint, save_checkpoint
from pdeml.train.checkpoint import model_state

MODES = ["zeros", "circular", "reflect"]


def tiny(**kw) -> MgNO:
    cfg = {"channels_u": 4, "n_layers": 1, "levels": 3}
    cfg.update(kw)
    return build("mgno", **cfg)


def darcy_batch(n: int = 4, res: int = 16) -> tuple[torch.Tensor, torch.Tensor]:
    xs, ys = zip(*(problems.get("darcy").sample(i, 0, res) for i in range(n)))
    return torch.from_numpy(np.stack(xs)), torch.from_numpy(np.stack(ys))


def test_registered_with_preset():
    assert "mgno" in names()
    net = build("mgno", preset="darcy", channels_u=4, n_layers=1)
    assert net.levels == 6 and len(net.mgconvs) == 1
    with pytest.raises(ValueError, match="unknown MgNO preset 'dacy'; known presets: darcy"):
        build("mgno", preset="dacy")


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("size", [85, 43, 211])
def test_shapes_odd_grids_2d(mode, size):
    net = tiny(padding_mode=mode, in_channels=2, out_channels=3)
    assert net(torch.randn(1, 2, size, size)).shape == (1, 3, size, size)


@pytest.mark.parametrize("mode", MODES)
def test_shapes_1d_and_non_square(mode):
    net = tiny(padding_mode=mode, dim=1, levels=4)
    for n in (85, 43, 211, 64):
        assert net(torch.randn(2, 1, n)).shape == (2, 1, n)
    assert tiny(padding_mode=mode)(torch.randn(1, 1, 43, 20)).shape == (1, 1, 43, 20)


def test_level_sizes_invert_exactly():
    assert level_sizes(211, 6) == [211, 106, 53, 27, 14, 7]
    assert level_sizes(421, 6) == [421, 211, 106, 53, 27, 14]
    assert min_grid_size(6) == 33


def test_darcy_preset_parameter_count_matches_paper_and_reference():
    # per layer: 7 smoothing steps (the first on level 0 has no A), 5 restrictions Pi and R,
    # 5 prolongations 4x4, a 1x1 conv with bias; C_f = 1 in layer 0 (the input), 24 after
    cu, k3, k4, total = 24, 9, 16, 24  # total starts with the head (24 -> 1, no bias)
    for cf in (1, 24, 24, 24):
        total += 13 * cf * cu * k3 + 5 * (cu * cu + cf * cf) * k3 + 5 * cu * cu * k4 + cf * cu + cu
    assert total == 572_661  # the authors' MgNO_DC(num_layer=4, num_channel_u=24, ...) has the same count
    assert count_parameters(build("mgno", preset="darcy")) == total  # the paper: 0.57M


def test_too_small_grid_names_smallest_accepted():
    net = build("mgno", preset="darcy", channels_u=2, n_layers=1)
    with pytest.raises(ValueError, match="6 levels needs at least 33 grid points per axis.*got spatial shape \\(32, 40\\)"):
        net(torch.randn(1, 1, 32, 40))
    assert net(torch.randn(1, 1, 33, 33)).shape == (1, 1, 33, 33)
    with pytest.raises(ValueError, match="expects input \\(batch, 1, 2 spatial axes\\), got shape \\(1, 2, 33, 33\\)"):
        net(torch.randn(1, 2, 33, 33))


def test_configuration_errors():
    with pytest.raises(ValueError, match="padding_mode must be one of zeros, circular, reflect, got 'periodic'"):
        MgNO(padding_mode="periodic")
    with pytest.raises(ValueError, match="in_channels=2; got channels_f=1"):
        MgNO(in_channels=2, channels_f=1)
    with pytest.raises(ValueError, match="pre_smoothing needs one entry per level \\(3\\), got 2"):
        MgNO(levels=3, pre_smoothing=[1, 1])
    with pytest.raises(ValueError, match="needs in_channels == out_channels, got 2 and 1"):
        MgNO(in_channels=2, padding_mode="circular", residual=True)
    assert not MgNO(in_channels=2, padding_mode="circular").residual


@pytest.mark.parametrize("mode", MODES)
def test_gradients_reach_every_parameter(mode):
    torch.manual_seed(0)
    net = tiny(padding_mode=mode, n_layers=2, pre_smoothing=[2, 1, 1], post_smoothing=1, norm=True)
    net(torch.randn(2, 1, 19, 17)).square().mean().backward()
    for name, p in net.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_periodic_model_is_shift_equivariant():
    # with periodic restriction and prolongation, shifting by a coarsest-grid cell commutes with the model
    torch.manual_seed(0)
    net = tiny(padding_mode="circular", n_layers=2, levels=4)
    x = torch.randn(2, 1, 32, 24)
    shifted = net(torch.roll(x, (8, 16), (2, 3)))
    assert torch.allclose(shifted, torch.roll(net(x), (8, 16), (2, 3)), atol=1e-5)


def test_overfits_four_darcy_samples(darcy_overfit_losses):
    torch.manual_seed(0)
    losses = darcy_overfit_losses(tiny(channels_u=8, n_layers=2), 100)
    assert min(losses[-20:]) < losses[0] / 10


def test_state_dict_and_checkpoint_round_trip(tmp_path):
    torch.manual_seed(0)
    cfg = {"name": "mgno", "channels_u": 4, "n_layers": 2, "levels": 3, "padding_mode": "circular",
           "pre_smoothing": [1, 2, 1], "post_smoothing": [1, 0, 0], "normalize": "channel"}
    op = build_operator(cfg).fit_normalizers(torch.rand(6, 1, 21, 21), torch.rand(6, 1, 21, 21))
    x = torch.rand(2, 1, 21, 21)
    fresh = build_operator(cfg)
    fresh.load_state_dict(op.state_dict())
    assert torch.equal(fresh(x), op(x))
    save_checkpoint(tmp_path / "m.pt", {"model": model_state(op), "model_config": str(cfg)})
    again = build_operator(cfg)
    again.load_state_dict(load_checkpoint(tmp_path / "m.pt")["model"])
    assert torch.equal(again(x), op(x))


def test_run_preset_is_a_valid_run_spec():
    spec = RunSpec.from_dict(run_preset("mgno_darcy", data={"resolution": 85}))
    assert spec.loss == "h1" and spec.train.scheduler == "onecycle" and spec.data.batch_size == 8
    assert spec.train.scheduler_options == {"pct_start": 0.2, "div_factor": 2.0, "final_div_factor": 100.0}
    assert spec.data.resolution == 85 and RUN_PRESETS["mgno_darcy"]["data"]["resolution"] == 211
    with pytest.raises(ValueError, match="unknown run preset 'mgno'"):
        run_preset("mgno")


def test_trains_one_epoch_through_the_workflow(tmp_path, monkeypatch):
    monkeypatch.setenv("PDEML_DATA", str(tmp_path / "cache"))
    spec = RunSpec.from_dict({
        "data": {"problem": "darcy", "resolution": 16, "n_train": 16, "n_test": 4, "batch_size": 8},
        "model": {"name": "mgno", "channels_u": 4, "n_layers": 1, "levels": 3},
        "loss": "h1",
        "train": {"epochs": 1, "device": "cpu", "progress": False, "scheduler": "onecycle",
                  "scheduler_options": {"pct_start": 0.2, "div_factor": 2.0, "final_div_factor": 100.0}},
    })
    run = train_operator(spec, tmp_path / "run", progress=False)
    assert len(run.result.history) == 1
    assert np.isfinite(run.test_metrics["rel_l2"])
