"""Family specs: the declarative TOML files in ``families/`` and the one parser that reads them.

A spec says everything that makes a family: the robot (MJCF model), the task kind (reward),
horizon and frame skip, whether the robot's episode ends when it leaves its healthy range,
each randomized parameter with its train and ood distributions and what it acts on, and the
fixed ``val`` / ``test`` / ``ood`` splits. Example (``cheetah-vel.toml``)::

    name = "cheetah-vel"
    robot = "half_cheetah"
    task = "velocity"
    horizon = 200
    frame_skip = 5

    [params.target_velocity]
    distribution = "uniform"
    train = [0.0, 2.0]
    ood = [2.0, 3.0]

    [splits]
    val = { count = 20, seed = 3001 }
    test = { count = 40, seed = 1001 }
    ood = { count = 40, seed = 2001 }

``terminate_when_unhealthy`` (optional, true | false) overrides the robot's default (Gymnasium's:
the hopper, walker and ant end an episode when they leave their healthy height/pitch range; the
half-cheetah and point mass have no such range and never terminate). Where a step's reward can
be negative, termination lets a policy end a bad episode early, so a family that terminates
must pay a healthy robot at rest at least zero per step (tests/test_envs_rewards.py checks it).

Parameter keys: ``distribution`` (uniform | angle | log_uniform | choice | disk; an angle
is uniform in radians, its task features (cos, sin), so that equal directions look equal),
``train`` and optional ``ood`` (an interval, a list of intervals, a list of values for choice, or
``{radius = [lo, hi], angle_deg = [lo, hi]}`` for disk), ``base`` (log_uniform: ranges are
exponents), ``per`` (body | geom | dof | actuator: one value per element of the model, the world
body aside), and ``apply``: ``{field = "body_mass", mode = "scale" | "add" | "set",
select = "torso"}`` for a model field, ``{effect = "cripple_leg"}`` for a named effect, or absent
for the parameter the reward reads (``REWARD_PARAMS``: a velocity task's ``target_velocity``,
a direction task's ``direction``, a direction_2d task's ``direction_angle``, a goal task's
``goal``, a disk).
Split keys: ``count`` + ``seed`` (sampled), ``values`` (explicit list of tasks) or ``grid``
(the product of per-parameter value lists). ``test`` is required. ``val`` (tasks from the train
distribution for progress checks and model selection during training; ``test`` is for final
reports only) defaults to ``{count = 20, seed = 3001}`` where a spec omits it; a sampled ``val``
must not share ``test``'s seed. ``test`` and ``val`` come from the train distribution, ``ood``
from the ood one (explicit tasks are checked to).
``[reward]`` overrides the robot's weights: ``forward_reward_weight`` (not for goal tasks),
``ctrl_cost_weight``, ``healthy_reward``, ``success_radius`` (goal tasks only).

Validation. Every spec, built-in or a user's file, goes through ``parse_spec``: the table
layout, key names and types are the pydantic models below (``_SpecFile`` and the tables it
holds: unknown keys, missing keys, wrong types, non-finite numbers and the bounds in
``LIMITS`` are schema errors), then ``_build`` checks what one table cannot say alone
(distributions and their ranges, ``ood`` disjoint from ``train``, the names the reward kind and
effects read, splits). What needs the compiled model (apply fields and selectors, leg indices,
masses that must stay positive, explicit split tasks) is checked by ``Family`` when it binds
the spec to its model. Every failure is one ``RoboMetaError`` line naming the file and the key:
``malformed family spec my.toml: [reward] unknown key 'ctrl_cost_weigth' (did you mean
ctrl_cost_weight?)``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from robo_meta.envs.distributions import Angle, Choice, Disk, Distribution, LogUniform, Uniform
from robo_meta.envs.errors import RoboMetaError, did_you_mean
from robo_meta.envs.robots import ROBOTS
from robo_meta.envs.task import Value, freeze_value

PER_KINDS = ("body", "geom", "dof", "actuator")
APPLY_MODES = ("scale", "add", "set")
EFFECTS = ("cripple_leg",)
DISTRIBUTIONS = ("uniform", "angle", "log_uniform", "choice", "disk")
TASK_KINDS = ("goal", "velocity", "direction", "direction_2d", "forward")
#: the parameter each task kind's reward reads (envs/rewards.py); forward reads none
REWARD_PARAMS = {"velocity": "target_velocity", "direction": "direction",
                 "direction_2d": "direction_angle", "goal": "goal"}
#: the parameters an effect reads (envs/simulator.py)
EFFECT_PARAMS = {"cripple_leg": ("crippled_leg", "crippled_strength")}
SPLITS = ("val", "test", "ood")
#: the val split of a spec that declares none
DEFAULT_VAL = {"count": 20, "seed": 3001}


@dataclass(frozen=True)
class Limits:
    """Bounds on a spec's sizes and numbers: each guards a hang or a silent overflow."""

    #: env steps per episode (an evaluation runs horizon x K steps per trial)
    horizon: int = 100_000
    #: physics steps per env step (10^9 hung every command)
    frame_skip: int = 1000
    #: tasks in one split (10^7 hung evaluate)
    split_tasks: int = 10_000
    #: |value| of any parameter value, reward weight or disk radius
    magnitude: float = 1e6
    #: reset noise scale (qpos + U(-s, s)); 1e6 made every simulation fail
    reset_noise: float = 1.0
    #: parameters of one family, intervals of one range, values of one choice
    params: int = 64
    bands: int = 64
    choices: int = 10_000
    #: spec file size in bytes
    file_bytes: int = 1_000_000


