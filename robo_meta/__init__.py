"""robo_meta: meta-RL for robots that adapt to new dynamics in a few episodes.

``import robo_meta`` registers the gymnasium ids of every family (``robo_meta/CheetahVel-v0``)
without importing torch or MuJoCo; ``robo_meta.load_policy`` imports the learning side on first
use, ``robo_meta.envs.make`` the simulator. ``RoboMetaError`` is the one exception type of bad
user input.
"""

from __future__ import annotations

from typing import Any

import robo_meta.envs  # noqa: F401  (registers the gymnasium ids)
from robo_meta.envs.errors import RoboMetaError

__version__ = "0.1.0"
__all__ = ["RoboMetaError", "load_policy"]


def __getattr__(name: str) -> Any:
    if name == "load_policy":
        from robo_meta.adaptive import load_policy

        return load_policy
    raise AttributeError(f"module 'robo_meta' has no attribute {name!r}")
