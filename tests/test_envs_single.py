"""The single env's lean step (``SingleSimulator.step_one``) against the batched step.

``step_one`` recomputes on Python floats what ``BatchSimulator.step`` computes on arrays
(observation, health, reward terms), so these tests pin the two together bit for bit in every
family, through what a long run meets: episodes that end (horizon and termination), a new task
each episode, actions outside the control range, clipped velocities, a reached goal and a
simulation that blows up. A failure here after a change to rewards.py or robots.py means the
scalar twin in simulator.py (``_terms_one``, ``_healthy_one``, ``_observe_one``) needs the same
change.
"""

from __future__ import annotations

import numpy as np
import pytest

from robo_meta import envs
from robo_meta.envs.rewards import reward_terms
from robo_meta.envs.simulator import BatchSimulator, SingleSimulator

FAMILIES = envs.families()
ROW = 1  # the batch row the single simulation mirrors (not 0, so indexing is exercised)


def _assert_same_step(single_out, batch_out, context: str) -> None:
    obs, reward, terminated, truncated, info = single_out
    b_obs, b_reward, b_terminated, b_truncated, b_info = batch_out
    assert isinstance(obs, np.ndarray) and obs.dtype == np.float64, context
    assert np.array_equal(obs, b_obs[ROW]), context
    assert type(reward) is float and reward == b_reward[ROW], context
    assert type(terminated) is bool and terminated == b_terminated[ROW], context
    assert type(truncated) is bool and truncated == b_truncated[ROW], context
    assert list(info) == [*b_info, "task_features"], context  # same keys, same order
    for key, values in b_info.items():
        assert info[key] == values[ROW].item(), f"{context}: info[{key!r}]"
        assert type(info[key]) is type(values[ROW].item()), f"{context}: info[{key!r}]"


def _tamper(name: str, step: int, sims: list[np.ndarray]) -> str | None:
    """Drive both simulations into a state random actions seldom reach; say which."""
    if step == 37 and name.startswith(("hopper", "walker")):
        for qvel in sims:
            qvel[[0, 2]] = (25.0, -30.0)  # beyond the observation's +-10 clip, both ways
        return "clipped qvel"
    if step == 91:
        for qvel in sims:
            qvel[:] = np.nan  # MuJoCo resets it with a warning: the step fails
        return "blow-up"
    return None


@pytest.mark.parametrize("name", FAMILIES)
def test_step_one_equals_the_batched_step_bitwise(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # MuJoCo's warning handler writes MUJOCO_LOG.TXT to the cwd
    family = envs.get_family(name)
    n = 3
    batch = BatchSimulator(family, n, nthread=1)
    single = SingleSimulator(family)
    task_rng = np.random.default_rng(5)
    ids = np.arange(n)
    batch.seed(ids, [10, 11, 12])
    single.seed([0], [10 + ROW])

    def new_tasks(rows):
        tasks = family.sample_tasks(len(rows), task_rng)
        batch.set_tasks(rows, tasks)
        if ROW in rows:
            single.set_tasks([0], [tasks[list(rows).index(ROW)]])

    new_tasks(ids)
    assert np.array_equal(single.reset([0])[0], batch.reset(ids)[ROW])
    rng = np.random.default_rng(6)
    low, high = batch.action_low, batch.action_high
    episodes, failures, goals, terminations = 0, 0, 0, 0
    for step in range(int(2.5 * family.spec.horizon)):
        actions = 1.5 * rng.uniform(low, high, (n, len(low)))  # a third outside the range
        what = _tamper(name, step, [batch.qvel[ROW], single.qvel[0]])
        if step == 120 and family.spec.task == "goal":  # put the robot on its goal
            for qpos, goal in ((batch.qpos[ROW], batch.params["goal"][ROW]),
                               (single.qpos[0], single.params["goal"][0])):
                qpos[:2] = goal
            what = "on the goal"
        single_out = single.step_one(actions[ROW].astype(np.float32))
        batch_out = batch.step(actions.astype(np.float32))
        _assert_same_step(single_out, batch_out, f"{name} step {step} ({what or 'random'})")
        info = single_out[4]
        failures += info["sim_failed"]
        goals += info.get("success", False)
        terminations += single_out[2]
        done = np.flatnonzero(batch_out[2] | batch_out[3])
        if len(done):  # the next episode, with a new task, as RoboMetaEnv.reset does
            new_tasks(done)
            reset = batch.reset(done)
            if ROW in done:
                assert np.array_equal(single.reset([0])[0], reset[list(done).index(ROW)])
                episodes += 1
    assert failures == 1 and episodes >= 2
    assert goals >= 1 or family.spec.task != "goal"
    assert terminations >= 1 or not family.terminates


@pytest.mark.parametrize("name", FAMILIES)
def test_the_scalar_twins_equal_robot_and_rewards_on_any_state(name):
    # States far outside what random actions reach: every health bound crossed, NaN and inf.
    family = envs.get_family(name)
    sim = SingleSimulator(family)
    robot = sim.robot
    rng = np.random.default_rng(3)
    for task in family.tasks("test")[:4]:
        sim.set_tasks([0], [task])
        for _ in range(200):
            scale = 10.0 ** rng.uniform(-2, 3)
            qpos = family.model.qpos0 + scale * rng.standard_normal(family.model.nq)
            qvel = scale * rng.standard_normal(family.model.nv)
            before = qpos[:robot.position_dims] + rng.standard_normal(robot.position_dims)
            action = rng.uniform(-1, 1, len(sim.action_low))
            special = rng.integers(0, 8)  # a few states with a NaN or an infinity
            if special < 2:
                (qpos if special else qvel)[rng.integers(0, 2)] = (np.nan, np.inf)[special]
            q, v = qpos.tolist(), qvel.tolist()
            healthy = robot.healthy(qpos[None], qvel[None])
            assert sim._healthy_one(q, v) == healthy[0]
            assert np.array_equal(np.array(sim._observe_one(q, v)),
                                  robot.observe(qpos[None], qvel[None], family.spec.include_xy)[0],
                                  equal_nan=True)
            position = qpos[None, :robot.position_dims]
            terms = reward_terms(family.spec.task, family.reward, sim.params, position,
                                 (position - before) / sim.dt, action[None], healthy)
            ctrl_sq = np.add.reduce(action * action).item()
            twin = sim._terms_one(q, before.tolist(), ctrl_sq, bool(healthy[0]))
            assert list(twin) == [f"reward_{key}" for key in terms]
            for key, value in terms.items():
                assert np.array_equal(twin[f"reward_{key}"], value[0], equal_nan=True), key


def test_the_env_steps_through_the_lean_path_with_python_scalars():
    env = envs.make("cheetah-vel")
    assert isinstance(env.sim, SingleSimulator)
    env.reset(seed=0)
    obs, reward, terminated, truncated, info = env.step(np.zeros(6, dtype=np.float32))
    assert obs.shape == env.observation_space.shape and obs.dtype == np.float64
    assert type(reward) is float and type(terminated) is bool and type(truncated) is bool
    assert {k: type(v) for k, v in info.items()} == {
        "reward_forward": float, "reward_ctrl": float, "sim_failed": bool,
        "task_features": np.ndarray}
