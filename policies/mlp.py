"""Feed-forward actor-critic: a Gaussian policy and a value function, two MLPs."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from robo_meta.policies.activations import Tanh
from robo_meta.policies.normalizer import RunningNormalizer


def mlp(sizes: Sequence[int], activation: type[nn.Module] = Tanh, out_gain: float = 1.0):
    """Linear layers of ``sizes`` with ``activation`` between; orthogonal init (as CleanRL)."""
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        last = i == len(sizes) - 2
        layer = nn.Linear(n_in, n_out)
        nn.init.orthogonal_(layer.weight, out_gain if last else np.sqrt(2))
        nn.init.zeros_(layer.bias)
        layers.append(layer)
        if not last:
            layers.append(activation())
    return nn.Sequential(*layers)


class GaussianActorCritic(nn.Module):
    """Diagonal-Gaussian policy and value function on normalized observations.

    Stateless: ``initial_state`` is an empty tensor, so the PPO core treats it like the
    recurrent policy. Inputs are (batch, obs_dim) float32; actions (batch, act_dim).
    """

    recurrent = False

    def __init__(self, obs_dim: int, act_dim: int, hidden_sizes: Sequence[int] = (64, 64),
                 init_log_std: float = 0.0):
        super().__init__()
        self.obs_dim, self.act_dim = obs_dim, act_dim
        self.normalizer = RunningNormalizer(obs_dim)
        self.actor = mlp([obs_dim, *hidden_sizes, act_dim], out_gain=0.01)
        self.critic = mlp([obs_dim, *hidden_sizes, 1], out_gain=1.0)
        self.log_std = nn.Parameter(torch.full((act_dim,), float(init_log_std)))

    def initial_state(self, batch: int, device: torch.device | str = "cpu") -> torch.Tensor:
        return torch.zeros(batch, 0, device=device)

    def step(self, obs, prev_action, prev_reward_done, trial_start, state):
        """One step for a batch: (mean, log_std, value, new_state)."""
        x = self.normalizer(obs)
        return self.actor(x), self.log_std.expand(len(obs), -1), self.critic(x).squeeze(-1), state

    def sequence(self, obs, prev_action, prev_reward_done, trial_start, state):
        """A (T, B, ...) sequence at once: (mean, log_std, value), each (T, B, ...)."""
        x = self.normalizer(obs)
        mean = self.actor(x)
        return mean, self.log_std.expand_as(mean), self.critic(x).squeeze(-1)
