"""BatchSimulator: every simulation of a family in one ``mujoco.batch.Batch``.

The single-simulation gymnasium env and the vector env are both thin layers over this class
(the single env is a batch of one), which is why they agree bit for bit. The single env steps
through ``SingleSimulator.step_one``: the same batch of one, with the step's arithmetic on
Python floats, where numpy's per-call overhead on one-row arrays would cost as much as the
physics; tests/test_envs_single.py holds it to ``step`` bit for bit.

Per simulation, a task sets per-simulation model fields (``Batch.expand``) from copies of the
nominal values taken once at start-up, so scales never compound; ``set_const`` follows every
change of a field that ``mj_setConst`` reads. Tasks are applied only when a caller sets them
(the vector env does so at trial start). The step path is vectorized: one ``Batch.step`` on
its thread pool, then numpy over bound ``(n, ...)`` arrays; the only per-simulation Python
loop is drawing reset noise from each simulation's own generator, and only at resets.
"""

from __future__ import annotations

import math
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
# consecutive, so one slice of the warning counts holds them
_FATAL_SLICE = slice(min(_FATAL_WARNINGS), max(_FATAL_WARNINGS) + 1)
assert sorted(_FATAL_WARNINGS) == list(range(_FATAL_SLICE.start, _FATAL_SLICE.stop))
_STAGE_NONE = int(mujoco.mjtStage.mjSTAGE_NONE)
# dtype kinds an action may have: float, signed and unsigned int, bool (cast to float64)
_ACTION_KINDS = "fiub"


