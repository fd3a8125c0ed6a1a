"""Task sets: fixed held-out splits, reproducible sampling, JSON round trips."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from asset_paths import RAND_PARAMS, WALKER_RAND_PARAMS

from robo_meta import envs
from robo_meta.envs.distributions import Choice

FAMILIES = envs.families()

# (val, test, ood) sizes as declared in envs/families/*.toml; None: the family has no ood split
SPLIT_SIZES = {
    "ant-crippled": (9, 12, 4),
    "ant-dir": (20, 40, None),
    "ant-goal": (20, 40, 40),
    "cheetah-dir": (2, 2, None),
    "cheetah-motor": (20, 40, 40),
    "cheetah-params": (20, 50, 50),
    "cheetah-vel": (20, 40, 40),
    "cheetah-vel-h100": (20, 40, 40),
    "hopper-params": (20, 50, 50),
    "point-goal": (20, 40, 40),
    "walker-params": (20, 50, 50),
}


@pytest.mark.parametrize("path, sizes", [
    (RAND_PARAMS, {"body_mass_scale": 7, "body_inertia_scale": 7, "geom_friction_scale": 9,
                   "dof_damping_scale": 9}),
    (WALKER_RAND_PARAMS, {"body_mass_scale": 7, "body_inertia_scale": 7,
                          "geom_friction_scale": 8, "dof_damping_scale": 9}),
])
def test_the_kept_per_element_specs_draw_one_factor_per_element(path, sizes):
    """PEARL's rand-params, kept as files after cheetah-params and walker-params were
    recalibrated: every body, geom and dof of the robot gets its own factor."""
    family = envs.get_family(path)
    assert family.sizes == sizes
    task = family.tasks("test")[0]
    assert {name: len(value) for name, value in task.as_dict().items()} == sizes
    assert len(set(task["body_mass_scale"])) == sizes["body_mass_scale"]


def _all_splits() -> dict:
    """Family -> split -> tasks as JSON-ready dicts."""
    return {
        name: {split: [t.to_dict() for t in envs.get_family(name).tasks(split)]
               for split in ("val", "test", "ood") if envs.get_family(name).has_split(split)}
        for name in FAMILIES
    }


def test_every_family_has_its_declared_split_sizes():
    assert sorted(SPLIT_SIZES) == sorted(FAMILIES)
    for name, (n_val, n_test, n_ood) in SPLIT_SIZES.items():
        family = envs.get_family(name)
        assert len(family.tasks("val")) == n_val, name
        assert len(family.tasks("test")) == n_test, name
        if n_ood is None:
            assert not family.has_split("ood")
            with pytest.raises(envs.RoboMetaError, match="no 'ood' split"):
                family.tasks("ood")
        else:
            assert len(family.tasks("ood")) == n_ood, name


def test_splits_are_identical_in_another_process():
    code = (f"import json, sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); "
            "from test_envs_splits import _all_splits; print(json.dumps(_all_splits()))")
    environment = {**os.environ, "PYTHONHASHSEED": "12345"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True, env=environment)
    assert json.loads(result.stdout) == json.loads(json.dumps(_all_splits()))


@pytest.mark.parametrize("name", FAMILIES)
def test_test_tasks_are_in_train_and_ood_tasks_are_outside(name):
    family = envs.get_family(name)
    test = family.tasks("test")
    assert len(set(test)) == len(test)  # no duplicates
    for task in test:
        assert family.validate(task) is task
        assert family.in_train(task), task
    features = family.task_features(family.task_arrays(test))  # normalized over train ranges
    assert features.shape == (len(test), family.feature_dim)
    assert (np.abs(features) <= 1 + 1e-9).all()
    if family.has_split("ood"):
        ood = family.tasks("ood")
        assert len(set(ood)) == len(ood)
        assert not set(ood) & set(test)
        for task in ood:
            assert family.validate(task) is task
            assert not family.in_train(task), task


def _finite_train_support(family) -> set | None:
    """Every task of a train distribution of scalar choices; None if it has more."""
    choices = []
    for param in family.params:
        if not isinstance(param.train, Choice) or param.per is not None:
            return None
        choices.append([(param.name, v) for v in param.train.values])
    return {envs.Task.make(family.name, dict(combo)) for combo in itertools.product(*choices)}


@pytest.mark.parametrize("name", FAMILIES)
def test_val_tasks_come_from_train_and_are_not_test_or_ood(name):
    family = envs.get_family(name)
    val, test = family.tasks("val"), family.tasks("test")
    assert val and len(set(val)) == len(val)
    for task in val:
        assert family.validate(task) is task
        assert family.in_train(task), task
    if family.has_split("ood"):
        assert not set(val) & set(family.tasks("ood"))
    support = _finite_train_support(family)
    if support is not None and support <= set(test):
        # test already holds every train task (cheetah-dir: two directions), so val can only
        # repeat them; the spec must say so
        assert set(val) == support
        assert "val cannot be distinct from test" in Path(family.spec.source).read_text()
    else:
        assert not set(val) & set(test)


def test_only_cheetah_dir_has_a_val_split_equal_to_test():
    same = [name for name in FAMILIES if set(envs.get_family(name).tasks("val"))
            & set(envs.get_family(name).tasks("test"))]
    assert same == ["cheetah-dir"]


def test_ant_crippled_splits_are_the_grids():
    family = envs.get_family("ant-crippled")
    strengths = {0.0, 0.1, 0.2, 0.3}
    test = {(t["crippled_leg"], t["crippled_strength"]) for t in family.tasks("test")}
    assert test == {(leg, s) for leg in (0.0, 1.0, 2.0) for s in strengths}
    ood = {(t["crippled_leg"], t["crippled_strength"]) for t in family.tasks("ood")}
    assert ood == {(3.0, s) for s in strengths}
    val = {(t["crippled_leg"], t["crippled_strength"]) for t in family.tasks("val")}
    assert val == {(leg, s) for leg in (0.0, 1.0, 2.0) for s in (0.05, 0.15, 0.25)}


def test_tasks_returns_a_copy():
    family = envs.get_family("cheetah-vel")
    family.tasks("test").clear()
    assert len(family.tasks("test")) == 40


@pytest.mark.parametrize("name", FAMILIES)
def test_sample_tasks_reproducible_per_seed(name):
    family = envs.get_family(name)
    first = family.sample_tasks(6, seed=42)
    assert family.sample_tasks(6, seed=42) == first
    if len(family.tasks("test")) > 2:  # cheetah-dir has two tasks: draws can coincide
        assert family.sample_tasks(6, seed=43) != first
    for task in first:
        assert family.validate(task) is task
        assert family.in_train(task)


@pytest.mark.parametrize("name", FAMILIES)
def test_task_json_round_trip(name):
    family = envs.get_family(name)
    tasks = family.tasks("test")[:2] + (family.tasks("ood")[:1] if family.has_split("ood")
                                        else [])
    for task in tasks:
        back = envs.Task.from_dict(json.loads(task.to_json()))
        assert back == task
        assert hash(back) == hash(task)
        assert envs.Task.from_dict(task.to_dict()) == task
        assert family.validate(back) is back
        for key, value in task.params:  # vector parameters stay tuples, scalars floats
            assert type(back[key]) is type(value)
