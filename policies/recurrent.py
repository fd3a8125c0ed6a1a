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

from robo_meta.policies.activations import Tanh
from robo_meta.policies.mlp import mlp
from robo_meta.policies.normalizer import RunningNormalizer


class RecurrentActorCritic(nn.Module):
    """GRU memory read by a Gaussian actor head and a value head.

    ``step`` takes (B, ...) inputs and the (B, state) state; ``sequence`` takes (T, B, ...)
    inputs and the state before the first step, resetting it at ``trial_start`` rows.
    ``prev_reward_done`` is (…, 2): the previous reward and the episode-ended flag.

    By default the actor and the critic share one encoder and GRU (the state is (B, hidden)).
    With ``separate_critic`` the critic has its own encoder and GRU, so the actor's memory
    learns from the policy loss alone and the value loss cannot pull it towards what predicts
    returns; the state is then (B, 2 x hidden), the actor's memory first.

    With ``feature_dim`` > 0 (a privileged critic: asymmetric actor-critic) the value head
    also reads the task's ``feature_dim`` features, appended to the observation in training
    (the learner's Sampler adds them): it can tell a step towards the goal from one away from
    it before the memory has worked out where the goal is. The actor and the memories never
    read them, so a deployed policy is given none (``obs`` of ``obs_dim`` columns: the value,
    unused there, then reads zeros) and acts the same either way.
    """

    recurrent = True

    def __init__(self, obs_dim: int, act_dim: int, hidden_size: int = 128,
                 encoder_sizes: Sequence[int] = (128,), head_sizes: Sequence[int] = (128,),
                 init_log_std: float = 0.0, separate_critic: bool = False,
                 feature_dim: int = 0):
        super().__init__()
        self.obs_dim, self.act_dim, self.hidden_size = obs_dim, act_dim, hidden_size
        self.separate_critic, self.feature_dim = separate_critic, feature_dim
        # one normalizer over the observation and, last, the features (per column, so the
        # observation's columns normalize the same with or without them)
        self.normalizer = RunningNormalizer(obs_dim + feature_dim)
        in_dim = obs_dim + act_dim + 2
        self.encoder = nn.Sequential(mlp([in_dim, *encoder_sizes], out_gain=1.0), Tanh())
        self.gru = nn.GRUCell(encoder_sizes[-1], hidden_size)
        if separate_critic:
            self.critic_encoder = nn.Sequential(mlp([in_dim, *encoder_sizes], out_gain=1.0),
                                                Tanh())
            self.critic_gru = nn.GRUCell(encoder_sizes[-1], hidden_size)
        self.actor = mlp([hidden_size + obs_dim, *head_sizes, act_dim], out_gain=0.01)
        self.critic = mlp([hidden_size + obs_dim + feature_dim, *head_sizes, 1], out_gain=1.0)
        self.log_std = nn.Parameter(torch.full((act_dim,), float(init_log_std)))

    def _memories(self) -> list[tuple[nn.Module, nn.GRUCell]]:
        """(encoder, GRU) of the actor, then the critic's own where it has one."""
        cores = [(self.encoder, self.gru)]
        if self.separate_critic:
            cores.append((self.critic_encoder, self.critic_gru))
        return cores

    def initial_state(self, batch: int, device: torch.device | str = "cpu") -> torch.Tensor:
        return torch.zeros(batch, self.hidden_size * len(self._memories()), device=device)

    def _inputs(self, obs, prev_action, prev_reward_done):
        """The normalized observation (with the features, if any) and each memory's input."""
        if self.feature_dim and obs.shape[-1] == self.obs_dim:  # deployed: no features
            obs = torch.cat([obs, obs.new_zeros(*obs.shape[:-1], self.feature_dim)], dim=-1)
        x = self.normalizer(obs)
        u = torch.cat([x[..., :self.obs_dim], prev_action, prev_reward_done], dim=-1)
        return x, [encoder(u) for encoder, _ in self._memories()]

    def _heads(self, x, hs):
        """Actor on the first memory, critic on the last (the same one when shared); only the
        critic reads the features at the end of ``x``."""
        mean = self.actor(torch.cat([hs[0], x[..., :self.obs_dim]], dim=-1))
        return mean, self.critic(torch.cat([hs[-1], x], dim=-1)).squeeze(-1)

    def step(self, obs, prev_action, prev_reward_done, trial_start, state):
        """One step: (mean, log_std, value, new_state); state resets where trial_start."""
        x, es = self._inputs(obs, prev_action, prev_reward_done)
        keep = (~trial_start).unsqueeze(-1).to(state.dtype)
        hs = [gru(e, h * keep) for (_, gru), e, h
              in zip(self._memories(), es, state.split(self.hidden_size, dim=-1), strict=True)]
        mean, value = self._heads(x, hs)
        return mean, self.log_std.expand_as(mean), value, torch.cat(hs, dim=-1)

    def sequence(self, obs, prev_action, prev_reward_done, trial_start, state):
        """Unroll over T steps (truncated BPTT from ``state``): (mean, log_std, value)."""
        x, es = self._inputs(obs, prev_action, prev_reward_done)
        keep = (~trial_start).unsqueeze(-1).to(state.dtype)
        grus = [gru for _, gru in self._memories()]
        hs = list(state.split(self.hidden_size, dim=-1))
        outs: list[list[torch.Tensor]] = [[] for _ in grus]
        for t in range(obs.shape[0]):
            for i, gru in enumerate(grus):
                hs[i] = gru(es[i][t], hs[i] * keep[t])
                outs[i].append(hs[i])
        mean, value = self._heads(x, [torch.stack(out) for out in outs])
        return mean, self.log_std.expand_as(mean), value
