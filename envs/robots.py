"""Robots: the morphology facts a family builds on (model file, observation, health, noise).

These mirror Gymnasium's MuJoCo v5 environments (HalfCheetah, Hopper, Walker2d, Ant), so
numbers are comparable with the literature; the point mass is the 2-D navigation robot of
PEARL's point-robot tasks, simulated with MuJoCo instead of integrated by hand.
All functions are vectorized over simulations: ``qpos`` is (n, nq), ``qvel`` is (n, nv).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from robo_meta.envs.errors import RoboMetaError, did_you_mean

ASSETS = Path(__file__).parent / "assets"


@dataclass(frozen=True)
class Robot:
    """A morphology: its MJCF file and how to read observations and health from its state."""

    name: str
    asset: str
    #: leading qpos entries that are the root's horizontal position (x, or x and y), hidden
    #: from the observation unless a family asks for them (goal tasks need them)
    position_dims: int
    #: qpos index of the torso height and of the torso pitch, for the health check
    z_index: int | None = None
    angle_index: int | None = None
    healthy_z: tuple[float, float] = (-np.inf, np.inf)
    healthy_angle: tuple[float, float] = (-np.inf, np.inf)
    #: bound on |qpos[2:]| and |qvel| (Hopper, Walker2d); None: no bound
    healthy_state: float | None = None
    terminate_when_unhealthy: bool = False
    #: observation clips qvel to +-this (Hopper, Walker2d)
    qvel_clip: float | None = None
    #: reset noise: qpos + U(-s, s); qvel + s * N(0, 1) if qvel_normal else U(-s, s)
    reset_noise: float = 0.0
    qvel_normal: bool = False
    #: reward weights a family may override in its [reward] table
    reward: dict[str, float] = field(default_factory=dict)

    @property
    def path(self) -> Path:
        return ASSETS / self.asset

    @property
    def has_health_check(self) -> bool:
        """Whether ``healthy`` can ever be False (a height, pitch or state range)."""
        return (self.z_index is not None or self.angle_index is not None
                or self.healthy_state is not None)

    def observe(self, qpos: np.ndarray, qvel: np.ndarray, include_xy: bool) -> np.ndarray:
        """(n, obs_dim) float64: qpos (root position hidden unless include_xy), then qvel."""
        if self.qvel_clip is not None:
            qvel = np.clip(qvel, -self.qvel_clip, self.qvel_clip)
        start = 0 if include_xy else self.position_dims
        return np.concatenate([qpos[:, start:], qvel], axis=1)

    def healthy(self, qpos: np.ndarray, qvel: np.ndarray) -> np.ndarray:
        """(n,) bool: inside the height, pitch and state ranges (always True if none)."""
        ok = np.ones(len(qpos), dtype=bool)
        if self.z_index is not None:
            z = qpos[:, self.z_index]
            ok &= (z > self.healthy_z[0]) & (z < self.healthy_z[1])
        if self.angle_index is not None:
            angle = qpos[:, self.angle_index]
            ok &= (angle > self.healthy_angle[0]) & (angle < self.healthy_angle[1])
        if self.healthy_state is not None:
            bound = self.healthy_state
            ok &= (np.abs(qpos[:, 2:]) < bound).all(axis=1) & (np.abs(qvel) < bound).all(axis=1)
        return ok


ROBOTS: dict[str, Robot] = {
    robot.name: robot
    for robot in (
        Robot(
            name="point_mass", asset="point_mass.xml", position_dims=2,
            reward={"ctrl_cost_weight": 0.0, "success_radius": 0.1},
        ),
        Robot(
            name="half_cheetah", asset="half_cheetah.xml", position_dims=1,
            reset_noise=0.1, qvel_normal=True,
            reward={"forward_reward_weight": 1.0, "ctrl_cost_weight": 0.1},
        ),
        Robot(
            name="hopper", asset="hopper.xml", position_dims=1, z_index=1, angle_index=2,
            healthy_z=(0.7, np.inf), healthy_angle=(-0.2, 0.2), healthy_state=100.0,
            terminate_when_unhealthy=True, qvel_clip=10.0, reset_noise=5e-3,
            reward={"forward_reward_weight": 1.0, "ctrl_cost_weight": 1e-3, "healthy_reward": 1.0},
        ),
        Robot(
            name="walker2d", asset="walker2d.xml", position_dims=1, z_index=1, angle_index=2,
            healthy_z=(0.8, 2.0), healthy_angle=(-1.0, 1.0),
            terminate_when_unhealthy=True, qvel_clip=10.0, reset_noise=5e-3,
            reward={"forward_reward_weight": 1.0, "ctrl_cost_weight": 1e-3, "healthy_reward": 1.0},
        ),
        Robot(
            name="ant", asset="ant.xml", position_dims=2, z_index=2, healthy_z=(0.2, 1.0),
            terminate_when_unhealthy=True, reset_noise=0.1, qvel_normal=True,
            reward={"forward_reward_weight": 1.0, "ctrl_cost_weight": 0.5, "healthy_reward": 1.0,
                    "success_radius": 0.5},
        ),
    )
}


def get_robot(name: str) -> Robot:
    if name not in ROBOTS:
        raise RoboMetaError(f"unknown robot {name!r}{did_you_mean(name, ROBOTS)}")
    return ROBOTS[name]
