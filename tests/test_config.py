"""The method configurations: defaults, unknown keys, bad values, nested sections, the --set grammar."""

import pytest

from pdeml.config import ConfigError, merge, parse_sets
from pdeml.linalg.cli import PreconditionerConfig
from pdeml.models.workflow import RunSpec
from pdeml.refine import RefineConfig
from pdeml.train import TrainConfig


def test_unknown_keys_list_the_known_ones():
    with pytest.raises(ConfigError, match=r"unknown train option\(s\) \['epoch'\]; known options: epochs, optimizer"):
        TrainConfig.from_dict({"epoch": 3})
    with pytest.raises(ConfigError, match=r"unknown data option\(s\) \['res'\]; known options: path, train"):
        RunSpec.from_dict({"data": {"res": 32}})
    with pytest.raises(ConfigError, match=r"unknown run option\(s\) \['trian'\]; known options: data, model, loss"):
        RunSpec.from_dict({"trian": {}})
    with pytest.raises(ConfigError, match=r"unknown net option\(s\) \['layers'\]; known options: kind, levels"):
        PreconditionerConfig.from_dict({"net": {"layers": 2}})
    with pytest.raises(ConfigError, match=r"unknown refine option\(s\) \['lr'\]; known options: modes, steps"):
        RefineConfig.from_dict({"lr": 0.1})
    with pytest.raises(ConfigError, match="model 'sfno'.*'mode'.*known options: modes, width"):
        RunSpec.from_dict({"model": {"name": "sfno", "mode": [4, 4, 3]}})


@pytest.mark.parametrize("cls,values,message", [
    (TrainConfig, {"epochs": 0}, "train.epochs must be a positive integer, got 0"),
    (TrainConfig, {"lr": "fast"}, "train.lr must be a positive number"),
    (TrainConfig, {"optimizer": "adamx"}, "unknown optimizer 'adamx'"),
    (RunSpec, {"data": {"n_train": -1}}, "data.n_train must be a positive integer"),
    (RunSpec, {"data": {"normalize": "global"}}, "data.normalize must be one of"),
    (RunSpec, {"loss": "l1"}, "loss must be one of 'relative_l2', 'h1'"),
    (RunSpec, {"model": {"hidden_channels": 8}}, r"the \[model\] section needs a 'name'"),
    (PreconditionerConfig, {"problem": {"grid": 2}}, "problem.grid must be >= 4"),
    (PreconditionerConfig, {"problem": {"walls": "open"}}, "problem: unknown walls 'open'"),
    (PreconditionerConfig, {"net": {"kind": "amg"}}, "net.kind must be one of 'dcdm', 'multigrid'"),
    (PreconditionerConfig, {"net": {"channels": 9}}, "net.channels must be in 1..8"),
    (PreconditionerConfig, {"train": {"epochs": 2.5}}, "train.epochs must be a positive integer"),
    (RefineConfig, {"rtol": 1.0}, r"refine.rtol must be a number in \[0, 1\)"),
    (RefineConfig, {"modes": [64, 64]}, "refine.modes must be three positive integers or None"),
    (RefineConfig, {"order": 4, "anchor": 1}, "refine.anchor must be between 2 and 4"),
])
def test_bad_values_are_config_errors(cls, values, message):
    with pytest.raises(ConfigError, match=message):
        cls.from_dict(values)


def test_defaults_nested_sections_and_round_trip():
    spec = RunSpec.from_dict({"data": {"problem": "darcy"}, "train": {"epochs": 3, "optimizer": "AdamW"}})
    assert spec.model == {"name": "fno"} and spec.data.resolution == 32
    assert spec.train.epochs == 3 and spec.train.optimizer == "adamw"
    assert RunSpec.from_dict(spec.to_dict()) == spec
    cfg = PreconditionerConfig.from_dict({"net": {"kind": "multigrid"}, "train": {"epochs": 2}})
    assert cfg.problem.grid == 64 and cfg.train.options() == {"epochs": 2}  # unset options: the trainer's own
    assert RefineConfig.from_dict({"modes": [8, 8, 3]}).modes == (8, 8, 3)
    assert RefineConfig().replace(steps=5).steps == 5
    with pytest.raises(ConfigError):
        RefineConfig().replace(stepz=5)


def test_set_grammar():
    values = parse_sets(["train.lr=1e-3", "model.n_modes=[4, 4]", "data.path=a.h5", "train.progress=false"])
    assert values == {"train": {"lr": 1e-3, "progress": False}, "model": {"n_modes": [4, 4]},
                      "data": {"path": "a.h5"}}
    assert merge({"train": {"lr": 1.0, "epochs": 2}}, values)["train"] == {"lr": 1e-3, "epochs": 2, "progress": False}
    for bad in ("epochs=3", "train.epochs", ".epochs=3", "train.=3"):
        with pytest.raises(ConfigError, match="--set expects section.key=value"):
            parse_sets([bad])
