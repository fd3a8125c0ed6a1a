"""How well a policy's estimate of the task tracks it: the sums against a hand computation, the
per-episode bookkeeping of a trial, the printed table, and an rl2 task head scored through
the evaluator (a guess fixed by hand gives R² = 0 exactly) and ``robo-meta evaluate``."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from cli_helpers import exit_status as _main

from robo_meta.adaptive import TrainedPolicy, load_policy
from robo_meta.envs import get_family, make_vec
from robo_meta.evaluation import run_trials
from robo_meta.identification import IdentificationTracker, TrialIdentification, describe
from robo_meta.policies import RecurrentActorCritic

CPU = torch.device("cpu")


def test_r2_and_error_by_step_computed_by_hand():
    tracker = IdentificationTracker()
    z = torch.tensor([[1.0, 0.0], [-1.0, 0.0], [3.0, 4.0]])
    z_hat = torch.tensor([[1.0, 0.0], [0.0, 0.0], [0.0, 0.0]])
    tracker.add(np.array([0, 0, 1]), z_hat, z)  # two trials at step 1, one at step 2
    tracker.add(np.array([1]), torch.tensor([[3.0, 2.0]]), torch.tensor([[3.0, 2.0]]))
    summary = tracker.summary()
    assert summary["step"] == [1, 2] and summary["episodes"] == [2, 2]
    # step 1: Σ|ẑ - z|² = 0 + 1, z̄ = 0 so Σ|z - z̄|² = 2: R² = 0.5; RMS = sqrt(1 / 2 / 2)
    assert summary["r2"][0] == pytest.approx(0.5) and summary["rms_error"][0] == 0.5
    # step 2: Σ|ẑ - z|² = 25, z̄ = (3, 3), Σ|z - z̄|² = 1 + 1 = 2: R² = 1 - 25 / 2
    assert summary["r2"][1] == pytest.approx(-11.5)
    assert summary["rms_error"][1] == pytest.approx(np.sqrt(25 / 2 / 2))
    assert IdentificationTracker().summary() is None


def test_a_trial_records_each_row_at_its_own_episode_and_step():
    trial = TrialIdentification("guess", "truth", episodes=2)
    trial.start(3)
    z = torch.tensor([[0.0], [2.0], [4.0]])
    trial.add(z, z)                       # step 1 of episode 1 for all three rows
    trial.ended(np.array([1]))            # row 1 starts episode 2
    trial.add(z + 1.0, z)                 # rows 0, 2: step 2 of episode 1; row 1: step 1 of ep 2
    trial.ended(np.array([1]))            # row 1 starts episode 3: past the two recorded
    trial.add(z, z)                       # rows 0, 2 at step 3 of episode 1; row 1 unrecorded
    trial.start(1)                        # a second chunk of trials adds to the same record
    trial.add(torch.tensor([[1.0]]), torch.tensor([[1.0]]))
    summary = trial.pop(episodes=2)
    assert summary["estimate"] == "guess" and summary["target"] == "truth"
    first, second = summary["by_episode"]
    assert first["episodes"] == [4, 2, 2] and second["episodes"] == [1]
    assert first["rms_error"] == [0.0, 1.0, 0.0] and second["rms_error"] == [1.0]
    assert second["r2"] == [None]  # one trial reached it: no spread to explain
    assert trial.pop() is None  # popped: the record starts afresh


def test_pop_keeps_the_first_episodes_asked_for():
    trial = TrialIdentification("guess", "truth")
    trial.start(2)
    z = torch.tensor([[0.0], [1.0]])
    for _ in range(3):
        trial.add(z, z)
        trial.ended(np.array([0, 1]))
    assert len(trial.pop(episodes=2)["by_episode"]) == 2


def test_describe_prints_r2_and_error_per_episode_at_the_chosen_steps():
    one = {"step": [1, 2], "r2": [None, 0.5], "rms_error": [1.0, 0.25]}
    two = {"step": [1], "r2": [0.75], "rms_error": [0.125]}
    text = describe({"estimate": "g", "target": "f", "by_episode": [one, two]}, steps=(1, 2, 5))
    assert text.splitlines() == [
        "identification: how well g tracks f, by step in the episode",
        "   step     ep1 R²      rms     ep2 R²      rms",
        "      1          -   1.0000      0.750   0.1250",
        "      2      0.500   0.2500          -        -",
    ]


def _dims(family, tasks) -> tuple[int, int, np.ndarray]:
    """(obs_dim, act_dim, task features of ``tasks``) as the env gives them."""
    env = make_vec(family, len(tasks), tasks=tasks, nthread=1)
    _, info = env.reset(seed=0)
    env.close()
    return env.sim.obs_dim, env.single_action_space.shape[0], info["task_features"]


def test_a_task_head_fixed_to_the_mean_target_explains_nothing_at_every_step():
    """The head guesses a constant, the mean of two tasks' targets computed by hand (features
    normalized by their running statistics): R² is 0 at every step of every episode, and the
    RMS error is half the distance between the targets, per feature."""
    family = get_family("point-goal")
    tasks = family.tasks("test")[:2]
    obs_dim, act_dim, features = _dims(family, tasks)
    torch.manual_seed(0)
    module = RecurrentActorCritic(obs_dim, act_dim, hidden_size=8, encoder_sizes=(8,),
                                  head_sizes=(8,), feature_dim=family.feature_dim,
                                  privileged_critic=False, task_inference=True)
    module.normalizer.update(torch.randn(64, obs_dim + family.feature_dim) * 3 + 2)
    features = torch.as_tensor(features, dtype=torch.float32)
    assert not torch.equal(features[0], features[1])
    norm = module.normalizer
    targets = ((features - norm.mean[obs_dim:]) / (norm.var[obs_dim:] + norm.epsilon).sqrt())
    targets = targets.float().clamp(-norm.clip, norm.clip)
    with torch.no_grad():
        module.task_head.weight.zero_()
        module.task_head.bias.copy_(targets.mean(0))
    policy = TrainedPolicy(module, "rl2", family.name, CPU, adaptive=True)
    results = run_trials(policy, family.name, tasks, episodes=2, seeds_per_task=2, threads=1)
    summary = policy.identification(episodes=2)
    assert len(summary["by_episode"]) == 2
    half = (targets[0] - targets[1]).square().sum().sqrt().item() / 2
    for k, curve in enumerate(summary["by_episode"]):
        assert len(curve["step"]) == results.lengths[:, k].max()
        assert curve["episodes"][0] == 4  # two tasks x two seeds
        assert np.allclose([r for r in curve["r2"] if r is not None], 0.0, atol=1e-6)
        assert np.allclose(curve["rms_error"], half / np.sqrt(family.feature_dim), rtol=1e-5)
    assert policy.identification() is None  # popped


def test_policies_without_a_task_head_report_no_identification():
    family = get_family("point-goal")
    obs_dim, act_dim, _ = _dims(family, family.tasks("test")[:2])
    module = RecurrentActorCritic(obs_dim, act_dim, hidden_size=8, encoder_sizes=(8,),
                                  head_sizes=(8,))
    policy = TrainedPolicy(module, "rl2", family.name, CPU, adaptive=True)
    run_trials(policy, family.name, family.tasks("test")[:2], episodes=2, threads=1)
    assert policy.identification(episodes=2) is None


def test_evaluate_reports_the_task_heads_identification_by_episode(tmp_path, capsys):
    run_dir, out = tmp_path / "run", tmp_path / "report.json"
    assert _main(["train", "--family", "point-goal", "--algo", "rl2", "--task-inference-coef",
                  "1", "--gru-hidden", "8", "--num-envs", "8", "--rollout-steps", "16",
                  "--epochs", "1", "--minibatches", "2", "--eval-tasks", "1", "--threads", "1",
                  "--device", "cpu", "--total-steps", "128", "--no-progress",
                  "--out", run_dir]) == 0
    capsys.readouterr()
    assert _main(["evaluate", "--policy", run_dir, "--split", "test", "--episodes", 3,
                  "--threads", 1, "--device", "cpu", "--out", out]) == 0
    report = json.loads(out.read_text())
    curves = report["identification"]["by_episode"]
    assert len(curves) == 3
    for k, curve in enumerate(curves):
        assert curve["episodes"][0] == report["num_tasks"]
        assert len(curve["step"]) == max(t["lengths"][0][k] for t in report["tasks"])
    printed = capsys.readouterr().out
    assert "how well the task head's guess tracks the normalized task features" in printed
    assert "ep3 R²" in printed
    assert load_policy(run_dir, device="cpu").identification() is None  # nothing evaluated yet
