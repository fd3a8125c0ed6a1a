"""A failed simulation is never scored: its episode has no return (the env gives 0 there)."""

from __future__ import annotations

import numpy as np
import pytest

from robo_meta.adaptive import ConstantPolicy
from robo_meta.envs import RoboMetaError, get_family
from robo_meta.evaluation import run_trials
from robo_meta.report import build_report

FAMILY = "cheetah-vel"  # rewards are negative: a 0 would beat every real policy


class _Broken(ConstantPolicy):
    """The zero policy, except in ``rows``, where it acts ``value``."""

    def __init__(self, value: float, rows: list[int]):
        super().__init__("zero", FAMILY)
        self.name, self.value, self.rows = "broken", value, rows

    def act(self, obs, deterministic=True):
        action = super().act(obs)
        action[self.rows] = self.value
        return action


def _report(policy, results, tasks):
    return build_report(policy=policy, source="test", family=FAMILY, tasks=tasks,
                        results=results, split="test", tasks_file=None, episodes=2, seeds=1,
                        seed=0, deterministic=True, device="cpu", num_envs=None)


def test_failed_simulations_are_recorded_per_episode_and_refused_in_one_line():
    tasks = get_family(FAMILY).tasks("test")[:4]
    policy = _Broken(np.nan, rows=[1, 3])  # (huge finite actions are clipped: no failure)
    results = run_trials(policy, FAMILY, tasks, episodes=2, seed=0, threads=1)
    # the broken rows fail (and are reset) at every step; the others never do
    assert results.failed[[1, 3]].all() and not results.failed[[0, 2]].any()
    assert (results.returns[[1, 3]] == 0).all()  # what used to be reported as a score
    with pytest.raises(RoboMetaError) as info:
        _report(policy, results, tasks)
    message = str(info.value)
    assert "\n" not in message
    assert "failed" in message and "in 2 of 4 trials (first: trial 1, episode 1)" in message


def test_a_policy_whose_simulations_never_fail_is_scored():
    tasks = get_family(FAMILY).tasks("test")[:2]
    policy = _Broken(0.0, rows=[])
    results = run_trials(policy, FAMILY, tasks, episodes=2, seed=0, threads=1)
    assert not results.failed.any()
    report = _report(policy, results, tasks)
    assert report["summary"]["mean_return"][0] < 0
