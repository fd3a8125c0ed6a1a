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
    learns from the policy loss (and the task-inference loss, below) and the value loss
    cannot pull it towards what predicts returns; the state is then (B, 2 x hidden), the
    actor's memory first.

    With ``feature_dim`` > 0 (a privileged critic: asymmetric actor-critic) the value head
    also reads the task's ``feature_dim`` features, appended to the observation in training
    (the learner's Sampler adds them): it can tell a step towards the goal from one away from
    it before the memory has worked out where the goal is. The actor and the memories never
    read them, so a deployed policy is given none (``obs`` of ``obs_dim`` columns: the value,
    unused there, then reads zeros) and acts the same either way. ``privileged_critic=False``
    keeps the features from the value head too, for a network that has them only for:

    ``task_inference``: a linear head on the actor's memory guesses the task's (normalized)
    features at every step, and ``sequence_with_task_loss`` adds the squared error of that
    guess (Humplik et al. 2019, "Meta reinforcement learning as task inference"). The loss
    trains the memory to hold what it has seen of the task in a form the actor can read; the
    head's guess is never an input, so the deployed policy acts without it.
    """

    recurrent = True

    def __init__(self, obs_dim: int, act_dim: int, hidden_size: int = 128,
                 encoder_sizes: Sequence[int] = (128,), head_sizes: Sequence[int] = (128,),
                 init_log_std: float = 0.0, separate_critic: bool = False,
                 feature_dim: int = 0, privileged_critic: bool = True,
                 task_inference: bool = False):
        super().__init__()
        if task_inference and not feature_dim:
            raise ValueError("task_inference guesses the task features: feature_dim must be > 0")
        self.obs_dim, self.act_dim, self.hidden_size = obs_dim, act_dim, hidden_size
        self.separate_critic, self.feature_dim = separate_critic, feature_dim
        self.critic_features = feature_dim if privileged_critic else 0
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
        self.critic = mlp([hidden_size + obs_dim + self.critic_features, *head_sizes, 1],
                          out_gain=1.0)
        self.log_std = nn.Parameter(torch.full((act_dim,), float(init_log_std)))
        self.task_head = nn.Linear(hidden_size, feature_dim) if task_inference else None

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
        critic reads the features at the end of ``x`` (when privileged)."""
        mean = self.actor(torch.cat([hs[0], x[..., :self.obs_dim]], dim=-1))
        critic_in = x[..., :self.obs_dim + self.critic_features]
        return mean, self.critic(torch.cat([hs[-1], critic_in], dim=-1)).squeeze(-1)

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
        x, hs = self._unroll(obs, prev_action, prev_reward_done, trial_start, state)
        mean, value = self._heads(x, hs)
        return mean, self.log_std.expand_as(mean), value

    def sequence_with_task_loss(self, obs, prev_action, prev_reward_done, trial_start, state):
        """``sequence`` and the task-inference loss: the mean over steps of the squared error
        of the task head's guess, summed over the features, against the normalized features
        at the end of ``obs`` (a target: no gradient flows into the normalizer's output)."""
        head = self._task_head()
        if obs.shape[-1] != self.obs_dim + self.feature_dim:
            raise ValueError(f"the task-inference loss needs the {self.feature_dim} task "
                             f"features after the observation: obs has {obs.shape[-1]} "
                             f"columns, not {self.obs_dim + self.feature_dim}")
        x, hs = self._unroll(obs, prev_action, prev_reward_done, trial_start, state)
        mean, value = self._heads(x, hs)
        error = head(hs[0]) - x[..., self.obs_dim:].detach()
        return mean, self.log_std.expand_as(mean), value, error.square().sum(-1).mean()

    def task_guess(self, state: torch.Tensor) -> torch.Tensor:
        """The task head's guess of the normalized features from a (B, state) state."""
        return self._task_head()(state[:, :self.hidden_size])

    def _task_head(self) -> nn.Linear:
        if self.task_head is None:
            raise ValueError("this network has no task head (built without task_inference)")
        return self.task_head

    def normalized_features(self, features: torch.Tensor) -> torch.Tensor:
        """(B, feature_dim) task features as the task head's loss sees them: normalized by
        their columns of the running normalizer."""
        padded = torch.cat([features.new_zeros(len(features), self.obs_dim), features], dim=-1)
        return self.normalizer(padded)[:, self.obs_dim:]

    def _unroll(self, obs, prev_action, prev_reward_done, trial_start, state):
        """The normalized inputs and each memory's (T, B, hidden) states over T steps."""
        x, es = self._inputs(obs, prev_action, prev_reward_done)
        keep = (~trial_start).unsqueeze(-1).to(state.dtype)
        grus = [gru for _, gru in self._memories()]
        hs = list(state.split(self.hidden_size, dim=-1))
        outs: list[list[torch.Tensor]] = [[] for _ in grus]
        for t in range(obs.shape[0]):
            for i, gru in enumerate(grus):
                hs[i] = gru(es[i][t], hs[i] * keep[t])
                outs[i].append(hs[i])
        return x, [torch.stack(out) for out in outs]
