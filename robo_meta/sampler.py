"""The Sampler: steps ``make_vec`` with a policy and returns what happened as plain arrays.

It also owns ``PolicyInputs``, the one encoding of what a policy sees at a step, which the
deployed ``TrainedPolicy`` uses too, so training and deployment cannot drift apart:

- the observation, with the task features appended for algorithms told the task (oracle);
- the previous action (zero at a trial's first step);
- ``prev_reward_done``, (n, 2): the previous reward and whether the previous episode ended there
  (zero at a trial's first step);
- ``trial_start``: the policy's memory resets before this step.

Per step the sampler makes one host->device transfer (observations, previous rewards and
flags packed in one array), one batched policy call, one device->host transfer (actions) and
one ``Batch`` step. Discounting, reward scaling and advantages are the learner's business: the
sampler returns raw rewards and flags, so a remote sampler (a Ray actor) can stand in for it.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

from robo_meta.envs import Family, make_vec
from robo_meta.envs.errors import RoboMetaError
from robo_meta.ppo import gaussian_logprob


class StepInputs(NamedTuple):
    """A policy's inputs at one step, (n, ...) tensors on its device."""

    obs: torch.Tensor  # (n, obs_dim [+ feature_dim]) float32
    prev_action: torch.Tensor  # (n, act_dim)
    prev_reward_done: torch.Tensor  # (n, 2): previous reward, previous episode ended
    trial_start: torch.Tensor  # (n,) bool


def pack(obs: np.ndarray, features: np.ndarray | None, prev_reward_done: np.ndarray,
         trial_start: np.ndarray) -> np.ndarray:
    """Observation (+ features), previous reward/done and trial start in one float32 array."""
    parts = [obs] if features is None else [obs, features]
    parts += [prev_reward_done, trial_start[:, None]]
    return np.concatenate(parts, axis=1, dtype=np.float32)


def unpack(packed: torch.Tensor, prev_action: torch.Tensor) -> StepInputs:
    """Split a packed array (on the device); the previous action is zeroed at trial starts."""
    start = packed[:, -1] > 0.5
    return StepInputs(packed[:, :-3], prev_action * (~start).unsqueeze(-1), packed[:, -3:-1],
                      start)


class PolicyInputs:
    """What a batch of ``num_envs`` policies remembers between steps, and its encoding.

    Call ``acted`` after each policy step and ``observed`` after each env step;
    ``start_trials`` forgets what the given rows saw (new tasks there).
    """

    def __init__(self, num_envs: int, act_dim: int, device: torch.device):
        self.device = device
        self.prev_action = torch.zeros(num_envs, act_dim, device=device)
        self.prev_reward_done = np.zeros((num_envs, 2), dtype=np.float32)
        self.trial_start = np.ones(num_envs, dtype=bool)

    def start_trials(self, rows: np.ndarray | slice = slice(None)) -> None:
        self.trial_start[rows] = True
        self.prev_reward_done[rows] = 0.0
        self.prev_action[torch.as_tensor(np.arange(len(self.trial_start))[rows],
                                         device=self.device)] = 0.0

    def encode(self, obs: np.ndarray, features: np.ndarray | None = None) -> StepInputs:
        packed = pack(obs, features, self.prev_reward_done, self.trial_start)
        return unpack(torch.from_numpy(packed).to(self.device, non_blocking=True),
                      self.prev_action)

    def acted(self, action: torch.Tensor) -> None:
        self.prev_action = action
        self.trial_start[:] = False

    def observed(self, reward, terminated, truncated, trial_start: np.ndarray | None = None):
        """The env's answer; ``trial_start`` marks rows whose next step begins a new trial."""
        done = np.logical_or(terminated, truncated)
        self.prev_reward_done = np.stack([np.asarray(reward, np.float32), done.astype(np.float32)],
                                    axis=1)
        if trial_start is not None:
            self.prev_reward_done[trial_start] = 0.0
            self.trial_start = np.array(trial_start, dtype=bool)


class Trajectories(NamedTuple):
    """``steps`` steps of every simulation. Tensors are (T, n, ...) on the policy's device;
    numpy arrays are (T, n) on the host; ``initial_state`` is the policy state before step 0.
    """

    inputs: StepInputs  # each field stacked over T
    actions: torch.Tensor
    logprobs: torch.Tensor
    values: torch.Tensor
    rewards: np.ndarray  # raw env rewards (float64)
    terminated: np.ndarray  # bool
    trial_end: np.ndarray  # bool: returns stop after this step (new trial or termination)
    final_values: torch.Tensor  # V(final observation) where a trial hit its time limit, else 0
    next_value: torch.Tensor  # (n,) V after the last step
    initial_state: torch.Tensor
    episode_returns: np.ndarray  # returns of the episodes that ended during these steps
    episode_lengths: np.ndarray


