"""robo_meta.envs: task families of randomized MuJoCo robots on one batched simulator.

Imports numpy, mujoco and gymnasium only (never torch). Front doors::

    from robo_meta import envs
    envs.families()                          # ['ant-crippled', 'ant-dir', ...]
    family = envs.get_family("cheetah-vel")
    env = envs.make("cheetah-vel", task=family.tasks("test")[0])     # gymnasium.Env
    vec = envs.make_vec("cheetah-vel", 256, episodes_per_trial=3)     # gymnasium VectorEnv

Importing registers the gymnasium ids ``robo_meta/<CamelName>-v0`` (``robo_meta/CheetahVel-v0``).
"""

from __future__ import annotations

import gymnasium

import robo_meta.envs._mujoco  # noqa: F401  (first: imports mujoco whatever MUJOCO_GL says)
from robo_meta.envs.env import RoboMetaEnv
from robo_meta.envs.errors import RoboMetaError
from robo_meta.envs.family import Family, families, get_family
from robo_meta.envs.task import Task
from robo_meta.envs.vector import RoboMetaVectorEnv

__all__ = [
    "Family",
    "RoboMetaEnv",
    "RoboMetaError",
    "RoboMetaVectorEnv",
    "Task",
    "families",
    "gym_id",
    "get_family",
    "make",
    "make_vec",
]


def make(family: str | Family, task: Task | None = None, render_mode: str | None = None,
         **kwargs) -> RoboMetaEnv:
    """One simulation as a ``gymnasium.Env`` (see ``RoboMetaEnv`` for the arguments)."""
    return RoboMetaEnv(family, task=task, render_mode=render_mode, **kwargs)


def make_vec(family: str | Family, num_envs: int, **kwargs) -> RoboMetaVectorEnv:
    """``num_envs`` simulations in one batch (see ``RoboMetaVectorEnv`` for the arguments)."""
    return RoboMetaVectorEnv(family, num_envs, **kwargs)


def gym_id(family: str) -> str:
    """The gymnasium id of a built-in family: ``cheetah-vel`` -> ``robo_meta/CheetahVel-v0``."""
    return "robo_meta/" + "".join(part.capitalize() for part in family.split("-")) + "-v0"


def _register() -> None:
    for name in families():
        if gym_id(name) not in gymnasium.registry:
            gymnasium.register(
                id=gym_id(name),
                entry_point="robo_meta.envs.env:RoboMetaEnv",
                vector_entry_point="robo_meta.envs.vector:RoboMetaVectorEnv",
                kwargs={"family": name},
            )


_register()
