"""Rapid Motor Adaptation's networks (Kumar et al., RSS 2021), and the student's step.

- ``RMATeacher``: the base policy π(x, a_prev, z) and value function with the task encoder
  μ: z = μ(task features), trained end to end by PPO on privileged features (phase 1). Its
  input is what the Sampler gives a policy told the task: the observation with the features
  appended, (B, obs_dim + feature_dim), split here.
- ``AdaptationModule`` φ: ẑ = φ(history), a 1-D convolution over the last H history entries
  (phase 2 regresses ẑ to z = μ(e), through ``forward_windows``: the same function, computed
  faster for a rollout's windows).
- ``RolloutHistories``: a rollout's histories for that regression, each entry stored once.
- ``StateActionHistory``: those entries per simulation, oldest first, and ``Student``: one
  step of the deployed policy (push, estimate ẑ, act with the frozen base policy), shared by
  phase-2 training and deployment so the two cannot drift apart.

A history entry at step t is (x̂_t, a_{t-1}, 1): the normalized observation, the action that
led to it (zero at an episode's first step) and a flag that the slot holds data (padding is
all zeros). Consecutive entries hold every transition (x_{s-1}, a_{s-1}) -> x_s inside the
window, and the newest observation is included. The paper's first convolution, kernel 8 and
stride 4 over H = 50 entries, reads only 48 of them; ``align_newest`` (every rma run since
2026-11-27) makes those the newest 48, so ẑ reacts to the latest step. Modules saved before
read the oldest 48, and so saw up to x_{t-2}; they load and act as they were trained.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from robo_meta.policies.activations import Tanh
from robo_meta.policies.mlp import mlp
from robo_meta.policies.normalizer import RunningNormalizer

# The paper's convolutions over a 50-step history: (kernel, stride) of three layers of 32
# channels; kernels shrink to fit a shorter history.
CONV_LAYERS = ((8, 4), (5, 1), (5, 1))


class RMATeacher(nn.Module):
    """Base policy π(x̂, a_prev, z), value V(x̂, a_prev, z) and encoder z = μ(features).

    ``obs_dim`` is the robot's observation (what the student sees); the teacher's input is
    (B, obs_dim + feature_dim). The normalizer covers that whole input (PPO updates it with
    what the policy saw); ``normalize_obs`` applies its observation part alone, bit for bit
    as in ``step``. μ ends in tanh, so z (and the regression target) lies in [-1, 1].
    """

    recurrent = False

    def __init__(self, obs_dim: int, feature_dim: int, act_dim: int, latent_dim: int = 8,
                 hidden_sizes: Sequence[int] = (64, 64), encoder_sizes: Sequence[int] = (64, 64),
                 init_log_std: float = 0.0):
        super().__init__()
        self.obs_dim, self.feature_dim, self.act_dim = obs_dim, feature_dim, act_dim
        self.latent_dim = latent_dim
        self.normalizer = RunningNormalizer(obs_dim + feature_dim)
        self.encoder = nn.Sequential(mlp([feature_dim, *encoder_sizes, latent_dim]), Tanh())
        base_in = obs_dim + act_dim + latent_dim
        self.actor = mlp([base_in, *hidden_sizes, act_dim], out_gain=0.01)
        self.critic = mlp([base_in, *hidden_sizes, 1], out_gain=1.0)
        self.log_std = nn.Parameter(torch.full((act_dim,), float(init_log_std)))

    def initial_state(self, batch: int, device: torch.device | str = "cpu") -> torch.Tensor:
        return torch.zeros(batch, 0, device=device)

    def encode(self, features: torch.Tensor) -> torch.Tensor:
        """z = μ(task features), (..., latent_dim)."""
        return self.encoder(features)

    def normalize_obs(self, obs: torch.Tensor) -> torch.Tensor:
        """The observation part of the normalizer, (..., obs_dim)."""
        n, d = self.normalizer, self.obs_dim
        mean = n.mean[:d].to(obs.dtype)
        std = (n.var[:d] + n.epsilon).sqrt().to(obs.dtype)
        return ((obs - mean) / std).clamp(-n.clip, n.clip)

    def base(self, x: torch.Tensor, prev_action: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """The base policy's action mean from a normalized observation and a latent."""
        return self.actor(torch.cat([x, prev_action, z], dim=-1))

    def _forward(self, inputs, prev_action):
        x = self.normalizer(inputs)[..., : self.obs_dim]
        # contiguous: a strided view takes another matmul kernel (other rounding), and the
        # student's targets encode contiguous features; they must be the same z bit for bit
        features = inputs[..., self.obs_dim:].contiguous()
        h = torch.cat([x, prev_action, self.encode(features)], dim=-1)
        return self.actor(h), self.critic(h).squeeze(-1)

    def step(self, obs, prev_action, prev_reward_done, trial_start, state):
        """One step: (mean, log_std, value, state); ``obs`` holds the features too."""
        mean, value = self._forward(obs, prev_action)
        return mean, self.log_std.expand_as(mean), value, state

    def sequence(self, obs, prev_action, prev_reward_done, trial_start, state):
        """(T, B, ...) at once: (mean, log_std, value)."""
        mean, value = self._forward(obs, prev_action)
        return mean, self.log_std.expand_as(mean), value


