import json
import math

from pdeml.cli import main


def test_bench_aas_tiny(tmp_path):
    assert main(["bench", "aas", "--preset", "tiny", "--out", str(tmp_path), "--device", "cpu"]) == 0
    record = json.loads((tmp_path / "aas.json").read_text())
    rows = record["results"]
    assert [(r["problem"].split()[0], r["sampler"]) for r in rows] == [
        (p, s) for p in ("peak2d", "two_peaks", "gaussian_nd") for s in ("uniform", "rar", "rad", "aas")]
    for r in rows:
        assert r["seeds"] == 2 and r["steps"] == 20 and r["points"] == 64
        assert math.isfinite(r["rel_l2_mean"]) and r["rel_l2_mean"] > 0 and r["rel_l2_std"] >= 0
        assert r["seconds_mean"] > 0
        seeds = [float(v) for v in r["rel_l2_per_seed"].split(" / ")]
        assert abs(sum(seeds) / 2 - r["rel_l2_mean"]) < 1e-2 * r["rel_l2_mean"]
    assert all(r["vs_uniform"] == 1.0 for r in rows if r["sampler"] == "uniform")
    assert {r["dim"] for r in rows} == {2, 3}
    assert (tmp_path / "aas_errors.png").stat().st_size > 1000
    assert (tmp_path / "aas_points.png").stat().st_size > 1000
    assert "| problem" in (tmp_path / "aas.md").read_text()
