"""Untrained but lively policies for tests: small networks whose actions are O(1)."""

from __future__ import annotations

import torch

from robo_meta.adaptive import TrainedPolicy
from robo_meta.algos.ppo import VARIANTS, PPOConfig, load_policy, policy_spec
from robo_meta.envs import get_family, make
from robo_meta.policies import build_policy

CPU = torch.device("cpu")


def tiny_policy(algo: str, family: str, seed: int = 0):
    """(module, policy spec, config) of an untrained ``algo`` policy for ``family``.

    The output layer is scaled x100 and the biases are random, so that the policy moves the
    robot (zero biases would map the origin to a zero action).
    """
    config = PPOConfig(family=family, algo=algo, hidden_sizes=[16, 16], gru_hidden=16)
    obs_dim = make(family).observation_space.shape[0]
    if VARIANTS[algo].with_features:
        obs_dim += get_family(family).feature_dim
    spec = policy_spec(config, obs_dim, get_family(family).model.nu)
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        torch.manual_seed(seed)
        module = build_policy(spec)
        module.actor[-1].weight.mul_(100.0)
        for name, value in module.named_parameters():
            if name.endswith("bias"):
                value.normal_(0.0, 0.5)
    return module, spec, config


def deployed(module: torch.nn.Module, algo: str, family: str = "point-goal",
             seed: int = 0) -> TrainedPolicy:
    """``module`` as the deployed policy of a dr, oracle or rl2 run, on the CPU."""
    return load_policy(PPOConfig(family=family, algo=algo), {"policy": module}, family, CPU,
                       seed=seed)
