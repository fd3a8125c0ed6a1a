"""Tasks change the dynamics of their own simulation, exactly as declared, and nothing else.

Model fields are read back per simulation with ``Batch.get_model(i)`` and compared with the
nominal model (compiled afresh from the asset) times the task's values, exactly: the
simulator's arithmetic is one multiplication (or addition) on the nominal copy.
"""

from __future__ import annotations

import copy

import mujoco
import numpy as np
import pytest
from asset_paths import RAND_PARAMS

from robo_meta import envs

FAMILIES = envs.families()


def _nominal(name: str) -> mujoco.MjModel:
    """The family's model compiled afresh: nothing a simulator did can have touched it."""
    return mujoco.MjModel.from_xml_path(str(envs.get_family(name).robot.path))


def _cheetah_params_task(**scales: dict[int, float]) -> envs.Task:
    """A cheetah-params task at nominal (all scales 1) except ``{param: {element: scale}}``."""
    family = envs.get_family(RAND_PARAMS)
    params = {}
    for param in family.params:
        values = np.ones(family.sizes[param.name])
        for element, scale in scales.get(param.name, {}).items():
            values[element] = scale
        params[param.name] = values
    return envs.Task.make("cheetah-rand-params", params)


TORSO = 0  # body_mass_scale element 0 is body 1, the torso (the world body is not scaled)


def _trajectory(env: envs.RoboMetaEnv, task: envs.Task, actions: np.ndarray) -> np.ndarray:
    obs, _ = env.reset(seed=5, options={"task": task})
    observations = [obs]
    for action in actions:
        observations.append(env.step(action)[0])
    return np.array(observations)


def test_heavier_torso_changes_the_trajectory():
    actions = np.random.default_rng(0).uniform(-1, 1, (40, 6)).astype(np.float32)
    env = envs.make(RAND_PARAMS)
    nominal = _trajectory(env, _cheetah_params_task(), actions)
    heavy = _trajectory(env, _cheetah_params_task(body_mass_scale={TORSO: 3.0}), actions)
    assert np.array_equal(nominal[0], heavy[0])  # same seed: same initial state
    assert np.abs(nominal[-1] - heavy[-1]).max() > 1e-2


def test_task_a_then_b_then_a_reproduces_a_bitwise():
    family = envs.get_family(RAND_PARAMS)
    task_a = family.tasks("test")[0]
    task_b = family.tasks("ood")[0]  # far from A in every parameter: compounding would show
    actions = np.random.default_rng(1).uniform(-1, 1, (60, 6)).astype(np.float32)
    env = envs.make(RAND_PARAMS)
    first = _trajectory(env, task_a, actions)
    fields_a = {f: getattr(env.sim.batch.get_model(0), f).copy()
                for f in ("body_mass", "body_inertia", "geom_friction", "dof_damping",
                          "body_subtreemass", "dof_invweight0")}
    other = _trajectory(env, task_b, actions)
    again = _trajectory(env, task_a, actions)
    assert not np.array_equal(first, other)
    assert np.array_equal(first, again)
    model = env.sim.batch.get_model(0)
    for field, values in fields_a.items():
        assert np.array_equal(getattr(model, field), values), field


def test_body_mass_per_simulation_is_nominal_times_scale_and_set_const_follows():
    family = envs.get_family(RAND_PARAMS)
    tasks = [_cheetah_params_task(),
             _cheetah_params_task(body_mass_scale={TORSO: 3.0}),
             family.tasks("test")[1]]
    vec = envs.make_vec(RAND_PARAMS, 3, tasks=tasks, nthread=1)
    vec.reset(seed=0)
    nominal = _nominal(RAND_PARAMS)
    for i, task in enumerate(tasks):
        model = vec.sim.batch.get_model(i)
        mass_scale = np.concatenate([[1.0], task["body_mass_scale"]])  # world body unscaled
        inertia_scale = np.concatenate([[1.0], task["body_inertia_scale"]])[:, None]
        assert np.array_equal(model.body_mass, nominal.body_mass * mass_scale)
        assert np.array_equal(model.body_inertia, nominal.body_inertia * inertia_scale)
        friction_scale = np.array(task["geom_friction_scale"])[:, None]  # all 3 coefficients
        assert np.array_equal(model.geom_friction, nominal.geom_friction * friction_scale)
        assert np.array_equal(model.dof_damping,
                              nominal.dof_damping * np.array(task["dof_damping_scale"]))
        # set_const ran for this simulation: recomputing the constants changes nothing
        reference = copy.copy(model)
        mujoco.mj_setConst(reference, mujoco.MjData(reference))
        for field in ("body_subtreemass", "dof_invweight0", "body_invweight0", "actuator_acc0"):
            assert np.array_equal(getattr(model, field), getattr(reference, field)), field
    heavy = vec.sim.batch.get_model(1)
    assert heavy.body_subtreemass[0] == pytest.approx(nominal.body_subtreemass[0]
                                                      + 2.0 * nominal.body_mass[1])
    assert np.array_equal(vec.sim.batch.get_model(0).body_subtreemass, nominal.body_subtreemass)
    # the family's shared model (a nominal copy for every simulator) is never written
    assert np.array_equal(family.model.body_mass, nominal.body_mass)
    assert np.array_equal(family.model.body_subtreemass, nominal.body_subtreemass)


