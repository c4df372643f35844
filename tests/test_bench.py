import json
import math

from pdeml.cli import main


def test_bench_solvers_tiny(tmp_path):
    assert main(["bench", "solvers", "--preset", "tiny", "--out", str(tmp_path), "--device", "cpu"]) == 0
    rows = json.loads((tmp_path / "solvers.json").read_text())["results"]
    darcy = [r for r in rows if r["solver"] == "darcy fd (direct)"]
    assert [r["grid"] for r in darcy] == ["16^2", "32^2"]
    assert all(r["per_second"] > 0 and math.isfinite(r["cost_exponent"]) for r in rows)
    assert {r["batch"] for r in rows if r["solver"].startswith("navier")} == {1, 2}


def test_bench_operators_tiny(tmp_path, monkeypatch):
    monkeypatch.setenv("PDEML_DATA", str(tmp_path / "cache"))
    assert main(["bench", "operators", "--preset", "tiny", "--out", str(tmp_path), "--device", "cpu"]) == 0
    rows = json.loads((tmp_path / "operators.json").read_text())["results"]
    assert [(r["problem"].split()[0], r["model"]) for r in rows] == [
        ("darcy", "fno"), ("darcy", "mgno"), ("darcy", "lsm"),
        ("navier-stokes", "fno"), ("navier-stokes", "mgno"), ("navier-stokes", "lsm")]
    for r in rows:
        assert r["params"] > 1000 and r["train_mb"] > 0 and 0 < r["test_rel_l2"] < 3
    assert all("rel_l2_at_24" in r for r in rows[:3])


def test_every_benchmark_has_the_common_presets():
    from pdeml.bench import BENCHMARKS
    from pdeml.bench.record import PRESETS

    for name in BENCHMARKS.names():
        assert set(PRESETS) <= set(BENCHMARKS.get(name).PRESETS), name
