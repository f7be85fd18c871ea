"""A local worker killed mid-generation (SIGKILL, the out-of-memory killer) never hangs `generate`.

Each test runs generation in a child process that kills its own pool workers, with a deadline:
before the fix, multiprocessing.Pool lost the killed worker's episode and waited for it forever."""

import os
import signal
import subprocess
import sys
import textwrap

import pytest

from .conftest import dataset_bytes

DEADLINE_S = 300

SCRIPT = textwrap.dedent("""
    import os, signal, sys, threading, time
    os.environ["MUJOCO_GL"] = "egl"
    from foretell.data import DatasetConfig, TaskSpec, generate

    mode, out = sys.argv[1], sys.argv[2]
    config = DatasetConfig(tasks=(TaskSpec("foretell/Collide-v0", 3, max_steps=8),), image_size=32, seed=7)

    def pool_workers():
        found = []
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                stat, cmd = open(f"/proc/{pid}/stat").read(), open(f"/proc/{pid}/cmdline", "rb").read()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == os.getpid() and b"spawn_main" in cmd:
                found.append(int(pid))
        return found

    def kill(pids):
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    if mode == "once":  # after the first committed episode, kill one worker while the others are in flight
        killed = []
        def on_episode(index, n):
            if not killed:
                killed.extend(pool_workers()[:1])
                kill(killed)
        generate(config, out, workers=2, progress=False, on_episode=on_episode)
        print("killed", killed)
    else:  # every worker dies as soon as it starts: generation must stop, naming the episodes
        def killer():
            while True:
                kill(pool_workers())
                time.sleep(0.05)
        threading.Thread(target=killer, daemon=True).start()
        generate(config, out, workers=2, progress=False)
""")


def _run_bounded(mode: str, out) -> subprocess.CompletedProcess:
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT, mode, str(out)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True,
                            env={**os.environ, "MUJOCO_GL": "egl"})
    try:
        stdout, stderr = proc.communicate(timeout=DEADLINE_S)
    except subprocess.TimeoutExpired:
        stdout = None
    if stdout is None:
        os.killpg(proc.pid, signal.SIGKILL)  # the child and its pool workers: a session of their own
        proc.communicate()
        pytest.fail(f"generate hung for {DEADLINE_S} s after a worker was killed")
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)


def test_a_killed_worker_is_replaced_and_the_dataset_completes(scenario_dataset, tmp_path):
    result = _run_bounded("once", tmp_path / "ds")
    assert result.returncode == 0, result.stderr
    assert "killed [" in result.stdout and "killed []" not in result.stdout
    assert "worker process died" in result.stderr and "restarting the pool (1/2)" in result.stderr
    assert dataset_bytes(tmp_path / "ds") == dataset_bytes(scenario_dataset)  # no temp file left, same bytes


def test_workers_that_keep_dying_stop_generation_with_a_clear_error(tmp_path):
    result = _run_bounded("always", tmp_path / "ds")
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert "RuntimeError: a generation worker process died 3 times" in last and "episode(s) [" in last
    assert "--resume" in last
