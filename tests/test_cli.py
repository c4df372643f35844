import json

import pytest

from pdeml.cli import main


def test_list_and_unknown_names(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "fno" in out and "darcy" in out and "trainer" in out
    assert main(["generate", "nope", "--n", "2", "--res", "8", "--out", "x.h5"]) == 2
    err = capsys.readouterr().err
    assert "known problems:" in err and "darcy" in err
    assert main(["bench", "trainer", "--preset", "huge"]) == 2
    err = capsys.readouterr().err
    assert "unknown preset 'huge' for benchmark 'trainer'; known presets: tiny, small, paper" in err
    assert main(["bench", "trainer", "--preset", "turbulent"]) == 2  # a preset of another benchmark


def test_train_from_toml_then_evaluate(tmp_path, darcy_file, capsys):
    cfg = tmp_path / "run.toml"
    cfg.write_text(f"""
loss = "relative_l2"
[data]
path = "{darcy_file}"
n_train = 32
n_val = 8
n_test = 8
batch_size = 8
[model]
name = "fno"
n_modes = [4, 4]
hidden_channels = 8
n_layers = 2
[train]
epochs = 3
lr = 0.005
device = "cpu"
progress = false
""")
    run = tmp_path / "run"
    assert main(["train", "--config", str(cfg), "--out", str(run), "--set", "train.epochs=4"]) == 0
    out = capsys.readouterr().out
    assert "test_rel_l2" in out and (run / "panels.png").exists()
    metrics = json.loads((run / "test_metrics.json").read_text())
    assert metrics["epochs"] == 4 and 0 < metrics["rel_l2"] < 1
    lines = (run / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 4 and "val_rel_l2" in json.loads(lines[-1])

    assert main(["evaluate", str(run), "--data", str(darcy_file), "--n", "8", "--device", "cpu"]) == 0
    ev = json.loads((run / "evaluate" / "metrics.json").read_text())
    assert ev["rel_l2"] == pytest.approx(metrics["rel_l2"], rel=1e-5)  # the same 8 test samples
    assert (run / "evaluate" / "panels.png").stat().st_size > 10_000

    import meshio
    import numpy as np

    vtu = tmp_path / "pred.vtu"
    assert main(["export", str(darcy_file), "--index", "-1", "--run", str(run), "--out", str(vtu),
                 "--device", "cpu"]) == 0
    mesh = meshio.read(vtu)
    assert np.allclose(mesh.point_data["error"], mesh.point_data["prediction"] - mesh.point_data["y"], atol=1e-6)
    rel = np.linalg.norm(mesh.point_data["error"]) / np.linalg.norm(mesh.point_data["y"])
    assert 0 < rel < 1

    assert main(["evaluate", str(tmp_path / "nope"), "--data", str(darcy_file)]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["train", "--data", str(darcy_file), "--model", "mystery", "--out", str(tmp_path / "r2")]) == 2
    assert "known models: fno" in capsys.readouterr().err


def test_train_from_a_paper_preset(tmp_path, monkeypatch):
    monkeypatch.setenv("PDEML_DATA", str(tmp_path / "cache"))
    run = tmp_path / "mgno"
    assert main(["train", "--preset", "mgno_darcy", "--res", "33", "--n-train", "8", "--n-val", "4", "--n-test", "4",
                 "--epochs", "1", "--device", "cpu", "--set", "model.n_layers=1", "--out", str(run)]) == 0
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["model"]["name"] == "mgno" and cfg["loss"] == "h1"
    assert cfg["train"]["scheduler_interval"] == "epoch" and cfg["train"]["monitor"] == "val_rel_l2"
    assert main(["train", "--preset", "nope", "--out", str(tmp_path / "x")]) == 2


def test_quickstart_short_run(tmp_path, monkeypatch, capsys):
    """The quickstart pipeline end to end with 2 epochs: real data, real training, a real figure."""
    monkeypatch.setenv("PDEML_DATA", str(tmp_path / "cache"))
    code = main(["quickstart", "--epochs", "2", "--out", str(tmp_path / "qs"), "--device", "cpu"])
    out = capsys.readouterr().out
    metrics = json.loads((tmp_path / "qs" / "test_metrics.json").read_text())
    assert metrics["rel_l2"] < 0.2  # two epochs already learn most of the map
    assert code == (0 if metrics["rel_l2"] < 0.05 else 1)
    assert "s_per_epoch" in out and (tmp_path / "qs" / "panels.png").exists()
    assert len(list((tmp_path / "cache").glob("darcy_r32_*.h5"))) == 1


def test_bench_trainer_tiny_writes_record(tmp_path, monkeypatch):
    monkeypatch.setenv("PDEML_DATA", str(tmp_path / "cache"))
    assert main(["bench", "trainer", "--preset", "tiny", "--out", str(tmp_path / "b"), "--device", "cpu"]) == 0
    rec = json.loads((tmp_path / "b" / "trainer.json").read_text())
    assert rec["name"] == "trainer" and rec["preset"] == "tiny" and rec["command"].startswith("pdeml")
    methods = [r["method"] for r in rec["results"]]
    assert methods == ["neuraloperator Trainer + DataLoader", "pdeml Trainer"]
    for row in rec["results"]:
        assert row["samples_per_s"] > 0 and 0 < row["test_rel_l2"] < 1.5
    assert (tmp_path / "b" / "trainer.md").read_text().count("|") > 10


# -- the one configuration contract ------------------------------------------------------


def _capture_run(monkeypatch):
    """Replace train-preconditioner's work by recording the configuration it would run with."""
    import pdeml.linalg.cli as leaf

    seen = []
    monkeypatch.setattr(leaf, "run", lambda config, args: seen.append(config) or 0)
    return seen


def test_train_preconditioner_reads_toml_then_flags_then_set(tmp_path, monkeypatch):
    cfg = tmp_path / "pc.toml"
    cfg.write_text("""
[problem]
grid = 24
walls = "dirichlet"
[net]
kind = "multigrid"
channels = 2
[train]
epochs = 7
lr = 0.01
""")
    seen = _capture_run(monkeypatch)
    assert main(["train-preconditioner", "--config", str(cfg), "--epochs", "3", "--set", "train.lr=0.05",
                 "--set", "net.stencil=box", "--out", str(tmp_path / "x")]) == 0
    (config,) = seen
    assert (config.problem.grid, config.problem.walls, config.problem.dim) == (24, "dirichlet", 2)
    assert (config.net.kind, config.net.channels, config.net.stencil) == ("multigrid", 2, "box")
    assert config.train.options() == {"epochs": 3, "lr": 0.05}  # a flag beats the file, --set beats both


def test_train_preconditioner_from_toml_writes_a_smoother(tmp_path):
    cfg = tmp_path / "mg.toml"
    cfg.write_text('[problem]\ngrid = 24\n[net]\nkind = "multigrid"\n'
                   '[train]\nritz = 30\nsamples = 20\nepochs = 1\ndevice = "cpu"\n')
    out = tmp_path / "mg"
    assert main(["train-preconditioner", "--config", str(cfg), "--out", str(out), "--quiet"]) == 0
    assert (out / "model.pt").exists()


@pytest.mark.parametrize("argv,message", [
    (["--grid", "2"], "problem.grid must be >= 4 cells per side, got 2"),
    (["--set", "train.epoch=3"], r"unknown train option(s) ['epoch']; known options: ritz, samples, epochs"),
    (["--set", "epochs=3"], "--set expects section.key=value"),
    (["--set", "solver.tol=1e-6"], "unknown train-preconditioner option(s) ['solver']; known options: problem, net"),
    (["--walls", "open"], "unknown walls 'open'"),
    (["--config", "missing.toml"], "configuration file 'missing.toml' does not exist"),
])
def test_config_errors_print_one_line_before_any_work(tmp_path, capsys, argv, message):
    out = tmp_path / "never"
    assert main(["train-preconditioner", *argv, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("pdeml: error: ") and err.count("\n") == 1 and message in err
    assert not out.exists()


def test_a_bug_inside_a_command_keeps_its_traceback(tmp_path, monkeypatch):
    import pdeml.linalg.cli as leaf

    def broken(config, args):
        raise TypeError("unsupported operand type(s)")

    monkeypatch.setattr(leaf, "run", broken)
    with pytest.raises(TypeError, match="unsupported operand"):
        main(["train-preconditioner", "--out", str(tmp_path / "x")])


def test_generate_takes_problem_parameters_by_set_and_param(tmp_path, capsys):
    import h5py

    out = tmp_path / "d.h5"
    assert main(["generate", "darcy", "--n", "2", "--res", "8", "--out", str(out), "--quiet",
                 "--set", "problem.a_plus=10", "--param", "a_minus=2"]) == 0
    with h5py.File(out) as f:
        params = json.loads(f.attrs["params"])
    assert params["a_plus"] == 10 and params["a_minus"] == 2
    capsys.readouterr()
    assert main(["generate", "darcy", "--n", "2", "--res", "8", "--out", str(tmp_path / "e.h5"),
                 "--set", "problem.a_pluss=10"]) == 2
    assert "known options: alpha, tau, a_plus" in capsys.readouterr().err
    assert main(["generate", "darcy", "--n", "2", "--res", "8", "--out", str(tmp_path / "e.h5"),
                 "--set", "train.lr=1"]) == 2
    assert "known sections: problem" in capsys.readouterr().err
    assert not (tmp_path / "e.h5").exists()


def test_the_parser_does_not_import_torch():
    import subprocess
    import sys

    code = "import sys; from pdeml.cli import build_parser; build_parser(); print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"
