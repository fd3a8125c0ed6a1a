"""CUDA paths: the same policy gives the same actions on the GPU as on the CPU (a maml policy
through its inner step too), and every algorithm trains there. Skipped where torch sees no
GPU (CI has none); run them on a GPU machine with ``pytest -m gpu``."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from cli_helpers import exit_status as _main

import robo_meta
from robo_meta.algos.ppo import PPOConfig
from robo_meta.runner import Runner

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")]


@pytest.mark.parametrize("name", ["cheetah-vel-rl2", "cheetah-vel-oracle", "cheetah-vel-maml"])
def test_pretrained_policy_acts_the_same_on_cuda_and_cpu(name):
    rng = np.random.default_rng(0)
    obs = rng.normal(size=(8, 6, 17))  # 6 steps of 8 simulations
    rewards = rng.normal(size=(8, 6))
    features = rng.uniform(-1, 1, size=(8, 1))
    actions = {}
    for device in ("cpu", "cuda"):
        policy = robo_meta.load_policy(f"pretrained:{name}", device=device)
        policy.reset(8, task_features=features)
        steps = []
        for t in range(6):  # the rl2 memory runs on the device too
            action = policy.act(obs[:, t])
            # episode 1 ends after 3 steps: maml explores (noise drawn from the trial seeds,
            # not the device's generator), takes its inner step, then acts with θ'
            ends = np.full(8, t == 2)
            policy.observe(obs[:, t], action, rewards[:, t], np.zeros(8, bool), ends)
            steps.append(action)
        actions[device] = np.stack(steps)
    np.testing.assert_allclose(actions["cuda"][:3], actions["cpu"][:3], atol=1e-4)
    # maml's inner step magnifies float32 rounding: on the CPU alone, inputs perturbed by one
    # part in 1e7 move its later actions by 1.2e-4; CUDA against CPU differed by 3.5e-4 on an
    # H200. A wrong step moves them by far more (on the CPU: no step 1.7, rows' rewards
    # swapped 1.5).
    np.testing.assert_allclose(actions["cuda"][3:], actions["cpu"][3:], atol=1e-3)


@pytest.mark.parametrize("algo", ["rl2", "oracle"])
def test_training_on_cuda_writes_a_loadable_checkpoint(tmp_path, algo):
    config = PPOConfig(family="point-goal", algo=algo, total_steps=2048, num_envs=32,
                         rollout_steps=16, device="cuda", eval_tasks=2)
    result = Runner(config, tmp_path, torch.device("cuda"), progress=False).train()
    assert result["steps"] == 2048
    policy = robo_meta.load_policy(tmp_path, device="cuda")
    assert policy.device.type == "cuda" and policy.algo == algo


TINY = {"maml": ["--family", "point-goal", "--meta-batch", "2", "--rollouts-per-task", "2",
                 "--inner-episodes", "1", "--hidden-sizes", "8", "--outer-epochs", "2",
                 "--minibatches", "2", "--total-steps", "800"],
        "rma": ["--family", "hopper-params", "--num-envs", "4", "--rollout-steps", "16",
                "--epochs", "1", "--minibatches", "2", "--adapter-epochs", "1", "--history", "6",
                "--latent-dim", "3", "--hidden-sizes", "16", "--encoder-sizes", "8",
                "--adapter-channels", "4", "--total-steps", "64", "--adapt-steps", "128"]}


@pytest.mark.parametrize("algo", sorted(TINY))
def test_maml_and_rma_train_on_cuda_and_evaluate_there(tmp_path, algo):
    run = tmp_path / "run"
    assert _main(["train", "--algo", algo, *TINY[algo], "--eval-tasks", "1", "--threads", "1",
                  "--device", "cuda", "--no-progress", "--out", run]) == 0
    policy = robo_meta.load_policy(run, device="cuda")
    assert policy.device.type == "cuda" and policy.algo == algo
    extra = ["--inner-steps", "0,1"] if algo == "maml" else []
    out = tmp_path / "eval.json"
    assert _main(["evaluate", "--policy", run, "--split", "val", "--seeds", "1", "--episodes",
                  "2", "--device", "cuda", "--threads", "1", *extra, "--out", out]) == 0
    written = tmp_path / ("eval-k1.json" if algo == "maml" else "eval.json")  # one per k
    assert written.stat().st_size > 0
