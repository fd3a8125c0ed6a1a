"""No family pays a policy for ending its episodes early (the reward-exploit audit).

Where a step's reward can be negative and the robot can terminate, a policy can earn more by
dying at once than by living (ant-goal with termination: a trained policy jumped out of the
healthy height and ended its episodes in 11.5 steps). So every family either never terminates,
or pays a healthy robot at rest (zero action, nominal initial state) at least zero per step.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from robo_meta import envs
from robo_meta.envs.family import FAMILIES_DIR, Family
from robo_meta.envs.simulator import BatchSimulator

# The audit (docs/families.md): whether each family terminates, as its spec argues.
TERMINATES = {
    "ant-crippled": True,
    "ant-dir": True,
    "ant-goal": False,
    "cheetah-dir": False,
    "cheetah-motor": False,
    "cheetah-params": False,
    "cheetah-vel": False,
    "cheetah-vel-h100": False,
    "hopper-params": True,
    "point-goal": False,
    "walker-params": True,
}


def _tasks(family: Family) -> list[envs.Task]:
    """Every fixed task of the family plus a train sample: the rest reward varies by task."""
    tasks = [t for split in family.spec.splits for t in family.tasks(split)]
    return tasks + family.sample_tasks(20, seed=0)


def step_at_rest(family: Family) -> tuple[np.ndarray, np.ndarray]:
    """(reward, terminated) of one zero-action step from the nominal initial state, per task."""
    nominal = Family(dataclasses.replace(family.spec, reset_noise=0.0))
    tasks = _tasks(family)
    sim = BatchSimulator(nominal, len(tasks), nthread=1)
    ids = np.arange(len(tasks))
    sim.set_tasks(ids, tasks)
    sim.reset(ids)
    assert np.array_equal(sim.qpos, np.broadcast_to(nominal.model.qpos0, sim.qpos.shape))
    _, reward, terminated, _, info = sim.step(np.zeros((len(tasks), len(sim.action_low))))
    assert not info["sim_failed"].any()
    return reward, terminated


def dying_can_pay(family: Family) -> bool:
    """True where the family terminates and some task pays less than zero at rest."""
    reward, terminated = step_at_rest(family)
    assert not terminated.any()  # the nominal initial state is healthy
    return family.terminates and bool((reward < 0).any())


def test_the_audit_covers_every_family():
    assert sorted(TERMINATES) == sorted(envs.families())


@pytest.mark.parametrize("name", envs.families())
def test_no_family_pays_for_dying_early(name):
    family = envs.get_family(name)
    assert not dying_can_pay(family), (
        f"{name} terminates and pays {step_at_rest(family)[0].min():.3f} per step at rest")
    assert family.terminates is TERMINATES[name]
    reward, _ = step_at_rest(family)
    if family.terminates:  # the healthy reward carries a robot at rest: about +1 per step
        assert reward.min() >= 0.9, (name, reward.min())


def test_the_check_flags_the_old_terminating_ant_goal(tmp_path: Path):
    spec = (FAMILIES_DIR / "ant-goal.toml").read_text()
    old = spec.replace("terminate_when_unhealthy = false", "terminate_when_unhealthy = true")
    old = old.replace('name = "ant-goal"', 'name = "old-ant-goal"')  # a built-in's name: its own
    assert old != spec
    path = tmp_path / "old-ant-goal.toml"
    path.write_text(old)
    family = envs.get_family(str(path))
    assert family.terminates
    reward, _ = step_at_rest(family)
    assert reward.min() < -1.5  # goals up to 3 m away: -distance + 1 healthy
    assert dying_can_pay(family)


@pytest.mark.parametrize(("name", "ends"), [("ant-goal", False), ("ant-dir", True),
                                            ("ant-crippled", True)])
def test_an_ant_above_its_healthy_height_ends_the_episode_only_where_the_family_terminates(
        name, ends):
    family = envs.get_family(name)
    sim = BatchSimulator(family, 2, nthread=1)
    sim.set_tasks([0, 1], family.tasks("test")[:2])
    sim.seed([0, 1], [0, 1])
    sim.reset([0, 1])
    sim.qpos[0, 2] = 1.5  # torso far above the 0.2-1.0 m healthy range (the old exploit)
    _, reward, terminated, truncated, info = sim.step(np.zeros((2, 8)))
    assert terminated.tolist() == [ends, False]
    assert info["reward_healthy"].tolist() == [0.0, 1.0]  # unhealthy is still unpaid
    assert not truncated.any()


def test_non_terminating_ant_goal_runs_every_episode_to_the_horizon():
    family = envs.get_family("ant-goal")
    vec = envs.make_vec(family, 4, episodes_per_trial=1)
    vec.reset(seed=0)
    rng = np.random.default_rng(0)
    ended = np.zeros(4, dtype=bool)
    for step in range(family.spec.horizon):
        # full-strength random actions make the ant bounce out of its healthy range
        _, _, terminated, truncated, _ = vec.step(rng.choice([-1.0, 1.0], size=(4, 8)))
        assert not terminated.any()
        ended |= truncated
        assert ended.all() == (step == family.spec.horizon - 1)
    vec.close()
