"""Damaged, diverged or mislabelled checkpoints are refused in one line; a diverging run stops
keeping its last good checkpoint; a run on a user's spec file goes end to end."""

from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pytest
import torch

import robo_meta
from robo_meta.algos.ppo import PPOConfig
from robo_meta.cli.main import main
from robo_meta.envs import RoboMetaError
from robo_meta.envs.family import FAMILIES_DIR
from robo_meta.runner import Runner

CPU = torch.device("cpu")


def _config(**overrides) -> PPOConfig:
    base = dict(family="point-goal", algo="dr", total_steps=256, num_envs=8, rollout_steps=16,
                epochs=2, minibatches=2, eval_tasks=1, threads=1, hidden_sizes=[16, 16],
                gru_hidden=16, device="cpu")
    return PPOConfig(**{**base, **overrides})


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("integrity") / "run"
    Runner(_config(), run_dir, CPU, progress=False).train()
    return run_dir


def _evaluate_error(run_dir, capsys) -> str:
    capsys.readouterr()
    assert main(["evaluate", "--policy", str(run_dir), "--out",
                 str(run_dir.parent / "report.json")]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1, err
    assert not (run_dir.parent / "report.json").exists()
    return err[0]


def test_flipped_bytes_in_state_pt_are_one_error_line(tmp_path, run, capsys):
    damaged = shutil.copytree(run, tmp_path / "damaged")
    data = bytearray((damaged / "state.pt").read_bytes())
    # inside a weight tensor's bytes (not the zip directory or the pickle): torch.load reads
    # the file as if nothing happened
    weights = torch.load(damaged / "state.pt", weights_only=True)["modules"]["policy"]
    start = bytes(data).index(weights["critic.0.weight"].numpy().tobytes())
    data[start:start + 64] = bytes(b ^ 0x01 for b in data[start:start + 64])
    (damaged / "state.pt").write_bytes(bytes(data))
    assert "does not match the sha256 that meta.json recorded" in _evaluate_error(damaged,
                                                                                 capsys)


def test_non_finite_weights_are_refused_at_load_and_at_resume(tmp_path, run, capsys):
    poisoned = shutil.copytree(run, tmp_path / "nan")
    state = torch.load(poisoned / "state.pt", weights_only=True)
    state["modules"]["policy"]["actor.0.weight"][0, 0] = math.nan
    torch.save(state, poisoned / "state.pt")
    meta = json.loads((poisoned / "meta.json").read_text())
    del meta["state_sha256"]  # as a checkpoint of an older version would be
    (poisoned / "meta.json").write_text(json.dumps(meta))
    assert "non-finite values in policy.actor.0.weight" in _evaluate_error(poisoned, capsys)
    before = {p.name: p.read_bytes() for p in poisoned.iterdir() if p.is_file()}
    assert main(["train", "--resume", str(poisoned), "--total-steps", "512",
                 "--no-progress"]) == 2
    assert "non-finite values" in capsys.readouterr().err
    after = {p.name: p.read_bytes() for p in poisoned.iterdir() if p.is_file()}
    assert after == before  # a rejected resume changes nothing


def test_resuming_a_pretrained_copy_is_one_error_line_and_changes_nothing(tmp_path, run,
                                                                         capsys):
    from robo_meta import pretrained

    pretrained.export(run, "tiny-dr", "robo-meta train ...", root=tmp_path)
    copy = tmp_path / "tiny-dr"
    before = {p.name: p.read_bytes() for p in copy.iterdir() if p.is_file()}
    capsys.readouterr()
    assert main(["train", "--resume", str(copy), "--total-steps", "512", "--no-progress"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and "holds a policy's weights only" in err[0], err
    assert {p.name: p.read_bytes() for p in copy.iterdir() if p.is_file()} == before


def test_a_config_naming_the_wrong_algorithm_is_refused(tmp_path, capsys):
    run_dir = tmp_path / "rl2"
    Runner(_config(algo="rl2", total_steps=128), run_dir, CPU, progress=False).train()
    config = json.loads((run_dir / "config.json").read_text())
    config["train"]["algo"] = "dr"  # the GRU weights are not a dr policy
    (run_dir / "config.json").write_text(json.dumps(config))
    assert "dr trains a mlp policy, but this checkpoint's network is a RecurrentActorCritic" in (
        _evaluate_error(run_dir, capsys))


def test_a_diverging_run_stops_in_one_line_keeping_the_last_good_checkpoint(tmp_path):
    runner = Runner(_config(total_steps=512, checkpoint_every=128), tmp_path, CPU,
                    progress=False)
    real, calls = runner.algorithm.iteration, []

    def poisoned():  # the third update starts from NaN weights, as a blown-up one would
        calls.append(1)
        if len(calls) == 3:
            with torch.no_grad():
                runner.algorithm.policy.actor[0].weight.fill_(math.nan)
        return real()

    runner.algorithm.iteration = poisoned
    with pytest.raises(RoboMetaError, match=r"training diverged at step 384 \(.*nan.*\); the "
                                            r"checkpoint of step 256 is kept"):
        runner.train()
    state = torch.load(tmp_path / "state.pt", weights_only=True)
    assert state["runner"]["step"] == 256
    policy = robo_meta.load_policy(tmp_path, device="cpu")  # finite, so it loads
    policy.reset(2)
    assert np.isfinite(policy.act(np.zeros((2, policy.module.obs_dim)))).all()


def test_a_run_on_a_user_spec_file_trains_and_evaluates_on_that_spec(tmp_path):
    spec = (FAMILIES_DIR / "point-goal.toml").read_text()
    assert 'name = "point-goal"' in spec and "horizon = 50" in spec
    user = tmp_path / "short-goal.toml"
    user.write_text(spec.replace('name = "point-goal"', 'name = "short-goal"')
                    .replace("horizon = 50", "horizon = 10"))
    run_dir = tmp_path / "run"
    assert main(["train", "--family", str(user), "--algo", "dr", "--total-steps", "256",
                 "--num-envs", "8", "--rollout-steps", "16", "--eval-tasks", "2",
                 "--threads", "1", "--device", "cpu", "--no-progress",
                 "--out", str(run_dir)]) == 0
    report_path = tmp_path / "report.json"
    assert main(["evaluate", "--policy", str(run_dir), "--split", "val",
                 "--out", str(report_path)]) == 0
    report = json.loads(report_path.read_text())
    assert report["family"] == "short-goal"
    # episodes of the user's horizon (10 steps), not the built-in's 50
    assert all(-10.0 * 3 <= r <= 0.0 for task in report["tasks"] for r in task["returns"][0])
    with open(run_dir / "metrics.csv") as f:
        assert "eval/return_ep1" in f.readline()


def test_meta_names_the_commit_of_a_git_checkout_and_whether_it_was_edited(tmp_path):
    import subprocess

    from robo_meta.checkpoint import source_commit

    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c",
                               "user.email=t@t", *args], capture_output=True, text=True,
                              check=True).stdout.strip()

    repo = tmp_path / "repo"
    (repo / "pkg").mkdir(parents=True)
    (repo / "a.py").write_text("x = 1\n")
    git("init", "-q")
    git("add", "a.py")
    git("commit", "-q", "-m", "one")
    head = git("rev-parse", "HEAD")
    assert source_commit(repo) == head
    (repo / "new.py").write_text("")  # untracked files are not the code that ran
    source_commit.cache_clear()
    assert source_commit(repo) == head
    (repo / "a.py").write_text("x = 2\n")
    source_commit.cache_clear()
    assert source_commit(repo) == head + "+dirty"
    assert source_commit(repo / "pkg") is None  # inside another repository, not its top
    assert source_commit(tmp_path) is None  # no repository
    source_commit.cache_clear()