def conv_layers(history: int) -> list[tuple[int, int]]:
    """(kernel, stride) of each convolution for a history of ``history`` entries."""
    layers, length = [], history
    for kernel, stride in CONV_LAYERS:
        kernel = min(kernel, length)
        layers.append((kernel, stride))
        length = (length - kernel) // stride + 1
    return layers


class AdaptationModule(nn.Module):
    """φ: ẑ from the last ``history`` entries (B, history, obs_dim + act_dim + 1).

    Each entry is embedded by a linear layer (32 channels), then the paper's three temporal
    convolutions, flattened, and a linear layer to the latent (tanh, as μ). A convolution
    rather than a GRU: it sees a fixed window at once, is the paper's choice, and evaluates
    all T x B windows of a rollout in one batched call in the update. ``trained_steps``
    counts the environment steps of student rollouts it was regressed on: a module at 0 is
    untrained (a checkpoint saved during phase 1), which deployment refuses.
    """

    def __init__(self, obs_dim: int, act_dim: int, latent_dim: int = 8, history: int = 50,
                 channels: int = 32, align_newest: bool = False):
        super().__init__()
        self.obs_dim, self.act_dim, self.latent_dim = obs_dim, act_dim, latent_dim
        self.history, self.entry_dim = history, obs_dim + act_dim + 1
        kernel, stride = conv_layers(history)[0]
        # the first convolution's strided windows cover (H - k) // s * s + k entries: the
        # oldest ones (as the paper's 8 / 4 over 50 does, so ẑ misses the newest two steps)
        # or, aligned to the newest, all the recent ones, skipping the oldest (H - k) % s
        self.skip = (history - kernel) % stride if align_newest else 0
        self.embed = nn.Sequential(nn.Linear(self.entry_dim, channels), nn.ReLU())
        convs: list[nn.Module] = []
        length = history - self.skip
        for kernel, stride in conv_layers(history):
            convs += [nn.Conv1d(channels, channels, kernel, stride), nn.ReLU()]
            length = (length - kernel) // stride + 1
        self.convs = nn.Sequential(*convs)
        self.head = nn.Sequential(nn.Linear(channels * length, latent_dim), Tanh())
        self.register_buffer("trained_steps", torch.zeros((), dtype=torch.int64))

    def forward(self, history: torch.Tensor) -> torch.Tensor:
        """(B, H, entry_dim) -> (B, latent_dim)."""
        if self.skip:
            history = history[:, self.skip:]
        h = self.embed(history).transpose(1, 2)  # (B, channels, H): convolve over time
        return self.head(self.convs(h).flatten(1))

    def forward_windows(self, entries: torch.Tensor, windows: torch.Tensor) -> torch.Tensor:
        """ẑ of the histories ``entries[windows]``: (M, entry_dim) entries and (B, H) indices
        into them -> (B, latent_dim).

        The function ``forward(entries[windows])`` is, equal up to float rounding (tested),
        computed as phase 2's regression needs it, fast on a CPU: each entry is embedded once
        (a rollout's T x n windows of H entries hold only about n (T + H) distinct ones),
        only the entries the first convolution reads are gathered, and that convolution, the
        costly one, is a matrix product over time-major (B, length, channels) windows
        (``_conv_time_major``). ``forward`` stays the deployed computation, bit for bit the
        one the shipped policies were evaluated with.
        """
        first = self.convs[0]
        kernel, stride = first.kernel_size[0], first.stride[0]
        # the paper's (8, 4) over 50 entries reads 48: the oldest 48, or with align_newest
        # the newest 48
        read = (windows.shape[1] - self.skip - kernel) // stride * stride + kernel
        h = self.embed(entries)[windows[:, self.skip: self.skip + read]]  # (B, read, channels)
        for conv in self.convs[::2]:  # the ReLUs sit between the convolutions
            h = torch.relu(_conv_time_major(h, conv))
        return self.head(h.transpose(1, 2).flatten(1))  # flattened channel-major, as forward


