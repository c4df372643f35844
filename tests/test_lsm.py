import numpy as np
import pytest
import torch

from pdeml.models import build, count_parameters, names
from pdeml.models.lsm import LSM, NeuralSpectralBlock
from pdeml.models.presets import run_preset
from pdeml.models.workflow import RunSpec, build_operator, train_operator
from pdeml.train import load_checkpoint, save_checkpoint
from pdeml.train.checkpoint import model_state


def tiny(**kw) -> LSM:
    cfg = {"d_model": 8, "patch_size": 1, "num_basis": 4}
    cfg.update(kw)
    return build("lsm", **cfg)


def test_registered_with_preset():
    assert "lsm" in names()
    assert build("lsm", preset="darcy", d_model=8).patch == [6, 6]
    with pytest.raises(ValueError, match="unknown LSM preset 'x'; known presets: darcy"):
        build("lsm", preset="x")


@pytest.mark.parametrize("shape", [(29, 29), (16, 16), (21, 37)])
def test_any_grid_returns_same_spatial_shape(shape):
    net = tiny(in_channels=2, out_channels=3)
    assert net.padded_shape(shape) == [16 * -(-n // 16) for n in shape]
    assert tiny(patch_size=[6, 2]).padded_shape(shape) == [96, 32 * -(-shape[1] // 32)]
    assert net(torch.randn(2, 2, *shape)).shape == (2, 3, *shape)


def test_3d():
    net = tiny(dim=3)
    assert net(torch.randn(2, 1, 9, 6, 5)).shape == (2, 1, 9, 6, 5)


def test_spectral_block_patches_fold_and_unfold():
    torch.manual_seed(0)
    block = NeuralSpectralBlock(8, num_basis=3, num_token=2, heads=2)
    x = torch.randn(2, 8, 6, 4)
    out = block(x, [3, 2])
    # each patch is processed on its own: a change inside one patch leaves the others alone
    x2 = x.clone()
    x2[0, :, 0, 0] += 1
    diff = (block(x2, [3, 2]) - out).abs().sum(dim=1)[0]
    assert diff[:3, :2].sum() > 0 and diff[3:].sum() == 0 and diff[:, 2:].sum() == 0
    assert block(x).shape == x.shape  # one global patch


def test_darcy_preset_parameter_count():
    # identical to the authors' Model(d_model=64, num_basis=12, num_token=4, patch 6, in/out 1)
    assert count_parameters(build("lsm", preset="darcy")) == 19_187_457


def test_configuration_and_input_errors():
    with pytest.raises(ValueError, match="d_model must be divisible by heads=8, got d_model=12"):
        LSM(d_model=12)
    with pytest.raises(ValueError, match="patch_size must be a positive int or 2 positive ints"):
        LSM(patch_size=[2, 2, 2])
    with pytest.raises(ValueError, match="expects input \\(batch, 1, 2 spatial axes\\), got shape \\(2, 16, 16\\)"):
        tiny()(torch.randn(2, 16, 16))


def test_gradients_reach_every_parameter():
    torch.manual_seed(0)
    net = tiny(patch_size=2)
    net(torch.randn(2, 1, 20, 20)).square().mean().backward()
    for name, p in net.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_overfits_four_darcy_samples(darcy_overfit_losses):
    torch.manual_seed(0)
    losses = darcy_overfit_losses(tiny(), 80)
    assert min(losses[-20:]) < losses[0] / 10


def test_state_dict_and_checkpoint_round_trip(tmp_path):
    torch.manual_seed(0)
    cfg = {"name": "lsm", "d_model": 8, "patch_size": [2, 1], "num_basis": 4, "normalize": "channel"}
    op = build_operator(cfg).fit_normalizers(torch.rand(6, 1, 13, 13), torch.rand(6, 1, 13, 13))
    op.train()
    op(torch.rand(4, 1, 13, 13))  # move the BatchNorm running statistics away from their defaults
    op.eval()
    x = torch.rand(2, 1, 13, 13)
    fresh = build_operator(cfg).eval()
    fresh.load_state_dict(op.state_dict())
    assert torch.equal(fresh(x), op(x))
    save_checkpoint(tmp_path / "m.pt", {"model": model_state(op)})
    again = build_operator(cfg).eval()
    again.load_state_dict(load_checkpoint(tmp_path / "m.pt")["model"])
    assert torch.equal(again(x), op(x))


def test_run_preset_is_a_valid_run_spec():
    spec = RunSpec.from_dict(run_preset("lsm_darcy"))
    assert spec.loss == "relative_l2" and spec.train.scheduler == "step" and spec.train.epochs == 501
    assert spec.train.scheduler_options == {"step_size": 100, "gamma": 0.5} and spec.data.batch_size == 20


def test_trains_one_epoch_through_the_workflow(tmp_path, monkeypatch):
    monkeypatch.setenv("PDEML_DATA", str(tmp_path / "cache"))
    spec = RunSpec.from_dict({
        "data": {"problem": "darcy", "resolution": 16, "n_train": 16, "n_test": 4, "batch_size": 8},
        "model": {"name": "lsm", "d_model": 8, "patch_size": 1, "num_basis": 4},
        "train": {"epochs": 1, "device": "cpu", "progress": False, "scheduler": "step",
                  "scheduler_options": {"step_size": 100, "gamma": 0.5}, "weight_decay": 1e-4},
    })
    run = train_operator(spec, tmp_path / "run", progress=False)
    assert len(run.result.history) == 1
    assert np.isfinite(run.test_metrics["rel_l2"])
