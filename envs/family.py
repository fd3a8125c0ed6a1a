"""Family: a spec bound to its compiled model; samples, validates and describes tasks."""

from __future__ import annotations

import copy
import dataclasses
import functools
import itertools
import math
import os
from collections.abc import Sequence
from pathlib import Path

import mujoco
import mujoco.batch
import numpy as np

from robo_meta.envs.distributions import Choice, Disk, contains
from robo_meta.envs.errors import RoboMetaError, did_you_mean, one_line
from robo_meta.envs.robots import Robot, get_robot
from robo_meta.envs.spec import FamilySpec, ParamSpec, load_spec, parse_spec, read_spec_text
from robo_meta.envs.spec import spec_error as _spec_error
from robo_meta.envs.task import Task

FAMILIES_DIR = Path(__file__).resolve().parent / "families"

# Model fields a `per` parameter scales, by element kind; body fields skip the world body.
_PER_SIZE = {"body": "nbody", "geom": "ngeom", "dof": "nv", "actuator": "nu"}
_ROW_OFFSET = {"body": 1}
# What `select` names, by field prefix: a dof field's rows are those of the named joint.
_SELECT_KIND = {"body": mujoco.mjtObj.mjOBJ_BODY, "geom": mujoco.mjtObj.mjOBJ_GEOM,
                "dof": mujoco.mjtObj.mjOBJ_JOINT, "actuator": mujoco.mjtObj.mjOBJ_ACTUATOR}
_SELECT_WHAT = {"body": "body", "geom": "geom", "dof": "joint", "actuator": "actuator"}
# Fields that must stay positive (MuJoCo rejects a moving body without mass or inertia) or
# non-negative (negative friction, damping or armature feeds energy in; a negative gear
# reverses a motor), whatever a task does to them.
_POSITIVE_FIELDS = {"body_mass", "body_inertia"}
_NONNEGATIVE_FIELDS = {"geom_friction", "dof_damping", "dof_armature", "dof_frictionloss",
                       "actuator_gear"}