LIMITS = Limits()
_NAME = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
_PARAM_NAME = r"^[A-Za-z_][A-Za-z0-9_]{0,63}$"


@dataclass(frozen=True)
class Apply:
    """What a parameter acts on: a model ``field`` (rows picked by ``select``) or an ``effect``."""

    field: str | None = None
    mode: str = "scale"
    select: str | None = None
    effect: str | None = None


@dataclass(frozen=True)
class ParamSpec:
    """One randomized task parameter."""

    name: str
    train: Distribution
    ood: Distribution | None = None
    per: str | None = None
    apply: Apply | None = None


@dataclass(frozen=True)
class SplitSpec:
    """A fixed task set: sampled (``count``, ``seed``), explicit ``values``, or a ``grid``."""

    count: int | None = None
    seed: int | None = None
    values: tuple[dict[str, Value], ...] | None = None
    grid: dict[str, tuple[float, ...]] | None = None


@dataclass(frozen=True)
class FamilySpec:
    """A whole family, as read from its TOML file."""

    name: str
    robot: str
    task: str
    horizon: int
    frame_skip: int
    description: str
    params: tuple[ParamSpec, ...]
    splits: dict[str, SplitSpec]
    reward: dict[str, float] = field(default_factory=dict)
    include_xy: bool = False
    reset_noise: float | None = None
    #: None: the robot's default (``Robot.terminate_when_unhealthy``)
    terminate_when_unhealthy: bool | None = None
    source: str = ""

    def content(self) -> FamilySpec:
        """The spec without what does not change the family (its file and description):
        two specs with equal ``content()`` make the same tasks, dynamics and rewards."""
        return dataclasses.replace(self, source="", description="")


def spec_error(source: str, message: str, table: tuple[str, ...] = (),
               key: str | None = None) -> RoboMetaError:
    """The one-line error of a spec: ``malformed family spec FILE: [TABLE] KEY: MESSAGE``."""
    where = f"[{'.'.join(map(_toml_key, table))}] " if table else ""
    where += f"{key}: " if key else ""
    # one line whatever a file name or a quoted value holds (splitlines' breaks: \x85, \u2028..)
    return RoboMetaError(" ".join(f"malformed family spec {source}: {where}{message}".splitlines()))


def _toml_key(name: str) -> str:
    """A key as TOML writes it: bare when it can be, else quoted with escapes."""
    return name if re.fullmatch(r"[A-Za-z0-9_-]+", name) else json.dumps(name)


def _unknown(what: str, name: str, known) -> str:
    """``unknown WHAT 'name'`` with the close matches, else every known name."""
    return f"unknown {what} {name!r}" + (did_you_mean(name, known)
                                        or f" (known: {', '.join(known)})")


