"""``robo-meta train`` in-process: resuming a run, and bad input ending in one clear line."""

from __future__ import annotations

import csv
import json
import os
import re
import shutil

import numpy as np
import pytest
import torch
from cli_helpers import exit_status as _main

from robo_meta.cli.main import main

TINY = ["--family", "point-goal", "--algo", "dr", "--num-envs", "8", "--rollout-steps", "16",
        "--epochs", "2", "--minibatches", "2", "--eval-tasks", "1", "--threads", "1",
        "--device", "cpu", "--seed", "0", "--no-progress"]
UPDATES_PER_ROLLOUT = 2 * 2  # epochs x minibatches


def _steps_logged(run_dir) -> list[int]:
    with open(run_dir / "metrics.csv", newline="") as f:
        return [int(row["step"]) for row in csv.DictReader(f)]


def _snapshot(run_dir) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(run_dir.iterdir()) if p.is_file()}


def test_resume_continues_from_the_saved_step_count_with_the_optimizer_state(tmp_path, capsys):
    run_dir = tmp_path / "run"
    assert _main(["train", *TINY, "--total-steps", 256, "--out", run_dir]) == 0
    assert json.loads((run_dir / "meta.json").read_text())["steps"] == 256
    assert _steps_logged(run_dir) == [128, 256]
    first_wall = torch.load(run_dir / "state.pt", weights_only=True)["runner"]["wall_time"]

    assert _main(["train", "--resume", run_dir, "--total-steps", 512, "--no-progress"]) == 0
    assert "for 512 steps" in capsys.readouterr().out
    meta = json.loads((run_dir / "meta.json").read_text())
    assert (meta["steps"], meta["family"], meta["algo"]) == (512, "point-goal", "dr")
    assert _steps_logged(run_dir) == [128, 256, 384, 512]  # one header, rows continue
    state = torch.load(run_dir / "state.pt", weights_only=True)
    assert state["runner"]["step"] == 512
    assert state["runner"]["wall_time"] > first_wall
    # Adam's step count went on from the first run's 2 rollouts: the optimizer was restored
    adam_steps = {int(s["step"]) for s in state["algorithm"]["optimizer"]["state"].values()}
    assert adam_steps == {4 * UPDATES_PER_ROLLOUT}
    config = json.loads((run_dir / "config.json").read_text())["train"]
    assert (config["total_steps"], config["num_envs"], config["threads"]) == (512, 8, 1)


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("finished") / "run"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    assert _main(["train", *TINY, "--total-steps", 128, "--out", run_dir]) == 0
    torch.set_num_threads(threads)
    return run_dir


BAD_INPUT = {
    "unknown algorithm": (["--algo", "ppo"], r"unknown algorithm 'ppo'"),
    "non-positive steps": (["--total-steps", "0"], r"total_steps must be in \[1, \d+\], got 0"),
    "negative steps": (["--total-steps", "-5"], r"total_steps must be in \[1, \d+\], got -5"),
    "infinite learning rate": (["--learning-rate", "inf"],
                               r"learning_rate must be in \(0, 1e\+06\], got inf"),
    "huge initial log std": (["--init-log-std", "1e30"], r"init_log_std must be in \[-20, 5\]"),
    "huge batch": (["--num-envs", str(10**12)], r"num_envs must be in \[1, 65536\]"),
    "cuda without cuda": (["--device", "cuda"], r"--device cuda .*CUDA is not available"),
    "resume, other family": (["--resume", "{run}", "--family", "cheetah-vel"],
                             r"that run trained family 'point-goal', not 'cheetah-vel'"),
    "resume, other algorithm": (["--resume", "{run}", "--algo", "oracle"],
                                r"that run used algorithm 'dr', not 'oracle'"),
    "out holds a run": (["--out", "{run}"], r"already holds a run: use --resume"),
    "out under /proc": (["--out", "/proc/robo-meta-run"], r"--out /proc/robo-meta-run: cannot "
                                                          r"create files in /proc"),
    "out is a file": (["--out", "{run}/config.json"], r"exists and is not a directory"),
    "separate critic of an MLP": (["--separate-critic"], r"--separate-critic splits rl2's "
                                                         r"recurrent memory; dr's MLP"),
    "privileged critic of an MLP": (["--privileged-critic"], r"--privileged-critic gives rl2's "
                                                             r"value head the task features; dr"),
    "task inference of an MLP": (["--task-inference-coef", "1"],
                                 r"--task-inference-coef trains rl2's memory to guess the task; "
                                 r"dr has no memory"),
    "negative task inference": (["--algo", "rl2", "--task-inference-coef", "-1"],
                                r"task_inference_coef must be in \[0, 1e\+06\], got -1"),
    "init from other sizes": (["--init-from", "{run}", "--hidden-sizes", "32", "32"],
                              r"--init-from .*run: its networks differ from the ones this config "
                              r"builds \(policy hidden_sizes: \[64, 64\] in the source, "
                              r"\[32, 32\] here\)"),
    "init from another algorithm": (["--init-from", "{run}", "--algo", "rl2"],
                                    r"its networks differ .*\(policy is a mlp in the source, a gru "
                                    r"here\)"),
    "init from an unknown pretrained": (["--init-from", "pretrained:cheetah-vel-rl3"],
                                        r"unknown pretrained policy 'cheetah-vel-rl3' \(did you "
                                        r"mean cheetah-vel-rl2, "),
    "init from nothing": (["--init-from", "{run}-gone"], r"no checkpoint directory at .*run-gone"),
}


