"""robo_meta: meta-RL for robots that adapt to new dynamics in a few episodes.

``import robo_meta`` registers the gymnasium ids of every family (``robo_meta/CheetahVel-v0``)
without importing torch; ``robo_meta.load_policy`` imports the learning side on first use.
"""

from __future__ import annotations

from typing import Any

import robo_meta.envs  # noqa: F401  (registers the gymnasium ids)

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    if name == "load_policy":
        from robo_meta.adaptive import load_policy

        return load_policy
    raise AttributeError(f"module 'robo_meta' has no attribute {name!r}")
