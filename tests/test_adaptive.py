"""AdaptivePolicy semantics: what each algorithm remembers, within a trial and between trials.

Policies here are freshly initialized networks (seeded) with the actor's last layer scaled up,
so actions are O(1) and memory effects show in the returns. ``point-goal`` has no reset noise,
so its trajectories depend only on the task and the policy: equal returns are exact.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from robo_meta.adaptive import ConstantPolicy, TrainedPolicy, load_policy
from robo_meta.envs import RoboMetaError, get_family, make
from robo_meta.evaluation import run_trials, summarize, t_critical
from tiny_policies import deployed, tiny_policy

FAMILY = "point-goal"
CPU = torch.device("cpu")


def fresh_policy(algo: str, family: str = FAMILY, seed: int = 0) -> TrainedPolicy:
    """An untrained policy of ``algo`` with O(1) actions (output layer x100, random biases)."""
    module, _, _ = tiny_policy(algo, family, seed)
    return deployed(module, algo, family, seed)


def _feed_history(policy: TrainedPolicy, obs: np.ndarray, steps: int, seed: int = 1) -> None:
    """Drive ``policy`` through ``steps`` steps of made-up history, ending an episode midway."""
    rng = np.random.default_rng(seed)
    n = len(obs)
    for t in range(steps):
        action = policy.act(obs + rng.normal(size=obs.shape))
        truncated = np.full(n, t == steps // 2)
        policy.observe(obs, action, rng.normal(size=n), np.zeros(n, bool), truncated)


@pytest.fixture(scope="module")
def obs() -> np.ndarray:
    return np.random.default_rng(0).normal(size=(3, make(FAMILY).observation_space.shape[0]))


def test_rl2_remembers_within_a_trial_and_forgets_at_reset(obs):
    policy = fresh_policy("rl2")
    policy.reset(len(obs))
    fresh = policy.act(obs)
    policy.reset(len(obs))
    _feed_history(policy, obs, steps=10)  # an episode ended at step 5: now in episode 2
    remembered = policy.act(obs)
    assert not np.allclose(remembered, fresh, atol=1e-6)
    policy.reset(len(obs))
    np.testing.assert_array_equal(policy.act(obs), fresh)


def test_rl2_restart_forgets_only_the_given_rows(obs):
    policy = fresh_policy("rl2")
    policy.reset(len(obs))
    fresh = policy.act(obs)
    policy.reset(len(obs))
    _feed_history(policy, obs, steps=6)
    policy.restart(np.array([1]))
    action = policy.act(obs)
    np.testing.assert_array_equal(action[1], fresh[1])
    assert not np.allclose(action[[0, 2]], fresh[[0, 2]], atol=1e-6)


def test_dr_action_is_a_pure_function_of_the_observation(obs):
    policy = fresh_policy("dr")
    policy.reset(len(obs))
    fresh = policy.act(obs)
    _feed_history(policy, obs, steps=10)
    np.testing.assert_array_equal(policy.act(obs), fresh)
    policy.reset(len(obs))
    np.testing.assert_array_equal(policy.act(obs[::-1])[::-1], fresh)  # rows are independent


def test_dr_returns_are_the_same_at_every_episode_index():
    tasks = get_family(FAMILY).tasks("test")[:4]
    results = run_trials(fresh_policy("dr"), FAMILY, tasks, episodes=3, seed=5)
    for k in (1, 2):
        np.testing.assert_array_equal(results.returns[:, k], results.returns[:, 0])
    assert len(np.unique(results.returns[:, 0])) == 4  # and they do depend on the task


def test_rl2_returns_change_across_episodes_and_repeat_across_trials():
    task = get_family(FAMILY).tasks("test")[0]
    # num_envs=1: the two trials of the same task run one after the other on one policy
    results = run_trials(fresh_policy("rl2"), FAMILY, [task, task], episodes=3, seed=5,
                         num_envs=1)
    assert results.returns[0, 1] != results.returns[0, 0]  # memory carried into episode 2
    np.testing.assert_array_equal(results.returns[1], results.returns[0])  # and dropped


def test_oracle_needs_task_features_and_acts_on_them(obs):
    policy = fresh_policy("oracle")
    with pytest.raises(RoboMetaError, match="task_features"):
        policy.reset(len(obs))
    dim = get_family(FAMILY).feature_dim
    policy.reset(len(obs), task_features=np.zeros((len(obs), dim)))
    zero = policy.act(obs)
    policy.reset(len(obs), task_features=np.ones((len(obs), dim)))
    assert not np.allclose(policy.act(obs), zero, atol=1e-6)


def test_predict_equals_act_for_batches_and_single_observations(obs):
    policy = fresh_policy("dr")
    policy.reset(len(obs))
    expected = policy.act(obs)
    actions, state = policy.predict(obs, state=None, episode_start=np.ones(len(obs), bool))
    np.testing.assert_array_equal(actions, expected)
    assert state is None
    single, _ = policy.predict(obs[0])  # a batch of one: equal up to float32 rounding
    np.testing.assert_allclose(single, expected[0], rtol=1e-5, atol=1e-6)


def test_builtin_policies_zero_and_seeded_random():
    zero = ConstantPolicy("zero", FAMILY)
    zero.reset(4)
    np.testing.assert_array_equal(zero.act(np.zeros((4, 4))), np.zeros((4, 2)))
    draws = []
    for _ in range(2):
        random = load_policy("random", family="cheetah-vel", seed=3)
        random.reset(5)
        draws.append(random.act(np.zeros((5, 17))))
    np.testing.assert_array_equal(draws[0], draws[1])
    low, high = get_family("cheetah-vel").model.actuator_ctrlrange.T
    assert (draws[0] >= low).all() and (draws[0] <= high).all()
    assert len(np.unique(draws[0])) == draws[0].size


def test_builtin_policy_without_family_is_an_error():
    with pytest.raises(RoboMetaError, match="needs a family"):
        load_policy("zero")


def test_summary_ci_is_student_t_over_rows():
    assert t_critical(1) == pytest.approx(12.7062, abs=1e-4)  # tables of the t distribution
    assert t_critical(4) == pytest.approx(2.7764, abs=1e-4)
    assert t_critical(39) == pytest.approx(2.0227, abs=1e-4)
    values = np.array([[1.0, 10.0], [2.0, 10.0], [3.0, 10.0], [4.0, 10.0], [5.0, 10.0]])
    summary = summarize(values)
    assert summary["mean"] == [3.0, 10.0]
    # sd of 1..5 is sqrt(2.5); half-width t_4 * sd / sqrt(5)
    assert summary["ci95"][0] == pytest.approx(2.7764 * np.sqrt(2.5) / np.sqrt(5), rel=1e-4)
    assert summary["ci95"][1] == 0.0
    assert summarize(values[:1])["ci95"] == [0.0, 0.0]
