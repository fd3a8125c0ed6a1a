"""Meta-learning algorithms, one module each; every one trains a policy the evaluator loads.

An ``Algorithm`` says which policy network it trains, what that policy sees, and whether it
adapts (keeps memory across the episodes of a trial). ``dr``, ``oracle`` and ``rl2`` are all
trained by the shared PPO trainer (``robo_meta.trainer``); they differ in exactly these facts.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from robo_meta.config import ALGORITHMS, TrainConfig
from robo_meta.envs.errors import RoboMetaError


@dataclass(frozen=True)
class Algorithm:
    """What distinguishes one algorithm from another for the trainer and the evaluator."""

    name: str
    summary: str
    policy_class: str  # a key of robo_meta.policies.POLICY_CLASSES
    uses_task_features: bool  # privileged task features appended to the observation
    adaptive: bool  # memory carried across the episodes of a trial

    def policy_kwargs(self, config: TrainConfig, obs_dim: int, act_dim: int) -> dict[str, Any]:
        """Constructor arguments of the policy network (saved in the checkpoint's config)."""
        kwargs: dict[str, Any] = {"obs_dim": obs_dim, "act_dim": act_dim,
                                  "init_log_std": config.init_log_std}
        if self.policy_class == "gru":
            kwargs["hidden_size"] = config.gru_hidden
        else:
            kwargs["hidden_sizes"] = list(config.hidden_sizes)
        return kwargs


def get_algorithm(name: str) -> Algorithm:
    if name not in ALGORITHMS:
        raise RoboMetaError(f"unknown algorithm {name!r} (known: {', '.join(ALGORITHMS)})")
    return importlib.import_module(f"robo_meta.algos.{name}").ALGORITHM