def _show(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# -- the schema: one pydantic model per TOML table ---------------------------------------------
class _Table(BaseModel):
    # strict: 5.5 is no int, true no number, "1" no number; numbers must be finite
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, allow_inf_nan=False)


_Magnitude = Annotated[float, Field(ge=-LIMITS.magnitude, le=LIMITS.magnitude)]


class _ApplyTable(_Table):
    field: str | None = None
    mode: str = "scale"
    select: str | None = None
    effect: str | None = None


class _ParamTable(_Table):
    distribution: str
    train: Any  # its shape depends on the distribution: read by _distribution
    ood: Any = None
    base: float | None = Field(None, gt=0, le=LIMITS.magnitude)
    per: str | None = None
    apply: _ApplyTable | None = None


class _SplitTable(_Table):
    count: int | None = Field(None, ge=1, le=LIMITS.split_tasks)
    seed: int | None = Field(None, ge=0)
    values: list[dict[str, Any]] | None = Field(None, min_length=1, max_length=LIMITS.split_tasks)
    grid: dict[str, Annotated[list[_Magnitude], Field(min_length=1)]] | None = Field(
        None, min_length=1)


class _SplitsTable(_Table):
    val: _SplitTable | None = None
    test: _SplitTable
    ood: _SplitTable | None = None


class _RewardTable(_Table):
    forward_reward_weight: _Magnitude | None = None
    ctrl_cost_weight: float | None = Field(None, ge=0, le=LIMITS.magnitude)
    healthy_reward: _Magnitude | None = None
    success_radius: float | None = Field(None, gt=0, le=LIMITS.magnitude)


class _ObservationTable(_Table):
    include_xy: bool = False


class _SpecFile(_Table):
    name: Annotated[str, StringConstraints(pattern=_NAME)]
    robot: str
    task: str
    horizon: int = Field(ge=1, le=LIMITS.horizon)
    frame_skip: int = Field(ge=1, le=LIMITS.frame_skip)
    description: str = Field("", max_length=1000)
    params: dict[Annotated[str, StringConstraints(pattern=_PARAM_NAME)], _ParamTable] = Field(
        min_length=1, max_length=LIMITS.params)
    splits: _SplitsTable
    reward: _RewardTable = _RewardTable()
    observation: _ObservationTable = _ObservationTable()
    reset_noise: float | None = Field(None, ge=0, le=LIMITS.reset_noise)
    terminate_when_unhealthy: bool | None = None


def _table_model(loc: tuple) -> tuple[type[_Table] | None, int]:
    """The model of the deepest table on ``loc`` and how many loc entries name that table."""
    model: type[_Table] = _SpecFile
    depth = i = 0
    while i < len(loc) and isinstance(loc[i], str) and loc[i] in model.model_fields:
        annotation = model.model_fields[loc[i]].annotation
        i += 1
        if typing.get_origin(annotation) in (typing.Union, types.UnionType):
            annotation = next(a for a in typing.get_args(annotation) if a is not type(None))
        if typing.get_origin(annotation) is dict:  # the next loc entry is the key
            if i >= len(loc):
                break
            annotation, i = typing.get_args(annotation)[1], i + 1
        if not (isinstance(annotation, type) and issubclass(annotation, _Table)):
            break
        model, depth = annotation, i
    return model, depth


_EXPECTED = {"int_type": "an integer", "float_type": "a number", "bool_type": "true or false",
             "string_type": "a string", "dict_type": "a table", "model_type": "a table",
             "list_type": "a list", "finite_number": "a finite number"}
_BOUNDS = {"greater_than": "more than {gt}", "greater_than_equal": "at least {ge}",
           "less_than": "less than {lt}", "less_than_equal": "at most {le}"}


