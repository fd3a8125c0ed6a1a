"""Rewards by task kind, vectorized over simulations.

Each function returns the reward terms by name; the reward is their sum, so ``info`` can
carry every term and tests can check that they add up. Weights come from the robot's defaults
overridden by the family's ``[reward]`` table (names as in Gymnasium v5:
``forward_reward_weight``, ``ctrl_cost_weight``, ``healthy_reward``).

Shapes: ``position`` and ``velocity`` are (n, d) for the root's horizontal coordinates
(d = 1 for planar robots, 2 for the ant and the point mass); ``action`` is (n, nu);
``params`` maps task parameter names to (n, size) arrays.
"""

from __future__ import annotations

import numpy as np

Terms = dict[str, np.ndarray]


def _progress(kind: str, params: dict[str, np.ndarray], position, velocity, weight: float):
    if kind == "velocity":  # MAML / PEARL cheetah-vel: -|v_x - v*|
        return {"forward": -weight * np.abs(velocity[:, 0] - params["target_velocity"][:, 0])}
    if kind == "direction":  # cheetah-dir: dir * v_x, dir in {-1, +1}
        return {"forward": weight * params["direction"][:, 0] * velocity[:, 0]}
    if kind == "direction_2d":  # ant-dir: velocity along (cos a, sin a)
        angle = params["direction_angle"][:, 0]
        along = velocity[:, 0] * np.cos(angle) + velocity[:, 1] * np.sin(angle)
        return {"forward": weight * along}
    if kind == "goal":  # point-goal / ant-goal: minus the distance to the goal
        return {"goal": -np.linalg.norm(position[:, :2] - params["goal"], axis=1)}
    if kind == "forward":  # params / motor / crippled families: run forward
        return {"forward": weight * velocity[:, 0]}
    raise ValueError(f"unknown task kind {kind!r}")


def reward_terms(
    kind: str,
    weights: dict[str, float],
    params: dict[str, np.ndarray],
    position: np.ndarray,
    velocity: np.ndarray,
    action: np.ndarray,
    healthy: np.ndarray,
) -> Terms:
    """The named reward terms of one step for every simulation."""
    terms = _progress(kind, params, position, velocity, weights.get("forward_reward_weight", 1.0))
    if weights.get("healthy_reward", 0.0):
        terms["healthy"] = weights["healthy_reward"] * healthy.astype(np.float64)
    terms["ctrl"] = -weights.get("ctrl_cost_weight", 0.0) * np.square(action).sum(axis=1)
    return terms


def success(kind: str, weights: dict[str, float], params, position) -> np.ndarray | None:
    """(n,) bool for families that define success (goal reached), else None."""
    if kind != "goal":
        return None
    distance = np.linalg.norm(position[:, :2] - params["goal"], axis=1)
    return distance <= weights.get("success_radius", 0.1)
