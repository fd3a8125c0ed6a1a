"""A census: held-out tasks that are the family's whole finite task distribution.

cheetah-dir has two tasks. An interval over 2 task means has 1 degree of freedom and is
12.7 standard errors wide, so nothing could ever be significant there. When the tasks are
every task of the distribution there is no task sampling: the intervals come from the seeds
within each task. Checked here: which task lists are a census, the interval against a hand
computation, that evaluate marks the report, and that the paired difference and the
normalized score's bootstrap use the seeds within tasks.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import scipy.stats

from robo_meta.cli.main import main
from robo_meta.envs import get_family
from robo_meta.evaluation import summarize_census
from robo_meta.report import is_census, load_report, normalized_score, paired_difference


def test_a_census_is_every_task_of_a_finite_distribution_once():
    family = get_family("cheetah-dir")
    both = family.tasks("test")
    assert family.is_census(both) and family.is_census(both[::-1])
    assert not family.is_census(both[:1])                 # one direction is a sample
    assert not family.is_census([both[0], both[0]])       # twice the same is not both
    assert not family.is_census(both + both[:1])
    assert not family.is_census([])
    point = get_family("point-goal")                      # continuous: never a census
    assert not point.is_census(point.tasks("test"))
    crippled = get_family("ant-crippled")                 # its strength is continuous
    assert not crippled.is_census(crippled.tasks("test"))


def test_census_interval_equals_the_hand_computation():
    # 2 tasks x 3 seeds x 1 episode
    values = np.array([[[1.0], [2.0], [3.0]], [[10.0], [10.0], [13.0]]])
    # task means 2 and 11 (mean 6.5); variances of the task means 1/3 and 3/3 = 1
    # var = (1/3 + 1) / 2^2 = 1/3; Welch-Satterthwaite df = (4/3)^2 / ((1/3)^2/2 + 1^2/2) = 3.2
    half = scipy.stats.t.ppf(0.975, 3.2) * math.sqrt(1 / 3)
    got = summarize_census(values)
    assert got["mean"] == pytest.approx([6.5], rel=1e-12)
    assert got["ci95"] == pytest.approx([half], rel=1e-12)
    assert half == pytest.approx(1.774, abs=1e-3)  # vs 12.71 * 4.5 = 57.2 over the 2 task means
    assert summarize_census(np.ones((2, 3, 2)))["ci95"] == [0.0, 0.0]
    with pytest.raises(ValueError, match="at least 2 seeds"):
        summarize_census(np.ones((2, 1, 1)))


def test_evaluate_marks_a_census_and_takes_its_interval_from_the_seeds(tmp_path):
    out = tmp_path / "zero.json"
    assert main(["evaluate", "--policy", "zero", "--family", "cheetah-dir", "--split", "test",
                 "--seeds", "3", "--episodes", "1", "--out", str(out)]) == 0
    report = load_report(out)
    assert report["census"] is True and is_census(report)
    values = np.array([e["returns"] for e in report["tasks"]])
    assert report["summary"]["ci95_return"] == pytest.approx(
        summarize_census(values)["ci95"], rel=1e-12)
    assert "seeds within each task" in report["summary"]["ci"]

    single = tmp_path / "one-seed.json"  # one seed per task: no spread to measure within tasks
    assert main(["evaluate", "--policy", "zero", "--family", "cheetah-dir", "--split", "test",
                 "--seeds", "1", "--episodes", "1", "--out", str(single)]) == 0
    assert "census" not in json.loads(single.read_text())


def _report(returns, algo: str) -> dict:
    """A cheetah-dir test report with trials ``returns`` (2 tasks, seeds, episodes)."""
    returns = np.asarray(returns, dtype=float)
    tasks = get_family("cheetah-dir").tasks("test")
    s = returns.shape[1]
    return {"census": True, "family": "cheetah-dir", "episodes": returns.shape[2], "seeds": s,
            "num_tasks": 2, "policy": {"algo": algo},
            "tasks": [{"task": t.to_dict(), "seeds": list(range(i, 2 * s, 2)),
                       "returns": returns[i].tolist()} for i, t in enumerate(tasks)]}


def test_paired_difference_of_a_census_is_over_the_seeds_within_tasks():
    a = _report([[[10.0], [12.0], [11.0]], [[-5.0], [-1.0], [-3.0]]], "oracle")
    b = _report([[[4.0], [5.0], [9.0]], [[-9.0], [-8.0], [-4.0]]], "dr")
    # per-trial differences: task 0 (6, 7, 2), task 1 (4, 7, 1): the census interval of them
    d = np.array([[[6.0], [7.0], [2.0]], [[4.0], [7.0], [1.0]]])
    got = paired_difference(a, b)
    assert got["mean"] == pytest.approx([4.5], rel=1e-12)
    assert got["ci95"] == pytest.approx(summarize_census(d)["ci95"], rel=1e-12)
    assert got["excludes_zero"] == [True]
    # the same numbers as a sample of 2 tasks: t(1) over the task means 5 and 4
    sampled = paired_difference(*({**r, "census": False} for r in (a, b)))
    assert sampled["ci95"] == pytest.approx([12.706 * 0.5], rel=1e-4)
    assert sampled["excludes_zero"] == [False]


def test_normalized_score_of_a_census_resamples_seeds_not_tasks():
    # the tasks differ a lot, the seeds within a task not at all: with every task kept the
    # bootstrap has nothing to vary (a zero-width interval); resampling tasks would vary it
    dr = _report([[[0.0], [0.0]], [[100.0], [100.0]]], "dr")
    oracle = _report([[[10.0], [10.0]], [[300.0], [300.0]]], "oracle")
    rl2 = _report([[[10.0], [10.0]], [[150.0], [150.0]]], "rl2")
    got = normalized_score(rl2, dr, oracle)
    assert got["score"] == pytest.approx([60.0 / 210.0], rel=1e-12)
    assert got["low"] == got["high"] == got["score"]
    sampled = normalized_score(*({**r, "census": False} for r in (rl2, dr, oracle)))
    # resampling tasks draws (0, 0): 10/10 = 1 and (1, 1): 50/200 = 0.25, a quarter each
    assert (sampled["low"], sampled["high"]) == (pytest.approx([0.25]), pytest.approx([1.0]))


def test_the_inner_steps_table_of_a_census_is_over_the_seeds_within_tasks():
    from robo_meta.inner_steps import steps_table

    # episode 2 after k = 0 and k = 1 steps; the same per-trial differences as above
    k0 = _report([[[0.0, 10.0], [0.0, 12.0], [0.0, 11.0]],
                  [[0.0, -5.0], [0.0, -1.0], [0.0, -3.0]]], "maml")
    k1 = _report([[[0.0, 16.0], [0.0, 19.0], [0.0, 13.0]],
                  [[0.0, -1.0], [0.0, 6.0], [0.0, -2.0]]], "maml")
    d = np.array([[[6.0], [7.0], [2.0]], [[4.0], [7.0], [1.0]]])
    own = summarize_census(np.array([e["returns"] for e in k1["tasks"]])[:, :, [1]])
    row = steps_table([k0, k1], [0, 1], episode=1).splitlines()[-2].split()
    # "*": significant over the seeds within tasks (over the 2 task means, t(1), it is not)
    assert row == ["1", f"{own['mean'][0]:.2f}", f"{own['ci95'][0]:.2f}", "+4.50", "±",
                   f"{summarize_census(d)['ci95'][0]:.2f}", "*"]