def _schema_error(source: str, error: dict) -> RoboMetaError:
    """One line for pydantic's first error: the table, the key, what was wrong."""
    loc, kind = tuple(error["loc"]), error["type"]
    model, depth = _table_model(loc[:-1])  # the last entry is a key, even of a table
    table = tuple(str(part) for part in loc[:depth])
    rest = loc[depth:]
    key = "".join(f"[{p}]" if isinstance(p, int) else ("." if n else "") + _toml_key(str(p))
                  for n, p in enumerate(rest))
    given = error.get("input")
    if kind == "extra_forbidden":
        known = list(model.model_fields) if model else []
        hint = did_you_mean(str(rest[0]), known) or f" (known: {', '.join(known)})"
        return spec_error(source, f"unknown key {str(rest[0])!r}{hint}", table)
    if kind == "missing":
        return spec_error(source, f"missing key {str(rest[-1])!r}", table)
    if loc[-1] == "[key]":  # a table's key (a parameter's name) is malformed
        return spec_error(source, f"invalid name {_show(given)} (letters, digits and _, not"
                          " starting with a digit, at most 64)", tuple(map(str, loc[:-2])))
    if kind in _EXPECTED:
        return spec_error(source, f"expected {_EXPECTED[kind]}, got {_show(given)}", table, key)
    if kind in _BOUNDS:
        bound = _BOUNDS[kind].format(**{k: f"{v:,}" if isinstance(v, int) else v
                                        for k, v in error.get("ctx", {}).items()})
        return spec_error(source, f"must be {bound}, got {_show(given)}", table, key)
    if kind == "string_pattern_mismatch" and key == "name":
        return spec_error(source, f"{given!r} is not a family name (letters, digits, - and _,"
                          " at most 64)", table, key)
    if kind in ("too_short", "too_long"):
        size = error.get("ctx", {})
        bound = (f"at least {size.get('min_length')}" if kind == "too_short"
                 else f"at most {size.get('max_length'):,}")
        return spec_error(source, f"needs {bound} entries, got {size.get('actual_length')}",
                          table, key)
    return spec_error(source, error["msg"].splitlines()[0], table, key)


# -- from the validated tables to a FamilySpec -------------------------------------------------
@dataclass(frozen=True)
class _Where:
    """A table of one spec file, to raise errors naming it."""

    source: str
    table: tuple[str, ...] = ()

    def error(self, message: str, key: str | None = None) -> RoboMetaError:
        return spec_error(self.source, message, self.table, key)

    def sub(self, *names: str) -> _Where:
        return _Where(self.source, self.table + names)


def _numbers(where: _Where, key: str, value: Any, length: int | None = None) -> tuple[float, ...]:
    if not isinstance(value, list) or not all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in value
    ):
        raise where.error(f"expected a list of numbers, got {_show(value)}", key)
    if length is not None and len(value) != length:
        raise where.error(f"expected {length} numbers [low, high], got {len(value)}", key)
    numbers = tuple(float(v) for v in value)
    if not all(math.isfinite(v) for v in numbers):
        raise where.error(f"expected finite numbers, got {_show(value)}", key)
    return numbers


def _bands(where: _Where, key: str, value: Any, bound: float) -> tuple[tuple[float, float], ...]:
    """``[lo, hi]`` or ``[[lo, hi], ...]`` as ordered intervals within +-``bound``."""
    if isinstance(value, list) and value and all(isinstance(v, list) for v in value):
        items = value
    else:
        items = [value]
    if len(items) > LIMITS.bands:
        raise where.error(f"at most {LIMITS.bands} intervals, got {len(items)}", key)
    bands = []
    for item in items:
        lo, hi = _numbers(where, key, item, 2)
        if lo > hi:
            raise where.error(f"interval [{lo:g}, {hi:g}] has low > high", key)
        if max(abs(lo), abs(hi)) > bound:
            raise where.error(f"interval [{lo:g}, {hi:g}] exceeds +-{bound:g}", key)
        bands.append((lo, hi))
    return tuple(bands)


