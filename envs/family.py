"""Family: a spec bound to its compiled model; samples, validates and describes tasks."""

from __future__ import annotations

import dataclasses
import functools
import itertools
from collections.abc import Sequence
from pathlib import Path

import mujoco
import numpy as np

from robo_meta.envs.distributions import contains
from robo_meta.envs.errors import RoboMetaError, did_you_mean
from robo_meta.envs.robots import Robot, get_robot
from robo_meta.envs.spec import FamilySpec, ParamSpec, load_spec
from robo_meta.envs.task import Task

FAMILIES_DIR = Path(__file__).parent / "families"

# Model fields a `per` parameter scales, by element kind; body fields skip the world body.
_PER_SIZE = {"body": "nbody", "geom": "ngeom", "dof": "nv", "actuator": "nu"}
_ROW_OFFSET = {"body": 1}
# What `select` names, by field prefix: a dof field's rows are those of the named joint.
_SELECT_KIND = {"body": mujoco.mjtObj.mjOBJ_BODY, "geom": mujoco.mjtObj.mjOBJ_GEOM,
                "dof": mujoco.mjtObj.mjOBJ_JOINT, "actuator": mujoco.mjtObj.mjOBJ_ACTUATOR}


@functools.cache
def _compile(path: str) -> mujoco.MjModel:
    return mujoco.MjModel.from_xml_path(path)