@pytest.mark.parametrize("case", list(BAD_INPUT))
def test_bad_input_ends_with_one_error_line_and_writes_nothing(tmp_path, capsys, finished_run,
                                                               case):
    if case == "cuda without cuda" and torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    flags, message = BAD_INPUT[case]
    flags = [f.format(run=finished_run) for f in flags]
    fresh_out = tmp_path / "new-run"
    argv = ["train", *TINY, "--total-steps", 256, *flags]
    if "--out" not in flags and "--resume" not in flags:
        argv += ["--out", fresh_out]
    before = _snapshot(finished_run)
    capsys.readouterr()

    assert _main(argv) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("robo-meta train: error: ")
    assert re.search(message, err[0]), err[0]
    assert not fresh_out.exists()
    assert _snapshot(finished_run) == before  # a resumed or reused run is left untouched


def test_init_from_starts_a_new_run_from_anothers_weights_with_a_fresh_optimizer(
        tmp_path, finished_run):
    """--init-from: the new run's first rollout is collected with the source's networks
    (normalizer included), its step count and Adam start at zero, and config.json records the
    source so the command reproduces the run."""
    from robo_meta.algos import config_from_dict
    from robo_meta.runner import Runner

    saved = torch.load(finished_run / "state.pt", weights_only=True)["modules"]["policy"]
    config = config_from_dict({**json.loads((finished_run / "config.json").read_text())["train"],
                               "init_from": str(finished_run), "total_steps": 256})
    runner = Runner(config, tmp_path / "tuned", torch.device("cpu"), progress=False)
    loaded = runner.algorithm.policy.state_dict()
    assert saved.keys() == loaded.keys()
    assert all(torch.equal(saved[k], loaded[k]) for k in saved)
    assert float(loaded["normalizer.count"]) > 1  # the source's statistics, not a fresh prior
    assert runner.step == 0 and not runner.algorithm.optimizer.state
    runner.train()
    train = json.loads((tmp_path / "tuned" / "config.json").read_text())["train"]
    assert train["init_from"] == str(finished_run)
    assert _steps_logged(tmp_path / "tuned") == [128, 256]
    # a fresh run of the same config differs: the weights came from the source
    fresh = Runner(config_from_dict({**train, "init_from": ""}), tmp_path / "fresh",
                   torch.device("cpu"), progress=False)
    assert not torch.equal(fresh.algorithm.policy.state_dict()["critic.0.weight"],
                           saved["critic.0.weight"])
    fresh.algorithm.close()
    fresh.release()


