"""The spec schema: every mistake a spec can hold fails at load, in one line naming the file
and the key; a spec named like a built-in family must be that family."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from robo_meta import envs
from robo_meta.envs.family import FAMILIES_DIR, Family
from robo_meta.envs.spec import LIMITS, REWARD_PARAMS, load_spec

RoboMetaError = envs.RoboMetaError

VELOCITY = """
name = "my-vel"
robot = "half_cheetah"
task = "velocity"
horizon = 200
frame_skip = 5
reset_noise = 0.1

[reward]
forward_reward_weight = 1.0
ctrl_cost_weight = 0.05

[params.target_velocity]
distribution = "uniform"
train = [0.0, 2.0]
ood = [2.0, 3.0]

[params.torso_mass_scale]
distribution = "log_uniform"
base = 2.0
train = [-1.0, 1.0]
apply = { field = "body_mass", mode = "scale", select = "torso" }

[splits]
test = { count = 4, seed = 1 }
ood = { count = 4, seed = 2 }
"""

CRIPPLED = (FAMILIES_DIR / "ant-crippled.toml").read_text().replace(
    'name = "ant-crippled"', 'name = "my-crippled"')


def _load(tmp_path: Path, text: str, name: str = "my.toml") -> envs.Family:
    path = tmp_path / name
    path.write_text(text)
    return envs.get_family(str(path))


def _error(tmp_path: Path, text: str) -> str:
    """The one-line message loading ``text`` raises."""
    with pytest.raises(RoboMetaError) as error:
        _load(tmp_path, text)
    message = str(error.value)
    assert len(message.splitlines()) == 1, message
    assert message.startswith(f"malformed family spec {tmp_path / 'my.toml'}: "), message
    return message.split(": ", 1)[1]


def _edit(text: str, old: str, new: str) -> str:
    assert old in text, old
    return text.replace(old, new)


def test_the_base_specs_load(tmp_path):
    family = _load(tmp_path, VELOCITY)
    assert family.name == "my-vel" and family.spec.reset_noise == 0.1
    assert family.reward["ctrl_cost_weight"] == 0.05
    assert _load(tmp_path, CRIPPLED, "c.toml").name == "my-crippled"


def test_a_typo_in_reward_is_named_with_the_close_match(tmp_path):
    text = _edit(VELOCITY, "ctrl_cost_weight = 0.05", "ctrl_cost_weigth = 0.05")
    assert _error(tmp_path, text) == ("[reward] unknown key 'ctrl_cost_weigth'"
                                      " (did you mean ctrl_cost_weight?)")


@pytest.mark.parametrize(("old", "new", "message"), [
    # keys and types
    ('robot = "half_cheetah"\n', "", r"^missing key 'robot'$"),
    ('robot = "half_cheetah"', 'robot = "cheetah"',
     r"^robot: unknown robot 'cheetah' \(did you mean half_cheetah\?\)"),
    ("[splits]\n", "[splits]\nvalidation = { count = 3, seed = 9 }\n",
     r"^\[splits\] unknown key 'validation' \(known: val, test, ood\)"),
    ('distribution = "uniform"', 'distribution = "unifrom"',
     r"^\[params.target_velocity\] distribution: unknown distribution 'unifrom' \(did you"
     r" mean uniform"),
    ('distribution = "uniform"', 'distribution = "beta"',
     r"unknown distribution 'beta' \(known: uniform, angle, log_uniform, choice, disk\)$"),
    ("frame_skip = 5", "frame_skip = 5.5", r"^frame_skip: expected an integer, got 5.5$"),
    ("frame_skip = 5", "frame_skip = true", r"^frame_skip: expected an integer, got True$"),
    ("horizon = 200", 'horizon = "200"', r"^horizon: expected an integer, got '200'$"),
    ('name = "my-vel"', 'name = "my/vel"', r"^name: 'my/vel' is not a family name"),
    ("[params.target_velocity]", '[params."target velocity"]',
     r"^\[params\] invalid name 'target velocity'"),
    ("ctrl_cost_weight = 0.05", "ctrl_cost_weight = [0.05]",
     r"^\[reward\] ctrl_cost_weight: expected a number, got \[0.05\]$"),
    # bounds: sizes that hang, numbers that overflow or go NaN
    ("horizon = 200", "horizon = 0", r"^horizon: must be at least 1, got 0$"),
    ("horizon = 200", "horizon = 100001", r"^horizon: must be at most 100,000, got 100001$"),
    ("frame_skip = 5", "frame_skip = 0", r"^frame_skip: must be at least 1, got 0$"),
    ("frame_skip = 5", "frame_skip = 1000000000", r"^frame_skip: must be at most 1,000"),
    ("count = 4, seed = 1", "count = 10000000, seed = 1",
     r"^\[splits.test\] count: must be at most 10,000, got 10000000$"),
    ("count = 4, seed = 1", "count = 4, seed = -1",
     r"^\[splits.test\] seed: must be at least 0, got -1$"),
    ("count = 4, seed = 1", "count = 4", r"^\[splits.test\] seed: count needs a seed$"),
    ("count = 4, seed = 1", "count = 4, seed = 1, values = [{ target_velocity = 1.0 }]",
     r"^\[splits.test\] give one of count \(with seed\), values or grid, not count and values"),
    ("count = 4, seed = 1", "grid = { target_velocity = [" + ", ".join(["1.0"] * 101) + "],"
     " torso_mass_scale = [" + ", ".join(["1.0"] * 100) + "] }",
     r"^\[splits.test\] grid: 10,100 tasks, more than 10,000$"),
    ("ctrl_cost_weight = 0.05", "ctrl_cost_weight = nan",
     r"^\[reward\] ctrl_cost_weight: expected a finite number, got nan$"),
    ("forward_reward_weight = 1.0", "forward_reward_weight = -inf",
     r"^\[reward\] forward_reward_weight: expected a finite number, got -inf$"),
    ("forward_reward_weight = 1.0", "forward_reward_weight = 1e300",
     r"^\[reward\] forward_reward_weight: must be at most 1000000.0"),
    ("ctrl_cost_weight = 0.05", "ctrl_cost_weight = -0.05",
     r"^\[reward\] ctrl_cost_weight: must be at least 0"),
    ("reset_noise = 0.1", "reset_noise = 1e6", r"^reset_noise: must be at most 1.0, got"),
    ("reset_noise = 0.1", "reset_noise = nan", r"^reset_noise: expected a finite number"),
    ("reset_noise = 0.1", "reset_noise = -0.1", r"^reset_noise: must be at least 0"),
    # ranges
    ("train = [0.0, 2.0]", "train = [2.0, 0.0]",
     r"^\[params.target_velocity\] train: interval \[2, 0\] has low > high$"),
    ("train = [0.0, 2.0]", "train = [nan, 2.0]",
     r"^\[params.target_velocity\] train: expected finite numbers, got \[nan, 2.0\]$"),
    ("train = [0.0, 2.0]", "train = [0.0, inf]", r"train: expected finite numbers"),
    ("train = [0.0, 2.0]", "train = [0.0, 1e300]", r"train: interval \[0, 1e\+300\] exceeds"),
    ("train = [0.0, 2.0]", "train = [0.0]", r"train: expected 2 numbers \[low, high\], got 1"),
    ("train = [0.0, 2.0]", 'train = ["slow", "fast"]', r"train: expected a list of numbers"),
    ("ood = [2.0, 3.0]", "ood = [0.5, 1.0]",
     r"^\[params.target_velocity\] ood: U\[0.5, 1\] overlaps train U\[0, 2\] \(ood ranges lie"
     r" outside the train distribution\)$"),
    ("ood = [2.0, 3.0]", "ood = [1.5, 3.0]", r"ood: U\[1.5, 3\] overlaps train"),
    ("ood = [2.0, 3.0]", "ood = [[-1.0, 0.0], [1.0, 1.0]]", r"ood: .*overlaps train"),
    ("train = [-1.0, 1.0]", "train = [-100.0, 1.0]",
     r"^\[params.torso_mass_scale\] train: interval \[-100, 1\] exceeds \+-19.9"),
    ("base = 2.0", "base = 1.0", r"^\[params.torso_mass_scale\] base: must not be 1"),
    ("base = 2.0", "base = -2.0", r"^\[params.torso_mass_scale\] base: must be more than 0"),
    ("base = 2.0\n", "", r"^\[params.torso_mass_scale\] base: log_uniform needs a base$"),
    ('distribution = "uniform"', 'distribution = "uniform"\nbase = 2.0',
     r"^\[params.target_velocity\] base: only log_uniform takes a base, not uniform$"),
    # names the reward and the model must resolve
    ("[params.target_velocity]", "[params.target_speed]",
     r"^\[params\] a velocity task reads the parameter 'target_velocity', which the spec"
     r" lacks \(did you mean target_speed\?\)$"),
    ("[params.target_velocity]", "[params.target_velocty]",
     r"reads the parameter 'target_velocity', which the spec lacks \(did you mean"
     r" target_velocty\?\)$"),
    ("ood = [2.0, 3.0]", 'ood = [2.0, 3.0]\napply = { field = "body_mass" }',
     r"^\[params.target_velocity\] apply: the velocity reward reads target_velocity: it takes"
     r" no apply$"),
    ('apply = { field = "body_mass", mode = "scale", select = "torso" }', "",
     r"^\[params.torso_mass_scale\] no apply, and the velocity reward does not read it"),
    ('select = "torso"', 'select = "tail"',
     r"^\[params.torso_mass_scale.apply\] select: no body named 'tail' in half_cheetah.xml$"),
    ('select = "torso"', 'select = "torsoo"', r"no body named 'torsoo' .*did you mean torso\?"),
    ('field = "body_mass"', 'field = "body_mas"',
     r"^\[params.torso_mass_scale.apply\] field: 'body_mas' is not a model field of real"
     r" numbers \(did you mean body_mass"),
    ('field = "body_mass"', 'field = "body_parentid"', r"'body_parentid' is not a model field"),
    ('field = "body_mass"', 'field = "body_subtreemass"',
     r"field: 'body_subtreemass' is derived by MuJoCo"),
    ('field = "body_mass", mode = "scale", select = "torso"', 'field = "opt.timestep"',
     r"field: 'opt.timestep' is a scalar option"),
    ('field = "body_mass", mode = "scale", select = "torso"',
     'field = "opt.gravity", select = "torso"', r"apply\] select: opt.gravity is one option"),
    ('select = "torso" }', 'select = "torso" }\nper = "body"',
     r"apply\] select: select picks one element; per = 'body'"),
    ('field = "body_mass", mode = "scale"', 'field = "body_mass", mode = "double"',
     r"apply\] mode: must be one of scale, add, set, got 'double'$"),
    ('field = "body_mass", mode = "scale", select = "torso"', 'effect = "cripple_leg"',
     r"^\[params.torso_mass_scale\] apply: the cripple_leg effect reads crippled_leg and"
     r" crippled_strength, not 'torso_mass_scale'$"),
    # signs of physical quantities
    ('distribution = "log_uniform"\nbase = 2.0\ntrain = [-1.0, 1.0]',
     'distribution = "uniform"\ntrain = [-1.0, 1.0]',
     r"^\[params.torso_mass_scale\] train: scale -1 makes body_mass -\d.*must stay positive"),
    ('distribution = "log_uniform"\nbase = 2.0\ntrain = [-1.0, 1.0]',
     'distribution = "uniform"\ntrain = [0.0, 1.0]', r"scale 0 makes body_mass 0 "),
    ('distribution = "log_uniform"\nbase = 2.0\ntrain = [-1.0, 1.0]\n'
     'apply = { field = "body_mass", mode = "scale"',
     'distribution = "uniform"\ntrain = [-100.0, 1.0]\n'
     'apply = { field = "body_mass", mode = "add"', r"add -100 makes body_mass -9\d"),
    # reward keys a kind does not read; splits
    ("ctrl_cost_weight = 0.05", "ctrl_cost_weight = 0.05\nsuccess_radius = 0.1",
     r"^\[reward\] success_radius: a velocity task does not use it$"),
    ("ood = [2.0, 3.0]\n", "", r"^\[splits.ood\] no parameter has an ood range"),
    ("test = { count = 4, seed = 1 }",
     "test = { values = [{ target_velocity = 2.5, torso_mass_scale = 1.0 }] }",
     r"^\[splits.test\] values: .*is outside the train distribution \(test tasks come from"),
    ("ood = { count = 4, seed = 2 }",
     "ood = { values = [{ target_velocity = 1.0, torso_mass_scale = 1.0 }] }",
     r"^\[splits.ood\] values: .*is inside the train distribution \(ood tasks lie outside"),
    ("test = { count = 4, seed = 1 }", "test = { values = [{ target_velocity = 1.0 }] }",
     r"^\[splits.test\] values: task of family my-vel lacks parameter 'torso_mass_scale'$"),
    ("test = { count = 4, seed = 1 }",
     'test = { values = [{ target_velocity = "1", torso_mass_scale = 1.0 }] }',
     r"^\[splits.test\] values\[0\]: task parameter 'target_velocity': expected a number"),
    ("test = { count = 4, seed = 1 }", "test = { grid = { target_velocity = [1.0] } }",
     r"^\[splits.test\] grid: task of family my-vel lacks parameter"),
    ("test = { count = 4, seed = 1 }", "test = { count = 4, seed = 3001 }",
     r"^\[splits.test\] seed: 3001 is the seed of the default val split"),
])
def test_a_broken_spec_fails_at_load_naming_the_key(tmp_path, old, new, message):
    assert re.search(message, _error(tmp_path, _edit(VELOCITY, old, new)))


@pytest.mark.parametrize(("task", "robot", "param", "distribution"), [
    ("velocity", "half_cheetah", "target_velocity", 'distribution = "uniform"\ntrain = [0, 1]'),
    ("direction", "half_cheetah", "direction", 'distribution = "choice"\ntrain = [-1, 1]'),
    ("direction_2d", "ant", "direction_angle", 'distribution = "uniform"\ntrain = [0, 6]'),
    ("goal", "point_mass", "goal", 'distribution = "disk"\ntrain = { radius = [0, 1] }'),
])
def test_each_reward_kind_needs_its_parameter_by_name(tmp_path, task, robot, param,
                                                      distribution):
    assert REWARD_PARAMS[task] == param
    spec = (f'name = "k"\nrobot = "{robot}"\ntask = "{task}"\nhorizon = 5\nframe_skip = 1\n'
            f"[params.{param}]\n{distribution}\n[splits]\ntest = {{ count = 2, seed = 1 }}\n")
    family = _load(tmp_path, spec, "ok.toml")
    env = envs.make(family)  # the reward finds its parameter: one step runs
    env.reset(seed=0)
    assert set(env.step(env.action_space.sample())[4]) >= {"reward_ctrl"}
    wrong = spec.replace(f"[params.{param}]", "[params.renamed]")
    assert re.search(rf"^\[params\] a {task} task reads the parameter '{param}', which the"
                     r" spec lacks$", _error(tmp_path, wrong))


@pytest.mark.parametrize(("old", "new", "message"), [
    ("ood = [3.0]", "ood = [4.0]", r"^\[params.crippled_leg\] ood: leg 4: the ant has legs 0"
                                   r" to 3$"),
    ("ood = [3.0]", "ood = [2.5]", r"^\[params.crippled_leg\] ood: 2.5 is not a leg index"),
    ("ood = [3.0]", "ood = [2.0]", r"ood: \{2\} overlaps train \{0, 1, 2\}"),
    ("train = [0.0, 0.3]", "train = [-0.3, 0.3]",
     r"^\[params.crippled_strength\] train: U\[-0.3, 0.3\] goes below 0"),
    ('robot = "ant"', 'robot = "half_cheetah"',
     r"^\[params.crippled_leg\] apply: the cripple_leg effect acts on the ant's legs"),
    ("[params.crippled_strength]", "[params.crippled_strenght]",
     r"^\[params.crippled_strenght\] apply: the cripple_leg effect reads crippled_leg and"
     r" crippled_strength, not 'crippled_strenght' \(did you mean crippled_strength"),
    ('ood = { grid = { crippled_leg = [3.0]', 'ood = { grid = { crippled_leg = [1.0]',
     r"^\[splits.ood\] grid: .*is inside the train distribution"),
])
def test_a_broken_crippled_ant_fails_at_load(tmp_path, old, new, message):
    assert re.search(message, _error(tmp_path, _edit(CRIPPLED, old, new)))


def test_a_goal_is_a_disk_and_a_disk_sets_no_field(tmp_path):
    spec = (FAMILIES_DIR / "point-goal.toml").read_text().replace('"point-goal"', '"my-goal"')
    uniform = _edit(spec, 'distribution = "disk"\n'
                    'train = { radius = [1.0, 1.0], angle_deg = [0.0, 180.0] }\n'
                    'ood = { radius = [1.5, 2.0], angle_deg = [0.0, 180.0] }',
                    'distribution = "uniform"\ntrain = [0.0, 1.0]')
    assert "[params.goal] distribution: a goal is a 2-D point" in _error(tmp_path, uniform)
    overlap = _edit(spec, "ood = { radius = [1.5, 2.0], angle_deg = [0.0, 180.0] }",
                    "ood = { radius = [0.5, 2.0], angle_deg = [90.0, 270.0] }")
    assert "[params.goal] ood: r in [0.5, 2]" in _error(tmp_path, overlap)
    behind = _edit(spec, "ood = { radius = [1.5, 2.0], angle_deg = [0.0, 180.0] }",
                   "ood = { radius = [0.5, 2.0], angle_deg = [180.0, 360.0] }")
    assert _load(tmp_path, behind, "behind.toml").has_split("ood")  # the other half: disjoint
    assert "unknown key 'radius_m' (did you mean radius?)" in _error(
        tmp_path, _edit(spec, "ood = { radius =", "ood = { radius_m ="))


def test_a_model_mujoco_rejects_fails_at_load(tmp_path):
    # a simple body (point_mass) cannot move its centre of mass: mj_setConst refuses it
    spec = ('name = "shift"\nrobot = "point_mass"\ntask = "forward"\nhorizon = 5\n'
            'frame_skip = 1\n[params.com]\ndistribution = "uniform"\ntrain = [0.0, 0.1]\n'
            'apply = { field = "body_ipos", mode = "add", select = "point" }\n'
            "[splits]\ntest = { count = 2, seed = 1 }\n")
    assert re.search(r"^\[params.com\] train: add 0.1 on body_ipos: MuJoCo rejects the model"
                     r" \(.*sameframe", _error(tmp_path, spec))


def test_unreadable_files_are_one_line(tmp_path):
    path = tmp_path / "binary.toml"
    path.write_bytes(b'name = "\xff"\n')
    with pytest.raises(RoboMetaError, match=r"^cannot read family spec .*: not UTF-8 text"):
        envs.get_family(str(path))
    path.write_text("#" * (LIMITS.file_bytes + 1))
    with pytest.raises(RoboMetaError, match=r"more than 1,000,000$"):
        envs.get_family(str(path))
    with pytest.raises(RoboMetaError, match="cannot read family spec .*: Is a directory"):
        envs.get_family(str(tmp_path / "dir.toml") if (tmp_path / "dir.toml").mkdir() is None
                        else "")
    with pytest.raises(RoboMetaError, match="a family is a name or a path"):
        envs.get_family(3)


def test_every_builtin_spec_stays_within_the_limits():
    for name in envs.families():
        spec = envs.get_family(name).spec
        assert spec.horizon <= LIMITS.horizon and spec.frame_skip <= LIMITS.frame_skip
        assert all(len(envs.get_family(name).tasks(s)) <= LIMITS.split_tasks
                   for s in spec.splits)


# -- identity: a name means one family ---------------------------------------------------------
POINT_GOAL = (FAMILIES_DIR / "point-goal.toml").read_text()


def test_a_user_spec_with_a_builtins_name_but_other_content_is_refused(tmp_path):
    short = _edit(POINT_GOAL, "horizon = 50", "horizon = 10")
    assert _error(tmp_path, short) == ("name: 'point-goal' is the name of a built-in family,"
                                       " but this spec differs from it: give the family another"
                                       " name")
    path = tmp_path / "my.toml"
    with pytest.raises(RoboMetaError, match="is the name of a built-in family"):
        Family(load_spec(path))  # the same check, however the family is built


def test_a_copy_of_a_builtin_is_that_builtin(tmp_path):
    # comments and description do not change a family; the copy is accepted and equivalent
    copy = _edit(POINT_GOAL, "description = ", "# my copy\ndescription = \"mine\" # ")
    family = _load(tmp_path, copy)
    builtin = envs.get_family("point-goal")
    assert family.spec.content() == builtin.spec.content()
    assert family.tasks("test") == builtin.tasks("test")
    assert builtin.validate(family.tasks("ood")[0])


def test_a_renamed_copy_is_a_family_of_its_own(tmp_path):
    short = _edit(_edit(POINT_GOAL, 'name = "point-goal"', 'name = "short-goal"'),
                  "horizon = 50", "horizon = 10")
    family = _load(tmp_path, short)
    assert family.name == "short-goal" and family.spec.horizon == 10
    with pytest.raises(RoboMetaError, match="task of family 'short-goal' given to family"
                                            " 'point-goal'"):
        envs.get_family("point-goal").validate(family.tasks("test")[0])
    with pytest.raises(RoboMetaError, match="unknown family 'short-goal'"):
        envs.get_family("short-goal")  # a user family is reached by its path, never its name


def test_get_family_of_a_family_a_path_or_a_builtins_file_agree(tmp_path):
    path = tmp_path / "my.toml"
    path.write_text(VELOCITY)
    family = envs.get_family(str(path))
    assert envs.get_family(family) is family
    assert envs.get_family(path) is family  # a Path as well as a str
    assert envs.get_family(str(path)) is family  # cached while the text is unchanged
    built = Family(load_spec(path))
    assert envs.get_family(built) is built and built.spec == family.spec
    builtin = envs.get_family("point-goal")
    assert envs.get_family(str(FAMILIES_DIR / "point-goal.toml")) is builtin
    assert envs.get_family(FAMILIES_DIR / ".." / "families" / "point-goal.toml") is builtin


def test_an_edited_spec_file_is_read_again(tmp_path):
    path = tmp_path / "my.toml"
    path.write_text(VELOCITY)
    assert envs.get_family(str(path)).spec.horizon == 200
    path.write_text(_edit(VELOCITY, "horizon = 200", "horizon = 30"))
    assert envs.get_family(str(path)).spec.horizon == 30


def test_an_angle_samples_as_uniform_and_its_features_are_cos_sin(tmp_path):
    """ant-dir's direction: the same tasks as a uniform angle, features continuous across 2 pi."""
    import numpy as np

    angle = envs.get_family("ant-dir")
    text = (FAMILIES_DIR / "ant-dir.toml").read_text()
    assert 'distribution = "angle"' in text
    uniform = _load(tmp_path, text.replace('"angle"', '"uniform"').replace(
        'name = "ant-dir"', 'name = "ant-dir-uniform"'))
    assert angle.feature_dim == 2 and uniform.feature_dim == 1
    assert [t.params for t in angle.tasks("test")] == [t.params for t in uniform.tasks("test")]
    values = {"direction_angle": np.array([[0.0], [np.pi / 2], [2 * np.pi - 1e-9]])}
    np.testing.assert_allclose(angle.task_features(values),
                               [[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]], atol=1e-8)
    assert "angle U[0, 6.28319]" in angle.params[0].train.describe()
