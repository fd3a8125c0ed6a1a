"""SB3 baselines: a stock PPO trained for a few hundred steps by scripts/baseline_sb3.py is
scored by ``robo-meta evaluate`` with the same protocol as SB3 itself would run it.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from robo_meta.cli.main import main
from robo_meta.envs import get_family, make

FAMILY = "point-goal"
SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "baseline_sb3.py"


def _script():
    spec = importlib.util.spec_from_file_location("baseline_sb3", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def sb3_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sb3") / "ppo"
    code = _script().main(["--family", FAMILY, "--algo", "ppo", "--total-steps", "256",
                           "--out", str(out), "--seed", "3"])
    assert code == 0
    return out


def test_baseline_writes_the_model_and_its_card(sb3_run):
    info = json.loads((sb3_run / "model.json").read_text())
    assert info["algo"] == "PPO" and info["family"] == FAMILY and info["seed"] == 3
    assert info["total_steps"] == 256 and info["steps_done"] == 256 and info["n_envs"] == 8
    assert info["wall_time_s"] > 0
    assert (sb3_run / "model.zip").stat().st_size > 1000
    assert "time/total_timesteps" in (sb3_run / "progress.csv").read_text()  # SB3's own log


def test_sb3_model_evaluates_through_the_same_command(sb3_run, tmp_path):
    from stable_baselines3 import PPO

    out = tmp_path / "sb3.json"
    tasks = get_family(FAMILY).tasks("test")[:4]
    tasks_file = tmp_path / "tasks.json"
    tasks_file.write_text(json.dumps([t.to_dict() for t in tasks]))
    assert main(["evaluate", "--policy", f"sb3:{sb3_run}/model.zip", "--tasks-file",
                 str(tasks_file), "--episodes", "2", "--seed", "5", "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["policy"]["algo"] == "sb3-ppo" and report["policy"]["name"] == "ppo"
    assert report["policy"]["meta"]["total_steps"] == 256
    # SB3's own loop on one gymnasium env per task gives the same returns
    model = PPO.load(sb3_run / "model.zip", device="cpu")
    for i, (task, entry) in enumerate(zip(tasks, report["tasks"], strict=True)):
        env = make(FAMILY, task=task)
        obs, _ = env.reset(seed=5 + i)
        for k in range(2):
            total, done = 0.0, False
            while not done:
                action, _ = model.predict(obs.astype(np.float32), deterministic=True)
                obs, reward, terminated, truncated, _ = env.step(action)
                total += reward
                done = terminated or truncated
            assert entry["returns"][0][k] == pytest.approx(total, rel=1e-5)
            obs, _ = env.reset()


def test_sb3_model_of_another_family_is_refused(sb3_run, tmp_path, capsys):
    out = tmp_path / "r.json"
    code = main(["evaluate", "--policy", f"sb3:{sb3_run}/model.zip", "--family", "cheetah-vel",
                 "--out", str(out)])
    assert code == 2
    assert "trained on family 'point-goal', not 'cheetah-vel'" in capsys.readouterr().err
    assert not out.exists()


def test_baseline_bad_family_is_one_line_exit_2(tmp_path, capsys):
    code = _script().main(["--family", "cheetah-vle", "--total-steps", "10", "--out",
                           str(tmp_path / "x")])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown family 'cheetah-vle'" in err[0]
    assert not (tmp_path / "x").exists()