# Fields compared across simulations: each must equal the nominal model's unless the family's
# tasks touch it (see _touched_fields); set_const's outputs are checked elsewhere.
_CANDIDATE_FIELDS = (
    "body_mass", "body_inertia", "body_pos", "body_quat", "geom_size", "geom_pos",
    "geom_friction", "geom_rgba", "dof_armature", "dof_damping", "dof_frictionloss",
    "jnt_range", "jnt_stiffness", "actuator_gear", "actuator_ctrlrange", "actuator_gainprm",
    "actuator_biasprm", "site_pos", "opt.gravity", "opt.timestep", "opt.wind",
)


def _touched_fields(family: envs.Family) -> set[str]:
    """Declared fields, plus the gear (cripple_leg effect) and the goal marker site."""
    touched = {p.apply.field for p in family.params if p.apply and p.apply.field}
    if any(p.apply and p.apply.effect == "cripple_leg" for p in family.params):
        touched.add("actuator_gear")
    if family.spec.task == "goal" and "goal" in [family.model.site(i).name
                                                 for i in range(family.model.nsite)]:
        touched.add("site_pos")
    return touched


def _field(model: mujoco.MjModel, name: str) -> np.ndarray:
    holder = model.opt if name.startswith("opt.") else model
    return np.asarray(getattr(holder, name.removeprefix("opt.")))


@pytest.mark.parametrize("name", FAMILIES)
def test_isolation_only_task_fields_differ_between_simulations(name):
    family = envs.get_family(name)
    tasks = family.sample_tasks(8, seed=11)
    vec = envs.make_vec(name, 8, tasks=tasks, nthread=1)
    vec.reset(seed=0)
    models = [vec.sim.batch.get_model(i) for i in range(8)]
    touched = _touched_fields(family)
    nominal = _nominal(name)
    for field in _CANDIDATE_FIELDS:
        values = [_field(m, field) for m in models]
        if field in touched:
            if len(set(tasks)) > 1:
                assert any(not np.array_equal(values[0], v) for v in values[1:]), field
            continue
        for i, value in enumerate(values):
            assert np.array_equal(value, _field(nominal, field)), f"{field} of simulation {i}"


def test_cheetah_motor_fields():
    strength = (0.6, 0.7, 0.8, 0.9, 1.0, 1.4)
    task = envs.Task.make("cheetah-motor", {
        "actuator_strength_scale": strength, "gravity_scale": 0.9,
        "payload_mass": 2.5, "floor_friction_scale": 1.3,
    })
    neutral = envs.Task.make("cheetah-motor", {
        "actuator_strength_scale": (1.0,) * 6, "gravity_scale": 1.0,
        "payload_mass": 0.0, "floor_friction_scale": 1.0,
    })
    vec = envs.make_vec("cheetah-motor", 2, tasks=[task, neutral], nthread=1)
    vec.reset(seed=0)
    nominal = _nominal("cheetah-motor")
    torso = mujoco.mj_name2id(nominal, mujoco.mjtObj.mjOBJ_BODY, "torso")
    floor = mujoco.mj_name2id(nominal, mujoco.mjtObj.mjOBJ_GEOM, "floor")
    model, plain = vec.sim.batch.get_model(0), vec.sim.batch.get_model(1)

    assert np.array_equal(model.opt.gravity, nominal.opt.gravity * 0.9)
    expected_mass = nominal.body_mass.copy()
    expected_mass[torso] += 2.5  # payload: kilograms added to the torso only
    assert np.array_equal(model.body_mass, expected_mass)
    assert model.body_subtreemass[torso] == pytest.approx(nominal.body_subtreemass[torso] + 2.5)
    expected_friction = nominal.geom_friction.copy()
    expected_friction[floor] *= 1.3  # the floor's friction only
    assert np.array_equal(model.geom_friction, expected_friction)
    assert np.array_equal(model.actuator_gear[:, 0], nominal.actuator_gear[:, 0] * strength)
    assert np.array_equal(model.actuator_gear[:, 1:], nominal.actuator_gear[:, 1:])
    for field in ("opt.gravity", "body_mass", "body_subtreemass", "geom_friction",
                  "actuator_gear"):
        assert np.array_equal(_field(plain, field), _field(nominal, field)), field


