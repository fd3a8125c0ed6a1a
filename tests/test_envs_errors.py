"""Bad input raises RoboMetaError (a ValueError) whose message names the problem."""

from __future__ import annotations

import numpy as np
import pytest
from asset_paths import RAND_PARAMS

from robo_meta import envs

RoboMetaError = envs.RoboMetaError

VALID_SPEC = """
name = "my-cheetah"
robot = "half_cheetah"
task = "forward"
horizon = 100
frame_skip = 5

[params.torso_mass_scale]
distribution = "uniform"
train = [0.5, 1.5]
apply = { field = "body_mass", mode = "scale", select = "torso" }

[splits]
test = { count = 4, seed = 1 }
"""


def test_robo_meta_error_is_a_value_error():
    assert issubclass(RoboMetaError, ValueError)


@pytest.mark.parametrize("front_door", [envs.get_family, envs.make,
                                        lambda name: envs.make_vec(name, 2)])
def test_unknown_family_suggests_a_close_match(front_door):
    with pytest.raises(RoboMetaError, match=r"unknown family 'cheetah-vell'.*cheetah-vel\b"):
        front_door("cheetah-vell")


def test_unknown_parameter_is_named_with_a_suggestion():
    task = envs.Task.make("cheetah-vel", {"target_velocty": 1.0})
    with pytest.raises(RoboMetaError, match=r"no task parameter 'target_velocty'.*"
                                            r"did you mean target_velocity"):
        envs.make("cheetah-vel", task=task)
    extra = envs.Task.make("cheetah-vel", {"target_velocity": 1.0, "gravity": 1.0})
    with pytest.raises(RoboMetaError, match="'gravity'"):
        envs.get_family("cheetah-vel").validate(extra)


def test_missing_parameter_is_named():
    with pytest.raises(RoboMetaError, match="lacks parameter 'gravity_scale'"):
        envs.get_family("cheetah-motor").validate(envs.Task.make("cheetah-motor", {
            "actuator_strength_scale": (1.0,) * 6, "payload_mass": 0.0,
            "floor_friction_scale": 1.0,
        }))


def test_value_outside_train_and_ood_is_rejected_but_ood_is_valid():
    family = envs.get_family("cheetah-vel")
    assert family.validate(envs.Task.make("cheetah-vel", {"target_velocity": 2.5}))  # ood
    for bad in (3.5, -0.1):
        with pytest.raises(RoboMetaError, match=rf"target_velocity={bad:g} .*outside"):
            family.validate(envs.Task.make("cheetah-vel", {"target_velocity": bad}))
    with pytest.raises(RoboMetaError, match="crippled_leg=1.5"):
        envs.get_family("ant-crippled").validate(envs.Task.make(
            "ant-crippled", {"crippled_leg": 1.5, "crippled_strength": 0.1}))


def test_per_body_vector_of_wrong_length_is_rejected():
    family = envs.get_family(RAND_PARAMS)
    params = {p.name: np.ones(family.sizes[p.name]) for p in family.params}
    params["body_mass_scale"] = np.ones(3)
    with pytest.raises(RoboMetaError, match="body_mass_scale .*needs 7 one per body, got 3"):
        family.validate(envs.Task.make("cheetah-rand-params", params))


def test_one_element_out_of_range_names_the_vector():
    family = envs.get_family(RAND_PARAMS)
    params = {p.name: np.ones(family.sizes[p.name]) for p in family.params}
    params["dof_damping_scale"][4] = 100.0
    with pytest.raises(RoboMetaError, match="dof_damping_scale=.*100.*outside"):
        family.validate(envs.Task.make("cheetah-rand-params", params))


def test_task_of_another_family_is_rejected_by_every_front_door():
    task = envs.get_family("point-goal").tasks("test")[0]
    message = "task of family 'point-goal' given to family 'cheetah-vel'"
    with pytest.raises(RoboMetaError, match=message):
        envs.make("cheetah-vel", task=task)
    with pytest.raises(RoboMetaError, match=message):
        envs.make_vec("cheetah-vel", 1, tasks=[task])
    vec = envs.make_vec("cheetah-vel", 1)
    with pytest.raises(RoboMetaError, match=message):
        vec.set_tasks([task])
    with pytest.raises(RoboMetaError, match=message):
        envs.make("cheetah-vel").reset(options={"task": task})


@pytest.mark.parametrize("garbage", [
    None, "cheetah-vel", ["cheetah-vel"], {"family": 1, "params": {}},
    {"family": "cheetah-vel"}, {"family": "cheetah-vel", "params": [1.0]},
    {"family": "cheetah-vel", "params": {"target_velocity": "fast"}},
    {"family": "cheetah-vel", "params": {"target_velocity": True}},
    {"family": "cheetah-params", "params": {"body_mass_scale": [1.0, "x"]}},
])
def test_task_from_dict_rejects_garbage(garbage):
    with pytest.raises(RoboMetaError, match="task"):
        envs.Task.from_dict(garbage)


