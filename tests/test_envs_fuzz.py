"""Fuzz the family-spec loader and the task readers with hypothesis.

Every built-in spec is mutated (keys dropped, unknown keys added, values of another type,
numbers set to NaN, inf, negative, zero or huge, ranges swapped, parameters renamed, selectors
and fields changed, the text itself cut and spliced); tasks files are built from random JSON
and from mutated real tasks. Each case must either load into a family that then builds every
split and steps once, or raise ``RoboMetaError`` with a one-line message, within ``DEADLINE_MS``.
Any other exception, or a message over several lines, is a bug in the loader.

The default run tries ``DEFAULT_EXAMPLES`` cases per test (fixed, derandomized examples: the
suite stays reproducible and fast). ``pytest -m slow tests/test_envs_fuzz.py`` runs the
``slow`` variants: ``SLOW_EXAMPLES`` random cases per test.
"""

from __future__ import annotations

import copy
import json
import math
import re
import tempfile
import tomllib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from robo_meta import envs
from robo_meta.envs.family import FAMILIES_DIR
from robo_meta.evaluation import read_tasks_file

RoboMetaError = envs.RoboMetaError
FAMILIES = envs.families()
DEADLINE_MS = 2000
DEFAULT_EXAMPLES = 500
SLOW_EXAMPLES = 20_000
BUILTIN_TEXT = {name: (FAMILIES_DIR / f"{name}.toml").read_text() for name in FAMILIES}
BUILTIN_TABLE = {name: tomllib.loads(text) for name, text in BUILTIN_TEXT.items()}
_WORK = Path(tempfile.mkdtemp(prefix="robo-meta-fuzz-"))


def _profile(slow: bool) -> settings:
    return settings(
        max_examples=SLOW_EXAMPLES if slow else DEFAULT_EXAMPLES, deadline=DEADLINE_MS,
        derandomize=not slow, database=None, print_blob=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


def _slow_selected(config: pytest.Config) -> bool:
    """Whether ``-m`` asked for slow tests (the slow marker still runs by default)."""
    return bool(re.search(r"(?<!not )\bslow\b", config.option.markexpr or ""))


# -- TOML out (tomllib only reads) --------------------------------------------------------------
def _key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else _string(key)


def _string(text: str) -> str:
    # JSON's escapes are TOML's, save that TOML also forbids a raw DEL
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf") \
            if math.isinf(value) else repr(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    assert isinstance(value, dict), value
    return "{ " + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items()) + " }"


def dump_toml(table: dict[str, Any]) -> str:
    return "".join(f"{_key(k)} = {_value(v)}\n" for k, v in table.items())


@pytest.mark.parametrize("name", FAMILIES)
def test_the_toml_writer_round_trips_every_builtin(name):
    assert tomllib.loads(dump_toml(BUILTIN_TABLE[name])) == BUILTIN_TABLE[name]


# -- what a case must do -----------------------------------------------------------------------
def _one_line(exc: RoboMetaError) -> None:
    message = str(exc)
    assert message.strip() and len(message.splitlines()) == 1, repr(message)
    assert len(message) < 600, message


def _exercise(family: envs.Family) -> None:
    """A family that loaded builds its splits and steps once on a train task and each split's
    first task."""
    tasks = [family.sample_tasks(1, seed=0)[0]]
    for split in family.spec.splits:
        split_tasks = family.tasks(split)
        assert split_tasks
        tasks.append(split_tasks[0])
    env = envs.make(family)
    try:
        for task in tasks:
            obs, _ = env.reset(seed=0, options={"task": task})
            assert obs.shape == env.observation_space.shape
            obs, reward, _, _, info = env.step(env.action_space.sample())
            assert np.isfinite(obs).all() and math.isfinite(reward)
            assert np.isfinite(info["task_features"]).all()
    finally:
        env.close()
    vec = envs.make_vec(family, len(tasks), tasks=tasks, nthread=1)  # each task in one batch
    try:
        vec.reset(seed=0)
        obs, reward, _, _, _ = vec.step(vec.action_space.sample())
        assert np.isfinite(obs).all() and np.isfinite(reward).all()
    finally:
        vec.close()


def check_spec_text(text: str) -> str:
    """Load ``text`` as a user spec: 'loaded' (and exercised) or 'rejected' (one line)."""
    path = _WORK / "fuzz.toml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        family = envs.get_family(str(path))
    except RoboMetaError as exc:
        _one_line(exc)
        return "rejected"
    _exercise(family)
    return "loaded"