def _distribution(where: _Where, kind: str, key: str, value: Any, base: float | None
                  ) -> Distribution:
    if kind == "uniform":
        return Uniform(_bands(where, key, value, LIMITS.magnitude))
    if kind == "angle":
        return Angle(_bands(where, key, value, LIMITS.magnitude))
    if kind == "log_uniform":
        assert base is not None
        # exponents whose values base**e stay within [1/magnitude, magnitude]
        bound = math.log(LIMITS.magnitude) / abs(math.log(base))
        return LogUniform(base, _bands(where, key, value, bound))
    if kind == "choice":
        values = _numbers(where, key, value)
        if not values or len(values) > LIMITS.choices:
            raise where.error(f"a choice needs 1 to {LIMITS.choices:,} values, got {len(values)}",
                              key)
        if max(abs(v) for v in values) > LIMITS.magnitude:
            raise where.error(f"values exceed +-{LIMITS.magnitude:g}", key)
        return Choice(values)
    assert kind == "disk"
    if not isinstance(value, dict):
        raise where.error("a disk is {radius = [lo, hi], angle_deg = [lo, hi]}, got"
                          f" {_show(value)}", key)
    unknown = sorted(set(value) - {"radius", "angle_deg"})
    if unknown:
        raise where.error(_unknown("key", unknown[0], ["radius", "angle_deg"]), key)
    if "radius" not in value:
        raise where.error("missing key 'radius'", key)
    radius = _bands(where, f"{key}.radius", value["radius"], LIMITS.magnitude)
    angle = _bands(where, f"{key}.angle_deg", value.get("angle_deg", [0.0, 360.0]), 360.0)
    if len(radius) > 1 or len(angle) > 1:
        raise where.error("a disk takes one radius interval and one angle interval", key)
    if radius[0][0] < 0:
        raise where.error(f"radius [{radius[0][0]:g}, {radius[0][1]:g}] is negative", key)
    if angle[0][1] - angle[0][0] > 360:
        raise where.error("angle_deg spans more than 360 degrees", key)
    return Disk(radius[0], (math.radians(angle[0][0]), math.radians(angle[0][1])))


def _overlap(a: tuple[float, float], b: tuple[float, float]) -> bool:
    """Whether two closed intervals share more than an end point (a point interval: any)."""
    lo, hi = max(a[0], b[0]), min(a[1], b[1])
    return hi > lo or (hi == lo and (a[0] == a[1] or b[0] == b[1]))


def _intersects(train: Distribution, ood: Distribution) -> bool:
    if isinstance(train, Uniform | LogUniform):
        return any(_overlap(t, o) for t in train.bands for o in ood.bands)  # type: ignore
    if isinstance(train, Choice):
        return bool(train.inside(np.asarray(ood.values, dtype=float)).any())  # type: ignore
    assert isinstance(train, Disk) and isinstance(ood, Disk)
    if not _overlap(train.radius, ood.radius):
        return False
    turn = 2 * math.pi  # angles overlap on the circle: try the ood sector a turn either way
    return any(_overlap(train.angle, (ood.angle[0] + k * turn, ood.angle[1] + k * turn))
               for k in (-2, -1, 0, 1, 2))


def _param(where: _Where, name: str, table: _ParamTable) -> ParamSpec:
    kind = table.distribution
    if kind not in DISTRIBUTIONS:
        raise where.error(_unknown("distribution", kind, DISTRIBUTIONS), "distribution")
    if (table.base is not None) != (kind == "log_uniform"):
        raise where.error("log_uniform needs a base" if kind == "log_uniform"
                          else f"only log_uniform takes a base, not {kind}", "base")
    if table.base == 1:
        raise where.error("must not be 1 (1**e is 1 for every exponent)", "base")
    train = _distribution(where, kind, "train", table.train, table.base)
    ood = None if table.ood is None else _distribution(where, kind, "ood", table.ood, table.base)
    if ood is not None and _intersects(train, ood):
        raise where.error(f"{ood.describe()} overlaps train {train.describe()} (ood ranges lie"
                          " outside the train distribution)", "ood")
    if table.per is not None and table.per not in PER_KINDS:
        raise where.error(_unknown("element kind", table.per, PER_KINDS), "per")
    if kind == "disk" and table.per is not None:
        raise where.error("a disk is one 2-D point, not one value per element", "per")
    return ParamSpec(name=name, train=train, ood=ood, per=table.per,
                     apply=None if table.apply is None else _apply(where.sub("apply"), table))


