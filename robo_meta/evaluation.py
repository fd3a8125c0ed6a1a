"""Held-out adaptation evaluation: trials of K episodes per task, all tasks in one batch.

The evaluator knows only the AdaptivePolicy interface (as garage's MetaEvaluator knows only
"get a policy, adapt it"), so dr, oracle, rl2, SB3 models and the built-ins are scored by the
same code. One trial = K consecutive episodes on one task; the policy is reset once at the
start of the trial and adapts as its algorithm defines.

Actions are the policy's means (``deterministic``) or samples. A policy may sample in some
episodes whatever ``deterministic`` says (maml explores in a trial's first episode to take its
gradient step); such a policy offers ``seed_trials(seeds)``, and is given each trial's seed
after ``reset``, so its draws depend on the trial alone, not on ``num_envs``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.stats
import torch

from robo_meta import io
from robo_meta.adaptive import AdaptivePolicy, check_observations
from robo_meta.envs import Task, get_family, make_vec
from robo_meta.envs.errors import RoboMetaError

DEFAULT_EPISODES = 3  # episodes per trial unless asked: enough to see a memory adapt


def trial_episodes(*policies, at_least: int = DEFAULT_EPISODES) -> int:
    """Episodes per trial that show ``policies`` adapting: ``at_least``, or E + 1 where one
    explores E episodes before it acts with its adapted weights (maml: ``--inner-episodes``,
    times the steps with fresh episodes), so that the trial reaches the episode it adapted
    for."""
    return max(at_least, *(getattr(p, "explored_episodes", 0) + 1 for p in policies))


def shown_episodes(n: int) -> list[int]:
    """The episodes (0-based) that a line or a table cell shows of an ``n``-episode trial:
    every one of up to DEFAULT_EPISODES, else the first and the last two (for a policy that
    explores K episodes: 1, K and K + 1, before and after its step)."""
    return list(range(n)) if n <= DEFAULT_EPISODES else [0, n - 2, n - 1]


@dataclass
class TrialResults:
    """Per-trial results; trial r ran ``tasks[r % len(tasks)]`` with seed ``seeds[r]``."""

    returns: np.ndarray  # (n_trials, K) episode returns
    lengths: np.ndarray  # (n_trials, K) episode lengths in steps
    success: np.ndarray | None  # (n_trials, K) bool, for families that define success
    seeds: list[int]
    failed: np.ndarray | None = None  # (n_trials, K) bool: the simulation failed in the episode
    # how a policy that estimates the task (rma's ẑ, an rl2 task head) tracked it over these
    # trials, by episode and step (``TrialIdentification.pop``); None for the others
    identification: dict[str, Any] | None = None

    def check_scored(self, policy_name: str) -> None:
        """Refuse results in which a simulation failed: such an episode has no return.

        The env resets a failed simulation (NaN actions or state, unstable physics) with reward
        0 for that step, so its episode's return is no score: a NaN policy would otherwise
        score 0, better than any real policy on the negative-reward families.
        """
        if self.failed is None or not self.failed.any():
            return
        trials, episodes = np.nonzero(self.failed)
        raise RoboMetaError(
            f"policy {policy_name}: the simulation failed (non-finite actions or unstable "
            f"physics) in {int(self.failed.any(axis=1).sum())} of {len(self.failed)} trials "
            f"(first: trial {trials[0]}, episode {episodes[0] + 1}); their episodes have no "
            "return, so nothing is scored")


def run_trials(
    policy: AdaptivePolicy,
    family: str,
    tasks: Sequence[Task],
    episodes: int = 3,
    seed: int = 0,
    seeds_per_task: int = 1,
    num_envs: int | None = None,
    threads: int = 0,
    deterministic: bool = True,
) -> TrialResults:
    """Run one trial of ``episodes`` episodes per (task, seed); trials run in parallel.

    Trial r (task r % len(tasks), repetition r // len(tasks)) resets its simulation with seed
    ``seed + r``, so its simulation depends only on the seed, not on ``num_envs``. The
    policy's batched matmuls may round differently with the batch's size, though (measured:
    trial 0 of a shipped policy alone against the same trial in its 150-trial batch differs
    by 1e-8 to 1e-4 in return on point-goal, hopper and walker, and by up to hundreds on the
    chaotic cheetah gaits), so the same tasks, seeds and ``num_envs`` reproduce a report
    exactly, and another ``num_envs`` reproduces it within its confidence interval.
    """
    if episodes <= 0:
        raise RoboMetaError(f"--episodes must be positive, got {episodes}")
    if seeds_per_task <= 0:
        raise RoboMetaError(f"--seeds must be positive, got {seeds_per_task}")
    fam = get_family(family)
    tasks = [fam.validate(t) for t in tasks]
    if not tasks:
        raise RoboMetaError("no tasks to evaluate")
    trial_tasks = [t for _ in range(seeds_per_task) for t in tasks]
    n = len(trial_tasks)
    width = n if num_envs is None else max(1, min(num_envs, n))
    returns, lengths = np.zeros((n, episodes)), np.zeros((n, episodes), dtype=np.int64)
    success = np.zeros((n, episodes), dtype=bool) if fam.spec.task == "goal" else None
    failed = np.zeros((n, episodes), dtype=bool)
    # what a task estimate records (rma's ẑ, an rl2 task head) belongs to these trials: taken
    # at their end, even when they fail, so that no record outlives them into the next ones
    record = getattr(policy, "identification", None)
    try:
        with single_torch_thread():
            for start in range(0, n, width):
                rows = np.arange(start, min(start + width, n))
                _run_chunk(policy, fam, [trial_tasks[r] for r in rows], episodes, seed + start,
                           threads, deterministic, rows, (returns, lengths, success, failed))
    finally:
        taken = record(episodes) if callable(record) else None
    return TrialResults(returns, lengths, success, [seed + r for r in range(n)], failed, taken)


@contextmanager
def single_torch_thread() -> Iterator[None]:
    """Run torch's CPU ops on one thread inside the block (restored after).

    The policy's per-step batch is small, and torch's OpenMP workers spin while MuJoCo's batch
    threads step: on a 2-core machine an rl2 evaluation ran 30x slower with torch's default
    thread count (17 s against 0.56 s for 40 point-goal tasks x 2 seeds x 3 episodes).
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _run_chunk(policy, fam, tasks, episodes, seed, threads, deterministic, out_rows, out):
    """Run trials ``out_rows`` together, writing into the (returns, lengths, success, failed)
    arrays."""
    returns, lengths, success, failed = out
    n = len(tasks)
    env = make_vec(fam, n, episodes_per_trial=episodes, tasks=tasks, nthread=threads)
    try:
        check_observations(policy, fam.name, env.sim.obs_dim)
    except RoboMetaError:
        env.close()
        raise
    obs, info = env.reset(seed=seed)
    policy.reset(n, task_features=info["task_features"])
    seed_trials = getattr(policy, "seed_trials", None)
    if seed_trials is not None:  # a policy that explores draws from each trial's own seed
        seed_trials(seed + np.arange(n))
    episode = np.zeros(n, dtype=np.int64)
    rows = np.arange(n)
    while (episode < episodes).any():
        action = policy.act(obs, deterministic=deterministic)
        obs, reward, terminated, truncated, info = env.step(action)
        policy.observe(obs, action, reward, terminated, truncated)
        active = episode < episodes
        k = np.minimum(episode, episodes - 1)
        returns[out_rows[active], k[active]] += reward[active]
        lengths[out_rows[active], k[active]] += 1
        if success is not None:
            success[out_rows[active], k[active]] |= info["success"][active]
        failed[out_rows[active], k[active]] |= info["sim_failed"][active]
        episode[rows[(terminated | truncated) & active]] += 1
    env.close()


def t_critical(df: float, level: float = 0.95) -> float:
    """Two-sided Student-t critical value: P(|T_df| <= t) = level.

    Used instead of the normal 1.96 because held-out splits can be small (cheetah-dir's test
    split has 2 tasks, where the normal interval would be 6x too narrow).
    """
    if df < 1:
        raise ValueError(f"degrees of freedom must be >= 1, got {df}")
    return float(scipy.stats.t.ppf(0.5 + level / 2, df))


def summarize(values: np.ndarray) -> dict[str, list[float]]:
    """Mean and 95 % confidence half-width (Student t over rows) per column of (n, K).

    Rows are the independent units (tasks); one row gives a half-width of 0.
    """
    values = np.asarray(values, dtype=np.float64)
    n = len(values)
    mean = values.mean(axis=0)
    if n < 2:
        return {"mean": mean.tolist(), "ci95": np.zeros_like(mean).tolist()}
    sem = values.std(axis=0, ddof=1) / np.sqrt(n)
    return {"mean": mean.tolist(), "ci95": (t_critical(n - 1) * sem).tolist()}


def summarize_census(values: np.ndarray) -> dict[str, list[float]]:
    """Mean and 95 % half-width per column of (tasks, seeds, K) when the tasks are a census.

    When the tasks are the whole (finite, uniform) task distribution (``Family.is_census``),
    the mean over tasks is the distribution's mean and no task sampling adds uncertainty; only
    the seeds within each task do. The estimate is the stratified mean (seeds averaged per
    task, then tasks), its variance sum_t s_t^2 / S / T^2, and the interval Student-t with
    Welch-Satterthwaite degrees of freedom. Needs at least 2 seeds per task; a column in
    which every trial agrees gets a half-width of 0.
    """
    values = np.asarray(values, dtype=np.float64)
    tasks, seeds = values.shape[:2]
    if seeds < 2:
        raise ValueError(f"a census interval needs at least 2 seeds per task, got {seeds}")
    mean = values.mean(axis=1).mean(axis=0)
    v = values.var(axis=1, ddof=1) / seeds  # (T, K): variance of each task's seed mean
    total = v.sum(axis=0)
    ci = np.zeros_like(mean)
    for k in np.flatnonzero(total > 0):
        df = total[k] ** 2 / np.sum(v[:, k] ** 2 / (seeds - 1))
        ci[k] = t_critical(df) * np.sqrt(total[k]) / tasks
    return {"mean": mean.tolist(), "ci95": ci.tolist()}


def read_tasks_file(path: Path) -> list[Task]:
    """The tasks of a JSON file holding a list of ``Task.to_dict()`` objects."""
    data = io.read_json(path, "tasks file")
    if not isinstance(data, list) or not data:
        raise RoboMetaError(f"tasks file {path} must hold a non-empty JSON list of tasks")
    tasks = []
    for i, item in enumerate(data):
        try:
            tasks.append(Task.from_dict(item))
        except RoboMetaError as exc:
            raise RoboMetaError(f"tasks file {path}, task {i}: {exc}") from None
    return tasks
