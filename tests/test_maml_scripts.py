"""maml's diagnostic scripts (scripts/evaluate_other_family.py, maml_probe.py,
maml_step_scale.py) on a tiny trained run: what they print, that the step-scale table's
c = 1 and c = 0 are the policy's own step and no step bit for bit, and their one-line
errors."""

from __future__ import annotations

import json

import numpy as np
import torch
from cli_helpers import exit_status as _main
from cli_helpers import load_script
from maml_run import FLAGS

from robo_meta.envs import get_family
from robo_meta.evaluation import run_trials


def test_evaluate_other_family_scores_a_policy_under_another_protocol(tmp_path, capsys):
    evaluate_other_family = load_script("evaluate_other_family")
    run_dir = tmp_path / "h100"
    flags = [f if f != "point-goal" else "cheetah-vel-h100" for f in FLAGS]
    assert _main(["train", *flags, "--rollouts-per-task", "1", "--total-steps", 400,
                  "--out", run_dir]) == 0
    out = tmp_path / "on-cheetah-vel.json"
    assert evaluate_other_family.main(["--policy", str(run_dir), "--family", "cheetah-vel",
                                       "--split", "val", "--episodes", "2",
                                       "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["family"] == "cheetah-vel" and report["policy"]["family"] == "cheetah-vel-h100"
    assert {len(t["lengths"][0]) for t in report["tasks"]} == {2}
    assert {t["lengths"][0][1] for t in report["tasks"]} == {200}  # cheetah-vel's horizon
    bad = tmp_path / "bad.json"
    assert evaluate_other_family.main(["--policy", str(run_dir), "--family", "point-goal",
                                       "--out", str(bad)]) == 2
    assert "expects 17 observations; family point-goal gives 4" in capsys.readouterr().err
    assert not bad.exists()


def test_the_probe_script_measures_the_inner_step_of_a_trained_policy(tiny_maml_run,
                                                                       capsys):
    maml_probe = load_script("maml_probe")
    run_dir, _ = tiny_maml_run
    assert maml_probe.main(["--policy", str(run_dir), "--tasks", "2", "--rows", "2"]) == 0
    out = capsys.readouterr().out
    assert "2 test tasks x 2 rows; horizon 50" in out
    assert "inner loss on the row's own episode" in out and "cos with the goal" in out
    assert out.count("vs c = 0") == 10  # 5 scales, own and pooled steps
    assert maml_probe.main(["--policy", "pretrained:point-goal-dr"]) == 2
    assert "is not a maml policy" in capsys.readouterr().err


def test_the_step_scale_script_matches_the_policys_own_step_and_no_step(tiny_maml_run,
                                                                         capsys):
    from robo_meta.adaptive import load_policy
    from robo_meta.inner_steps import taking

    maml_step_scale = load_script("maml_step_scale")
    run_dir, _ = tiny_maml_run
    policy = load_policy(run_dir, device="cpu")
    fam = get_family(policy.family)
    tasks = maml_step_scale.spread_tasks(fam, "test", 3)
    assert len(tasks) == 3 and tasks[0] == min(fam.tasks("test"), key=lambda t: t.params[0][1][0])
    before = {k: a.detach().clone() for k, a in policy.module.inner_lrs.items()}
    table = maml_step_scale.step_scale(policy, tasks, seeds=2, scales=[0.0, 1.0, 5.0])
    # the step sizes are back, and c = 1 is the policy's own step, c = 0 no step, bit for bit
    assert all(torch.equal(a, before[k]) for k, a in policy.module.inner_lrs.items())
    k = policy.exploration_episodes

    def last_returns():
        r = run_trials(policy, policy.family, tasks, episodes=k + 1, seeds_per_task=2)
        return r.returns[:, -1].reshape(2, 3).mean(0)

    np.testing.assert_array_equal(table[1], last_returns())
    with taking(policy, 0):
        np.testing.assert_array_equal(table[0], last_returns())
    assert not np.array_equal(table[2], table[1])  # a 5x step changes what the policy does

    assert maml_step_scale.main(["--policy", str(run_dir), "--tasks", "2", "--seeds", "1",
                                 "--scales", "0,1"]) == 0
    out = capsys.readouterr().out
    assert "2 test tasks x 1 seeds" in out and out.count("task 0") == 2
    assert maml_step_scale.main(["--policy", str(run_dir), "--scales", "1,-2"]) == 2
    assert "--scales: must be >= 0, got -2" in capsys.readouterr().err
    assert maml_step_scale.main(["--policy", "pretrained:point-goal-dr"]) == 2
    assert "is not a maml policy" in capsys.readouterr().err
