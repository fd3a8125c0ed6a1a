"""robo_meta.envs: task families of randomized MuJoCo robots on one batched simulator.

Imports numpy, mujoco and gymnasium only (never torch). Front doors::

    from robo_meta import envs
    envs.families()                          # ['ant-crippled', 'ant-dir', ...]
    family = envs.get_family("cheetah-vel")
    env = envs.make("cheetah-vel", task=family.tasks("test")[0])     # gymnasium.Env
    vec = envs.make_vec("cheetah-vel", 256, episodes_per_trial=3)     # gymnasium VectorEnv

Importing registers the gymnasium ids ``robo_meta/<CamelName>-v0`` (``robo_meta/CheetahVel-v0``)
and nothing heavier: MuJoCo loads with the first name that needs it (``make``, ``get_family``,
``Family``...), so ``RoboMetaError`` and the registry cost no simulator. The modules behind
those names are internal; import through this package, which loads MuJoCo first in the way
``_mujoco`` explains.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gymnasium

from robo_meta.envs.errors import RoboMetaError

if TYPE_CHECKING:
    from robo_meta.envs.env import RoboMetaEnv
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

# public name -> the module that defines it, imported on first use
_LAZY = {"RoboMetaEnv": "env", "Family": "family", "families": "family", "get_family": "family",
         "Task": "task", "RoboMetaVectorEnv": "vector"}
_FAMILIES_DIR = Path(__file__).resolve().parent / "families"


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'robo_meta.envs' has no attribute {name!r}")
    import robo_meta.envs._mujoco  # noqa: F401  (first: imports mujoco whatever MUJOCO_GL says)

    value = getattr(importlib.import_module(f"robo_meta.envs.{_LAZY[name]}"), name)
    globals()[name] = value
    return value


def make(family: str | Family, task: Task | None = None, render_mode: str | None = None,
         **kwargs) -> RoboMetaEnv:
    """One simulation as a ``gymnasium.Env`` (see ``RoboMetaEnv`` for the arguments)."""
    return __getattr__("RoboMetaEnv")(family, task=task, render_mode=render_mode, **kwargs)


def make_vec(family: str | Family, num_envs: int, **kwargs) -> RoboMetaVectorEnv:
    """``num_envs`` simulations in one batch (see ``RoboMetaVectorEnv`` for the arguments)."""
    return __getattr__("RoboMetaVectorEnv")(family, num_envs, **kwargs)


def gym_id(family: str) -> str:
    """The gymnasium id of a built-in family: ``cheetah-vel`` -> ``robo_meta/CheetahVel-v0``."""
    return "robo_meta/" + "".join(part.capitalize() for part in family.split("-")) + "-v0"


def _register() -> None:
    # the built-in families are the spec files' stems (as ``families()`` lists them)
    for path in sorted(_FAMILIES_DIR.glob("*.toml")):
        if gym_id(path.stem) not in gymnasium.registry:
            gymnasium.register(
                id=gym_id(path.stem),
                entry_point="robo_meta.envs.env:RoboMetaEnv",
                vector_entry_point="robo_meta.envs.vector:RoboMetaVectorEnv",
                kwargs={"family": path.stem},
            )


_register()