def _conv_time_major(h: torch.Tensor, conv: nn.Conv1d) -> torch.Tensor:
    """``conv`` of a time-major (B, L, C_in) tensor -> (B, L_out, C_out) (possibly a
    transposed view).

    A kernel of k = J s entries with stride s > 1 (the paper's first layer, 8 = 2 x 4) splits
    into J parts of s entries: the input, viewed without a copy as blocks of s consecutive
    entries, is multiplied once by every part, and output p sums block p + j's product with
    part j; no (B, C, L) copy of the large input is made, forward or backward. Other layers
    (the later ones, small) run ``conv`` itself on the transposed input.
    """
    kernel, stride = conv.kernel_size[0], conv.stride[0]
    if stride == 1 or kernel % stride:
        return conv(h.transpose(1, 2)).transpose(1, 2)
    batch, length, channels = h.shape
    out_len, parts = (length - kernel) // stride + 1, kernel // stride
    out_channels = conv.out_channels
    blocks_len = (out_len - 1 + parts) * stride
    if blocks_len < length:  # forward_windows gathers no entry this layer does not read
        h = h[:, :blocks_len]
    blocks = h.reshape(batch, -1, stride * channels)
    # part j of the kernel, time-major like a block: rows j C_out .. (j + 1) C_out - 1
    weight = conv.weight.transpose(1, 2).reshape(out_channels, parts, stride * channels)
    products = nn.functional.linear(blocks, weight.transpose(0, 1).flatten(0, 1))
    out = conv.bias
    for j in range(parts):
        out = out + products[:, j: j + out_len, j * out_channels: (j + 1) * out_channels]
    return out


def _rows(rows, device) -> torch.Tensor:
    """Rows given as a numpy/torch bool mask or indices, as a tensor to index with."""
    return torch.as_tensor(np.asarray(rows) if not torch.is_tensor(rows) else rows,
                           device=device)


class StateActionHistory:
    """The last ``length`` entries of each of ``num_envs`` rows, (n, length, entry), oldest
    first, zero where nothing was pushed since the row's last restart. Rows never mix."""

    def __init__(self, num_envs: int, length: int, entry_dim: int, device: torch.device):
        self.buffer = torch.zeros(num_envs, length, entry_dim, device=device)

    def restart(self, rows) -> None:
        """Forget ``rows`` (a bool mask or indices): a new episode starts there.

        Into a copy: the buffer ``push`` returned may be held by the caller (phase 2 keeps
        every step's history for its regression), and the history an episode ended with must
        stay as it was.
        """
        self.buffer = self.buffer.clone()
        self.buffer[_rows(rows, self.buffer.device)] = 0.0

    def push(self, x: torch.Tensor, prev_action: torch.Tensor) -> torch.Tensor:
        """Append (x, prev_action, 1) to every row, dropping the oldest; the new buffer.

        The returned tensor is new each step (never written in place), so a caller may keep it.
        """
        valid = torch.ones(len(x), 1, dtype=x.dtype, device=x.device)
        entry = torch.cat([x, prev_action, valid], dim=1)
        self.buffer = torch.cat([self.buffer[:, 1:], entry[:, None]], dim=1)
        return self.buffer


