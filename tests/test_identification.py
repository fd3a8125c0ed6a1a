"""How well a policy's estimate of the task tracks it: the sums against a hand computation, the
per-episode bookkeeping of a trial, the printed table, an rl2 task head scored through the
evaluator (a guess fixed by hand gives R² = 0 exactly) and ``robo-meta evaluate``; and the
linear probe of an rl2 memory (robo_meta.probe): its ridge fit by hand, the rows it fits on,
a fixed probe's R², the same returns with and without it, and its errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from cli_helpers import exit_status as _main

from robo_meta.adaptive import TrainedPolicy, load_policy
from robo_meta.envs import get_family, make_vec
from robo_meta.evaluation import run_trials
from robo_meta.identification import (
    IdentificationTracker,
    TrialIdentification,
    describe,
    milestones,
)
from robo_meta.policies import RecurrentActorCritic
from robo_meta.probe import (
    LinearProbe,
    Moments,
    fit_linear_probe,
    fit_on_train_tasks,
    scoring,
)
from robo_meta.report import build_report

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
    # per dimension: step 1, x: error 1 of spread 2, y: constant; step 2, x: constant (3, 3),
    # y: error 16 of spread (4 - 3)² + (2 - 3)² = 2
    assert summary["r2_by_dim"] == [[pytest.approx(0.5), None], [None, pytest.approx(-7.0)]]
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


def test_describe_names_each_features_r2_where_every_trial_still_ran():
    curve = {"step": [1, 2, 3], "r2": [0.1, 0.2, 0.3], "rms_error": [1.0, 1.0, 1.0],
             "episodes": [4, 4, 1], "r2_by_dim": [[0.1, 0.1], [0.5, None], [0.9, 0.9]]}
    text = describe({"estimate": "g", "target": "f", "dims": ["mass", "goal[0]"],
                     "by_episode": [curve]}, steps=(1, 2, 3))
    # step 3 was reached by one trial of four: the per-feature line reads step 2
    assert text.splitlines()[-1] == "R² by feature at step 2 of episode 1: mass 0.50, goal[0] -"


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
    summary = results.identification  # taken from the policy by run_trials
    assert len(summary["by_episode"]) == 2
    half = (targets[0] - targets[1]).square().sum().sqrt().item() / 2
    for k, curve in enumerate(summary["by_episode"]):
        assert len(curve["step"]) == results.lengths[:, k].max()
        assert curve["episodes"][0] == 4  # two tasks x two seeds
        assert np.allclose([r for r in curve["r2"] if r is not None], 0.0, atol=1e-6)
        assert np.allclose(curve["rms_error"], half / np.sqrt(family.feature_dim), rtol=1e-5)
    assert policy.identification() is None  # nothing left to leak into the next trials
    # the next trials' record holds only theirs: one task, one seed, one episode
    again = run_trials(policy, family.name, tasks[:1], episodes=1, threads=1).identification
    [curve] = again["by_episode"]
    assert curve["episodes"][0] == 1
    assert curve["r2"][0] is None  # one trial: no spread to explain


def test_policies_without_a_task_head_report_no_identification():
    family = get_family("point-goal")
    obs_dim, act_dim, _ = _dims(family, family.tasks("test")[:2])
    module = RecurrentActorCritic(obs_dim, act_dim, hidden_size=8, encoder_sizes=(8,),
                                  head_sizes=(8,))
    policy = TrainedPolicy(module, "rl2", family.name, CPU, adaptive=True)
    tasks = family.tasks("test")[:2]
    results = run_trials(policy, family.name, tasks, episodes=2, threads=1)
    assert results.identification is None
    assert policy.identification(episodes=2) is None
    report = build_report(policy=policy, source="x", family=family, tasks=tasks,
                          results=results, split="test", tasks_file=None, episodes=2, seeds=1,
                          seed=0, deterministic=True, device="cpu", num_envs=None)
    assert "identification" not in report


def test_trials_that_fail_leave_no_record_for_the_next(monkeypatch):
    """The policy fails at its 5th action: the record of those trials goes with them."""
    family = get_family("point-goal")
    tasks = family.tasks("test")[:2]
    obs_dim, act_dim, _ = _dims(family, tasks)
    module = RecurrentActorCritic(obs_dim, act_dim, hidden_size=8, encoder_sizes=(8,),
                                  head_sizes=(8,), feature_dim=family.feature_dim,
                                  privileged_critic=False, task_inference=True)
    policy = TrainedPolicy(module, "rl2", family.name, CPU, adaptive=True)
    act, calls = policy.act, []

    def failing(obs, deterministic=True):
        calls.append(1)
        if len(calls) == 5:
            raise RuntimeError("the policy broke")
        return act(obs, deterministic=deterministic)

    monkeypatch.setattr(policy, "act", failing)
    with pytest.raises(RuntimeError, match="the policy broke"):
        run_trials(policy, family.name, tasks, episodes=1, threads=1)
    assert policy.identification() is None
    monkeypatch.setattr(policy, "act", act)
    [curve] = run_trials(policy, family.name, tasks, episodes=1,
                         threads=1).identification["by_episode"]
    assert curve["episodes"][0] == 2 and len(curve["step"]) == 50  # this run's trials only


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A tiny rl2 run with a task head (point-goal)."""
    run_dir = tmp_path_factory.mktemp("identification") / "run"
    assert _main(["train", "--family", "point-goal", "--algo", "rl2", "--task-inference-coef",
                  "1", "--gru-hidden", "8", "--num-envs", "8", "--rollout-steps", "16",
                  "--epochs", "1", "--minibatches", "2", "--eval-tasks", "1", "--threads", "1",
                  "--device", "cpu", "--total-steps", "128", "--no-progress",
                  "--out", run_dir]) == 0
    return run_dir


