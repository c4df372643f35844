import json
import subprocess
import sys
from pathlib import Path


def test_torchrun_two_cpu_ranks_end_with_identical_weights(tmp_path):
    worker = Path(__file__).with_name("ddp_worker.py")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", str(worker),
           str(tmp_path)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    r0, r1 = (json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1))
    assert r0["world"] == r1["world"] == 2
    assert r0["steps"] == r1["steps"] == 8 * 4  # 40 samples -> 20 per rank -> 4 batches of 5
    assert r0["digest"] == r1["digest"]
    assert r0["last_loss"] < 0.7 * r0["first_loss"]
    assert r0["first_loss"] == r1["first_loss"]  # epoch means are all-reduced over the ranks
    run = tmp_path / "run"
    assert (run / "checkpoint.pt").exists() and len((run / "metrics.jsonl").read_text().splitlines()) == 8