# Outputs of mj_setConst: a task's value would be overwritten at the next set_const
_DERIVED_FIELDS = set(mujoco.MjModel._setconst_outputs) - set(mujoco.MjModel._setconst_inputs)


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
        self.feature_dim = sum(self.sizes[p.name] * p.train.feature_width for p in spec.params)
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
            raise _spec_error(spec.source, f"the {robot.name} robot has no healthy range, so"
                              " it cannot terminate", key="terminate_when_unhealthy")
        return dataclasses.replace(robot, terminate_when_unhealthy=spec.terminate_when_unhealthy)

    def _size(self, param: ParamSpec) -> int:
        if param.per is not None:
            return getattr(self.model, _PER_SIZE[param.per]) - _ROW_OFFSET.get(param.per, 0)
        if isinstance(param.train, Disk):
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
                what = _SELECT_WHAT[prefix]
                known = [mujoco.mj_id2name(self.model, _SELECT_KIND[prefix], i) or ""
                         for i in range(_count(self.model, _SELECT_KIND[prefix]))]
                raise self._error(
                    f"no {what} named {apply.select!r} in {self.robot.asset}"
                    f"{did_you_mean(apply.select, [k for k in known if k])}",
                    ("params", param.name, "apply"), "select")
            if prefix == "dof":  # joint index -> its dofs (a free joint has 6, a ball joint 3)
                return np.flatnonzero(self.model.dof_jntid == index)
            return np.array([index])
        if apply.field.startswith("opt."):
            return np.array([0])
        per = param.per or apply.field.split("_")[0]
        offset = _ROW_OFFSET.get(per, 0)
        return np.arange(offset, getattr(self.model, _PER_SIZE.get(per, "nbody")))

    def _error(self, message: str, table: tuple[str, ...] = (), key: str | None = None
               ) -> RoboMetaError:
        return _spec_error(self.spec.source, message, table, key)

    def _check_spec(self) -> None:
        """The checks that need the model: fields, selectors, legs, signs; explicit splits."""
        for param in self.params:
            if param.apply is not None and param.apply.field is not None:
                self._check_field(param)
            elif param.name == "crippled_leg" and param.apply is not None:
                legs = self.model.nu // 2  # leg i owns actuators 2i and 2i+1
                for key, dist in (("train", param.train), ("ood", param.ood)):
                    high = max(getattr(dist, "values", (0.0,)))
                    if high >= legs:
                        raise self._error(f"leg {high:g}: the {self.robot.name} has legs 0 to"
                                          f" {legs - 1}", ("params", param.name), key)
        self._check_splits()
        self._check_identity()

    def _check_field(self, param: ParamSpec) -> None:
        table = ("params", param.name, "apply")
        field = param.apply.field  # type: ignore[union-attr]
        holder = self.model.opt if field.startswith("opt.") else self.model
        value = getattr(holder, field.removeprefix("opt."), None)
        if field not in mujoco.batch.MODEL_FIELDS or not (
                isinstance(value, float) or isinstance(value, np.ndarray)
                and value.dtype == np.float64):
            raise self._error(f"{field!r} is not a model field of real numbers"
                              f"{did_you_mean(field, _float_fields(self.model))}", table, "field")
        if not isinstance(value, np.ndarray):  # the simulator writes options as (n, size) rows
            raise self._error(f"{field!r} is a scalar option; only vector options (opt.gravity,"
                              " opt.wind, opt.magnetic) can vary", table, "field")
        if field in _DERIVED_FIELDS:
            raise self._error(f"{field!r} is derived by MuJoCo (mj_setConst recomputes it):"
                              " vary what it derives from", table, "field")
        prefix = None if field.startswith("opt.") else field.split("_")[0]
        if prefix is not None and (prefix not in _PER_SIZE or value.shape[0] != getattr(
                self.model, _PER_SIZE[prefix])):
            raise self._error(f"{field!r}: only body_, geom_, dof_, actuator_ and opt. fields"
                              " (one row per element) can vary", table, "field")
        if param.per is not None and param.per != prefix:
            raise self._error(f"one value per {param.per} does not fit the field {field!r}",
                              table[:2], "per")
        rows = self.rows(param)  # raises on a bad select
        for key, dist in (("train", param.train), ("ood", param.ood)):
            for bound in dist.bounds() if dist is not None else ():
                self._check_bound(param, rows, key, bound)

    def _check_bound(self, param: ParamSpec, rows: np.ndarray, key: str, bound: float) -> None:
        """The model with ``param`` at one end of its range, as the simulator would write it,
        keeps positive what must stay positive and passes MuJoCo's mj_setConst."""
        field, mode = param.apply.field, param.apply.mode  # type: ignore[union-attr]
        model = copy.copy(self.model)
        option = field.startswith("opt.")
        values = getattr(model.opt if option else model, field.removeprefix("opt."))
        nominal = values.copy() if option else values[rows]
        result = (nominal * bound if mode == "scale" else nominal + bound if mode == "add"
                  else np.full_like(nominal, bound))
        if field in _POSITIVE_FIELDS | _NONNEGATIVE_FIELDS:
            bad = (result <= 0) & ((nominal > 0) | (mode != "scale")) \
                if field in _POSITIVE_FIELDS else result < 0
            if bad.any():
                sign = "positive" if field in _POSITIVE_FIELDS else "at least 0"
                raise self._error(f"{mode} {bound:g} makes {field} {result[bad].min():g}"
                                  f" ({field} must stay {sign})", ("params", param.name), key)
        if option:
            values[...] = result
        else:
            values[rows] = result
        try:
            mujoco.mj_setConst(model, mujoco.MjData(model))
        except mujoco.FatalError as exc:
            raise self._error(f"{mode} {bound:g} on {field}: MuJoCo rejects the model"
                              f" ({one_line(exc, 120)})", ("params", param.name), key) from None

    def _check_splits(self) -> None:
        """Explicit tasks are valid; val and test ones lie in train, ood ones outside it."""
        for split, spec in self.spec.splits.items():
            if spec.count is not None:
                continue
            key = "grid" if spec.grid is not None else "values"
            try:
                tasks = self._explicit(split)
            except RoboMetaError as exc:
                raise self._error(str(exc), ("splits", split), key) from None
            for task in tasks:
                if (split == "ood") == self.in_train(task):
                    where = "inside" if split == "ood" else "outside"
                    why = ("ood tasks lie outside the train distribution" if split == "ood"
                           else f"{split} tasks come from the distribution trained on")
                    raise self._error(f"{task.as_dict()} is {where} the train distribution"
                                      f" ({why})", ("splits", split), key)

    def _check_identity(self) -> None:
        """A spec named like a built-in family must be that family (see docs/families.md)."""
        builtin = _builtin_specs().get(self.name)
        if builtin is None or Path(self.spec.source) == builtin:
            return
        if self.spec.content() != _builtin_spec(self.name).content():
            raise self._error(f"{self.name!r} is the name of a built-in family, but this spec"
                              " differs from it: give the family another name", key="name")

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

    def is_census(self, tasks: Sequence[Task]) -> bool:
        """Whether ``tasks`` are every task of the train distribution, each exactly once.

        Only a finite distribution has a census: every parameter a ``choice`` (uniform and
        independent per element, so its tasks are equally likely). cheetah-dir's two
        directions are one. Then the mean over ``tasks`` *is* the mean over the distribution,
        and a confidence interval needs no sampling of tasks: only the seeds within each task
        vary (``robo_meta.evaluation.summarize_census``).
        """
        if not tasks or not all(isinstance(p.train, Choice) for p in self.params):
            return False
        values = [tuple(p.train.values) for p in self.params for _ in range(self.sizes[p.name])]
        if math.prod(len(v) for v in values) != len(tasks):
            return False
        try:
            seen = {tuple(np.concatenate([self._array(p, t[p.name])[0] for p in self.params]))
                    for t in tasks if t.family == self.name}
        except (KeyError, RoboMetaError):
            return False
        return seen == set(itertools.product(*values))

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

    def feature_names(self) -> list[str]:
        """A name per column of ``task_features``: the parameter's, indexed where it has
        several (one per element, or a disk's x and y)."""
        names = []
        for p in self.params:
            width = self.sizes[p.name] * p.train.feature_width
            names += [p.name] if width == 1 else [f"{p.name}[{i}]" for i in range(width)]
        return names

    def task_features(self, arrays: dict[str, np.ndarray]) -> np.ndarray:
        """(n, feature_dim) normalized task parameters (privileged information)."""
        return np.concatenate([p.train.features(arrays[p.name]) for p in self.params], axis=1)