def test_evaluate_reports_the_task_heads_identification_by_episode(run_dir, tmp_path, capsys):
    out = tmp_path / "report.json"
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
    assert report["identification"]["dims"] == ["goal[0]", "goal[1]"]
    assert len(curves[0]["r2_by_dim"][0]) == 2
    assert "probe" not in report
    assert load_policy(run_dir, device="cpu").identification() is None  # nothing evaluated yet


def test_milestones_pick_the_steps_every_trial_reached():
    """Episode 1: 4 trials to step 3, 2 of them to step 60; episode 2 recorded."""
    r2 = [0.1 * k for k in range(60)]
    first = {"step": list(range(1, 61)), "r2": r2, "episodes": [4, 4, 4] + [2] * 57}
    second = {"step": [1, 2], "r2": [0.7, None], "episodes": [4, 4]}
    got = milestones({"by_episode": [first, second]})
    assert got == {"step_10": r2[9], "step_50": r2[49], "last_step": 3, "last": r2[2],
                   "episode_2": 0.7}
    short = {"step": [1, 2], "r2": [None, 0.5], "episodes": [1, 1]}
    assert milestones({"by_episode": [short]}) == {
        "step_10": None, "step_50": None, "last_step": 2, "last": 0.5, "episode_2": None}


def test_an_exported_policy_ships_its_identification_in_every_report(run_dir, tmp_path):
    from robo_meta import pretrained

    folder = pretrained.export(run_dir, "tiny-rl2", "robo-meta train ...", root=tmp_path)
    for split in ("test", "ood"):
        report = json.loads((folder / f"report-{split}.json").read_text())
        curves = report["identification"]["by_episode"]
        assert len(curves) == report["episodes"] == 3
        assert curves[0]["episodes"][0] == report["num_tasks"] * report["seeds"]