def test_a_fine_tuned_run_records_the_training_it_started_from(tmp_path, finished_run):
    """meta.json "init_from": the source, its weights' digest and the training behind them,
    chained over two --init-from runs and kept through a resume; a card of the last gives
    the whole budget and this run's share."""
    from robo_meta import checkpoint, pretrained

    source = json.loads((finished_run / "meta.json").read_text())
    tuned, again = tmp_path / "tuned", tmp_path / "again"
    assert _main(["train", *TINY, "--total-steps", 128, "--init-from", finished_run,
                  "--out", tuned]) == 0
    first = json.loads((tuned / "meta.json").read_text())
    assert first["init_from"] == {"source": str(finished_run),
                                  "state_sha256": source["state_sha256"],
                                  "steps": source["steps"],
                                  "wall_time_s": source["wall_time_s"]}
    assert _main(["train", "--resume", tuned, "--total-steps", 256, "--no-progress"]) == 0
    resumed = json.loads((tuned / "meta.json").read_text())
    assert resumed["steps"] == 256 and resumed["init_from"] == first["init_from"]
    assert _main(["train", *TINY, "--total-steps", 128, "--init-from", tuned,
                  "--out", again]) == 0
    last = json.loads((again / "meta.json").read_text())
    assert last["init_from"]["steps"] == source["steps"] + 256
    assert last["init_from"]["wall_time_s"] == pytest.approx(
        source["wall_time_s"] + resumed["wall_time_s"], abs=0.11)
    steps, wall = checkpoint.training_budget(last)
    assert steps == source["steps"] + 256 + 128
    assert wall == pytest.approx(last["init_from"]["wall_time_s"] + last["wall_time_s"], abs=0.11)
    lines = pretrained._budget_lines(last)
    assert lines[0] == f"- steps: {steps:,}"
    assert lines[2].startswith(f"- of which before `--init-from {tuned}`: "
                               f"{source['steps'] + 256:,} steps")
    assert checkpoint.training_budget(source) == (source["steps"], source["wall_time_s"])
    assert "init_from" not in source and len(pretrained._budget_lines(source)) == 2


def test_a_run_reads_its_source_commit_when_it_starts(tmp_path, finished_run):
    """Read once at the start (then cached): an edit of the tree during training does not
    mark the run's saves +dirty, nor does a commit made before its first save clean them."""
    from robo_meta import checkpoint
    from robo_meta.algos import config_from_dict
    from robo_meta.runner import Runner

    checkpoint.source_commit.cache_clear()
    config = config_from_dict({**json.loads((finished_run / "config.json").read_text())["train"],
                               "total_steps": 128})
    runner = Runner(config, tmp_path / "run", torch.device("cpu"), progress=False)
    assert checkpoint.source_commit.cache_info().currsize == 1
    runner.algorithm.close()
    runner.release()


