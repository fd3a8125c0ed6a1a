"""The example of docs/adding-an-algorithm.md: a new algorithm in one file runs through the
same commands as PPO (train with its own flags, resume, load, evaluate)."""

from __future__ import annotations

import csv
import json

import example_algorithm  # noqa: F401  (registers "reinforce")
import numpy as np
import pytest
import torch
from cli_helpers import exit_status as _main

import robo_meta
from robo_meta.algos import AlgorithmSpec, algorithm_names, get_algorithm, register
from robo_meta.envs import RoboMetaError, get_family
from robo_meta.evaluation import run_trials

FLAGS = ["--family", "point-goal", "--algo", "reinforce", "--num-envs", "8",
         "--rollout-steps", "16", "--eval-tasks", "2", "--threads", "1", "--device", "cpu",
         "--no-progress"]


def test_a_registered_algorithm_is_listed_and_documents_its_own_flags(capsys):
    assert "reinforce" in algorithm_names() and {"dr", "oracle", "rl2"} <= set(algorithm_names())
    assert _main(["train", "--algo", "reinforce", "--help"]) == 0
    out = capsys.readouterr().out
    assert "REINFORCE with a learned baseline" in out
    assert "--rollout-steps" in out and "Steps per simulation between two gradient steps" in out
    assert "--gru-hidden" not in out  # rl2's, not ours


def test_another_algorithm_of_the_same_name_is_refused():
    spec = get_algorithm("reinforce")
    with pytest.raises(RoboMetaError, match="already registered"):
        register(AlgorithmSpec("reinforce", "copy", spec.config_class, spec.build,
                               spec.load_policy))


def test_it_trains_resumes_loads_and_evaluates_like_ppo(tmp_path):
    run_dir = tmp_path / "run"
    assert _main(["train", *FLAGS, "--total-steps", 256, "--out", run_dir]) == 0
    assert _main(["train", "--resume", run_dir, "--total-steps", 512, "--no-progress"]) == 0
    state = torch.load(run_dir / "state.pt", weights_only=True)
    assert state["algorithm"]["steps"] == state["runner"]["step"] == 512
    assert len(state["algorithm"]["optimizer"]["state"]) > 0  # Adam went on from the save
    with open(run_dir / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["step"]) for r in rows] == [128, 256, 384, 512]
    assert all(r["loss/reinforce"] and r["loss/baseline"] for r in rows)  # its own columns
    config = json.loads((run_dir / "config.json").read_text())
    assert config["train"]["algo"] == "reinforce" and config["train"]["rollout_steps"] == 16

    policy = robo_meta.load_policy(run_dir, device="cpu")
    assert (policy.algo, policy.family, policy.adaptive) == ("reinforce", "point-goal", False)
    tasks = get_family("point-goal").tasks("val")[:2]
    returns = run_trials(policy, "point-goal", tasks, episodes=1, seed=0, threads=1).returns
    assert np.isfinite(returns).all() and not np.all(returns == returns[0, 0])
    report = tmp_path / "report.json"
    assert _main(["evaluate", "--policy", run_dir, "--split", "test", "--out", report]) == 0
    assert json.loads(report.read_text())["policy"]["algo"] == "reinforce"
