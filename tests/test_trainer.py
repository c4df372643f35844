import json

import pytest
import torch
from torch import nn

from pdeml.data import DeviceDataset, DeviceLoader, load_dataset
from pdeml.models import NormalizedOperator, build
from pdeml.models.workflow import operator_objective
from pdeml.train import CheckpointError, NonFiniteLossError, Trainer, load_checkpoint


def tiny_fno(seed=0):
    torch.manual_seed(seed)
    return build("fno", n_modes=(4, 4), hidden_channels=8, n_layers=2)


def make_trainer(darcy_file, run_dir=None, epochs=4, model=None, callbacks=(), **kw):
    train = load_dataset(darcy_file).subset(slice(0, 32))
    model = model or NormalizedOperator(tiny_fno()).fit_normalizers(train.x, train.y)
    loader = DeviceLoader(train, batch_size=8, shuffle=True, seed=1)
    cfg = {"epochs": epochs, "lr": 5e-3, "scheduler": "onecycle", "device": "cpu", "progress": False, **kw}
    return Trainer(model, operator_objective(), loader, run_dir=run_dir,
                   model_config={"name": "fno", "n_modes": [4, 4], "hidden_channels": 8}, callbacks=callbacks, **cfg)


def params(model):
    return torch.cat([p.detach().flatten().float() for p in model.parameters() if not p.is_complex()] +
                     [torch.view_as_real(p.detach()).flatten() for p in model.parameters() if p.is_complex()])