def test_ant_crippled_weakens_exactly_the_two_motors_of_its_leg():
    strength = 0.2
    tasks = [envs.Task.make("ant-crippled", {"crippled_leg": float(leg),
                                             "crippled_strength": strength})
             for leg in range(4)]  # leg 3 is the held-out (ood) leg
    vec = envs.make_vec("ant-crippled", 4, tasks=tasks, nthread=1)
    vec.reset(seed=0)
    nominal = _nominal("ant-crippled")
    for leg in range(4):
        gear = vec.sim.batch.get_model(leg).actuator_gear
        weak = {mujoco.mj_name2id(nominal, mujoco.mjtObj.mjOBJ_ACTUATOR, f"{joint}_{leg + 1}")
                for joint in ("hip", "ankle")}
        for actuator in range(nominal.nu):
            factor = strength if actuator in weak else 1.0
            assert np.array_equal(gear[actuator], nominal.actuator_gear[actuator] * np.array(
                [factor, 1, 1, 1, 1, 1])), (leg, actuator)


def _user_family(tmp_path, apply: str, per: str = "") -> envs.Family:
    """An ant family with one parameter ``value`` in [2, 3] acting as ``apply``."""
    path = tmp_path / "ant-user.toml"
    path.write_text(f"""
name = "ant-user"
robot = "ant"
task = "forward"
horizon = 10
frame_skip = 5
[params.value]
distribution = "uniform"
train = [2.0, 3.0]
{per}
apply = {apply}
[splits]
test = {{ count = 2, seed = 0 }}
""")
    return envs.get_family(str(path))


def test_select_on_a_dof_field_writes_that_joints_dof(tmp_path):
    # the ant's free root joint has 6 dofs: hip_2 is joint 3 but dof 7
    family = _user_family(tmp_path, '{ field = "dof_damping", mode = "set", select = "hip_2" }')
    task = envs.Task.make("ant-user", {"value": 2.5})
    env = envs.make(family, task=task)
    env.reset(seed=0)
    nominal = _nominal("ant-crippled")
    dof = nominal.jnt_dofadr[mujoco.mj_name2id(nominal, mujoco.mjtObj.mjOBJ_JOINT, "hip_2")]
    expected = nominal.dof_damping.copy()
    expected[dof] = 2.5
    assert np.array_equal(env.sim.batch.get_model(0).dof_damping, expected)


@pytest.mark.parametrize(("apply", "per", "message"), [
    ('{ field = "tendon_stiffness", mode = "scale" }', "", "tendon_stiffness"),
    ('{ field = "geom_friction", mode = "scale" }', 'per = "body"', "per"),
])
def test_fields_whose_rows_are_ambiguous_are_rejected(tmp_path, apply, per, message):
    with pytest.raises(envs.RoboMetaError, match=f"malformed family spec .*{message}"):
        _user_family(tmp_path, apply, per)


def test_feature_names_name_the_columns_of_the_task_features():
    for name in envs.families():
        family = envs.get_family(name)
        assert len(family.feature_names()) == family.feature_dim, name
    family = envs.get_family("cheetah-motor")
    assert family.feature_names() == [f"actuator_strength_scale[{i}]" for i in range(6)] + [
        "gravity_scale", "payload_mass", "floor_friction_scale"]
    values = {"actuator_strength_scale": (1.0,) * 6, "gravity_scale": 1.0,
              "payload_mass": 0.0, "floor_friction_scale": 1.0}
    tasks = [envs.Task.make("cheetah-motor", values),
             envs.Task.make("cheetah-motor", {**values, "payload_mass": 2.5})]
    features = family.task_features(family.task_arrays(tasks))
    changed = [n for n, a, b in zip(family.feature_names(), *features, strict=True) if a != b]
    assert changed == ["payload_mass"]
