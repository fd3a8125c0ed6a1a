"""A whole algorithm in one file: REINFORCE with a learned baseline, on robo_meta's parts.

docs/adding-an-algorithm.md walks through this file; tests/test_example_algorithm.py trains,
resumes, loads and evaluates it through the same commands as PPO. Inside robo_meta/algos/ a
module's ``ALGORITHMS`` tuple is found by itself; from anywhere else, ``register`` it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from robo_meta.adaptive import TrainedPolicy
from robo_meta.algos import AlgorithmSpec, register
from robo_meta.config import RunConfig
from robo_meta.envs import Family
from robo_meta.policies import build_policy
from robo_meta.ppo import compute_gae, gaussian_logprob
from robo_meta.sampler import Sampler


@dataclass
class ReinforceConfig(RunConfig):
    """REINFORCE's own fields; every one becomes a documented ``robo-meta train`` flag."""

    num_envs: int = 32
    """Simulations stepped together."""
    rollout_steps: int = 50
    """Steps per simulation between two gradient steps."""
    learning_rate: float = 1e-3
    """Adam learning rate."""
    gamma: float = 0.99
    """Discount factor."""
    hidden_sizes: list[int] = field(default_factory=lambda: [32, 32])
    """Hidden layers of the policy and baseline networks."""


class Reinforce:
    """Monte-Carlo policy gradient with the critic as a baseline (one update per rollout)."""

    def __init__(self, config: ReinforceConfig, family: Family, device: torch.device):
        self.config, self.family, self.device = config, family, device
        self.sampler = Sampler(family, config.num_envs, episodes_per_trial=1,
                               with_features=False, device=device, threads=config.threads)
        spec = {"class": "mlp", "kwargs": {"obs_dim": self.sampler.obs_dim,
                                           "act_dim": self.sampler.act_dim,
                                           "hidden_sizes": list(config.hidden_sizes)}}
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(config.seed)
            self.policy = build_policy(spec).to(device)
        self.modules, self.module_specs = {"policy": self.policy}, {"policy": spec}
        self.optimizer = torch.optim.Adam(self.policy.parameters(), lr=config.learning_rate)
        self.generator = torch.Generator(device=device).manual_seed(config.seed)
        self.steps, self._sampling = 0, False

    def iteration(self) -> dict[str, float]:
        cfg = self.config
        if not self._sampling:
            self.sampler.reset(self.policy, seed=cfg.seed + self.steps)
            self._sampling = True
        traj = self.sampler.collect(self.policy, cfg.rollout_steps, self.generator)
        self.steps += cfg.rollout_steps * cfg.num_envs
        rewards = torch.as_tensor(traj.rewards, dtype=torch.float32, device=self.device)
        rewards = rewards + cfg.gamma * traj.final_values  # bootstrap time limits
        trial_end = torch.as_tensor(traj.trial_end, device=self.device)
        # λ = 1: the discounted return to go, minus the baseline
        advantages, returns = compute_gae(rewards, traj.values, traj.next_value, trial_end,
                                          cfg.gamma, 1.0)
        x = traj.inputs
        mean, log_std, value = self.policy.sequence(x.obs, x.prev_action, x.prev_reward_done,
                                                    x.trial_start, traj.initial_state)
        policy_loss = -(gaussian_logprob(mean, log_std, traj.actions) * advantages).mean()
        baseline_loss = 0.5 * (value - returns).square().mean()
        self.optimizer.zero_grad()
        (policy_loss + baseline_loss).backward()
        self.optimizer.step()
        self.policy.normalizer.update(x.obs)
        return {"loss/reinforce": policy_loss.item(), "loss/baseline": baseline_loss.item()}

    def state_dict(self) -> dict[str, Any]:
        return {"optimizer": self.optimizer.state_dict(), "steps": self.steps,
                "generator": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
        self.steps = int(state["steps"])
        self.generator.set_state(state["generator"].to("cpu"))
        self._sampling = False

    def adaptive_policy(self) -> TrainedPolicy:
        return load_policy(self.config, self.modules, self.family.name, self.device)

    def close(self) -> None:
        self.sampler.close()


def load_policy(config, modules, family, device, name="", seed=0, meta=None) -> TrainedPolicy:
    """Deployment needs only the saved networks: no simulator, no optimizer."""
    return TrainedPolicy(modules["policy"], "reinforce", family, device, name=name, seed=seed,
                         meta=meta)


SPEC = AlgorithmSpec(name="reinforce", summary="REINFORCE with a learned baseline (example)",
                     config_class=ReinforceConfig, build=Reinforce, load_policy=load_policy)
register(SPEC)
