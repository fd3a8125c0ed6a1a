"""Recurrent (GRU) actor-critic for RL²: memory that persists across a trial's episodes.

Input at step t: the observation, the previous action and reward, and a flag that the
previous episode just ended inside the trial (all zero at a trial's first step). The GRU's
hidden state is reset only where ``trial_start`` is set, so what the policy learned about the
task in episode 1 is still there in episode 2.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from robo_meta.policies.mlp import mlp
from robo_meta.policies.normalizer import RunningNormalizer


class RecurrentActorCritic(nn.Module):
    """GRU core shared by a Gaussian actor head and a value head.

    ``step`` takes (B, ...) inputs and the (B, hidden) state; ``sequence`` takes (T, B, ...)
    inputs and the state before the first step, resetting it at ``trial_start`` rows.
    ``prev_reward_done`` is (…, 2): the previous reward and the episode-ended flag.
    """

    recurrent = True

    def __init__(self, obs_dim: int, act_dim: int, hidden_size: int = 128,
                 encoder_sizes: Sequence[int] = (128,), head_sizes: Sequence[int] = (128,),
                 init_log_std: float = 0.0):
        super().__init__()
        self.obs_dim, self.act_dim, self.hidden_size = obs_dim, act_dim, hidden_size
        self.normalizer = RunningNormalizer(obs_dim)
        in_dim = obs_dim + act_dim + 2
        self.encoder = nn.Sequential(mlp([in_dim, *encoder_sizes], out_gain=1.0), nn.Tanh())
        self.gru = nn.GRUCell(encoder_sizes[-1], hidden_size)
        self.actor = mlp([hidden_size + obs_dim, *head_sizes, act_dim], out_gain=0.01)
        self.critic = mlp([hidden_size + obs_dim, *head_sizes, 1], out_gain=1.0)
        self.log_std = nn.Parameter(torch.full((act_dim,), float(init_log_std)))

    def initial_state(self, batch: int, device: torch.device | str = "cpu") -> torch.Tensor:
        return torch.zeros(batch, self.hidden_size, device=device)

    def _inputs(self, obs, prev_action, prev_reward_done):
        x = self.normalizer(obs)
        return x, self.encoder(torch.cat([x, prev_action, prev_reward_done], dim=-1))

    def _heads(self, x, h):
        z = torch.cat([h, x], dim=-1)
        return self.actor(z), self.critic(z).squeeze(-1)

    def step(self, obs, prev_action, prev_reward_done, trial_start, state):
        """One step: (mean, log_std, value, new_state); state resets where trial_start."""
        x, e = self._inputs(obs, prev_action, prev_reward_done)
        h = self.gru(e, state * (~trial_start).unsqueeze(-1).to(state.dtype))
        mean, value = self._heads(x, h)
        return mean, self.log_std.expand_as(mean), value, h

    def sequence(self, obs, prev_action, prev_reward_done, trial_start, state):
        """Unroll over T steps (truncated BPTT from ``state``): (mean, log_std, value)."""
        x, e = self._inputs(obs, prev_action, prev_reward_done)
        keep = (~trial_start).unsqueeze(-1).to(state.dtype)
        hs = []
        h = state
        for t in range(obs.shape[0]):
            h = self.gru(e[t], h * keep[t])
            hs.append(h)
        mean, value = self._heads(x, torch.stack(hs))
        return mean, self.log_std.expand_as(mean), value
