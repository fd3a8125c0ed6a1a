"""SB3 baselines: a stock PPO (and SAC) trained for a few hundred steps by
scripts/baseline_sb3.py is scored by ``robo-meta evaluate`` with the same protocol as SB3 itself
would run it, loaded without unpickling anything: a zip whose entries would run code when
unpickled is refused (or its entry never read), unless ``--trust-pickle`` says otherwise.
"""

from __future__ import annotations

import base64
import io
import json
import shutil
import zipfile
from pathlib import Path

import cloudpickle
import numpy as np
import pytest
import torch
from cli_helpers import load_script

from robo_meta.cli.main import main
from robo_meta.envs import get_family, make

FAMILY = "point-goal"


def _script():
    return load_script("baseline_sb3")


def _train(root: Path, algo: str) -> Path:
    out = root / algo
    code = _script().main(["--family", FAMILY, "--algo", algo, "--total-steps", "256",
                           "--out", str(out), "--seed", "3"])
    assert code == 0
    return out


@pytest.fixture(scope="module")
def sb3_run(tmp_path_factory) -> Path:
    return _train(tmp_path_factory.mktemp("sb3"), "ppo")


@pytest.fixture(scope="module")
def sac_run(tmp_path_factory) -> Path:
    return _train(tmp_path_factory.mktemp("sb3"), "sac")


@pytest.fixture(params=["ppo", "sac"])
def any_run(request, sb3_run, sac_run) -> Path:
    return {"ppo": sb3_run, "sac": sac_run}[request.param]


def _sb3_returns(model, tasks, episodes: int, seed: int) -> list[list[float]]:
    """Returns per task and episode of SB3's own predict loop, one gymnasium env per task."""
    returns = []
    for i, task in enumerate(tasks):
        env = make(FAMILY, task=task)
        obs, _ = env.reset(seed=seed + i)
        row = []
        for _ in range(episodes):
            total, done = 0.0, False
            while not done:
                action, _ = model.predict(obs.astype(np.float32), deterministic=True)
                obs, reward, terminated, truncated, _ = env.step(action)
                total += reward
                done = terminated or truncated
            row.append(total)
            obs, _ = env.reset()
        returns.append(row)
    return returns


def _tasks_file(tmp_path: Path, count: int = 4) -> tuple[list, Path]:
    tasks = get_family(FAMILY).tasks("test")[:count]
    path = tmp_path / "tasks.json"
    path.write_text(json.dumps([t.to_dict() for t in tasks]))
    return tasks, path


def test_baseline_writes_the_model_and_its_card(sb3_run):
    info = json.loads((sb3_run / "model.json").read_text())
    assert info["algo"] == "PPO" and info["family"] == FAMILY and info["seed"] == 3
    assert info["total_steps"] == 256 and info["steps_done"] == 256 and info["n_envs"] == 8
    assert info["wall_time_s"] > 0
    assert (sb3_run / "model.zip").stat().st_size > 1000
    assert "time/total_timesteps" in (sb3_run / "progress.csv").read_text()  # SB3's own log