# -- spec mutations ------------------------------------------------------------------------------
def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path to a value below ``node`` (dict keys and list indices)."""
    found = []
    items = node.items() if isinstance(node, dict) else enumerate(node) \
        if isinstance(node, list) else ()
    for key, child in items:
        found.append((*prefix, key))
        found += _paths(child, (*prefix, key))
    return found


def _get(node: Any, path: tuple) -> Any:
    for key in path:
        node = node[key]
    return node


INT64 = st.integers(-(2**63), 2**63 - 1)
NAMES = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=12)
SCALARS = st.one_of(st.booleans(), INT64, st.floats(), NAMES)
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(NAMES, inner, max_size=3)), max_leaves=8)
# names a spec might plausibly hold: real ones from every robot and model, and near misses
WORDS = sorted({
    "torso", "floor", "bthigh", "fthigh", "hip_1", "ankle_4", "front_left_leg", "root",
    "thigh", "foot", "leg", "point", "goal", "tail", "body_mass", "body_inertia",
    "geom_friction", "dof_damping", "dof_armature", "actuator_gear", "opt.gravity",
    "opt.timestep", "opt.wind", "opt.iterations", "body_parentid", "geom_size", "site_pos",
    "body_ipos", "body_quat", "geom_rbound", "opt.density", "actuator_ctrlrange", "jnt_range",
    "body_subtreemass", "geom_solref", "actuator_gainprm", "dof_frictionloss",
    "tendon_stiffness", "body_mas", "uniform", "log_uniform", "choice", "disk", "gaussian",
    "body", "geom", "dof", "actuator", "joint", "scale", "add", "set", "cripple_leg",
    "crippled_leg", "crippled_strength", "target_velocity", "direction", "direction_angle",
    "goal_xy", "velocity", "forward", "direction_2d", "ant", "hopper", "walker2d",
    "half_cheetah", "point_mass", "radius", "angle_deg", "count", "seed", "values", "grid",
    "val", "test", "ood", "train", "base", "per", "apply", "field", "mode", "select", "effect",
    "ctrl_cost_weigth", "ctrl_cost_weight", "forward_reward_weight", "healthy_reward",
    "success_radius", "include_xy", "reset_noise", "horizon", "frame_skip", "name",
})
SPECIAL_NUMBERS = [math.nan, math.inf, -math.inf, 0, 0.0, -1, -1.0, -0.5, 1e-300, 1e300,
                   -1e300, 2**63 - 1, -(2**63), 10**7, 10**9, 1e6, 5.5, 1, 2, 3, 4, 360.0]


@st.composite
def mutated_spec(draw) -> str:
    name = draw(st.sampled_from(FAMILIES))
    table = copy.deepcopy(BUILTIN_TABLE[name])
    if draw(st.integers(0, 3)):  # mostly renamed: a built-in's name only fits its own content
        table["name"] = f"fuzz-{name}"
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(table)
        path = draw(st.sampled_from(paths)) if paths else ()
        parent = _get(table, path[:-1]) if path else table
        kind = draw(st.sampled_from(["drop", "add", "retype", "number", "swap", "rename",
                                     "word", "scale", "apply", "param"]))
        value = _get(table, path) if path else table
        if kind == "drop" and path:
            del parent[path[-1]]
        elif kind == "add":
            target = value if isinstance(value, dict) else parent
            new = draw(st.one_of(VALUES, st.sampled_from(WORDS)))
            if isinstance(target, dict):
                target[draw(st.one_of(st.sampled_from(WORDS), NAMES))] = new
            else:
                target.append(new)
        elif kind == "retype" and path:
            parent[path[-1]] = draw(VALUES)
        elif kind == "number" and path:
            parent[path[-1]] = draw(st.one_of(st.sampled_from(SPECIAL_NUMBERS), st.floats(),
                                              INT64))
        elif kind == "swap" and isinstance(value, list) and len(value) >= 2:
            value.reverse()
        elif kind == "rename" and path and isinstance(parent, dict):
            new = draw(st.one_of(st.sampled_from(WORDS), NAMES))
            parent[new] = parent.pop(path[-1])
        elif kind == "word" and path:
            parent[path[-1]] = draw(st.sampled_from(WORDS))
        elif kind == "scale" and path and isinstance(value, int | float) \
                and not isinstance(value, bool):
            parent[path[-1]] = value * draw(st.sampled_from([-1, 0, 10, 1e6, 1e-6, 0.5]))
        elif kind in ("apply", "param") and isinstance(table.get("params"), dict) \
                and table["params"]:
            param = table["params"][draw(st.sampled_from(sorted(table["params"])))]
            if not isinstance(param, dict):
                continue
            if kind == "apply":  # what it acts on: a field, a selector, an effect, a mode
                param["apply"] = draw(st.dictionaries(
                    st.sampled_from(["field", "mode", "select", "effect"]),
                    st.sampled_from(WORDS), min_size=1, max_size=3))
            else:  # one of its keys to a plausible word or number
                param[draw(st.sampled_from(["distribution", "per", "base", "train", "ood"]))] = \
                    draw(st.one_of(st.sampled_from(WORDS), st.sampled_from(SPECIAL_NUMBERS)))
    return dump_toml(table)


@st.composite
def spliced_text(draw) -> str:
    """A built-in's text with a slice cut out, duplicated or replaced by random text."""
    text = BUILTIN_TEXT[draw(st.sampled_from(FAMILIES))]
    start = draw(st.integers(0, len(text)))
    end = draw(st.integers(start, min(len(text), start + 40)))
    kind = draw(st.sampled_from(["cut", "repeat", "replace"]))
    if kind == "cut":
        return text[:start] + text[end:]
    if kind == "repeat":
        return text[:end] + text[start:]
    return text[:start] + draw(st.text(max_size=20)) + text[end:]


