"""RoboMetaEnv: one simulation of a family as a ``gymnasium.Env``."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import mujoco
import numpy as np

from robo_meta.envs.errors import RoboMetaError
from robo_meta.envs.family import Family, get_family
from robo_meta.envs.simulator import SingleSimulator
from robo_meta.envs.task import Task


class RoboMetaEnv(gym.Env):
    """A single simulation of a robo_meta family (a batch of one, so it matches ``make_vec``).

    It steps through ``SingleSimulator.step_one``, the batch step's arithmetic on Python floats
    (bit for bit the same), so that it runs about as fast as gymnasium's own MuJoCo envs.

    | argument | meaning |
    |---|---|
    | ``family`` | family name (``robo_meta.envs.families()``) or path to a ``.toml`` spec |
    | ``task`` | a fixed ``Task``; None: a new train task at every reset (domain randomization) |
    | ``render_mode`` | None or ``"rgb_array"`` |
    | ``width``, ``height`` | rendered frame size in pixels |
    | ``camera`` | camera name in the model (every robo_meta model has ``"track"``) |

    ``reset(options={"task": task})`` switches to ``task`` for that episode and pins it.
    Observation: the robot's joint positions (root position hidden except in goal families) and
    velocities, float64. ``info``: reward terms ``reward_<name>`` (they sum to the reward),
    ``task_features`` (privileged, normalized task parameters), ``sim_failed``, and ``success``
    in goal families. Episodes truncate at the family's horizon; legged robots other than the
    cheetah terminate when unhealthy, as in Gymnasium v5.
    Action: exactly shape ``(action_dim,)``, float, int or bool (a list or tuple too), cast to
    float64; any other shape (a scalar, one component short or long, ``(1, action_dim)``) or a
    complex, string or object dtype is a ``RoboMetaError``. As in gymnasium, out-of-bound
    values are clipped to the action space; a NaN fails the simulation (``info["sim_failed"]``,
    truncated, reward 0), which is then reset.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 20}

    def __init__(
        self,
        family: str | Family,
        task: Task | None = None,
        render_mode: str | None = None,
        width: int = 480,
        height: int = 480,
        camera: str = "track",
    ):
        self.family = get_family(family)
        if render_mode not in (None, "rgb_array"):
            raise RoboMetaError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        self.sim = SingleSimulator(self.family)
        self.fixed_task = None if task is None else self.family.validate(task)
        self.render_mode = render_mode
        self.width, self.height, self.camera = width, height, camera
        self.metadata = {**self.metadata, "render_fps": int(round(1.0 / self.sim.dt))}
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (self.sim.obs_dim,), np.float64)
        self.action_space = gym.spaces.Box(
            self.sim.action_low.astype(np.float32), self.sim.action_high.astype(np.float32),
            dtype=np.float32,
        )
        self._renderer: mujoco.Renderer | None = None

    @property
    def task(self) -> Task | None:
        """The task of the current episode."""
        return self.sim.tasks[0]

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        self.sim.rngs[0] = self.np_random  # the same stream a vector env gives simulation i
        task = (options or {}).get("task")
        if task is not None:
            self.fixed_task = self.family.validate(task)
        if self.fixed_task is None:
            task = self.family.sample_tasks(1, self.np_random)[0]
        else:
            task = self.fixed_task
        self.sim.set_tasks([0], [task])
        obs = self.sim.reset([0])[0]
        return obs, {"task_features": self.sim.task_features[0].copy(), "task": task}

    def step(self, action):
        if self.sim.tasks[0] is None:
            raise RoboMetaError("call reset() before step()")
        obs, reward, terminated, truncated, info = self.sim.step_one(action)
        if info["sim_failed"]:
            self.sim.reset([0])  # the episode ends (truncated); the state is safe again
        return obs, reward, terminated, truncated, info

    def render(self):
        if self.render_mode != "rgb_array":
            return None
        if self._renderer is None:
            self._render_model = self.sim.batch.get_model(0)
            self._render_data = mujoco.MjData(self._render_model)
            self._renderer = mujoco.Renderer(self._render_model, self.height, self.width)
        # written in place: the task's fields (goal marker, masses) follow each reset
        self.sim.batch.get_model(0, self._render_model)
        self.sim.batch.get_data(0, self._render_data)
        mujoco.mj_forward(self._render_model, self._render_data)
        self._renderer.update_scene(self._render_data, camera=self.camera)
        return self._renderer.render()

    def close(self):
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None
