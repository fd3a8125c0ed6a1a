"""Family specs: the declarative TOML files in ``families/`` and the code that reads them.

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

Parameter keys: ``distribution`` (uniform | log_uniform | choice | disk), ``train`` and
optional ``ood`` (an interval, a list of intervals, a list of values for choice, or
``{radius = [lo, hi], angle_deg = [lo, hi]}`` for disk), ``base`` (log_uniform: ranges are
exponents), ``per`` (body | geom | dof | actuator: one value per element of the model, the world
body aside), and ``apply``: ``{field = "body_mass", mode = "scale" | "add" | "set",
select = "torso"}`` for a model field, ``{effect = "cripple_leg"}`` for a named effect, or absent
for parameters only the reward reads (goals, target velocities).
Split keys: ``count`` + ``seed`` (sampled), ``values`` (explicit list of tasks) or ``grid``
(the product of per-parameter value lists). ``test`` is required. ``val`` (tasks from the train
distribution for progress checks and model selection during training; ``test`` is for final
reports only) defaults to ``{count = 20, seed = 3001}`` where a spec omits it; a sampled ``val``
must not share ``test``'s seed, and explicit ``val`` tasks must lie in the train distribution.
``test`` and ``val`` are sampled from the train distribution, ``ood`` from the ood one.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from robo_meta.envs.distributions import Choice, Disk, Distribution, LogUniform, Uniform
from robo_meta.envs.errors import RoboMetaError

PER_KINDS = ("body", "geom", "dof", "actuator")
APPLY_MODES = ("scale", "add", "set")
EFFECTS = ("cripple_leg",)
TASK_KINDS = ("goal", "velocity", "direction", "direction_2d", "forward")
SPLITS = ("val", "test", "ood")
#: the val split of a spec that declares none
DEFAULT_VAL = {"count": 20, "seed": 3001}


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
    values: tuple[dict[str, Any], ...] | None = None
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


class _Reader:
    """Typed access to a TOML table with errors that name the file and the key."""

    def __init__(self, source: str, table: dict[str, Any], where: str = ""):
        self.source, self.table, self.where = source, table, where

    def fail(self, key: str, message: str) -> RoboMetaError:
        return RoboMetaError(f"malformed family spec {self.source}: {self.where}{key}: {message}")

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = ...) -> Any:
        if key not in self.table:
            if default is ...:
                raise self.fail(key, "missing")
            return default
        value = self.table[key]
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
            raise self.fail(key, f"expected {getattr(kind, '__name__', kind)}, got {value!r}")
        return value

    def check_keys(self, allowed: set[str]) -> None:
        unknown = set(self.table) - allowed
        if unknown:
            allowed_keys = ", ".join(sorted(allowed))
            raise self.fail(sorted(unknown)[0], f"unknown key (allowed: {allowed_keys})")


def _numbers(reader: _Reader, key: str, value: Any, length: int | None = None) -> tuple[float, ...]:
    if not isinstance(value, list) or not all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in value
    ):
        raise reader.fail(key, f"expected a list of numbers, got {value!r}")
    if length is not None and len(value) != length:
        raise reader.fail(key, f"expected {length} numbers, got {len(value)}")
    return tuple(float(v) for v in value)


def _bands(reader: _Reader, key: str, value: Any) -> tuple[tuple[float, float], ...]:
    """``[lo, hi]`` or ``[[lo, hi], ...]`` as a tuple of ordered intervals."""
    if isinstance(value, list) and value and all(isinstance(v, list) for v in value):
        bands = tuple(_numbers(reader, key, v, 2) for v in value)
    else:
        bands = (_numbers(reader, key, value, 2),)
    for lo, hi in bands:
        if lo > hi:
            raise reader.fail(key, f"interval [{lo}, {hi}] has low > high")
    return bands  # type: ignore[return-value]


def _distribution(reader: _Reader, kind: str, key: str, value: Any, base: float | None):
    if kind == "uniform":
        return Uniform(_bands(reader, key, value))
    if kind == "log_uniform":
        return LogUniform(base or 0.0, _bands(reader, key, value))
    if kind == "choice":
        values = _numbers(reader, key, value)
        if not values:
            raise reader.fail(key, "choice needs at least one value")
        return Choice(values)
    if kind == "disk":
        if not isinstance(value, dict):
            raise reader.fail(key, "disk expects {radius = [lo, hi], angle_deg = [lo, hi]}")
        sub = _Reader(reader.source, value, f"{reader.where}{key}.")
        sub.check_keys({"radius", "angle_deg"})
        radius = _bands(sub, "radius", sub.get("radius", list))[0]
        angle = _bands(sub, "angle_deg", sub.get("angle_deg", list, [0.0, 360.0]))[0]
        return Disk(radius, (math.radians(angle[0]), math.radians(angle[1])))
    raise reader.fail("distribution", f"unknown distribution {kind!r}")


def _param(source: str, name: str, table: Any) -> ParamSpec:
    reader = _Reader(source, table if isinstance(table, dict) else {}, f"params.{name}.")
    if not isinstance(table, dict):
        raise reader.fail("", "expected a table")
    reader.check_keys({"distribution", "train", "ood", "base", "per", "apply"})
    kind = reader.get("distribution", str)
    base = None
    if kind == "log_uniform":
        base = reader.get("base", float)
        if base <= 0 or base == 1:
            raise reader.fail("base", "must be positive and not 1")
    train = _distribution(reader, kind, "train", reader.get("train", (list, dict)), base)
    ood_value = reader.get("ood", (list, dict), None)
    ood = None if ood_value is None else _distribution(reader, kind, "ood", ood_value, base)
    per = reader.get("per", str, None)
    if per is not None and per not in PER_KINDS:
        raise reader.fail("per", f"must be one of {', '.join(PER_KINDS)}")
    apply = None
    if "apply" in table:
        sub = _Reader(source, reader.get("apply", dict), f"params.{name}.apply.")
        sub.check_keys({"field", "mode", "select", "effect"})
        apply = Apply(
            field=sub.get("field", str, None),
            mode=sub.get("mode", str, "scale"),
            select=sub.get("select", str, None),
            effect=sub.get("effect", str, None),
        )
        if (apply.field is None) == (apply.effect is None):
            raise sub.fail("field", "give exactly one of field or effect")
        if apply.mode not in APPLY_MODES:
            raise sub.fail("mode", f"must be one of {', '.join(APPLY_MODES)}")
        if apply.effect is not None and apply.effect not in EFFECTS:
            raise sub.fail("effect", f"unknown effect (known: {', '.join(EFFECTS)})")
    return ParamSpec(name=name, train=train, ood=ood, per=per, apply=apply)


def _split(source: str, name: str, table: Any) -> SplitSpec:
    reader = _Reader(source, table if isinstance(table, dict) else {}, f"splits.{name}.")
    if not isinstance(table, dict):
        raise reader.fail("", "expected a table")
    reader.check_keys({"count", "seed", "values", "grid"})
    if "values" in table:
        values = reader.get("values", list)
        if not values or not all(isinstance(v, dict) for v in values):
            raise reader.fail("values", "expected a non-empty list of {param = value} tables")
        return SplitSpec(values=tuple(values))
    if "grid" in table:
        grid = reader.get("grid", dict)
        return SplitSpec(grid={k: _numbers(reader, f"grid.{k}", v) for k, v in grid.items()})
    count = reader.get("count", int)
    if count <= 0:
        raise reader.fail("count", "must be positive")
    return SplitSpec(count=count, seed=reader.get("seed", int))


def parse_spec(text: str, source: str) -> FamilySpec:
    """Parse one family spec; any problem raises RoboMetaError naming ``source`` and the key."""
    try:
        table = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RoboMetaError(f"malformed family spec {source}: {exc}") from None
    reader = _Reader(source, table)
    reader.check_keys(
        {"name", "robot", "task", "horizon", "frame_skip", "description", "params", "splits",
         "reward", "observation", "reset_noise", "terminate_when_unhealthy"}
    )
    task = reader.get("task", str)
    if task not in TASK_KINDS:
        raise reader.fail("task", f"unknown task kind {task!r} (known: {', '.join(TASK_KINDS)})")
    params = reader.get("params", dict)
    if not params:
        raise reader.fail("params", "a family needs at least one parameter")
    splits = reader.get("splits", dict, {})
    unknown = set(splits) - set(SPLITS)
    if unknown:
        raise reader.fail(f"splits.{sorted(unknown)[0]}",
                          f"unknown split (known: {', '.join(SPLITS)})")
    if "test" not in splits:
        raise reader.fail("splits.test", "missing")
    splits = {"val": DEFAULT_VAL, **splits}
    val, test = splits["val"], splits["test"]
    if (isinstance(val, dict) and isinstance(test, dict) and "seed" in val
            and val.get("seed") == test.get("seed") and "count" in test):
        raise reader.fail("splits.val.seed", f"{val['seed']} is test's seed too: val would"
                          " repeat test's tasks (give val its own seed)")
    reward = reader.get("reward", dict, {})
    for key, value in reward.items():
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise reader.fail(f"reward.{key}", f"expected a number, got {value!r}")
    observation = _Reader(source, reader.get("observation", dict, {}), "observation.")
    observation.check_keys({"include_xy"})
    horizon = reader.get("horizon", int)
    frame_skip = reader.get("frame_skip", int)
    if horizon <= 0 or frame_skip <= 0:
        raise reader.fail("horizon", "horizon and frame_skip must be positive")
    return FamilySpec(
        name=reader.get("name", str),
        robot=reader.get("robot", str),
        task=task,
        horizon=horizon,
        frame_skip=frame_skip,
        description=reader.get("description", str, ""),
        params=tuple(_param(source, k, v) for k, v in params.items()),
        splits={k: _split(source, k, v) for k, v in splits.items()},
        reward={k: float(v) for k, v in reward.items()},
        include_xy=observation.get("include_xy", bool, False),
        reset_noise=reader.get("reset_noise", float, None),
        terminate_when_unhealthy=reader.get("terminate_when_unhealthy", bool, None),
        source=source,
    )


def load_spec(path: str | Path) -> FamilySpec:
    """Read and parse a spec file."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise RoboMetaError(f"cannot read family spec {path}: {exc.strerror}") from None
    return parse_spec(text, str(path))