def _spec_fuzz(slow: bool):
    @_profile(slow)
    @given(st.one_of(mutated_spec(), spliced_text()))
    def run(text):
        check_spec_text(text)

    return run


def test_fuzz_mutated_specs_load_or_fail_in_one_line():
    _spec_fuzz(slow=False)()


@pytest.mark.slow
def test_fuzz_mutated_specs_many(request):
    if not _slow_selected(request.config):
        pytest.skip("many examples: run with -m slow")
    _spec_fuzz(slow=True)()


# -- tasks files --------------------------------------------------------------------------------
def check_task_data(data: Any) -> str:
    """A tasks-file entry: 'loaded' (valid for its family, and steps) or 'rejected'."""
    try:
        task = envs.Task.from_dict(data)
        family = envs.get_family(task.family)
        family.validate(task)
    except RoboMetaError as exc:
        _one_line(exc)
        return "rejected"
    assert envs.Task.from_dict(json.loads(task.to_json())) == task  # a valid task round-trips
    env = envs.make(family, task=task)
    env.reset(seed=0)
    env.step(env.action_space.sample())
    env.close()
    return "loaded"


@st.composite
def mutated_task(draw) -> Any:
    family = envs.get_family(draw(st.sampled_from(FAMILIES)))
    split = draw(st.sampled_from([s for s in ("val", "test", "ood") if family.has_split(s)]))
    data = draw(st.sampled_from(family.tasks(split)[:5])).to_dict()
    for _ in range(draw(st.integers(0, 3))):
        paths = _paths(data)
        path = draw(st.sampled_from(paths))
        parent = _get(data, path[:-1])
        kind = draw(st.sampled_from(["drop", "add", "retype", "number", "rename", "family"]))
        if kind == "drop":
            del parent[path[-1]]
        elif kind == "add" and isinstance(parent, dict | list):
            value = draw(st.one_of(VALUES, st.sampled_from(SPECIAL_NUMBERS)))
            if isinstance(parent, dict):
                parent[draw(st.one_of(st.sampled_from(WORDS), NAMES))] = value
            else:
                parent.append(value)
        elif kind == "retype":
            parent[path[-1]] = draw(VALUES)
        elif kind == "number":
            parent[path[-1]] = draw(st.one_of(st.sampled_from(SPECIAL_NUMBERS), st.floats(),
                                              st.integers()))
        elif kind == "rename" and isinstance(parent, dict):
            parent[draw(st.one_of(st.sampled_from(WORDS), NAMES))] = parent.pop(path[-1])
        elif kind == "family":
            data["family"] = draw(st.one_of(st.sampled_from(FAMILIES), NAMES, VALUES))
        if not data:  # a deleted root: start from the scalar it left
            break
    return data


def _tasks_fuzz(slow: bool):
    @_profile(slow)
    @given(st.one_of(mutated_task(), VALUES))
    def run(data):
        check_task_data(data)

    return run


def test_fuzz_task_dicts_load_or_fail_in_one_line():
    _tasks_fuzz(slow=False)()


@pytest.mark.slow
def test_fuzz_task_dicts_many(request):
    if not _slow_selected(request.config):
        pytest.skip("many examples: run with -m slow")
    _tasks_fuzz(slow=True)()


@settings(max_examples=DEFAULT_EXAMPLES // 2, deadline=DEADLINE_MS, derandomize=True,
          database=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(mutated_task(), VALUES), max_size=4), st.booleans())
def test_fuzz_tasks_files_read_or_fail_in_one_line(items, as_text_garbage):
    path = _WORK / "tasks.json"
    text = json.dumps(items)  # NaN and Infinity too, as Python writes them
    path.write_text(text[: len(text) // 2] if as_text_garbage else text)
    try:
        tasks = read_tasks_file(path)
    except RoboMetaError as exc:
        _one_line(exc)
        return
    for task in tasks:
        check_task_data(task.to_dict())
