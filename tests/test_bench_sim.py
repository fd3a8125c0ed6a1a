"""robo-meta bench sim's single-env comparison: ours against gymnasium's env of the same robot."""

from __future__ import annotations

import numpy as np
import pytest

from robo_meta import envs
from robo_meta.bench import sim


def test_single_env_against_gymnasium_half_cheetah(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = sim.measure_single("cheetah-vel", steps=30, rounds=3)
    assert result["reference"] == "HalfCheetah-v5"
    assert len(result["single_rounds"]) == len(result["reference_rounds"]) == 3
    ratios = [a / b for a, b in zip(result["single_rounds"], result["reference_rounds"],
                                    strict=True)]
    assert result["ratio_rounds"] == ratios
    assert result["single_over_reference"] == np.median(ratios) > 0
    assert result["best_over_best"] == (max(result["single_rounds"])
                                        / max(result["reference_rounds"]))
    table = sim.format_single_table(result)
    assert "| make(cheetah-vel)" in table and "gymnasium HalfCheetah-v5" in table
    assert "make / gymnasium HalfCheetah-v5:" in table
    # robo_meta's MJCF, not gymnasium's settotalmass one: no deprecation log in the cwd
    assert not (tmp_path / "MUJOCO_LOG.TXT").exists()


@pytest.mark.parametrize("name", ["cheetah-motor", "hopper-params", "walker-params", "ant-dir"])
def test_the_reference_simulates_the_familys_model(name):
    family = envs.get_family(name)
    env_id, reference = sim.gymnasium_reference(name)
    assert env_id == sim.GYMNASIUM_IDS[family.robot.name]
    assert reference.frame_skip == family.spec.frame_skip
    ours = envs.make(name)
    assert reference.observation_space.shape == ours.observation_space.shape
    assert reference.action_space == ours.action_space
    for field in ("body_mass", "body_inertia", "dof_damping", "actuator_gear", "opt.timestep"):
        holder = (reference.model.opt, family.model.opt) if "." in field else (
            reference.model, family.model)
        key = field.removeprefix("opt.")
        assert np.array_equal(getattr(holder[0], key), getattr(holder[1], key)), field


def test_a_robot_without_a_gymnasium_env_is_measured_alone():
    result = sim.measure_single("point-goal", steps=10, rounds=2)
    assert result["reference"] is None and "single_over_reference" not in result
    assert "no gymnasium env of the point_mass robot" in sim.format_single_table(result)


def test_cli_prints_both_tables_or_the_single_one(capsys):
    from robo_meta.cli.main import main

    assert main(["bench", "sim", "--family", "cheetah-vel", "--num-envs", "4", "--steps", "3",
                 "--rounds", "1", "--single-steps", "10", "--single-rounds", "2"]) == 0
    out = capsys.readouterr().out
    assert "make_vec / SyncVectorEnv" in out and "make / gymnasium HalfCheetah-v5" in out
    assert main(["bench", "sim", "--family", "hopper-params", "--single-only",
                 "--single-steps", "10", "--single-rounds", "2"]) == 0
    out = capsys.readouterr().out
    assert "make_vec" not in out and "make / gymnasium Hopper-v5" in out
    assert main(["bench", "sim", "--family", "cheetah-vell", "--single-only"]) == 2
    assert "unknown family 'cheetah-vell'" in capsys.readouterr().err
