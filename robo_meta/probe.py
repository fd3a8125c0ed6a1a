"""A linear probe of a recurrent policy's memory: does it hold the task, and from which step?

An rl2 policy adapts through its memory (the actor's GRU state), but nothing in its output
says what that memory holds. A standard diagnostic (Alain & Bengio 2016, "linear classifier
probes") is to fit a linear map from the memory to the task features on tasks drawn from the
training distribution, then score it on held-out tasks, step by step: where R² is high the
memory holds the task in a linearly readable form. It works on any rl2 policy, with or
without a task head, so two training methods can be compared on what their memories hold
(``robo-meta evaluate --probe N``).

- **Fit:** N tasks sampled from the family's training distribution (their own seed), one
  trial each of the evaluation's K episodes with the same action mode; the memory after every
  ``every``-th step of each episode (and the task's features) is a row. The features are
  standardized by their mean and std over the fit tasks (a constant feature scores 0); the
  probe is ridge regression with an intercept, ``ridge`` x the number of rows as the penalty.
  The fit keeps the rows' sums (``Moments``), not the rows, so N costs time, not memory.
- **Score:** during the evaluation's own trials (the wrapper changes no action), the probe's
  estimate against the standardized features at every step of every episode, summed as
  ``robo_meta.identification`` does for a task head.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from robo_meta.envs import get_family
from robo_meta.envs.errors import RoboMetaError
from robo_meta.evaluation import run_trials
from robo_meta.identification import EpisodeClock, TrialIdentification

RIDGE = 1e-3
EVERY = 4


@dataclass
class LinearProbe:
    """estimate = memory @ weight + bias, in units of the fit tasks' feature std."""

    weight: torch.Tensor  # (hidden, F)
    bias: torch.Tensor  # (F,)
    mean: torch.Tensor  # (F,) the features' mean over the fit tasks
    std: torch.Tensor  # (F,) their std (1 where constant)
    fit_r2: float  # R² on the rows it was fitted to
    rows: int
    ridge: float = RIDGE  # the penalty, x the number of rows
    every: int = EVERY  # the steps of an episode it was fitted on: every this many
    tasks: int = 0  # the training tasks it was fitted on, and their seed
    seed: int = 0

    def targets(self, features: torch.Tensor) -> torch.Tensor:
        return (features.double() - self.mean) / self.std

    def __call__(self, memory: torch.Tensor) -> torch.Tensor:
        return memory.double() @ self.weight + self.bias

    def describe(self) -> dict[str, Any]:
        """How it was fitted, for the report."""
        return {"fit_tasks": self.tasks, "fit_seed": self.seed, "fit_rows": self.rows,
                "fit_r2": self.fit_r2, "ridge": self.ridge, "every": self.every}


class Moments:
    """The sums ridge regression needs, added block of rows by block: the fit keeps
    O(H² + HF) numbers whatever the number of rows (N tasks x K episodes x their steps).

    The sums are of the rows less the first block's means (a shift), so that centring them
    at the end subtracts no large numbers: a feature constant over the fit tasks sums to
    about 0 (the rounding of the first block's mean), its variance falls under the
    threshold, and it is left in its units, as the two-pass formula leaves it."""

    def __init__(self):
        self.n = 0
        self.shift: tuple[torch.Tensor, torch.Tensor] | None = None
        self.sums: list[torch.Tensor] = []  # Σx, Σy, Σxxᵀ, Σxyᵀ, Σy² (shifted rows)

    def add(self, memory: torch.Tensor, features: torch.Tensor) -> None:
        x, y = memory.double(), features.double()
        if len(x) == 0:  # nothing to add (and an empty first block has no mean to shift by)
            return
        if self.shift is None:
            self.shift = (x.mean(0), y.mean(0))
        x, y = x - self.shift[0], y - self.shift[1]
        block = [x.sum(0), y.sum(0), x.T @ x, x.T @ y, y.square().sum(0)]
        self.sums = block if not self.sums else [a + b for a, b in zip(self.sums, block,
                                                                         strict=True)]
        self.n += len(x)

    def fit(self, ridge: float) -> LinearProbe:
        """Ridge regression of the standardized features on the memory, with an intercept:
        the solution on the rows themselves, from their centred cross products."""
        if self.n == 0:
            raise RoboMetaError("the probe has no memory states to fit")
        n, (sx, sy, sxx, sxy, syy) = self.n, self.sums
        x_mean, y_mean = sx / n, sy / n  # of the shifted rows
        var = (syy / n - y_mean.square()).clamp_min(0.0)
        std = torch.where(var > 1e-24, var.sqrt(), torch.ones_like(var))
        cxx = sxx - n * torch.outer(x_mean, x_mean)  # xcᵀ xc
        cxy = (sxy - n * torch.outer(x_mean, y_mean)) / std  # xcᵀ yc, y standardized
        weight = torch.linalg.solve(cxx + ridge * n * torch.eye(len(cxx), dtype=cxx.dtype), cxy)
        bias = -(self.shift[0] + x_mean) @ weight  # the standardized features' mean is 0
        spread = (n * var / std.square()).sum()  # ycᵀ yc, summed over the features
        residual = (weight * (cxx @ weight)).sum() - 2 * (weight * cxy).sum() + spread
        fit_r2 = float(1.0 - residual / spread) if spread > 0 else float("nan")
        return LinearProbe(weight, bias, self.shift[1] + y_mean, std, fit_r2, n, ridge)


