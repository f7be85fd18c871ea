"""DDP: the real command under torchrun, two gloo processes on the CPU."""

import json
import os
import subprocess
import sys


def test_two_gloo_processes_train_in_lockstep(collide_dataset, tmp_path):
    """Each rank draws different batches (its rank enters every step's seed), so only gradient
    all-reduce can keep their weights identical: without DDP the digests would differ."""
    run = tmp_path / "ddp"
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
               "-m", "foretell.cli", "train", "world", "--data", str(collide_dataset), "--out", str(run),
               "--steps", "3", "--history", "2", "--horizon", "3", "--batch-size", "4", "--device", "cpu", "--json"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MUJOCO_GL": "egl"}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-4000:]
    summary = json.loads((run / "summary.json").read_text())
    assert summary["world_size"] == 2 and summary["steps"] == 3
    model_digests = [rank[0] for rank in summary["weights_digest_per_rank"]]
    ema_digests = [rank[1] for rank in summary["weights_digest_per_rank"]]
    assert len(set(model_digests)) == 1 and len(set(ema_digests)) == 1
    assert len((run / "metrics.jsonl").read_text().splitlines()) == 1  # rank 0 alone logs (here: the last step)
