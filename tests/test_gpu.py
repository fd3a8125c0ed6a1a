"""CUDA paths: the same policy gives the same actions on the GPU as on the CPU, and training
runs there. Skipped where torch sees no GPU (CI has none); run them on a GPU machine with
``pytest -m gpu``."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import robo_meta
from robo_meta.algos.ppo import PPOConfig
from robo_meta.runner import Runner

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")]


@pytest.mark.parametrize("name", ["cheetah-vel-rl2", "cheetah-vel-oracle"])
def test_pretrained_policy_acts_the_same_on_cuda_and_cpu(name):
    rng = np.random.default_rng(0)
    obs = rng.normal(size=(8, 5, 17))  # 5 steps of 8 simulations
    features = rng.uniform(-1, 1, size=(8, 1))
    actions = {}
    for device in ("cpu", "cuda"):
        policy = robo_meta.load_policy(f"pretrained:{name}", device=device)
        policy.reset(8, task_features=features)
        steps = []
        for t in range(5):  # the rl2 memory runs on the device too
            action = policy.act(obs[:, t])
            policy.observe(obs[:, t], action, np.ones(8), np.zeros(8, bool), np.zeros(8, bool))
            steps.append(action)
        actions[device] = np.stack(steps)
    np.testing.assert_allclose(actions["cuda"], actions["cpu"], atol=1e-4)


@pytest.mark.parametrize("algo", ["rl2", "oracle"])
def test_training_on_cuda_writes_a_loadable_checkpoint(tmp_path, algo):
    config = PPOConfig(family="point-goal", algo=algo, total_steps=2048, num_envs=32,
                         rollout_steps=16, device="cuda", eval_tasks=2)
    result = Runner(config, tmp_path, torch.device("cuda"), progress=False).train()
    assert result["steps"] == 2048
    policy = robo_meta.load_policy(tmp_path, device="cuda")
    assert policy.device.type == "cuda" and policy.algo == algo
