"""``kill -9`` at random moments of a training run, then ``--resume``, five times over."""

from __future__ import annotations

import csv
import random
import subprocess
import sys
import time

import pytest

TINY = ["--family", "point-goal", "--algo", "dr", "--num-envs", "8", "--rollout-steps", "16",
        "--epochs", "1", "--minibatches", "1", "--eval-tasks", "1", "--eval-every", "256",
        "--checkpoint-every", "128", "--threads", "1", "--device", "cpu", "--no-progress"]


def _steps(run_dir) -> list[int]:
    try:
        with open(run_dir / "metrics.csv", newline="") as f:
            return [int(row["step"]) for row in csv.DictReader(f)
                    if row.get("step", "").isdigit()]
    except FileNotFoundError:
        return []


def _train(*flags) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "robo_meta.cli.main", "train", *map(str, flags)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


@pytest.mark.slow
def test_runs_killed_at_random_moments_resume_with_increasing_steps_and_no_temporaries(tmp_path):
    run_dir, rng = tmp_path / "run", random.Random(0)
    for attempt in range(5):
        flags = ([*TINY, "--total-steps", 10**9, "--out", run_dir] if attempt == 0
                 else ["--resume", run_dir, "--no-progress"])
        before = len(_steps(run_dir))
        proc = _train(*flags)
        deadline = time.monotonic() + 120
        while len(_steps(run_dir)) < before + 2 and proc.poll() is None:
            assert time.monotonic() < deadline, "the run made no progress"
            time.sleep(0.05)
        assert proc.poll() is None, proc.stderr.read()
        time.sleep(rng.uniform(0.0, 0.3))  # anywhere: mid-step, mid-log, mid-checkpoint
        proc.kill()
        proc.wait()
    done = _train("--resume", run_dir, "--total-steps", max(_steps(run_dir)) + 256,
                  "--no-progress")
    assert done.wait(timeout=120) == 0, done.stderr.read()
    steps = _steps(run_dir)
    assert len(steps) > 10 and all(a < b for a, b in zip(steps, steps[1:], strict=False)), steps
    assert sorted(p.name for p in run_dir.iterdir() if p.name.startswith(".tmp")) == []