def test_valid_spec_file_loads(tmp_path):
    path = tmp_path / "my-cheetah.toml"
    path.write_text(VALID_SPEC)
    family = envs.get_family(str(path))
    assert family.name == "my-cheetah"
    assert len(family.tasks("test")) == 4
    val = family.tasks("val")  # a spec without val gets 20 train tasks of its own
    assert len(val) == 20 and not set(val) & set(family.tasks("test"))
    assert not family.terminates  # the half-cheetah's default
    env = envs.make(str(path))
    env.reset(seed=0)
    assert env.step(env.action_space.sample())[0].shape == env.observation_space.shape


@pytest.mark.parametrize(("edit", "message"), [
    (lambda s: s.replace("horizon = 100", "horizn = 100"),
     r"unknown key 'horizn' \(did you mean horizon\?\)"),
    (lambda s: s.replace('"uniform"', '"gaussian"'),
     r"\[params.torso_mass_scale\] distribution: unknown distribution 'gaussian'"),
    (lambda s: s.replace("[0.5, 1.5]", "[1.5, 0.5]"),
     r"\[params.torso_mass_scale\] train: interval \[1.5, 0.5\] has low > high"),
    (lambda s: s.replace("[0.5, 1.5]", "[0.5, 1.5"),
     r"malformed family spec .*bad\.toml: .*\(at line 11, column 1\)"),
    (lambda s: s.replace('"body_mass"', '"body_mas"'),
     r"apply\] field: 'body_mas' is not a model field .*did you mean body_mass"),
    (lambda s: s.replace('select = "torso"', 'select = "tail"'),
     r"apply\] select: no body named 'tail' in half_cheetah.xml"),
    (lambda s: s.replace('"forward"', '"backflip"'), r"task: unknown task kind 'backflip'"),
    (lambda s: s.replace('mode = "scale"', 'mode = "double"'),
     r"mode: must be one of scale, add, set, got 'double'"),
    (lambda s: s.replace("count = 4", "count = 0"), r"\[splits.test\] count: must be at least 1"),
    (lambda s: s.replace("test = {", "validation = {"),
     r"\[splits\] unknown key 'validation' \(known: val, test, ood\)"),
    (lambda s: s.replace("frame_skip = 5", "frame_skip = 5\nterminate_when_unhealthy = true"),
     r"terminate_when_unhealthy: the half_cheetah robot has no healthy range"),
    (lambda s: s.replace("frame_skip = 5", 'frame_skip = 5\nterminate_when_unhealthy = "no"'),
     r"terminate_when_unhealthy: expected true or false, got 'no'"),
    (lambda s: s.replace("test = {", "val = { count = 3, seed = 1 }\ntest = {"),
     r"\[splits.val\] seed: 1 is test's seed too"),
    (lambda s: s.replace("train = [0.5, 1.5]", "train = [0.5, 1.5]\nood = [1.5, 2.0]").replace(
        "test = {", "val = { values = [{ torso_mass_scale = 1.8 }] }\ntest = {"),
     r"\[splits.val\] values: \{'torso_mass_scale': 1.8\} is outside the train distribution"),
    (lambda s: s.replace("frame_skip = 5", "frame_skip = 5.5"),
     r"frame_skip: expected an integer, got 5.5"),
])
def test_malformed_spec_files_are_rejected(tmp_path, edit, message):
    path = tmp_path / "bad.toml"
    broken = edit(VALID_SPEC)
    assert broken != VALID_SPEC
    path.write_text(broken)
    with pytest.raises(RoboMetaError, match=message) as error:
        envs.get_family(str(path))
    assert len(str(error.value).splitlines()) == 1


def test_missing_spec_file_is_rejected(tmp_path):
    with pytest.raises(RoboMetaError, match="cannot read family spec"):
        envs.get_family(str(tmp_path / "absent.toml"))


def test_bad_vector_env_arguments():
    with pytest.raises(RoboMetaError, match="num_envs must be positive"):
        envs.make_vec("cheetah-vel", 0)
    with pytest.raises(RoboMetaError, match="episodes_per_trial must be positive"):
        envs.make_vec("cheetah-vel", 2, episodes_per_trial=0)
    vec = envs.make_vec("cheetah-vel", 2)
    with pytest.raises(RoboMetaError, match="set_tasks needs 2 tasks, got 1"):
        vec.set_tasks(envs.get_family("cheetah-vel").tasks("test")[:1])
    with pytest.raises(RoboMetaError, match="reset needs 2 seeds, got 3"):
        vec.reset(seed=[1, 2, 3])
    with pytest.raises(RoboMetaError, match="call reset"):
        vec.step(np.zeros((2, 6)))
