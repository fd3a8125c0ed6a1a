"""Vector env semantics: same-step autoreset, trials of K episodes, pinned tasks, seeding,
and simulations that blow up."""

from __future__ import annotations

import numpy as np
import pytest

from robo_meta import envs


def _actions(vec: envs.RoboMetaVectorEnv, steps: int, seed: int) -> np.ndarray:
    space = vec.single_action_space
    rng = np.random.default_rng(seed)
    return rng.uniform(space.low, space.high, (steps, vec.num_envs, *space.shape)).astype(
        space.dtype)


def test_same_step_autoreset_matches_single_envs_over_many_episodes():
    # Domain randomization (no pinned task, K = 1): every episode draws a new task from the
    # simulation's own generator, as a single env with task=None does at each reset. The hopper
    # terminates at different steps in each simulation, so resets are staggered.
    n, seed, steps = 3, 20, 250
    vec = envs.make_vec("hopper-params", n, nthread=1)
    singles = [envs.make("hopper-params") for _ in range(n)]
    vec_obs, _ = vec.reset(seed=seed)
    for i, env in enumerate(singles):
        assert np.array_equal(env.reset(seed=seed + i)[0], vec_obs[i])
    episodes = np.zeros(n, dtype=int)
    for step_actions in _actions(vec, steps, seed=0):
        vec_obs, vec_reward, vec_term, vec_trunc, info = vec.step(step_actions)
        done = vec_term | vec_trunc
        assert ("final_obs" in info) == done.any()
        if done.any():
            assert np.array_equal(info["_final_obs"], done)
        for i, env in enumerate(singles):
            obs, reward, terminated, truncated, _ = env.step(step_actions[i])
            assert reward == vec_reward[i]
            assert (terminated, truncated) == (vec_term[i], vec_trunc[i])
            if done[i]:
                assert np.array_equal(obs, info["final_obs"][i])  # the last observation
                obs, _ = env.reset()  # returned in the same step: the next episode's first
                assert env.task == vec.tasks[i]
                episodes[i] += 1
            assert np.array_equal(obs, vec_obs[i])
    assert (episodes >= 3).all()  # several resets in every simulation


def test_trials_keep_their_task_for_k_episodes():
    n, k = 4, 3
    vec = envs.make_vec("hopper-params", n, episodes_per_trial=k, nthread=1)
    _, info = vec.reset(seed=1)
    assert info["trial_start"].all()
    episodes = np.zeros(n, dtype=int)
    trials_started = 0
    for step_actions in _actions(vec, 300, seed=2):
        tasks_before = vec.tasks
        _, _, terminated, truncated, info = vec.step(step_actions)
        done = terminated | truncated
        episodes += done
        expected_start = done & (episodes % k == 0)
        assert np.array_equal(info["trial_start"], expected_start)
        for i in range(n):
            assert (vec.tasks[i] != tasks_before[i]) == expected_start[i]  # fresh draws differ
        assert np.array_equal(vec.episode_in_trial, episodes % k)
        trials_started += expected_start.sum()
    assert trials_started >= n  # every simulation crossed at least one trial boundary


def test_pinned_tasks_stay_and_take_effect_at_the_next_trial():
    family = envs.get_family("hopper-params")
    pinned = family.tasks("test")[:2]
    vec = envs.make_vec("hopper-params", 3, episodes_per_trial=2, nthread=1)
    vec.reset(seed=3)
    initial = vec.tasks
    vec.set_tasks([pinned[0], None, pinned[1]])
    assert vec.tasks == initial  # trials in progress keep their tasks
    seen_unpinned = {initial[1]}
    started = np.zeros(3, dtype=bool)
    for step_actions in _actions(vec, 400, seed=4):
        _, _, _, _, info = vec.step(step_actions)
        started |= info["trial_start"]
        for i, task in ((0, pinned[0]), (2, pinned[1])):
            assert (vec.tasks[i] == task) == started[i]
        if info["trial_start"][1]:
            assert vec.tasks[1] not in seen_unpinned  # unpinned: a fresh draw each trial
            seen_unpinned.add(vec.tasks[1])
    assert started.all() and len(seen_unpinned) >= 3
    obs, info = vec.reset(options={"tasks": [pinned[1], pinned[1], None]})
    assert vec.tasks[:2] == [pinned[1], pinned[1]] and info["trial_start"].all()


def _rollout(vec: envs.RoboMetaVectorEnv, seed: int, actions: np.ndarray):
    obs, _ = vec.reset(seed=seed)
    observations, rewards = [obs], []
    for step_actions in actions:
        obs, reward, _, _, _ = vec.step(step_actions)
        observations.append(obs)
        rewards.append(reward)
    return np.array(observations), np.array(rewards), vec.tasks