def _show(value) -> str:
    if isinstance(value, tuple):
        return "[" + ", ".join(f"{v:g}" for v in value) + "]"
    return f"{value:g}"


def _count(model: mujoco.MjModel, kind) -> int:
    return {mujoco.mjtObj.mjOBJ_BODY: model.nbody, mujoco.mjtObj.mjOBJ_GEOM: model.ngeom,
            mujoco.mjtObj.mjOBJ_JOINT: model.njnt, mujoco.mjtObj.mjOBJ_ACTUATOR: model.nu}[kind]


def _float_fields(model: mujoco.MjModel) -> list[str]:
    """The model fields a parameter may write (for did-you-mean)."""
    return [f for f in mujoco.batch.MODEL_FIELDS if f.split("_")[0] in _PER_SIZE
            and getattr(getattr(model, f, None), "dtype", None) == np.float64]


# -- registry ----------------------------------------------------------------------------------
@functools.cache
def _builtin_specs() -> dict[str, Path]:
    return {path.stem: path for path in sorted(FAMILIES_DIR.glob("*.toml"))}


def families() -> list[str]:
    """Names of the built-in families."""
    return list(_builtin_specs())


@functools.cache
def _builtin_spec(name: str) -> FamilySpec:
    return load_spec(_builtin_specs()[name])


@functools.cache
def _builtin(name: str) -> Family:
    return Family(_builtin_spec(name))


@functools.lru_cache(maxsize=64)
def _user(path: str, text: str) -> Family:
    # keyed on the text too: a file edited between two calls is read afresh
    return Family(parse_spec(text, path))


def get_family(name: str | os.PathLike | Family) -> Family:
    """A built-in family by name, or a user family from a path to its ``.toml`` spec.

    A path to a built-in's own spec file gives that built-in. A user spec whose ``name`` is a
    built-in family's must have the same content (anything but comments and description),
    else loading it is an error: a family's name resolves to one family everywhere.
    """
    if isinstance(name, Family):
        return name
    if isinstance(name, os.PathLike):
        name = os.fspath(name)
    if not isinstance(name, str):
        raise RoboMetaError(f"a family is a name or a path to a .toml spec, got {name!r:.80}")
    specs = _builtin_specs()
    if name in specs:
        return _builtin(name)
    if name.endswith(".toml"):
        path = Path(name)
        builtin = {p: stem for stem, p in specs.items()}.get(path.resolve())
        if builtin is not None:
            return _builtin(builtin)
        return _user(str(path), read_spec_text(path))
    raise RoboMetaError(
        f"unknown family {name!r:.80}{did_you_mean(name, specs)} (known: {', '.join(specs)})"
    )