def test_sb3_model_evaluates_through_the_same_command(any_run, tmp_path):
    from stable_baselines3 import PPO, SAC

    algo = any_run.name
    out = tmp_path / "sb3.json"
    tasks, tasks_file = _tasks_file(tmp_path)
    assert main(["evaluate", "--policy", f"sb3:{any_run}/model.zip", "--tasks-file",
                 str(tasks_file), "--episodes", "2", "--seed", "5", "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["policy"]["algo"] == f"sb3-{algo}" and report["policy"]["name"] == algo
    assert report["policy"]["meta"]["total_steps"] == 256
    # SB3's own loader and loop on one gymnasium env per task give the same returns
    model = {"ppo": PPO, "sac": SAC}[algo].load(any_run / "model.zip", device="cpu")
    expected = _sb3_returns(model, tasks, episodes=2, seed=5)
    for entry, returns in zip(report["tasks"], expected, strict=True):
        assert entry["returns"][0] == pytest.approx(returns, rel=1e-5)


def test_the_safe_loader_builds_the_model_sb3_loads(any_run):
    from stable_baselines3 import PPO, SAC

    from robo_meta.sb3_policy import SB3Policy

    ours = SB3Policy(any_run / "model.zip", None, torch.device("cpu")).model
    theirs = {"ppo": PPO, "sac": SAC}[any_run.name].load(any_run / "model.zip", device="cpu")
    assert type(ours.policy) is type(theirs.policy)
    assert ours.observation_space == theirs.observation_space
    assert ours.action_space == theirs.action_space
    mine, sb3 = ours.policy.state_dict(), theirs.policy.state_dict()
    assert mine.keys() == sb3.keys() and all(torch.equal(mine[k], sb3[k]) for k in sb3)
    obs = np.random.default_rng(0).normal(size=(64, 4)).astype(np.float32) * 3
    assert np.array_equal(ours.predict(obs, deterministic=True)[0],
                          theirs.predict(obs, deterministic=True)[0])


def test_a_zip_without_model_json_is_read_as_its_policy_class_says(sac_run, tmp_path, capsys):
    bare = tmp_path / "bare.zip"
    shutil.copy(sac_run / "model.zip", bare)
    out = tmp_path / "r.json"
    assert main(["evaluate", "--policy", f"sb3:{bare}", "--family", FAMILY, "--episodes", "1",
                 "--split", "val", "--out", str(out)]) == 0
    assert json.loads(out.read_text())["policy"]["algo"] == "sb3-sac"
    capsys.readouterr()
    assert main(["evaluate", "--policy", f"sb3:{bare}", "--out", str(out)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and "cannot tell the family of SB3 model" in err[0], err


def test_trust_pickle_loads_with_sb3s_loader_and_warns(sb3_run, tmp_path, capsys):
    tasks, tasks_file = _tasks_file(tmp_path, count=2)
    reports = {}
    for flags in ([], ["--trust-pickle"]):
        out = tmp_path / f"r{len(flags)}.json"
        capsys.readouterr()
        assert main(["evaluate", "--policy", f"sb3:{sb3_run}/model.zip", "--tasks-file",
                     str(tasks_file), "--episodes", "2", "--out", str(out), *flags]) == 0
        err = capsys.readouterr().err.strip().splitlines()
        if flags:
            assert len(err) == 1, err
            assert err[0].startswith("robo-meta evaluate: warning: --trust-pickle: SB3's own "
                                     "loader unpickles the zip, which runs any code")
        else:
            assert err == []
        reports[bool(flags)] = json.loads(out.read_text())["tasks"]
    assert reports[True] == reports[False]


# --- files that would run code -------------------------------------------------------------


class _Payload:
    """Unpickling this creates ``marker`` (``open(marker, "w")``): what a hostile file can do."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return open, (self.marker, "w")


def _serialized(payload, like: dict | None = None) -> dict:
    """An SB3 ``data`` entry holding ``payload`` cloudpickled; ``like``'s readable metadata
    (``:type:``, ``__module__``, ...) copied, so the entry claims to be what ``like`` was."""
    entry = {k: v for k, v in (like or {}).items() if k != ":serialized:"}
    entry.setdefault(":type:", "<class 'abc.ABCMeta'>")
    entry[":serialized:"] = base64.b64encode(cloudpickle.dumps(payload)).decode()
    return entry


def _hostile_zip(source: Path, target: Path, where: str, marker: Path) -> Path:
    """``source`` with the payload in ``where``: a ``data`` entry (``data:KEY``, ``data:KEY+``
    to keep the entry's readable metadata) or a ``.pth`` member."""
    with zipfile.ZipFile(source) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    if where.startswith("data:"):
        key, keep = where[5:].rstrip("+"), where.endswith("+")
        data = json.loads(members["data"])
        data[key] = _serialized(_Payload(marker), data.get(key) if keep else None)
        members["data"] = json.dumps(data).encode()
    else:
        buffer = io.BytesIO()
        torch.save({"weight": _Payload(marker)}, buffer)
        members[where] = buffer.getvalue()
    with zipfile.ZipFile(target, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return target


REFUSED = {
    "data:policy_class": "loading its policy class would unpickle code from the file",
    "data:policy_kwargs": "its entry 'policy_kwargs' (<class 'abc.ABCMeta'>) can only be read "
                          "by unpickling",
    "data:reward_hacker": "its entry 'reward_hacker' (<class 'abc.ABCMeta'>) can only be read by "
                          "unpickling",
    "policy.pth": "policy.pth holds more than tensors, and reading it would run code",
}
# entries that are never unpickled: ours replace them, or they are never read
NEVER_READ = ["data:policy_class+", "data:observation_space+", "data:action_space",
              "data:lr_schedule+", "data:_last_obs", "data:clip_range", "pytorch_variables.pth",
              "policy.optimizer.pth"]


@pytest.mark.parametrize("where", list(REFUSED))
def test_a_zip_that_would_run_code_is_refused_in_one_line(sb3_run, tmp_path, capsys, where):
    marker = tmp_path / "pwned"
    model = _hostile_zip(sb3_run / "model.zip", tmp_path / "model.zip", where, marker)
    shutil.copy(sb3_run / "model.json", tmp_path / "model.json")
    out = tmp_path / "out" / "r.json"
    code = main(["evaluate", "--policy", f"sb3:{model}", "--out", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1, err
    assert err[0].startswith("robo-meta evaluate: error: ") and REFUSED[where] in err[0], err
    assert "--trust-pickle" in err[0]
    assert not marker.exists()
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("where", NEVER_READ)
def test_a_payload_in_an_entry_we_rebuild_is_never_unpickled(sb3_run, tmp_path, where):
    marker = tmp_path / "pwned"
    model = _hostile_zip(sb3_run / "model.zip", tmp_path / "model.zip", where, marker)
    shutil.copy(sb3_run / "model.json", tmp_path / "model.json")
    out = tmp_path / "r.json"
    assert main(["evaluate", "--policy", f"sb3:{model}", "--episodes", "1", "--split", "val",
                 "--out", str(out)]) == 0
    assert not marker.exists()


def test_the_payload_is_live_sb3s_loader_and_trust_pickle_run_it(sb3_run, tmp_path, capsys):
    from stable_baselines3 import PPO

    # the control for the tests above: the same file does run code when unpickled
    marker = tmp_path / "pwned"
    model = _hostile_zip(sb3_run / "model.zip", tmp_path / "model.zip", "data:reward_hacker",
                         marker)
    PPO.load(model, device="cpu")
    assert marker.exists()
    marker.unlink()
    shutil.copy(sb3_run / "model.json", tmp_path / "model.json")
    assert main(["evaluate", "--policy", f"sb3:{model}", "--episodes", "1", "--split", "val",
                 "--out", str(tmp_path / "r.json"), "--trust-pickle"]) == 0
    assert marker.exists() and "warning: --trust-pickle" in capsys.readouterr().err


def test_non_finite_sb3_weights_are_refused(sb3_run, tmp_path, capsys):
    with zipfile.ZipFile(sb3_run / "model.zip") as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    state = torch.load(io.BytesIO(members["policy.pth"]), weights_only=True)
    state[next(iter(state))] = state[next(iter(state))] * float("nan")
    buffer = io.BytesIO()
    torch.save(state, buffer)
    members["policy.pth"] = buffer.getvalue()
    model = tmp_path / "nan.zip"
    with zipfile.ZipFile(model, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    code = main(["evaluate", "--policy", f"sb3:{model}", "--family", FAMILY,
                 "--out", str(tmp_path / "r.json")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "is not finite (NaN or inf)" in err[0], err
    assert not (tmp_path / "r.json").exists()


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