def fit_linear_probe(memory: torch.Tensor, features: torch.Tensor,
                     ridge: float = RIDGE) -> LinearProbe:
    """Ridge regression of the standardized ``features`` (rows, F) on ``memory`` (rows, H)."""
    moments = Moments()
    moments.add(memory, features)
    return moments.fit(ridge)


class _Watching:
    """Wraps a recurrent policy for ``run_trials`` and shows ``sink`` what it does: new trials
    (``sink.start(n)``), the memory after every action with the rows' task features
    (``sink.step(memory, features)``) and the rows whose episode ended (``sink.ended(rows)``).
    Everything else is the policy's own, so the actions (and the report) do not change."""

    def __init__(self, policy, sink):
        self._policy, self._sink = policy, sink

    def __getattr__(self, name: str) -> Any:
        return getattr(self._policy, name)

    def reset(self, num_envs: int, task_features: np.ndarray | None = None) -> None:
        if task_features is None:
            raise RoboMetaError("the probe needs the task features at reset")
        self._policy.reset(num_envs, task_features=task_features)
        self._features = torch.as_tensor(np.asarray(task_features),
                                         dtype=torch.float64).reshape(num_envs, -1)
        self._sink.start(num_envs)

    def act(self, obs: np.ndarray, deterministic: bool = True) -> np.ndarray:
        action = self._policy.act(obs, deterministic=deterministic)
        self._sink.step(self._policy.memory().detach().cpu(), self._features)
        return action

    def observe(self, obs, action, reward, terminated, truncated) -> None:
        self._policy.observe(obs, action, reward, terminated, truncated)
        self._sink.ended(np.flatnonzero(np.logical_or(terminated, truncated)))


class _Rows:
    """Adds (memory, features) every ``every`` steps of the first ``episodes`` episodes to
    the fit's sums (``moments``)."""

    def __init__(self, episodes: int, every: int):
        self.episodes, self.every = episodes, every
        self.moments = Moments()
        self.clock = EpisodeClock()
        self.start, self.ended = self.clock.start, self.clock.ended

    def step(self, memory: torch.Tensor, features: torch.Tensor) -> None:
        rows = np.flatnonzero((self.clock.episode < self.episodes)
                              & (self.clock.step % self.every == 0))
        index = torch.as_tensor(rows)
        self.moments.add(memory[index], features[index])
        self.clock.tick()


class _Scored:
    """The probe's estimate against the standardized features, into a TrialIdentification."""

    def __init__(self, probe: LinearProbe, dims: list[str]):
        self.probe = probe
        self.record = TrialIdentification(
            "a linear probe of the memory",
            "the task features (standardized over the probe's fit tasks)", dims=dims)

    def start(self, num_envs: int) -> None:
        self.record.start(num_envs)

    def step(self, memory: torch.Tensor, features: torch.Tensor) -> None:
        self.record.add(self.probe(memory), self.probe.targets(features))

    def ended(self, rows: np.ndarray) -> None:
        self.record.ended(rows)


def check_probeable(policy) -> None:
    if not getattr(policy, "has_memory", False):
        raise RoboMetaError(f"--probe reads a recurrent policy's memory; {policy.name} "
                            f"({policy.algo}) has none")


def fit_on_train_tasks(policy, family: str, tasks: int, episodes: int, seed: int,
                       threads: int, deterministic: bool, every: int = EVERY,
                       ridge: float = RIDGE) -> LinearProbe:
    """Run one trial on each of ``tasks`` tasks sampled from the training distribution (with
    ``seed``) and fit the probe to the memory every ``every`` steps of their ``episodes``
    episodes."""
    check_probeable(policy)
    rows = _Rows(episodes, every)
    run_trials(_Watching(policy, rows), family, get_family(family).sample_tasks(tasks, seed),
               episodes=episodes, seed=seed, threads=threads, deterministic=deterministic)
    probe = rows.moments.fit(ridge)
    return dataclasses.replace(probe, every=every, tasks=tasks, seed=seed)


def scoring(policy, probe: LinearProbe, family: str) -> tuple[_Watching, TrialIdentification]:
    """(``policy`` wrapped to evaluate with, the record its trials fill): the probe's
    estimate against the standardized features of ``family`` at every step of every
    episode."""
    check_probeable(policy)
    scored = _Scored(probe, get_family(family).feature_names())
    return _Watching(policy, scored), scored.record