@pytest.mark.parametrize("damage", ["truncated", "pickled object"])
def test_resume_of_a_damaged_checkpoint_is_one_error_line(tmp_path, capsys, finished_run, damage):
    run_dir = tmp_path / "damaged"
    shutil.copytree(finished_run, run_dir)
    state_path = run_dir / "state.pt"
    if damage == "truncated":
        state_path.write_bytes(state_path.read_bytes()[:1000])
    else:  # what an older trainer wrote: a numpy scalar, refused by weights_only=True
        torch.save({"policy": {}, "trainer": {"scale": np.float64(1.0)}}, state_path)
    before = _snapshot(run_dir)
    capsys.readouterr()
    assert _main(["train", "--resume", run_dir, "--total-steps", 256, "--no-progress"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1, err
    assert re.match(r"robo-meta train: error: corrupt checkpoint .*damaged: cannot read state.pt",
                    err[0]), err[0]
    assert _snapshot(run_dir) == before


def test_help_of_an_algorithm_lists_its_own_options_from_the_field_docstrings(capsys):
    for algo, own in (("dr", "Hidden layers of the MLP"), ("rl2", "GRU hidden size"),
                      ("rma", "Phase 2, the adaptation module")):
        with pytest.raises(SystemExit) as exit_info:
            main(["train", "--algo", algo, "--help"])
        assert exit_info.value.code == 0
        out = capsys.readouterr().out
        assert f"robo-meta train --algo {algo}" in out and own in out
        assert "--total-steps" in out and "--out DIR" in out  # the run's and the runner's


def test_help_paragraph_of_the_config_docstring_never_the_signature_dataclass_writes():
    from dataclasses import dataclass

    from robo_meta.algos.rma import RMAConfig
    from robo_meta.cli.train import _config_doc
    from robo_meta.config import RunConfig

    @dataclass
    class Undocumented(RunConfig):
        extra: int = 1

    assert Undocumented.__doc__.startswith("Undocumented(family:")  # dataclass wrote it
    assert _config_doc(Undocumented) == ""
    paragraphs = _config_doc(RMAConfig).split("\n\n")
    assert paragraphs[0] == ("An rma run: PPO's fields (for the teacher) plus the adaptation "
                             "module's.")
    assert paragraphs[1].startswith("Phase 1, the teacher") and "\n" not in paragraphs[1]


@pytest.mark.parametrize("flags, message", [
    (["--totl-steps", "5"], r"unknown option '--totl-steps' for --algo dr \(did you mean "
                            r"--total-steps"),
    (["--total-steps", "x"], r"--total-steps: invalid literal for int"),
    (["--config"], r"argument --config: expected one argument"),
])
def test_bad_flags_end_in_one_line(tmp_path, capsys, flags, message):
    assert _main(["train", *TINY, *flags, "--out", tmp_path / "run"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and re.search(message, err[0]), err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("algo, field", [("dr", "numpy_tanh"), ("rl2", "separate_critic"),
                                         ("rl2", "privileged_critic"),
                                         ("maml", "squash_mean"), ("maml", "inner_lr_learned")])
def test_a_switch_in_a_config_file_must_be_true_or_false(tmp_path, capsys, algo, field):
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"family": "cheetah-vel", "algo": algo, field: "yes"}))
    assert _main(["train", "--config", config, "--out", tmp_path / "run"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and f"{field} must be true or false, got 'yes'" in err[0], err
    assert not (tmp_path / "run").exists()


def test_config_accepts_a_runs_own_config_json(tmp_path, finished_run):
    again = tmp_path / "again"
    assert _main(["train", "--config", finished_run / "config.json", "--out", again,
                  "--no-progress"]) == 0
    first = json.loads((finished_run / "config.json").read_text())
    second = json.loads((again / "config.json").read_text())
    assert second == first  # every field, the network specs too
    assert _steps_logged(again) == _steps_logged(finished_run) == [128]


def test_a_second_run_on_a_directory_in_use_fails_naming_the_holder(tmp_path, capsys):
    from robo_meta.algos.ppo import PPOConfig
    from robo_meta.runner import Runner

    run_dir = tmp_path / "run"
    holder = Runner(PPOConfig(family="point-goal", algo="dr", num_envs=8, threads=1),
                    run_dir, torch.device("cpu"), progress=False)
    try:
        before = _snapshot(run_dir)
        assert _main(["train", *TINY, "--total-steps", 128, "--out", run_dir]) == 2
        err = capsys.readouterr().err.splitlines()
        assert len(err) == 1 and f"in use by another training run (pid {os.getpid()})" in err[0]
        assert _snapshot(run_dir) == before
    finally:
        holder.logger.close()
        holder.algorithm.close()
        holder.release()


def test_resume_drops_rows_logged_after_the_checkpoint_and_stray_temporaries(tmp_path):
    run_dir = tmp_path / "run"
    assert _main(["train", *TINY, "--total-steps", 256, "--checkpoint-every", 128,
                  "--out", run_dir]) == 0
    # as if killed after logging step 384 but before its checkpoint, mid-write of state.pt
    with open(run_dir / "metrics.csv", "a") as f:
        f.write("384" + "," * (len(f"{_header(run_dir)}".split(",")) - 1) + "\n")
    (run_dir / ".tmp-state-abc.pt").write_bytes(b"half")
    assert _main(["train", "--resume", run_dir, "--total-steps", 512, "--no-progress"]) == 0
    assert _steps_logged(run_dir) == [128, 256, 384, 512]
    assert not list(run_dir.glob(".tmp-*"))


def _header(run_dir) -> str:
    return (run_dir / "metrics.csv").read_text().splitlines()[0]


def test_a_run_of_the_first_checkpoint_format_resumes(tmp_path, finished_run):
    run_dir = tmp_path / "old"
    shutil.copytree(finished_run, run_dir)
    config = json.loads((run_dir / "config.json").read_text())
    state = torch.load(run_dir / "state.pt", weights_only=True)
    algorithm, runner = state["algorithm"], state["runner"]
    (run_dir / "config.json").write_text(json.dumps(
        {"train": config["train"], "policy": config["modules"]["policy"]}))
    meta = json.loads((run_dir / "meta.json").read_text())
    del meta["state_sha256"]  # format 1 recorded none
    (run_dir / "meta.json").write_text(json.dumps(meta))
    torch.save({"policy": state["modules"]["policy"], "optimizer": algorithm["optimizer"],
                "trainer": {"step": runner["step"], "wall_time": runner["wall_time"],
                            "lr": algorithm["lr"], "scaler": algorithm["scaler"],
                            "generator": algorithm["generator"]}}, run_dir / "state.pt")
    assert _main(["train", "--resume", run_dir, "--total-steps", 256, "--no-progress"]) == 0
    state = torch.load(run_dir / "state.pt", weights_only=True)
    assert state["runner"]["step"] == 256 and state["format"] == 2
    adam_steps = {int(s["step"]) for s in state["algorithm"]["optimizer"]["state"].values()}
    assert adam_steps == {2 * UPDATES_PER_ROLLOUT}  # Adam went on from the first rollout


def test_rl2_with_a_separate_critic_trains_saves_and_deploys_its_two_memories(tmp_path):
    """--separate-critic reaches the network: the checkpoint's spec says so, the loaded policy
    has the critic's own GRU, and its deployed memory is both halves, the actor's first."""
    from robo_meta.adaptive import load_policy

    run_dir = tmp_path / "run"
    argv = ["train", *TINY, "--total-steps", 128, "--out", run_dir]
    argv[argv.index("dr")] = "rl2"
    assert _main([*argv, "--separate-critic", "--gru-hidden", "8"]) == 0
    spec = json.loads((run_dir / "config.json").read_text())["modules"]["policy"]
    assert spec["kwargs"]["separate_critic"] is True
    policy = load_policy(run_dir, device="cpu")
    module = policy.module
    assert module.separate_critic and module.critic_gru.hidden_size == 8
    assert module.initial_state(3).shape == (3, 16)


@pytest.mark.parametrize("flags,privileged,task_inference", [
    (["--privileged-critic"], True, False),
    (["--task-inference-coef", "0.5"], False, True),
    (["--privileged-critic", "--task-inference-coef", "0.5"], True, True)])
def test_rl2_trained_on_features_deploys_without_them(tmp_path, flags, privileged,
                                                      task_inference):
    """--privileged-critic and --task-inference-coef: the learner's observations carry the
    task features, the network's spec splits them off for the value head and/or the task
    head, and the deployed policy is given none."""
    from robo_meta.adaptive import load_policy
    from robo_meta.envs import get_family
    from robo_meta.evaluation import run_trials

    run_dir = tmp_path / "run"
    argv = ["train", *TINY, "--total-steps", 128, "--out", run_dir]
    argv[argv.index("dr")] = "rl2"
    assert _main([*argv, *flags, "--gru-hidden", "8"]) == 0
    spec = json.loads((run_dir / "config.json").read_text())["modules"]["policy"]
    family = get_family("point-goal")
    assert spec["kwargs"]["feature_dim"] == family.feature_dim > 0
    assert spec["kwargs"].get("privileged_critic", True) is privileged
    assert spec["kwargs"].get("task_inference", False) is task_inference
    with (run_dir / "metrics.csv").open() as f:
        assert ("loss/task_inference" in f.readline().split(",")) is task_inference
    policy = load_policy(run_dir, device="cpu")
    assert not policy.with_features and policy.module.obs_dim == spec["kwargs"]["obs_dim"]
    normalizer = policy.module.normalizer
    assert normalizer.mean.shape == (spec["kwargs"]["obs_dim"] + family.feature_dim,)
    assert normalizer.count > 128  # it saw the learner's observations, features included
    returns = run_trials(policy, "point-goal", family.tasks("test")[:2], episodes=2,
                         threads=1).returns
    assert returns.shape[-1] == 2 and np.isfinite(returns).all()


def test_the_progress_line_shows_a_long_trials_first_and_last_two_episodes():
    from robo_meta.runner import _progress_line

    row = {"step": 160_000, "steps_per_s": 18_000.0}
    short = {f"eval/return_ep{k}": -float(k) for k in (1, 2, 3)}
    assert _progress_line(row, short).endswith("val return by episode [-1.0 -2.0 -3.0]")
    long = {f"eval/return_ep{k}": -float(k) for k in range(1, 22)} | {"eval/failed_trials": 2.0}
    assert _progress_line(row, long).endswith(
        "val return at episodes 1 / 20 / 21 [-1.0 -20.0 -21.0] (2 failed trials left out)")