def test_loss_falls_and_run_files_are_written(darcy_file, tmp_path):
    run = tmp_path / "run"
    trainer = make_trainer(darcy_file, run, epochs=15, scheduler="none", lr=1e-2)
    result = trainer.fit()
    losses = [r["train_loss"] for r in result.history]
    assert losses[-1] < 0.5 * losses[0], losses
    for name in ("config.json", "metrics.jsonl", "metrics.csv", "checkpoint.pt", "best.pt", "model.pt"):
        assert (run / name).exists(), name
    lines = (run / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == list(range(1, 16))
    assert (run / "metrics.csv").read_text().splitlines()[0].startswith("epoch,")
    state = load_checkpoint(run / "checkpoint.pt")  # weights_only=True inside
    assert state["epoch"] == 15 and isinstance(state["model"], dict)
    assert result.best_epoch == min(range(15), key=lambda i: losses[i]) + 1


def test_killed_and_resumed_run_ends_with_identical_weights(darcy_file, tmp_path):
    full = make_trainer(darcy_file, tmp_path / "full", epochs=4)
    full.fit()

    class Killed(Exception):
        pass

    def kill_after_two(trainer, record):
        if record["epoch"] == 2:
            # one more optimisation step that no checkpoint records, as a kill mid-epoch would leave
            with torch.no_grad():
                for p in trainer.model.parameters():
                    p.add_(1.0)
            raise Killed

    interrupted = make_trainer(darcy_file, tmp_path / "part", epochs=4, callbacks=[kill_after_two])
    with pytest.raises(Killed):
        interrupted.fit()
    resumed = make_trainer(darcy_file, tmp_path / "part", epochs=4, model=NormalizedOperator(tiny_fno(seed=9)))
    resumed.fit(resume=True)
    assert torch.equal(params(full.model), params(resumed.model))
    hist = [json.loads(line)["epoch"] for line in (tmp_path / "part" / "metrics.jsonl").read_text().splitlines()]
    assert hist == [1, 2, 3, 4]


def test_nan_loss_stops_with_step_and_keeps_last_good_checkpoint(darcy_file, tmp_path):
    calls = {"n": 0}

    def objective(model, batch):
        calls["n"] += 1
        loss, metrics = operator_objective()(model, batch)
        return (loss * float("nan") if calls["n"] == 7 else loss), metrics

    trainer = make_trainer(darcy_file, tmp_path / "run", epochs=3)
    trainer.objective = objective
    with pytest.raises(NonFiniteLossError, match=r"epoch 2, step 3 \(global step 7\).*checkpoint.pt"):
        trainer.fit()
    state = load_checkpoint(tmp_path / "run" / "checkpoint.pt")
    assert state["epoch"] == 1
    assert all(torch.isfinite(v).all() for v in state["model"].values() if v.is_floating_point())


def test_checkpoint_of_another_configuration_and_missing_resume_dir(darcy_file, tmp_path):
    make_trainer(darcy_file, tmp_path / "run", epochs=1).fit()
    other = make_trainer(darcy_file, tmp_path / "run", epochs=2)
    other.model_config = {"name": "fno", "n_modes": [6, 6], "hidden_channels": 8}
    with pytest.raises(CheckpointError, match="was made for model configuration"):
        other.fit(resume=True)
    with pytest.raises(CheckpointError, match="resume directory .* does not exist"):
        make_trainer(darcy_file, epochs=1).fit(resume=tmp_path / "nowhere")
    wrong_shape = make_trainer(darcy_file, tmp_path / "run", epochs=2,
                               model=NormalizedOperator(build("fno", n_modes=(4, 4), hidden_channels=12, n_layers=2)))
    wrong_shape.model_config = None  # no stored description to compare: the state dict itself must not fit
    with pytest.raises(CheckpointError):
        wrong_shape.fit(resume=True)


def test_validation_tracks_best_and_lbfgs_and_bf16_run(darcy_file, tmp_path):
    data = load_dataset(darcy_file)
    train, val = data.split(32, 16)
    model = NormalizedOperator(tiny_fno()).fit_normalizers(train.x, train.y)
    trainer = Trainer(model, operator_objective(), DeviceLoader(train, 8), val_source=DeviceLoader(val, 16, shuffle=False),
                      epochs=3, lr=5e-3, device="cpu", progress=False, run_dir=tmp_path / "v",
                      precision="bf16")  # bf16 autocast on CPU: spectral layers stay in float32
    result = trainer.fit()
    assert result.monitor == "val_loss" and "val_rel_l2" in result.final
    best = min(r["val_loss"] for r in result.history)
    assert result.best_value == pytest.approx(best)

    # full-batch L-BFGS through the same loop: a least-squares fit reaches the solution
    torch.manual_seed(0)
    A, xtrue = torch.randn(20, 3, dtype=torch.float64), torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    b = A @ xtrue
    lin = nn.Linear(3, 1, bias=False).double()
    obj = lambda m, batch: (((m(batch[0]).squeeze(-1) - batch[1]) ** 2).mean(), {})  # noqa: E731
    Trainer(lin, obj, [(A, b)], epochs=5, optimizer="lbfgs", lr=1.0, device="cpu", progress=False).fit()
    assert torch.allclose(lin.weight.detach().flatten(), xtrue, atol=1e-6)


def test_device_dataset_moves_once_and_unknown_options_fail(darcy_file):
    with pytest.raises(ValueError, match="unknown train option"):
        make_trainer(darcy_file, epochs=1, learning_rate=1e-3)
    with pytest.raises(ValueError, match="unknown optimizer 'adamx'"):
        make_trainer(darcy_file, epochs=1, optimizer="adamx")
    ds = DeviceDataset(torch.zeros(4, 1, 2, 2), torch.zeros(4, 1, 2, 2))
    assert ds.to("cpu") is ds


def test_scheduler_interval_epoch_steps_onecycle_once_per_epoch(darcy_file):
    trainer = make_trainer(darcy_file, epochs=4, scheduler="onecycle", scheduler_interval="epoch",
                           scheduler_options={"pct_start": 0.5})
    result = trainer.fit()
    lrs = [r["lr"] for r in result.history]
    assert trainer.scheduler.total_steps == 4 and trainer.scheduler_interval == "epoch"
    assert lrs[0] > lrs[-1] and max(lrs) == pytest.approx(5e-3, rel=1e-6)  # the peak is reached at epoch 2
    with pytest.raises(ValueError, match="scheduler_interval"):
        make_trainer(darcy_file, epochs=1, scheduler_interval="batch")