@pytest.mark.parametrize("name", ["cheetah-params", "ant-goal"])
def test_reset_seed_is_reproducible(name):
    vec = envs.make_vec(name, 3, nthread=1)
    actions = _actions(vec, 30, seed=9)
    first = _rollout(vec, 5, actions)
    again = _rollout(vec, 5, actions)
    other = _rollout(vec, 6, actions)
    assert np.array_equal(first[0], again[0]) and np.array_equal(first[1], again[1])
    assert first[2] == again[2]
    assert not np.array_equal(first[0], other[0]) and first[2] != other[2]
    # sims of one batch draw from their own streams: no two start alike
    assert len({t for t in first[2]}) == 3


def _blow_up_qvel(value):
    def blow_up(vec):
        vec.sim.qvel[1] = value
    return blow_up


def _blow_up_gear(vec):
    vec.sim.batch.expand("actuator_gear")[1, :, 0] = 1e15


@pytest.mark.parametrize(("name", "blow_up"), [
    ("cheetah-vel", _blow_up_qvel(1e30)),
    ("cheetah-vel", _blow_up_qvel(np.nan)),
    ("cheetah-motor", _blow_up_gear),  # the next trial re-applies the task: gear is nominal
], ids=["qvel-1e30", "qvel-nan", "huge-gear"])
def test_a_blown_up_simulation_is_reported_reset_and_isolated(name, blow_up, tmp_path,
                                                              monkeypatch):
    monkeypatch.chdir(tmp_path)  # MuJoCo's warning handler writes MUJOCO_LOG.TXT to the cwd
    tasks = envs.get_family(name).tasks("test")[:3]
    steps, broken_at = 12, 5
    vec = envs.make_vec(name, 3, tasks=tasks, nthread=1)
    actions = np.ones((steps, 3, 6), dtype=np.float32)
    reference = _rollout(vec, 0, actions)[:2]

    obs, _ = vec.reset(seed=0)
    for step in range(steps):
        if step == broken_at:
            blow_up(vec)
        obs, reward, terminated, truncated, info = vec.step(actions[step])
        assert np.isfinite(obs).all() and np.isfinite(reward).all()
        if "final_obs" in info:
            assert np.isfinite(info["final_obs"]).all()
        expected_failed = np.array([False, step == broken_at, False])
        assert np.array_equal(info["sim_failed"], expected_failed)
        for i in (0, 2):  # the other simulations are untouched by the failure
            assert np.array_equal(obs[i], reference[0][step + 1][i])
            assert reward[i] == reference[1][step][i]
        if step == broken_at:
            assert truncated[1] and not terminated[1] and reward[1] == 0.0
            assert info["trial_start"][1]  # reset, with its task applied afresh
        elif step > broken_at:
            assert not truncated[1]
    assert vec.tasks == tasks


def test_single_env_reports_a_blown_up_simulation(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    env = envs.make("cheetah-vel")
    env.reset(seed=0)
    env.sim.qvel[0] = np.nan
    obs, reward, terminated, truncated, info = env.step(np.zeros(6, dtype=np.float32))
    assert info["sim_failed"] and truncated and not terminated and reward == 0.0
    assert np.isfinite(obs).all()
    env.reset(seed=0)
    assert not env.step(np.zeros(6, dtype=np.float32))[4]["sim_failed"]


def test_task_features_at_a_trial_boundary():
    # info["task_features"] goes with the returned reward (the ended trial's task);
    # vec.task_features goes with the returned observation (the new trial's task)
    family = envs.get_family("hopper-params")
    vec = envs.make_vec("hopper-params", 3, nthread=1)
    _, info = vec.reset(seed=8)

    def features(tasks):
        return family.task_features(family.task_arrays(tasks))

    assert np.array_equal(info["task_features"], features(vec.tasks))
    boundaries = 0
    for step_actions in _actions(vec, 80, seed=8):
        ended = vec.tasks
        _, _, _, _, info = vec.step(step_actions)
        assert np.array_equal(info["task_features"], features(ended))
        assert np.array_equal(vec.task_features, features(vec.tasks))
        boundaries += info["trial_start"].sum()
    assert boundaries > 0


@pytest.mark.parametrize("front_door", ["make", "make_vec"])
def test_a_returned_observation_is_never_overwritten_by_a_later_reset(front_door):
    # the simulator used to write each reset's observation into the array it last returned
    if front_door == "make":
        env = envs.make("hopper-params")
        zero = np.zeros(3, dtype=np.float32)
    else:
        env = envs.make_vec("hopper-params", 2, nthread=1)
        zero = np.zeros((2, 3), dtype=np.float32)
    env.reset(seed=0)
    obs = env.step(zero)[0]
    kept = obs.copy()
    env.reset(seed=1)
    assert np.array_equal(obs, kept)