class Family:
    """A distribution over tasks for one robot, declared by a ``FamilySpec``.

    ``sample_tasks(n, seed)`` draws from the train distribution; ``tasks("val" | "test" |
    "ood")`` returns the fixed sets, identical on every machine (seeded PCG64). ``robot`` is
    the robot as this family uses it: the spec's ``terminate_when_unhealthy`` applied.
    """

    def __init__(self, spec: FamilySpec):
        self.spec = spec
        self.robot: Robot = self._robot(spec)
        self.model = _compile(str(self.robot.path))
        self._params = {p.name: p for p in spec.params}
        self.sizes = {p.name: self._size(p) for p in spec.params}
        self.reward = {**self.robot.reward, **spec.reward}
        self.feature_dim = sum(self.sizes.values())
        self._splits: dict[str, list[Task]] = {}
        self._check_spec()

    # -- description -------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def params(self) -> tuple[ParamSpec, ...]:
        return self.spec.params

    def __repr__(self) -> str:
        return f"Family({self.name!r}, robot={self.robot.name!r}, task={self.spec.task!r})"

    @property
    def terminates(self) -> bool:
        """Whether an episode ends early when the robot leaves its healthy range."""
        return self.robot.terminate_when_unhealthy

    @staticmethod
    def _robot(spec: FamilySpec) -> Robot:
        robot = get_robot(spec.robot)
        if spec.terminate_when_unhealthy is None:
            return robot
        if spec.terminate_when_unhealthy and not robot.has_health_check:
            raise RoboMetaError(
                f"malformed family spec {spec.source}: terminate_when_unhealthy: the"
                f" {robot.name} robot has no healthy range, so it cannot terminate"
            )
        return dataclasses.replace(robot, terminate_when_unhealthy=spec.terminate_when_unhealthy)

    def _size(self, param: ParamSpec) -> int:
        if param.per is not None:
            return getattr(self.model, _PER_SIZE[param.per]) - _ROW_OFFSET.get(param.per, 0)
        if param.train.__class__.__name__ == "Disk":
            return 2
        return 1

    def rows(self, param: ParamSpec) -> np.ndarray:
        """Indices into the model field's first axis that ``param`` writes."""
        apply = param.apply
        assert apply is not None and apply.field is not None
        if apply.select is not None:
            prefix = apply.field.split("_")[0]
            index = mujoco.mj_name2id(self.model, _SELECT_KIND[prefix], apply.select)
            if index < 0:
                raise RoboMetaError(
                    f"malformed family spec {self.spec.source}: params.{param.name}.apply.select:"
                    f" no {prefix} named {apply.select!r} in {self.robot.asset}"
                )
            if prefix == "dof":  # joint index -> its dofs (a free joint has 6, a ball joint 3)
                return np.flatnonzero(self.model.dof_jntid == index)
            return np.array([index])
        if apply.field.startswith("opt."):
            return np.array([0])
        per = param.per or apply.field.split("_")[0]
        offset = _ROW_OFFSET.get(per, 0)
        return np.arange(offset, getattr(self.model, _PER_SIZE.get(per, "nbody")))

    def _check_spec(self) -> None:
        for param in self.params:
            if param.apply is None or param.apply.field is None:
                continue
            field = param.apply.field
            holder = self.model.opt if field.startswith("opt.") else self.model
            value = getattr(holder, field.removeprefix("opt."), None)
            if not isinstance(value, np.ndarray | float):
                raise RoboMetaError(
                    f"malformed family spec {self.spec.source}: params.{param.name}.apply.field:"
                    f" {field!r} is not a model field"
                )
            prefix = None if field.startswith("opt.") else field.split("_")[0]
            if prefix is not None and prefix not in _PER_SIZE:
                raise RoboMetaError(
                    f"malformed family spec {self.spec.source}: params.{param.name}.apply.field:"
                    f" {field!r}: only body_, geom_, dof_, actuator_ and opt. fields can vary"
                )
            if param.per is not None and param.per != prefix:
                raise RoboMetaError(
                    f"malformed family spec {self.spec.source}: params.{param.name}.per:"
                    f" one value per {param.per} does not fit the field {field!r}"
                )
            self.rows(param)  # raises on a bad select
        for split, spec in self.spec.splits.items():
            if spec.count is None:
                tasks = self._explicit(split)  # validates explicit values and grids at load time
                outside = [t for t in tasks if split == "val" and not self.in_train(t)]
                if outside:
                    raise RoboMetaError(
                        f"malformed family spec {self.spec.source}: splits.val:"
                        f" {outside[0].as_dict()} is outside the train distribution"
                        " (val tasks come from the distribution trained on)"
                    )

    # -- tasks ---------------------------------------------------------------------------------
    def sample_tasks(self, n: int, seed: int | np.random.Generator | None = None) -> list[Task]:
        """``n`` tasks from the train distribution, reproducible for a given seed."""
        rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        return self._from_arrays(
            {p.name: p.train.sample(rng, n, self.sizes[p.name]) for p in self.params}, n
        )

    def _sample_ood(self, n: int, seed: int) -> list[Task]:
        rng = np.random.default_rng(seed)
        return self._from_arrays(
            {p.name: (p.ood or p.train).sample(rng, n, self.sizes[p.name]) for p in self.params}, n
        )

    def _from_arrays(self, arrays: dict[str, np.ndarray], n: int) -> list[Task]:
        tasks = []
        for i in range(n):
            params = {k: (v[i, 0] if self.sizes[k] == 1 and self._params[k].per is None else v[i])
                      for k, v in arrays.items()}
            tasks.append(Task.make(self.name, params))
        return tasks

    def has_split(self, split: str) -> bool:
        return split == "train" or split in self.spec.splits

    def tasks(self, split: str) -> list[Task]:
        """The fixed task set of ``split``: "val" (train distribution, for checks during
        training), "test" (held out, final reports only) or "ood" (outside the train ranges)."""
        if split not in self._splits:
            spec = self.spec.splits.get(split)
            if spec is None:
                known = ", ".join(self.spec.splits)
                raise RoboMetaError(f"family {self.name} has no {split!r} split (it has: {known})")
            if spec.count is not None:
                sampler = self._sample_ood if split == "ood" else self.sample_tasks
                self._splits[split] = sampler(spec.count, spec.seed)
            else:
                self._splits[split] = self._explicit(split)
        return list(self._splits[split])

    def _explicit(self, split: str) -> list[Task]:
        spec = self.spec.splits[split]
        if spec.grid is not None:
            names = list(spec.grid)
            rows = [dict(zip(names, combo, strict=True))
                    for combo in itertools.product(*spec.grid.values())]
        else:
            rows = list(spec.values or ())
        return [self.validate(Task.make(self.name, row)) for row in rows]

    # -- validation ----------------------------------------------------------------------------
    def validate(self, task: Task) -> Task:
        """Return ``task`` if it belongs to this family and every value is in range, else raise."""
        if not isinstance(task, Task):
            raise RoboMetaError(f"expected a Task, got {type(task).__name__}")
        if task.family != self.name:
            raise RoboMetaError(f"task of family {task.family!r} given to family {self.name!r}")
        values = task.as_dict()
        for name in values:
            if name not in self._params:
                raise RoboMetaError(
                    f"family {self.name} has no task parameter {name!r}"
                    f"{did_you_mean(name, self._params)} (parameters: {', '.join(self._params)})"
                )
        for param in self.params:
            if param.name not in values:
                raise RoboMetaError(f"task of family {self.name} lacks parameter {param.name!r}")
            array = self._array(param, values[param.name])
            inside = param.train.inside(array)
            if param.ood is not None:
                inside |= param.ood.inside(array)
            if not inside.all():
                ranges = f"train {param.train.describe()}"
                if param.ood is not None:
                    ranges += f", ood {param.ood.describe()}"
                raise RoboMetaError(
                    f"task parameter {param.name}={_show(values[param.name])} of family"
                    f" {self.name} is outside its declared ranges ({ranges})"
                )
        return task

    def _array(self, param: ParamSpec, value) -> np.ndarray:
        """A validated value as (1, size); a vector of the wrong length is an error."""
        array = np.atleast_1d(np.asarray(value, dtype=float))
        size = self.sizes[param.name]
        if array.shape != (size,):
            what = f"one per {param.per}" if param.per else "values"
            raise RoboMetaError(
                f"task parameter {param.name} of family {self.name} needs {size} {what},"
                f" got {array.size}"
            )
        return array[None]

    def in_train(self, task: Task) -> bool:
        """Whether every parameter of ``task`` lies in its train distribution."""
        values = task.as_dict()
        return all(
            bool(contains(p.train, self._array(p, values[p.name]))[0]) for p in self.params
        )

    # -- arrays for the simulator --------------------------------------------------------------
    def task_arrays(self, tasks: Sequence[Task]) -> dict[str, np.ndarray]:
        """Parameter name -> (len(tasks), size) float64 values."""
        return {
            p.name: np.stack([self._array(p, t[p.name])[0] for t in tasks]) for p in self.params
        }

    def task_features(self, arrays: dict[str, np.ndarray]) -> np.ndarray:
        """(n, feature_dim) normalized task parameters (privileged information)."""
        return np.concatenate([p.train.features(arrays[p.name]) for p in self.params], axis=1)


def _show(value) -> str:
    if isinstance(value, tuple):
        return "[" + ", ".join(f"{v:g}" for v in value) + "]"
    return f"{value:g}"


# -- registry ----------------------------------------------------------------------------------
@functools.cache
def _builtin_specs() -> dict[str, Path]:
    return {path.stem: path for path in sorted(FAMILIES_DIR.glob("*.toml"))}


def families() -> list[str]:
    """Names of the built-in families."""
    return list(_builtin_specs())


@functools.cache
def _load(path: str) -> Family:
    return Family(load_spec(path))


def get_family(name: str | Family) -> Family:
    """A built-in family by name, or a user family from a path to its ``.toml`` spec."""
    if isinstance(name, Family):
        return name
    specs = _builtin_specs()
    if name in specs:
        family = _load(str(specs[name]))
    elif name.endswith(".toml"):
        family = _load(str(Path(name).resolve()))
    else:
        raise RoboMetaError(
            f"unknown family {name!r}{did_you_mean(name, specs)} (known: {', '.join(specs)})"
        )
    return family
