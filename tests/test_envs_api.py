"""The gymnasium front doors of every family: API checkers, single == batched, reward terms.

The single env is a batch of one over the same code as ``make_vec``; these tests pin that down
bit for bit, so a change that makes the two paths drift (an extra float op, a different random
stream, a shared generator) fails here.
"""

from __future__ import annotations

import warnings

import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gymnasium_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

from robo_meta import envs

FAMILIES = envs.families()


def _spread_test_tasks(family: envs.Family, n: int) -> list[envs.Task]:
    """``n`` tasks spread over the family's test split (distinct where the split allows)."""
    test = family.tasks("test")
    stride = max(1, len(test) // n)
    return [test[(i * stride) % len(test)] for i in range(n)]


def _random_actions(space: gymnasium.spaces.Box, shape: tuple[int, ...], seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.uniform(space.low, space.high, (*shape, *space.shape)).astype(space.dtype)


@pytest.mark.parametrize("name", FAMILIES)
def test_env_checkers_pass(name):
    # Observations are unbounded joint velocities, so the "Box bound is infinite" warnings are
    # expected; any other warning fails. Rendering needs an OpenGL context (not on CPU CI).
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.filterwarnings(
            "ignore", message=r".*Box observation space (minimum|maximum) value is -?infinity"
        )
        gymnasium_check_env(gymnasium.make(envs.gym_id(name)).unwrapped, skip_render_check=True)
        sb3_check_env(envs.make(name))


def test_gymnasium_ids_make_our_envs():
    env = gymnasium.make("robo_meta/CheetahVel-v0")
    assert isinstance(env.unwrapped, envs.RoboMetaEnv)
    assert env.unwrapped.family.name == "cheetah-vel"
    vec = gymnasium.make_vec("robo_meta/AntCrippled-v0", 3,
                             vectorization_mode="vector_entry_point")
    assert isinstance(vec, envs.RoboMetaVectorEnv) and vec.num_envs == 3
    assert sorted(envs.gym_id(name) for name in FAMILIES) == sorted(
        env_id for env_id in gymnasium.registry if env_id.startswith("robo_meta/"))


@pytest.mark.parametrize("name", FAMILIES)
def test_single_env_equals_batched_simulation_bitwise(name):
    family = envs.get_family(name)
    n, seed = 3, 100
    tasks = _spread_test_tasks(family, n)
    assert len(set(tasks)) == min(n, len(family.tasks("test")))
    vec = envs.make_vec(name, n, tasks=tasks, nthread=2)  # threads must not change a bit
    singles = [envs.make(name, task=task) for task in tasks]
    actions = _random_actions(vec.single_action_space, (family.spec.horizon, n), seed=7)

    vec_obs, _ = vec.reset(seed=seed)
    for i, env in enumerate(singles):
        obs, info = env.reset(seed=seed + i)
        assert np.array_equal(obs, vec_obs[i])
        assert info["task"] == tasks[i] == vec.tasks[i]
    running = np.ones(n, dtype=bool)  # compare each simulation until its episode ends
    for step in range(family.spec.horizon):
        vec_obs, vec_reward, vec_term, vec_trunc, vec_info = vec.step(actions[step])
        done = vec_term | vec_trunc
        for i in np.flatnonzero(running):
            obs, reward, terminated, truncated, info = singles[i].step(actions[step, i])
            expected_obs = vec_info["final_obs"][i] if done[i] else vec_obs[i]
            assert np.array_equal(obs, expected_obs), f"sim {i} obs differs at step {step}"
            assert reward == vec_reward[i], f"sim {i} reward differs at step {step}"
            assert (terminated, truncated) == (vec_term[i], vec_trunc[i])
            for key in info:
                if key.startswith("reward_"):
                    assert info[key] == vec_info[key][i]
        running &= ~done
    # the horizon truncates every simulation that did not terminate first
    assert not running.any()


@pytest.mark.parametrize("name", FAMILIES)
def test_reward_is_sum_of_reward_terms(name):
    family = envs.get_family(name)
    vec = envs.make_vec(name, 4, nthread=1)
    vec.reset(seed=3)
    actions = _random_actions(vec.single_action_space, (60, 4), seed=3)
    for step_actions in actions:
        _, reward, _, _, info = vec.step(step_actions)
        terms = [info[key] for key in info if key.startswith("reward_")]
        assert len(terms) >= 2  # the task's progress term and the control cost at least
        np.testing.assert_allclose(reward, np.sum(terms, axis=0), rtol=0, atol=1e-12)
        assert info["task_features"].shape == (4, family.feature_dim)


def test_cheetah_vel_reward_terms_by_hand():
    # MAML's cheetah-vel: -|v_x - v*| - 0.05 |a|^2, v_x from the root's x over one env step
    vec = envs.make_vec("cheetah-vel", 2, nthread=1)
    vec.reset(seed=0)
    target = np.array([t["target_velocity"] for t in vec.tasks])
    dt = vec.sim.dt
    assert dt == pytest.approx(0.05)  # timestep 0.01 x frame_skip 5
    actions = _random_actions(vec.single_action_space, (20, 2), seed=1) * 1.5  # some clipped
    for step_actions in actions:
        x_before = vec.sim.qpos[:, 0].copy()
        _, reward, _, _, info = vec.step(step_actions)
        x_velocity = (vec.sim.qpos[:, 0] - x_before) / dt
        applied = np.clip(step_actions.astype(np.float64), -1.0, 1.0)
        np.testing.assert_allclose(info["reward_forward"], -np.abs(x_velocity - target),
                                   rtol=0, atol=1e-9)
        np.testing.assert_allclose(info["reward_ctrl"], -0.05 * np.square(applied).sum(axis=1),
                                   rtol=0, atol=1e-12)


def test_point_goal_zero_action_stays_at_origin():
    family = envs.get_family("point-goal")
    horizon = family.spec.horizon
    for task in family.tasks("test")[:3]:
        env = envs.make("point-goal", task=task)
        obs, _ = env.reset(seed=0)
        goal = np.asarray(task["goal"])
        assert np.linalg.norm(goal) == pytest.approx(1.0, abs=1e-12)  # train goals: radius 1
        episode_return = 0.0
        for step in range(1, horizon + 1):
            obs, reward, terminated, truncated, info = env.step(np.zeros(2, dtype=np.float32))
            assert np.array_equal(obs, np.zeros(4))  # x, y, vx, vy: the point never moves
            assert reward == -np.linalg.norm(goal)
            assert not info["success"]
            assert not terminated
            assert truncated == (step == horizon)
            episode_return += reward
        assert episode_return == pytest.approx(-horizon, abs=1e-12)