class RolloutHistories:
    """The histories of one rollout, each entry stored once: ``entries[windows]`` is every
    step's (n, H, entry) history stacked step-major (step t's row r at t n + r), bit for bit.

    ``before`` is the history buffer when the rollout starts; ``record`` takes the history
    of each step in order, before any restart that follows it. ``entries`` is then
    (1 + n H + T n, entry): a zero row (all padding points there), the n H entries held
    before the rollout, and the n entries pushed at each of the T steps; ``windows`` is
    (T n, H) indices, from the valid flags alone: a slot that holds data at step t, h
    slots before the newest, holds the entry pushed at step t - h. For 256 rows, 32 steps
    and H = 50 that is 21 k entries instead of 410 k, and φ's regression embeds each once
    (``AdaptationModule.forward_windows``).
    """

    def __init__(self, before: torch.Tensor):
        rows, length, entry_dim = before.shape
        self._parts = [before.new_zeros(1, entry_dim), before.reshape(rows * length, entry_dim)]
        self._valid: list[torch.Tensor] = []

    def record(self, history: torch.Tensor) -> None:
        self._parts.append(history[:, -1])  # the entry this step pushed, (n, entry)
        self._valid.append(history[:, :, -1] != 0)  # the flag: the slot holds data

    def entries(self) -> torch.Tensor:
        return torch.cat(self._parts)

    def windows(self) -> torch.Tensor:
        valid = torch.stack(self._valid)  # (T, n, H)
        steps, rows, length = valid.shape
        step = torch.arange(steps, device=valid.device)[:, None, None]
        row = torch.arange(rows, device=valid.device)[None, :, None]
        pushed = step - torch.arange(length - 1, -1, -1, device=valid.device)  # (T, 1, H)
        # pushed >= 0: this rollout's entries, after the zero row and the n H held before;
        # pushed < 0: slot H + pushed of the history held before (it had shifted -pushed times)
        index = torch.where(pushed >= 0, 1 + rows * length + pushed * rows + row,
                            1 + row * length + length + pushed)
        return torch.where(valid, index, 0).reshape(steps * rows, length)


class Student:
    """The deployed RMA policy's step for ``num_envs`` rows: frozen teacher, adaptation module.

    ``step(obs)`` pushes (x̂_t, a_{t-1}) into the history, estimates ẑ and returns the base
    policy's mean; ``acted(action)`` records the action taken; ``restart(rows)`` starts new
    episodes there (empty history, zero previous action, as the teacher saw at an episode's
    first step).
    """

    def __init__(self, teacher: RMATeacher, adapter: AdaptationModule, num_envs: int,
                 device: torch.device):
        self.teacher, self.adapter = teacher, adapter
        self.history = StateActionHistory(num_envs, adapter.history, adapter.entry_dim, device)
        self.prev_action = torch.zeros(num_envs, teacher.act_dim, device=device)

    def restart(self, rows) -> None:
        self.history.restart(rows)
        self.prev_action = self.prev_action.clone()  # the caller may hold the old tensor
        self.prev_action[_rows(rows, self.prev_action.device)] = 0.0

    @torch.no_grad()
    def step(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(action mean, ẑ, history) for (n, obs_dim) float32 observations."""
        x = self.teacher.normalize_obs(obs)
        history = self.history.push(x, self.prev_action)
        z_hat = self.adapter(history)
        return self.teacher.base(x, self.prev_action, z_hat), z_hat, history

    def acted(self, action: torch.Tensor) -> None:
        self.prev_action = action
