"""BatchSimulator: every simulation of a family in one ``mujoco.batch.Batch``.

The single-simulation gymnasium env and the vector env are both thin layers over this class
(the single env is a batch of one), which is why they agree bit for bit.

Per simulation, a task sets per-simulation model fields (``Batch.expand``) from copies of the
nominal values taken once at start-up, so scales never compound; ``set_const`` follows every
change of a field that ``mj_setConst`` reads. Tasks are applied only when a caller sets them
(the vector env does so at trial start). The step path is vectorized: one ``Batch.step`` on
its thread pool, then numpy over bound ``(n, ...)`` arrays; the only per-simulation Python
loop is drawing reset noise from each simulation's own generator, and only at resets.
"""

from __future__ import annotations

from collections.abc import Sequence

import mujoco
import numpy as np
from mujoco.batch import Batch, SimulationError

from robo_meta.envs.errors import RoboMetaError
from robo_meta.envs.family import Family, get_family
from robo_meta.envs.rewards import reward_terms, success
from robo_meta.envs.task import Task

# Warnings after which MuJoCo has reset a simulation by itself: the episode is lost.
_FATAL_WARNINGS = [
    int(mujoco.mjtWarning.mjWARN_BADQPOS),
    int(mujoco.mjtWarning.mjWARN_BADQVEL),
    int(mujoco.mjtWarning.mjWARN_BADQACC),
]
_STAGE_NONE = int(mujoco.mjtStage.mjSTAGE_NONE)