class Sampler:
    """``num_envs`` simulations of ``family`` in one batch, stepped by a policy module.

    Trials are ``episodes_per_trial`` episodes on one task drawn from the train distribution;
    ``with_features`` appends the task features (privileged) to the policy's observation.
    """

    def __init__(self, family: Family, num_envs: int, episodes_per_trial: int,
                 with_features: bool, device: torch.device, threads: int = 0):
        self.env = make_vec(family, num_envs, episodes_per_trial=episodes_per_trial,
                            nthread=threads)
        self.num_envs, self.with_features, self.device = num_envs, with_features, device
        self.obs_dim = self.env.sim.obs_dim + (family.feature_dim if with_features else 0)
        self.act_dim = self.env.single_action_space.shape[0]
        self.inputs: PolicyInputs | None = None

    def reset(self, policy: torch.nn.Module, seed: int) -> None:
        """New trials in every simulation (seeded), the policy's memory cleared."""
        self.obs, info = self.env.reset(seed=seed)
        self.inputs = PolicyInputs(self.num_envs, self.act_dim, self.device)
        self.inputs.trial_start = np.array(info["trial_start"], dtype=bool)
        self.state = policy.initial_state(self.num_envs, self.device)
        self.episode_return = np.zeros(self.num_envs)
        self.episode_length = np.zeros(self.num_envs, dtype=np.int64)

    def _features(self, info_features: np.ndarray | None = None) -> np.ndarray | None:
        if not self.with_features:
            return None
        return self.env.task_features if info_features is None else info_features

    @torch.no_grad()
    def collect(self, policy: torch.nn.Module, steps: int,
                generator: torch.Generator) -> Trajectories:
        """Step every simulation ``steps`` times with actions sampled from ``policy``."""
        if self.inputs is None:
            raise RuntimeError("Sampler.reset(policy, seed) before collect()")
        T, n, dev = steps, self.num_envs, self.device
        step_inputs: list[StepInputs] = []
        actions, logprobs, values = [], [], []
        final_values = torch.zeros(T, n, device=dev)
        rewards, terminated = np.zeros((T, n)), np.zeros((T, n), dtype=bool)
        trial_end = np.zeros((T, n), dtype=bool)
        finished_returns: list[np.ndarray] = []
        finished_lengths: list[np.ndarray] = []
        initial_state = self.state.clone()
        for t in range(T):
            x = self.inputs.encode(self.obs, self._features())
            mean, log_std, value, self.state = policy.step(*x, self.state)
            action = mean + log_std.exp() * torch.randn(mean.shape, generator=generator,
                                                        device=dev)
            step_inputs.append(x)
            actions.append(action)
            values.append(value)
            logprobs.append(gaussian_logprob(mean, log_std, action))
            self.obs, reward, term, trunc, info = self.env.step(action.cpu().numpy())
            done = term | trunc
            new_trial = np.asarray(info["trial_start"], dtype=bool)
            rewards[t], terminated[t] = reward, term
            # Returns run on across time limits inside a trial (the next episode continues
            # the trial) but stop at a termination: a fall must cost the future, not buy a
            # fresh episode worth as much as the rest of this one.
            trial_end[t] = new_trial | term
            cut = trunc & ~term & new_trial  # time limit at a trial's end: bootstrap there
            if cut.any():
                final_values[t] = self._final_values(policy, info, cut, action, reward, done)
            self.episode_return += reward
            self.episode_length += 1
            finished_returns.append(self.episode_return[done])
            finished_lengths.append(self.episode_length[done])
            self.episode_return[done], self.episode_length[done] = 0.0, 0
            self.inputs.acted(action)
            self.inputs.observed(reward, term, trunc, trial_start=new_trial)
        x = self.inputs.encode(self.obs, self._features())
        _, _, next_value, _ = policy.step(*x, self.state)
        stacked = StepInputs(*(torch.stack(field) for field in zip(*step_inputs, strict=True)))
        return Trajectories(stacked, torch.stack(actions), torch.stack(logprobs),
                            torch.stack(values), rewards, terminated, trial_end, final_values,
                            next_value, initial_state, np.concatenate(finished_returns),
                            np.concatenate(finished_lengths))

    def _final_values(self, policy, info, cut, action, reward, done) -> torch.Tensor:
        """V(last observation) of simulations whose trial hit the time limit, else 0.

        The inputs are those the policy would have seen one step later in the same trial:
        the ended trial's task features (not the next one's), this action and reward.
        """
        prev_reward_done = np.stack([reward, done], axis=1)
        packed = pack(info["final_obs"], self._features(info.get("task_features")),
                      prev_reward_done, np.zeros(self.num_envs, dtype=bool))
        x = unpack(torch.from_numpy(packed).to(self.device), action)
        _, _, value, _ = policy.step(*x, self.state)
        return value * torch.from_numpy(cut).to(self.device)

    def close(self) -> None:
        self.env.close()


def make_sampler(family: Family, num_envs: int, episodes_per_trial: int, with_features: bool,
                 device: torch.device, threads: int = 0, ray: str = "", workers: int = 1,
                 worker_threads: int = 1):
    """The in-process ``Sampler``, or with ``ray`` (a cluster address, ``auto`` or ``local``)
    a ``RaySampler`` over ``workers`` Ray actors sharing the ``num_envs`` simulations.

    ``ray`` is imported only here and only when asked for: it is an optional extra.
    """
    if not ray:
        return Sampler(family, num_envs, episodes_per_trial, with_features, device, threads)
    try:
        import ray as _  # noqa: F401
    except ImportError:
        raise RoboMetaError('--ray needs Ray, an optional extra: pip install "robo-meta[ray]"'
                            ) from None
    from robo_meta.ray_sampler import RaySampler

    return RaySampler(family, num_envs, episodes_per_trial, with_features, device, ray, workers,
                      worker_threads)
