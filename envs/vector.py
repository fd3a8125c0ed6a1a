"""RoboMetaVectorEnv: all simulations of a family in one batch, as a gymnasium VectorEnv.

Trials. Each simulation runs trials of ``episodes_per_trial`` episodes on one task. When a
trial ends, the simulation starts a new one with its next task: its pinned task
(``set_tasks``) or, unpinned, a fresh draw from the family's train distribution with the
simulation's own generator. The task never changes inside a trial. ``episodes_per_trial=1``
is domain randomization (a new task every episode); RL² uses K > 1.

Autoreset: same-step (``gymnasium.vector.AutoresetMode.SAME_STEP``). When an episode ends,
``step`` returns the reward, ``terminated`` and ``truncated`` of the last transition and the
first observation of the next episode; the last observation is in ``info["final_obs"]``
(an (n, obs_dim) array, meaningful where ``info["_final_obs"]`` is True).
``info["trial_start"]`` marks simulations whose returned observation begins a new trial
(new task): adaptive policies reset their memory there.

Actions: exactly shape ``(num_envs, action_dim)``, float, int or bool (nested lists too),
cast to float64. Any other shape is refused with a ``RoboMetaError``, never reshaped: an
``(action_dim, num_envs)`` array would otherwise hand each simulation components of others'
actions. Complex, string and object dtypes are refused too. Out-of-bound values are clipped to
the action space; a NaN fails only its own simulation (``info["sim_failed"]``, truncated,
reward 0), which is reset like any ended episode.

Seeding follows gymnasium: ``reset(seed=s)`` seeds simulation i with ``s + i``, so
simulation i reproduces a single ``RoboMetaEnv`` reset with seed ``s + i`` bit for bit.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode
from gymnasium.vector.utils import batch_space

from robo_meta.envs.errors import RoboMetaError
from robo_meta.envs.family import Family, get_family
from robo_meta.envs.simulator import BatchSimulator
from robo_meta.envs.task import Task


class RoboMetaVectorEnv(gym.vector.VectorEnv):
    """``num_envs`` simulations of one family in one ``mujoco.batch.Batch``.

    | argument | meaning |
    |---|---|
    | ``family`` | family name or path to a ``.toml`` spec |
    | ``num_envs`` | number of simulations |
    | ``episodes_per_trial`` | episodes per trial (task kept across them), default 1 |
    | ``tasks`` | tasks to pin, one per simulation (see ``set_tasks``); None samples |
    | ``nthread`` | threads of the batch; 0 uses every CPU |
    """

    metadata = {"autoreset_mode": AutoresetMode.SAME_STEP, "render_modes": []}

    def __init__(
        self,
        family: str | Family,
        num_envs: int,
        episodes_per_trial: int = 1,
        tasks: Sequence[Task | None] | None = None,
        nthread: int = 0,
    ):
        if episodes_per_trial <= 0:
            raise RoboMetaError(f"episodes_per_trial must be positive, got {episodes_per_trial}")
        self.family = get_family(family)
        self.sim = BatchSimulator(self.family, num_envs, nthread)
        self.num_envs = num_envs
        self.episodes_per_trial = episodes_per_trial
        self.render_mode = None
        self.single_observation_space = gym.spaces.Box(
            -np.inf, np.inf, (self.sim.obs_dim,), np.float64
        )
        self.single_action_space = gym.spaces.Box(
            self.sim.action_low.astype(np.float32), self.sim.action_high.astype(np.float32),
            dtype=np.float32,
        )
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.action_space = batch_space(self.single_action_space, num_envs)
        self._pinned: list[Task | None] = [None] * num_envs
        if tasks is not None:
            self.set_tasks(tasks)
        self.episode_in_trial = np.zeros(num_envs, dtype=np.int64)
        self._started = False

    # -- tasks -----------------------------------------------------------------------------------
    def set_tasks(self, tasks: Sequence[Task | None] | None) -> None:
        """Pin simulation i to ``tasks[i]`` (None: sample) from its next trial on.

        A trial in progress keeps its task; ``reset()`` starts new trials everywhere.
        ``set_tasks(None)`` unpins every simulation.
        """
        if tasks is None:
            self._pinned = [None] * self.num_envs
            return
        tasks = list(tasks)
        if len(tasks) != self.num_envs:
            raise RoboMetaError(f"set_tasks needs {self.num_envs} tasks, got {len(tasks)}")
        self._pinned = [None if t is None else self.family.validate(t) for t in tasks]

    @property
    def tasks(self) -> list[Task | None]:
        """The task of each simulation's current trial."""
        return list(self.sim.tasks)

    @property
    def task_features(self) -> np.ndarray:
        """(n, feature_dim) features of the current tasks (privileged information)."""
        return self.sim.task_features

    def _start_trials(self, ids: np.ndarray) -> None:
        tasks = [
            self._pinned[i] or self.family.sample_tasks(1, self.sim.rngs[i])[0] for i in ids
        ]
        self.sim.set_tasks(ids, tasks)
        self.episode_in_trial[ids] = 0

    # -- gymnasium API ---------------------------------------------------------------------------
    def reset(
        self,
        *,
        seed: int | Sequence[int | None] | None = None,
        options: dict[str, Any] | None = None,
    ):
        """Start a new trial in every simulation. ``options={"tasks": [...]}`` pins tasks first."""
        if seed is not None:
            seeds = [seed + i for i in range(self.num_envs)] if isinstance(seed, int) else seed
            if len(seeds) != self.num_envs:
                raise RoboMetaError(f"reset needs {self.num_envs} seeds, got {len(seeds)}")
            self.sim.seed(range(self.num_envs), seeds)
        if options and "tasks" in options:
            self.set_tasks(options["tasks"])
        ids = np.arange(self.num_envs)
        self._start_trials(ids)
        obs = self.sim.reset(ids)
        self._started = True
        info = {"trial_start": np.ones(self.num_envs, dtype=bool),
                "task_features": self.sim.task_features.copy()}
        return obs, info

    def step(self, actions):
        if not self._started:
            raise RoboMetaError("call reset() before step()")
        obs, reward, terminated, truncated, info = self.sim.step(actions)
        info["task_features"] = self.sim.task_features.copy()
        done = terminated | truncated
        trial_start = np.zeros(self.num_envs, dtype=bool)
        if done.any():
            ids = np.flatnonzero(done)
            info["final_obs"] = obs.copy()
            info["_final_obs"] = done
            self.episode_in_trial[ids] += 1
            new_trial = ids[self.episode_in_trial[ids] >= self.episodes_per_trial]
            if len(new_trial):
                self._start_trials(new_trial)
                trial_start[new_trial] = True
            obs[ids] = self.sim.reset(ids)
        info["trial_start"] = trial_start
        return obs, reward, terminated, truncated, info

    def close_extras(self, **kwargs) -> None:
        self.sim.close()