def _apply(where: _Where, param: _ParamTable) -> Apply:
    table = param.apply
    assert table is not None
    if (table.field is None) == (table.effect is None):
        raise where.error("give exactly one of field or effect")
    if table.mode not in APPLY_MODES:
        raise where.error(f"must be one of {', '.join(APPLY_MODES)}, got {table.mode!r}", "mode")
    if table.effect is not None:
        if table.effect not in EFFECTS:
            raise where.error(_unknown("effect", table.effect, EFFECTS), "effect")
        extra = sorted({"mode", "select"} & table.model_fields_set)
        if extra:
            raise where.error(f"an effect takes no {extra[0]}", extra[0])
    else:
        assert table.field is not None
        if param.distribution == "disk":
            raise where.error("a disk parameter (a 2-D point) cannot set a model field", "field")
        if table.select is not None and table.field.startswith("opt."):
            raise where.error(f"{table.field} is one option, nothing to select", "select")
        if table.select is not None and param.per is not None:
            raise where.error(f"select picks one element; per = {param.per!r} gives one value"
                              " per element: use one of them", "select")
    return Apply(field=table.field, mode=table.mode, select=table.select, effect=table.effect)


def _check_names(where: _Where, task: str, params: tuple[ParamSpec, ...], robot: str) -> None:
    """The parameters the reward and the effects read exist, and no parameter goes unread."""
    by_name = {p.name: p for p in params}
    needed = REWARD_PARAMS.get(task)
    if needed is not None:
        param = by_name.get(needed)
        if param is None:
            close = did_you_mean(needed, by_name)
            raise where.sub("params").error(f"a {task} task reads the parameter {needed!r},"
                                            f" which the spec lacks{close}")
        pw = where.sub("params", needed)
        if param.apply is not None:
            raise pw.error(f"the {task} reward reads {needed}: it takes no apply", "apply")
        if task == "goal" and not isinstance(param.train, Disk):
            raise pw.error("a goal is a 2-D point: use distribution = \"disk\"", "distribution")
        if task != "goal" and (isinstance(param.train, Disk) or param.per is not None):
            raise pw.error(f"the {task} reward reads one number", "per" if param.per else
                           "distribution")
    for name, param in by_name.items():
        pw = where.sub("params", name)
        effect = param.apply.effect if param.apply else None
        if param.apply is None and name != needed:
            hint = f"{did_you_mean(name, [needed])}" if needed else ""
            raise pw.error(f"no apply, and the {task} reward does not read it{hint}: give it an"
                           " apply table or remove it")
        if effect is not None and name not in EFFECT_PARAMS[effect]:
            raise pw.error(f"the {effect} effect reads {' and '.join(EFFECT_PARAMS[effect])},"
                           f" not {name!r}{did_you_mean(name, EFFECT_PARAMS[effect])}", "apply")
    for effect, names in EFFECT_PARAMS.items():
        users = [n for n in names if by_name.get(n) and by_name[n].apply
                 and by_name[n].apply.effect == effect]
        if users and len(users) < len(names):
            missing = next(n for n in names if n not in users)
            raise where.sub("params").error(f"the {effect} effect needs a parameter {missing!r}"
                                            f" with apply = {{ effect = \"{effect}\" }}")
        if users and robot != "ant":
            raise where.sub("params", users[0]).error(
                f"the {effect} effect acts on the ant's legs, not a {robot}", "apply")
    if "crippled_leg" in by_name and by_name["crippled_leg"].apply is not None:
        _check_cripple(where.sub("params"), by_name["crippled_leg"],
                       by_name["crippled_strength"])


def _check_cripple(where: _Where, leg: ParamSpec, strength: ParamSpec) -> None:
    lw, sw = where.sub(leg.name), where.sub(strength.name)
    if not isinstance(leg.train, Choice) or leg.per is not None:
        raise lw.error("a leg index is a choice of leg numbers", "distribution")
    for key, dist in (("train", leg.train), ("ood", leg.ood)):
        for value in getattr(dist, "values", ()):
            if value < 0 or value != int(value):
                raise lw.error(f"{value:g} is not a leg index (0, 1, ...)", key)
    if strength.per is not None or isinstance(strength.train, Disk):
        raise sw.error("a strength is one number", "per")
    for key, dist in (("train", strength.train), ("ood", strength.ood)):
        if dist is not None and dist.bounds()[0] < 0:
            raise sw.error(f"{dist.describe()} goes below 0 (a strength multiplies the gear)", key)


