import pytest
import torch

from pdeml import models
from pdeml.models import NormalizedOperator, build, count_parameters
from pdeml.models.workflow import build_operator, load_run
from pdeml.registry import UnknownNameError
from pdeml.train import CheckpointError


def test_registry_builds_fno_and_lists_known_names():
    net = build("fno", n_modes=(4, 4), hidden_channels=8, in_channels=2, out_channels=3)
    assert net(torch.randn(2, 2, 12, 12)).shape == (2, 3, 12, 12)
    assert "fno" in models.names()
    with pytest.raises(UnknownNameError, match="unknown model 'fnoo'; known models: fno"):
        build("fnoo")
    with pytest.raises(ValueError, match="bad configuration for model 'fno'.*known options: n_modes"):
        build("fno", n_modez=(4, 4))


def test_fno_spectral_layers_stay_float32_under_bf16_autocast():
    torch.manual_seed(0)
    net = build("fno", n_modes=(4, 4), hidden_channels=8, n_layers=2)
    x = torch.randn(2, 1, 16, 16)
    ref = net(x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = net(x)
    assert out.dtype == torch.bfloat16
    assert torch.allclose(out.float(), ref, rtol=0.1, atol=0.05 * ref.abs().max().item())


def test_normalized_operator_round_trip_and_counts():
    torch.manual_seed(0)
    x, y = torch.rand(10, 1, 8, 8) * 9 + 3, torch.rand(10, 1, 8, 8) * 1e-2
    op = NormalizedOperator(build("fno", n_modes=(3, 3), hidden_channels=4, n_layers=1)).fit_normalizers(x, y)
    fresh = build_operator({"name": "fno", "n_modes": [3, 3], "hidden_channels": 4, "n_layers": 1,
                            "normalize": "channel"})
    fresh.load_state_dict(op.state_dict())
    assert torch.equal(fresh(x), op(x))
    assert count_parameters(op.net) == count_parameters(fresh.net) > 0


def test_load_run_errors(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        load_run(tmp_path / "none")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="no config.json"):
        load_run(tmp_path / "empty")


def test_run_from_a_preset_stores_and_reloads_the_resolved_arguments(tmp_path, monkeypatch):
    import json

    from pdeml.models import mgno
    from pdeml.models.workflow import RunSpec, train_operator
    from pdeml.train import load_checkpoint

    monkeypatch.setenv("PDEML_DATA", str(tmp_path / "cache"))
    spec = RunSpec.from_dict({
        "data": {"problem": "darcy", "resolution": 16, "n_train": 8, "n_test": 2, "batch_size": 8},
        "model": {"name": "mgno", "preset": "darcy", "levels": 3, "pre_smoothing": [1, 1, 1],
                  "post_smoothing": [0, 0, 0]},
        "train": {"epochs": 1, "device": "cpu", "progress": False},
    })
    run = train_operator(spec, tmp_path / "run", progress=False)
    stored = json.loads((tmp_path / "run" / "config.json").read_text())["model"]
    assert "preset" not in stored and stored["channels_u"] == 24 and stored["n_layers"] == 4
    assert json.loads(load_checkpoint(tmp_path / "run" / "model.pt")["model_config"]) == stored

    # a later edit of the preset table must not change what the old run rebuilds
    monkeypatch.setitem(mgno.PRESETS, "darcy", {**mgno.PRESETS["darcy"], "channels_u": 8, "n_layers": 2,
                                                "activation": "relu"})
    assert len(build("mgno", preset="darcy", levels=3, pre_smoothing=[1, 1, 1],
                 post_smoothing=[0, 0, 0]).mgconvs) == 2
    loaded = load_run(tmp_path / "run", device="cpu")
    saved = run.model.cpu().eval()
    assert {k: v.shape for k, v in loaded.state_dict().items()} == {k: v.shape for k, v in saved.state_dict().items()}
    x = torch.rand(2, 1, 16, 16)
    with torch.no_grad():
        assert torch.equal(loaded(x), saved(x))