class BatchSimulator:
    """``num_sims`` simulations of ``family``, each with its own task and random generator.

    Arrays returned by ``step`` and ``observe`` have the simulations on axis 0.
    """

    def __init__(self, family: str | Family, num_sims: int, nthread: int = 0):
        if num_sims <= 0:
            raise RoboMetaError(f"num_envs must be positive, got {num_sims}")
        self.family = get_family(family)
        self.robot = self.family.robot
        self.spec = self.family.spec
        self.num_sims = num_sims
        model = self.family.model
        self.batch = Batch(model, num_sims, nthread)
        self.qpos = self.batch.bind("qpos")
        self.qvel = self.batch.bind("qvel")
        self.ctrl = self.batch.bind("ctrl")
        self.dt = model.opt.timestep * self.spec.frame_skip
        self.action_low = model.actuator_ctrlrange[:, 0].copy()
        self.action_high = model.actuator_ctrlrange[:, 1].copy()
        self.obs_dim = self.robot.observe(
            model.qpos0[None], np.zeros((1, model.nv)), self.spec.include_xy
        ).shape[1]
        self._qpos0 = model.qpos0.copy()
        self._fields = self._expand_fields()
        self._set_const = any(
            f.startswith("opt.") or f in mujoco.MjModel._setconst_inputs for f in self._fields
        )
        self._goal_site = self._goal_site_rows()
        self.params = {p.name: np.zeros((num_sims, self.family.sizes[p.name])) for p in
                       self.family.params}
        self.task_features = np.zeros((num_sims, self.family.feature_dim))
        self.tasks: list[Task | None] = [None] * num_sims
        self.rngs = [np.random.default_rng() for _ in range(num_sims)]
        self.elapsed = np.zeros(num_sims, dtype=np.int64)
        self._last_obs = np.zeros((num_sims, self.obs_dim))

    # -- tasks -----------------------------------------------------------------------------------
    def _expand_fields(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Field name -> (live per-simulation array, nominal copy) for each field tasks touch."""
        names = [p.apply.field for p in self.family.params if p.apply and p.apply.field]
        if any(p.apply and p.apply.effect == "cripple_leg" for p in self.family.params):
            names.append("actuator_gear")
        fields = {}
        for name in dict.fromkeys(names):
            live = self.batch.expand(name)
            fields[name] = (live, live[0].copy())
        return fields

    def _goal_site_rows(self) -> np.ndarray | None:
        """The ``goal`` site's per-simulation position (n, 3), so renders show each goal."""
        site = mujoco.mj_name2id(self.family.model, mujoco.mjtObj.mjOBJ_SITE, "goal")
        if self.spec.task != "goal" or site < 0:
            return None
        return self.batch.expand("site_pos")[:, site]

    def set_tasks(self, ids: Sequence[int] | np.ndarray, tasks: Sequence[Task]) -> None:
        """Give simulations ``ids`` the ``tasks`` (validated); their state is not touched."""
        ids = np.asarray(ids, dtype=np.int64)
        if len(ids) != len(tasks):
            raise RoboMetaError(f"got {len(tasks)} tasks for {len(ids)} simulations")
        if len(ids) == 0:
            return
        tasks = [self.family.validate(t) for t in tasks]
        arrays = self.family.task_arrays(tasks)
        for name, values in arrays.items():
            self.params[name][ids] = values
        self.task_features[ids] = self.family.task_features(arrays)
        for i, task in zip(ids, tasks, strict=True):
            self.tasks[i] = task
        self._apply_model_fields(ids, arrays)

    def _apply_model_fields(self, ids: np.ndarray, arrays: dict[str, np.ndarray]) -> None:
        if not self._fields and self._goal_site is None:
            return
        current = {name: np.broadcast_to(nominal, (len(ids), *nominal.shape)).copy()
                   for name, (_, nominal) in self._fields.items()}
        for param in self.family.params:
            if param.apply is None or param.apply.field is None:
                continue
            field = current[param.apply.field]
            rows = self.family.rows(param)
            value = arrays[param.name]  # (k, size): size 1 broadcasts over the rows
            part = field if param.apply.field.startswith("opt.") else field[:, rows]
            value = value.reshape(value.shape + (1,) * (part.ndim - value.ndim))
            if param.apply.mode == "scale":
                part = part * value
            elif param.apply.mode == "add":
                part = part + value
            else:
                part = np.broadcast_to(value, part.shape)
            if param.apply.field.startswith("opt."):
                field[...] = part
            else:
                field[:, rows] = part
        if "actuator_gear" in current and "crippled_leg" in arrays:
            # leg i owns actuators 2i and 2i+1 (assets/ant.xml orders them leg-major)
            leg = arrays["crippled_leg"][:, 0].astype(np.int64)
            strength = arrays["crippled_strength"][:, 0]
            k = np.arange(len(ids))
            for joint in (0, 1):
                current["actuator_gear"][k, 2 * leg + joint, 0] *= strength
        for name, values in current.items():
            self._fields[name][0][ids] = values
        if self._set_const:
            self.batch.set_const(ids)
        if self._goal_site is not None:
            self._goal_site[ids, :2] = arrays["goal"]

    # -- reset and step --------------------------------------------------------------------------
    def seed(self, ids: Sequence[int], seeds: Sequence[int | None]) -> None:
        """Give each simulation in ``ids`` a fresh generator from its seed (None: entropy)."""
        for i, s in zip(ids, seeds, strict=True):
            self.rngs[i] = np.random.default_rng(s)

    def reset(self, ids: Sequence[int] | np.ndarray) -> np.ndarray:
        """Reset simulations ``ids`` to the initial state plus noise; return their observations.

        A simulation must have a task (``set_tasks``) before its first reset.
        """
        ids = np.asarray(ids, dtype=np.int64)
        missing = [int(i) for i in ids if self.tasks[i] is None]
        if missing:
            raise RoboMetaError(f"simulations {missing[:5]} have no task: call set_tasks first")
        self.batch.reset(ids, stage=_STAGE_NONE)
        scale = self.robot.reset_noise if self.spec.reset_noise is None else self.spec.reset_noise
        if scale > 0:
            nq, nv = self.qpos.shape[1], self.qvel.shape[1]
            for i in ids:  # per-simulation generators: sim i of a batch == a single env
                rng = self.rngs[i]
                self.qpos[i] = self._qpos0 + rng.uniform(-scale, scale, nq)
                self.qvel[i] = (scale * rng.standard_normal(nv) if self.robot.qvel_normal
                                else rng.uniform(-scale, scale, nv))
        self.elapsed[ids] = 0
        obs = self.robot.observe(self.qpos[ids], self.qvel[ids], self.spec.include_xy)
        last = self._last_obs.copy()  # never write into an observation a caller was given
        last[ids] = obs
        self._last_obs = last
        return obs

    def observe(self) -> np.ndarray:
        """(n, obs_dim) observations of the current states."""
        return self.robot.observe(self.qpos, self.qvel, self.spec.include_xy)

    def step(self, action: np.ndarray):
        """Advance every simulation by one env step (``frame_skip`` physics steps).

        Returns ``obs, reward, terminated, truncated, info`` with one row per simulation.
        ``info``: each reward term by name, ``success`` (goal families), ``sim_failed``.
        A failed simulation (MuJoCo error, NaN or instability warning) gets reward 0, its
        last finite observation and ``truncated``; the caller resets it.
        """
        action = np.asarray(action, dtype=np.float64).reshape(self.num_sims, -1)
        action = np.clip(action, self.action_low, self.action_high)
        self.ctrl[:] = action
        n_pos = self.robot.position_dims
        before = self.qpos[:, :n_pos].copy()
        failed = np.zeros(self.num_sims, dtype=bool)
        try:
            self.batch.step(nstep=self.spec.frame_skip)
        except SimulationError as exc:
            failed[exc.ids] = True
        failed |= self.batch.warning[:, _FATAL_WARNINGS, 1].any(axis=1)
        position = self.qpos[:, :n_pos]
        velocity = (position - before) / self.dt
        healthy = self.robot.healthy(self.qpos, self.qvel)
        terms = reward_terms(self.spec.task, self.family.reward, self.params, position,
                             velocity, action, healthy)
        reward = sum(terms.values())
        obs = self.observe()
        failed |= ~np.isfinite(obs).all(axis=1) | ~np.isfinite(reward)
        self.elapsed += 1
        terminated = ~healthy if self.robot.terminate_when_unhealthy else np.zeros_like(healthy)
        truncated = self.elapsed >= self.spec.horizon
        info: dict[str, np.ndarray] = {f"reward_{k}": v for k, v in terms.items()}
        goal = success(self.spec.task, self.family.reward, self.params, position)
        if goal is not None:
            info["success"] = goal
        if failed.any():
            obs[failed] = self._last_obs[failed]
            reward = np.where(failed, 0.0, reward)
            for key in terms:
                info[f"reward_{key}"] = np.where(failed, 0.0, info[f"reward_{key}"])
            terminated = terminated & ~failed
            truncated = truncated | failed
        info["sim_failed"] = failed
        self._last_obs = obs
        return obs, reward, terminated, truncated, info

    def close(self) -> None:
        self.batch = None  # type: ignore[assignment]