# -- the linear probe of the memory ------------------------------------------------------------
def test_the_probe_is_ridge_regression_on_standardized_features_computed_by_hand():
    gen = torch.Generator().manual_seed(0)
    memory = torch.rand(200, 5, generator=gen, dtype=torch.float64) * 2 - 1
    mix = torch.randn(5, 2, generator=gen, dtype=torch.float64)
    features = torch.cat([memory @ mix + torch.tensor([3.0, -1.0], dtype=torch.float64),
                          torch.full((200, 1), 7.0, dtype=torch.float64)], dim=1)
    probe = fit_linear_probe(memory, features, ridge=0.01)
    # by hand: standardize, centre, solve (XᵀX + λ n I) W = XᵀY, intercept from the means
    mean, std = features.mean(0), features.std(0, unbiased=False)
    std[2] = 1.0  # a constant feature is left in its units: its target is 0
    y = ((features - mean) / std).numpy()
    x = memory.numpy()
    xc, yc = x - x.mean(0), y - y.mean(0)
    weight = np.linalg.solve(xc.T @ xc + 0.01 * 200 * np.eye(5), xc.T @ yc)
    bias = y.mean(0) - x.mean(0) @ weight
    np.testing.assert_allclose(probe.weight.numpy(), weight, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(probe.bias.numpy(), bias, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(probe.targets(features).numpy(), y, atol=1e-12)
    residual = ((x @ weight + bias - y) ** 2).sum()
    assert probe.fit_r2 == pytest.approx(1 - residual / (yc**2).sum(), rel=1e-12)
    assert 0.9 < probe.fit_r2 < 1.0  # linear but for the penalty
    assert probe.rows == 200
    # the fit keeps sums, not rows: added in uneven blocks, the same probe
    moments = Moments()
    for block in (slice(0, 1), slice(1, 77), slice(77, 200)):
        moments.add(memory[block], features[block])
    blocks = moments.fit(0.01)
    np.testing.assert_allclose(blocks.weight.numpy(), weight, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(blocks.bias.numpy(), bias, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(blocks.targets(features).numpy(), y, atol=1e-12)
    assert (blocks.fit_r2, blocks.rows) == (pytest.approx(probe.fit_r2, rel=1e-12), 200)


def test_the_probe_fits_on_every_kth_step_of_train_tasks_and_changes_no_action(run_dir):
    family = get_family("point-goal")
    policy = load_policy(run_dir, device="cpu")
    probe = fit_on_train_tasks(policy, family.name, tasks=3, episodes=2, seed=5, threads=1,
                               deterministic=True, every=3)
    assert probe.every == 3 and probe.ridge == 1e-3
    assert policy.identification() is None  # the fit's trials left no task-head record
    lengths = run_trials(policy, family.name, family.sample_tasks(3, 5), episodes=2, seed=5,
                         threads=1).lengths
    assert probe.rows == int(np.ceil(lengths / 3).sum())
    tasks = family.tasks("test")[:3]
    plain = run_trials(policy, family.name, tasks, episodes=2, seeds_per_task=2, threads=1)
    watched, record = scoring(policy, probe, family.name)
    probed = run_trials(watched, family.name, tasks, episodes=2, seeds_per_task=2, threads=1)
    assert np.array_equal(plain.returns, probed.returns)
    curves = record.pop(2)["by_episode"]
    assert [c["episodes"][0] for c in curves] == [6, 6]


def test_a_probe_guessing_the_mean_target_scores_r2_zero_at_every_step(run_dir):
    """The estimate fixed to the mean standardized features of the evaluated tasks: R² = 0
    wherever every trial reached the step (targets standardized with the probe's stats)."""
    family = get_family("point-goal")
    policy = load_policy(run_dir, device="cpu")
    tasks = family.tasks("test")[:3]
    _, _, features = _dims(family, tasks)
    features = torch.as_tensor(features, dtype=torch.float64)
    mean, std = torch.tensor([0.5, -0.25]), torch.tensor([2.0, 0.5])
    targets = (features - mean) / std
    probe = LinearProbe(torch.zeros(8, 2, dtype=torch.float64), targets.mean(0), mean, std,
                        fit_r2=1.0, rows=1)
    watched, record = scoring(policy, probe, family.name)
    run_trials(watched, family.name, tasks, episodes=2, threads=1)
    for curve in record.pop(2)["by_episode"]:
        assert np.allclose([r for r in curve["r2"] if r is not None], 0.0, atol=1e-9)
        spread = (targets - targets.mean(0)).square().sum(1).mean().item()
        assert np.allclose(curve["rms_error"], np.sqrt(spread / 2))


def test_evaluate_with_a_probe_reports_it_beside_the_same_returns(run_dir, tmp_path, capsys):
    plain, probed = tmp_path / "plain.json", tmp_path / "probed.json"
    argv = ["evaluate", "--policy", run_dir, "--split", "test", "--episodes", 2, "--seeds", 2,
            "--threads", 1, "--device", "cpu"]
    assert _main([*argv, "--out", plain]) == 0
    capsys.readouterr()
    assert _main([*argv, "--probe", 4, "--out", probed]) == 0
    printed = capsys.readouterr().out
    assert "how well a linear probe of the memory tracks" in printed
    assert "probe: fitted on 4 train tasks" in printed
    plain, probed = json.loads(plain.read_text()), json.loads(probed.read_text())
    assert [t["returns"] for t in plain["tasks"]] == [t["returns"] for t in probed["tasks"]]
    probe = probed["probe"]
    assert probe["fit_tasks"] == 4 and probe["fit_seed"] == 1 and len(probe["by_episode"]) == 2
    assert probe["dims"] == ["goal[0]", "goal[1]"]
    assert probe["every"] == 4 and probe["ridge"] == 1e-3
    assert probe["by_episode"][0]["episodes"][0] == 2 * plain["num_tasks"]
    # the task head's record is the evaluated trials' alone: the fit's left nothing in it
    assert probed["identification"] == plain["identification"]


@pytest.mark.parametrize("argv,message", [
    (["--policy", "pretrained:cheetah-vel-dr", "--probe", "2"],
     "--probe reads a recurrent policy's memory; cheetah-vel-dr (dr) has none"),
    (["--policy", "pretrained:cheetah-vel-maml", "--probe", "2", "--inner-steps", "0,1"],
     "--probe reads an rl2 memory; --inner-steps is for maml"),
    (["--policy", "pretrained:cheetah-vel-rl2", "--probe", "0"], "--probe: "),
])
def test_a_probe_of_a_policy_without_memory_is_one_error_line(argv, message, tmp_path, capsys):
    out = tmp_path / "r.json"
    assert _main(["evaluate", *argv, "--threads", 1, "--device", "cpu", "--out", out]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
    assert not out.exists()
