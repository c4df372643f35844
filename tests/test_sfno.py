import json

import pytest
import torch

from pdeml.models import build, count_parameters
from pdeml.models.sfno import SFNO, SpectralConv3d

SMALL = dict(modes=(4, 4, 3), width=6, n_layers=2, latent_steps=6, out_steps=5, channel_expansion=2)


@pytest.fixture
def model():
    torch.manual_seed(0)
    return build("sfno", **SMALL)


def test_shapes_and_variable_t_out(model, one_torch_thread):
    x = torch.randn(2, 16, 16, 6)
    assert model(x).shape == (2, 16, 16, 5)
    assert model(x, t_out=9).shape == (2, 16, 16, 9)
    assert model(x[:, None]).shape == (2, 1, 16, 16, 5)  # channel-first data sets
    assert model(torch.randn(1, 24, 24, 8)).shape == (1, 24, 24, 5)  # other grid and window length
    # the output is a Fourier series in time: sampling the horizon twice as densely keeps the old points
    coarse, fine = model(x, t_out=5), model(x, t_out=10)
    torch.testing.assert_close(fine[..., 1::2], coarse, rtol=1e-5, atol=1e-5)


def _zeroed_output_operator(model):
    """The output spectral conv with its weights and Fourier bias set to zero."""
    op = model.output_operator.conv
    with torch.no_grad():
        for w, b in zip(op.weight, op.bias):
            w.zero_()
            b.zero_()
    return op


def test_output_operator_predicts_increments(model, one_torch_thread):
    # with zero weights and bias the output operator returns the last input frame at every time
    _zeroed_output_operator(model)
    x = torch.randn(3, 16, 16, 6)
    out = model(x, t_out=4)
    torch.testing.assert_close(out, x[..., -1:].expand(-1, -1, -1, 4))


def test_fourier_bias_is_a_known_mode(model, one_torch_thread):
    # a bias c on the (k_x, k_y, k_t) = (1, 0, 0) coefficient alone (no conjugate partner) adds its
    # real part, c cos(2 pi x), at every time, as an inverse real FFT does
    op = _zeroed_output_operator(model)
    with torch.no_grad():
        op.bias[0][1, 0, 0] = 0.25 / op.bias_scale
    x = torch.zeros(1, 16, 16, 6)
    out = model(x, t_out=3)
    grid = torch.arange(16) / 16
    expect = (0.25 * torch.cos(2 * torch.pi * grid))[:, None, None].expand(16, 16, 3)
    torch.testing.assert_close(out[0], expect, atol=1e-6, rtol=0)


def test_spectral_conv_resamples_time_keeping_amplitudes(one_torch_thread):
    conv = SpectralConv3d(1, 1, (3, 3, 3), out_steps=12)
    with torch.no_grad():
        for w in conv.weight:
            w.fill_(1.0)
    t = torch.arange(6) / 6
    x = torch.cos(2 * torch.pi * t)[None, None, None, None].expand(1, 1, 8, 8, 6)
    y = conv(x)
    t12 = torch.arange(12) / 12
    torch.testing.assert_close(y[0, 0, 3, 5], torch.cos(2 * torch.pi * t12), atol=1e-6, rtol=0)


def test_bad_input_errors(model):
    with pytest.raises(ValueError, match="rank-3"):
        model(torch.randn(16, 16, 6))
    with pytest.raises(ValueError, match="one vorticity channel"):
        model(torch.randn(2, 3, 16, 16, 6))
    with pytest.raises(ValueError, match="at least t_in = 4"):
        model(torch.randn(2, 16, 16, 3))
    with pytest.raises(ValueError, match="smaller than the modes"):
        model(torch.randn(2, 6, 6, 6))
    with pytest.raises(ValueError, match="latent_steps"):
        SFNO(modes=(4, 4, 5), latent_steps=4)
    with pytest.raises(ValueError, match="in_channels"):
        build("sfno", in_channels=3)


def test_bf16_autocast_keeps_spectral_layers_in_float32(model, one_torch_thread):
    x = torch.randn(1, 16, 16, 6)
    with torch.no_grad():
        ref = model(x)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = model(x)
    assert out.dtype == torch.float32
    assert float((out - ref).abs().max()) < 0.1 * float(ref.abs().max())


def test_checkpoint_round_trip(tmp_path, one_torch_thread):
    from pdeml.data import DeviceDataset, DeviceLoader
    from pdeml.models.operator import NormalizedOperator
    from pdeml.models.workflow import load_run, operator_objective
    from pdeml.train import Trainer

    torch.manual_seed(0)
    cfg = {"name": "sfno", "normalize": "none", **SMALL, "modes": list(SMALL["modes"])}
    # a run directory holds the operator wrapper; the SFNO needs no data-set normalizer
    net = NormalizedOperator(build("sfno", **{k: v for k, v in cfg.items() if k not in ("name", "normalize")}),
                             normalize="none")
    x, y = torch.randn(4, 1, 16, 16, 6), torch.randn(4, 1, 16, 16, 5)
    trainer = Trainer(net, operator_objective(), DeviceLoader(DeviceDataset(x, y), 2), epochs=1, run_dir=tmp_path,
                      model_config=cfg, device="cpu", progress=False)
    trainer.fit()
    assert json.loads((tmp_path / "config.json").read_text())["model"]["name"] == "sfno"
    loaded = load_run(tmp_path, device="cpu")
    assert isinstance(loaded.net, SFNO)
    assert count_parameters(loaded.net) == count_parameters(net.net)
    torch.testing.assert_close(loaded(x), net.eval()(x))
    state = torch.load(tmp_path / "model.pt", weights_only=True)
    assert any(v.is_complex() for v in state["model"].values())


def test_time_derivative_matches_a_fine_difference_of_the_series():
    torch.manual_seed(0)
    model = build("sfno", modes=(4, 4, 3), width=4, n_layers=1, latent_steps=6, out_steps=6,
                  channel_expansion=1).double()
    x = torch.randn(2, 16, 16, 6, dtype=torch.float64)
    with torch.no_grad():
        fine = model(x, t_out=600)  # the same series at 100 points per output frame spacing
        d = model.time_derivative(x)  # per output frame spacing
        k = 100 * torch.arange(1, 6) - 1  # output frames 1..5 in the fine sampling
        centred = (fine[..., k + 1] - fine[..., k - 1]) / 0.02
    assert d.shape == (2, 16, 16, 6)
    assert float((centred - d[..., :5]).abs().max()) < 1e-4 * float(d.abs().max())