def _split(where: _Where, name: str, table: _SplitTable, params: tuple[ParamSpec, ...]
           ) -> SplitSpec:
    sw = where.sub(name)
    given = [k for k in ("count", "values", "grid") if getattr(table, k) is not None]
    if len(given) != 1:
        raise sw.error("give one of count (with seed), values or grid, not "
                       + (" and ".join(given) if given else "none"))
    if (table.seed is None) == (table.count is not None):
        raise sw.error("count needs a seed" if table.count is not None
                       else "seed goes with count", "seed")
    if table.values is not None:
        values = []
        for i, row in enumerate(table.values):
            try:
                values.append({str(k): freeze_value(str(k), v) for k, v in row.items()})
            except RoboMetaError as exc:
                raise sw.error(str(exc), f"values[{i}]") from None
        return SplitSpec(values=tuple(values))
    if table.grid is not None:
        size = math.prod(len(v) for v in table.grid.values())
        if size > LIMITS.split_tasks:
            raise sw.error(f"{size:,} tasks, more than {LIMITS.split_tasks:,}", "grid")
        return SplitSpec(grid={k: tuple(float(x) for x in v) for k, v in table.grid.items()})
    if name == "ood" and all(p.ood is None for p in params):
        raise sw.error("no parameter has an ood range, so ood tasks would be train tasks")
    return SplitSpec(count=table.count, seed=table.seed)


def _build(file: _SpecFile, source: str) -> FamilySpec:
    where = _Where(source)
    if file.robot not in ROBOTS:
        raise where.error(_unknown("robot", file.robot, list(ROBOTS)), "robot")
    if file.task not in TASK_KINDS:
        raise where.error(_unknown("task kind", file.task, TASK_KINDS), "task")
    params = tuple(_param(where.sub("params", k), k, v) for k, v in file.params.items())
    _check_names(where, file.task, params, file.robot)
    reward = file.reward.model_dump(exclude_none=True)
    unread = {"goal": "forward_reward_weight"}.get(file.task, "success_radius")
    if unread in reward:
        raise where.sub("reward").error(f"a {file.task} task does not use it", unread)
    splits_table = file.splits
    val_given = splits_table.val is not None
    val = splits_table.val or _SplitTable(**DEFAULT_VAL)
    tables = {"val": val, "test": splits_table.test}
    if splits_table.ood is not None:
        tables["ood"] = splits_table.ood
    splits = {k: _split(where.sub("splits"), k, v, params) for k, v in tables.items()}
    if splits["val"].seed is not None and splits["val"].seed == splits["test"].seed:
        message = (f"{val.seed} is test's seed too: val would repeat test's tasks (give val its"
                   " own seed)") if val_given else (
                   f"{val.seed} is the seed of the default val split: give test another seed"
                   " or declare val")
        raise where.sub("splits", "val" if val_given else "test").error(message, "seed")
    return FamilySpec(
        name=file.name, robot=file.robot, task=file.task, horizon=file.horizon,
        frame_skip=file.frame_skip, description=file.description, params=params, splits=splits,
        reward=reward, include_xy=file.observation.include_xy, reset_noise=file.reset_noise,
        terminate_when_unhealthy=file.terminate_when_unhealthy, source=source,
    )


def parse_spec(text: str, source: str) -> FamilySpec:
    """Parse one family spec; any problem raises RoboMetaError naming ``source`` and the key."""
    try:
        table = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise spec_error(source, str(exc).splitlines()[0]) from None
    try:
        file = _SpecFile.model_validate(table)
    except ValidationError as exc:
        errors = exc.errors()
        # an unknown key first: a typo (horizn) explains the missing key (horizon)
        first = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
        raise _schema_error(source, first) from None
    return _build(file, source)


def read_spec_text(path: str | Path) -> str:
    """A spec file's text; unreadable, oversized or non-UTF-8 files are one-line errors."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise RoboMetaError(f"cannot read family spec {path}: {exc.strerror}") from None
    if len(data) > LIMITS.file_bytes:
        raise RoboMetaError(f"cannot read family spec {path}: {len(data):,} bytes, more than"
                            f" {LIMITS.file_bytes:,}")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RoboMetaError(f"cannot read family spec {path}: not UTF-8 text (byte"
                            f" {exc.start})") from None


def load_spec(path: str | Path) -> FamilySpec:
    """Read and parse a spec file."""
    return parse_spec(read_spec_text(path), str(path))