def check_action(action, shape: tuple[int, ...], what: str) -> np.ndarray:
    """``action`` as a float64 array of exactly ``shape``, or a one-line ``RoboMetaError``.

    Lists, tuples and arrays of float, int or bool are accepted; a wrong shape is never
    reshaped or broadcast (an (A, n) array where (n, A) is expected would hand each simulation
    other simulations' components), and complex, string, object or date dtypes are refused
    (a cast would drop the imaginary part or fail later). Values are not checked: out-of-bound
    ones are clipped by the step and NaN is contained per simulation (``sim_failed``).
    """
    try:
        array = np.asarray(action)
    except (TypeError, ValueError) as exc:  # ragged lists, objects numpy cannot convert
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise RoboMetaError(f"{what} must be an array of shape {shape}: {first[:120]}") from None
    if array.dtype.kind not in _ACTION_KINDS:
        raise RoboMetaError(
            f"{what} must be real numbers (float, int or bool), got dtype {array.dtype}"
        )
    if array.shape != shape:
        raise RoboMetaError(f"{what} must have shape {shape}, got {array.shape}")
    return array.astype(np.float64, copy=False)


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
        self._batch_action_shape = (num_sims, model.nu)
        self._action_shape = (model.nu,)
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
        ``action`` has exactly the shape (num_sims, action_dim) and a float, int or bool dtype
        (``check_action``); out-of-bound values are clipped, NaN fails only its simulation.
        """
        if (type(action) is not np.ndarray or action.shape != self._batch_action_shape
                or action.dtype.kind not in _ACTION_KINDS):
            action = check_action(action, self._batch_action_shape, "actions")
        # clipped (np.clip's Python wrapper alone costs a microsecond a call)
        action = np.minimum(np.maximum(action, self.action_low), self.action_high)
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


class SingleSimulator(BatchSimulator):
    """One simulation (a batch of one) with a lean step, ``step_one``, for ``RoboMetaEnv``.

    Physics, tasks and resets are ``BatchSimulator``'s, on a ``Batch`` of one. ``step_one``
    returns what ``step`` returns for row 0, bit for bit, as Python scalars: the same float
    operations in the same order, on Python floats instead of one-row arrays. Each numpy call
    on a one-row array costs 0.3-1 us: ``step`` and the conversion of its rows to scalars took
    about 21 us per half-cheetah env step, nearly as long as MuJoCo's five physics steps
    (25 us); ``step_one`` takes 5.5 us, as gymnasium's HalfCheetah-v5 does around the same
    physics (docs/benchmarks.md). Two quantities stay numpy's, since a Python formula need not
    reproduce them bit for bit: the sum of the squared actions (numpy's summation order) and
    the cosine and sine of a direction angle (once per task).
    The reward terms (``rewards.reward_terms``), the health check and the observation
    (``Robot.healthy``, ``Robot.observe``) are mirrored in ``_terms_one``, ``_healthy_one`` and
    ``_observe_one``: a change to one needs the same change to its twin.
    tests/test_envs_single.py checks ``step_one`` against ``step`` for every family.
    """

    def __init__(self, family: str | Family):
        super().__init__(family, 1, nthread=1)
        self._qpos_row, self._qvel_row, self._ctrl_row = self.qpos[0], self.qvel[0], self.ctrl[0]
        self._fatal = self.batch.warning[0, _FATAL_SLICE, 1]  # a view of their counts
        self._n_pos = self.robot.position_dims
        self._obs_start = 0 if self.spec.include_xy else self._n_pos
        self._kind = self.spec.task
        weights = self.family.reward
        self._w_forward = weights.get("forward_reward_weight", 1.0)
        self._w_healthy = weights.get("healthy_reward", 0.0)
        self._w_ctrl = weights.get("ctrl_cost_weight", 0.0)
        self._radius = weights.get("success_radius", 0.1)
        self._values: dict[str, list[float]] = {}
        self._direction = (0.0, 0.0)

    def set_tasks(self, ids: Sequence[int] | np.ndarray, tasks: Sequence[Task]) -> None:
        super().set_tasks(ids, tasks)
        self._values = {name: values[0].tolist() for name, values in self.params.items()}
        if self._kind == "direction_2d":  # numpy's cos and sin, as rewards.py takes them
            angle = self.params["direction_angle"][:, 0]
            self._direction = (np.cos(angle).item(), np.sin(angle).item())

    def step_one(self, action) -> tuple[np.ndarray, float, bool, bool, dict]:
        """One env step: ``obs, reward, terminated, truncated, info`` as ``step`` gives row 0.

        ``info`` holds Python floats and bools, and a copy of ``task_features[0]``.
        ``action`` has exactly the shape (action_dim,) (``check_action``): an array of that
        shape and a real dtype passes two comparisons, anything else goes through the full check.
        """
        if (type(action) is not np.ndarray or action.shape != self._action_shape
                or action.dtype.kind not in _ACTION_KINDS):
            action = check_action(action, self._action_shape, "action")
        action = np.minimum(np.maximum(action, self.action_low), self.action_high)
        self._ctrl_row[:] = action
        ctrl_sq = np.add.reduce(action * action).item()  # numpy's sum, as rewards.py's
        before = self._qpos_row[:self._n_pos].tolist()
        try:
            self.batch.step(nstep=self.spec.frame_skip)
            failed = any(self._fatal.tolist())
        except SimulationError:
            failed = True
        qpos, qvel = self._qpos_row.tolist(), self._qvel_row.tolist()
        healthy = self._healthy_one(qpos, qvel)
        info = self._terms_one(qpos, before, ctrl_sq, healthy)
        reward = 0  # summed as sum() sums rewards.py's arrays: 0 + t1 + t2 + ...
        for value in info.values():
            reward = reward + value
        values = self._observe_one(qpos, qvel)
        failed = failed or not (all(map(math.isfinite, values)) and math.isfinite(reward))
        elapsed = self.elapsed.item(0) + 1
        self.elapsed[0] = elapsed
        terminated = not healthy and self.robot.terminate_when_unhealthy
        truncated = elapsed >= self.spec.horizon
        if self._kind == "goal":
            info["success"] = self._distance(qpos) <= self._radius
        if failed:
            obs = self._last_obs[0].copy()
            reward = 0.0
            for key in info:
                if key.startswith("reward_"):
                    info[key] = 0.0
            terminated, truncated = False, True
        else:
            obs = np.array(values)
            self._last_obs = obs[None]
        info["sim_failed"] = failed
        info["task_features"] = self.task_features[0].copy()
        return obs, reward, terminated, truncated, info

    # -- scalar twins of Robot.observe, Robot.healthy and rewards.reward_terms ------------------
    def _observe_one(self, qpos: list[float], qvel: list[float]) -> list[float]:
        clip = self.robot.qvel_clip
        if clip is not None:  # np.clip(qvel, -clip, clip), NaN kept
            qvel = [-clip if v < -clip else clip if v > clip else v for v in qvel]
        return qpos[self._obs_start:] + qvel

    def _healthy_one(self, qpos: list[float], qvel: list[float]) -> bool:
        robot = self.robot
        if robot.z_index is not None:
            z = qpos[robot.z_index]
            if not (z > robot.healthy_z[0] and z < robot.healthy_z[1]):
                return False
        if robot.angle_index is not None:
            angle = qpos[robot.angle_index]
            if not (angle > robot.healthy_angle[0] and angle < robot.healthy_angle[1]):
                return False
        if robot.healthy_state is not None:
            bound = robot.healthy_state
            return all(abs(v) < bound for v in qpos[2:]) and all(abs(v) < bound for v in qvel)
        return True

    def _distance(self, qpos: list[float]) -> float:
        """np.linalg.norm(position[:2] - goal): the square root of the sum of two squares."""
        goal = self._values["goal"]
        dx, dy = qpos[0] - goal[0], qpos[1] - goal[1]
        return math.sqrt(dx * dx + dy * dy)

    def _terms_one(self, qpos: list[float], before: list[float], ctrl_sq: float,
                   healthy: bool) -> dict[str, float]:
        """``info``'s reward terms, ``reward_<name>``, in ``rewards.reward_terms``' order."""
        kind, dt, weight = self._kind, self.dt, self._w_forward
        if kind == "velocity":
            velocity = (qpos[0] - before[0]) / dt
            info = {"reward_forward":
                    -weight * abs(velocity - self._values["target_velocity"][0])}
        elif kind == "direction":
            velocity = (qpos[0] - before[0]) / dt
            info = {"reward_forward": weight * self._values["direction"][0] * velocity}
        elif kind == "direction_2d":
            vx, vy = (qpos[0] - before[0]) / dt, (qpos[1] - before[1]) / dt
            cos, sin = self._direction
            info = {"reward_forward": weight * (vx * cos + vy * sin)}
        elif kind == "goal":
            info = {"reward_goal": -self._distance(qpos)}
        elif kind == "forward":
            info = {"reward_forward": weight * ((qpos[0] - before[0]) / dt)}
        else:
            raise ValueError(f"unknown task kind {kind!r}")
        if self._w_healthy:
            info["reward_healthy"] = self._w_healthy * (1.0 if healthy else 0.0)
        info["reward_ctrl"] = -self._w_ctrl * ctrl_sq
        return info
