"""``robo-meta compare``: curves of several reports; for paired reports (same tasks and seeds)
the paired difference A - B (checked against a hand computation) and the normalized score with
a deterministic bootstrap interval; unpaired or malformed reports end in one line, exit 2 and
no figure; ``--curves-only`` draws reports of different tasks.
"""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import numpy as np
import pytest
import scipy.stats

from robo_meta.cli.main import main
from robo_meta.envs import get_family
from robo_meta.report import (
    action_mode,
    comparison_pairs,
    load_report,
    normalized_score,
    paired_difference,
)

FAMILY = "point-goal"


def make_report(path: Path, algo: str, returns, seeds=None, lengths=None,
                split: str = "test") -> Path:
    """A hand-written report of ``algo`` with per-trial ``returns`` (tasks, seeds, episodes).

    Trial seeds default to those of ``robo-meta evaluate --seed 0``; the summary is computed
    here with numpy and scipy, independently of robo_meta.
    """
    returns = np.asarray(returns, dtype=float)
    n, s, k = returns.shape
    tasks = get_family(FAMILY).tasks(split)[:n]
    seeds = [[i + r * n for r in range(s)] for i in range(n)] if seeds is None else seeds
    per_task = returns.mean(axis=1)
    half = (scipy.stats.t.ppf(0.975, n - 1) * per_task.std(axis=0, ddof=1) / math.sqrt(n)
            if n > 1 else np.zeros(k))
    entries = []
    for i, task in enumerate(tasks):
        entry = {"task": task.to_dict(), "seeds": seeds[i], "returns": returns[i].tolist()}
        if lengths is not None:
            entry["lengths"] = np.asarray(lengths)[i].tolist()
        entries.append(entry)
    report = {
        "format": "robo_meta.report/1", "family": FAMILY, "split": split, "tasks_file": None,
        "policy": {"name": f"my-{algo}", "algo": algo, "source": "hand", "adaptive": True,
                   "family": FAMILY, "meta": {}},
        "episodes": k, "seeds": s, "seed": 0, "deterministic": True, "device": "cpu",
        "num_envs": None, "num_tasks": n, "tasks": entries,
        "summary": {"episode": list(range(1, k + 1)), "mean_return": per_task.mean(0).tolist(),
                    "ci95_return": np.asarray(half).tolist(), "ci": "hand"},
    }
    path.write_text(json.dumps(report))
    return path


# 4 tasks x 2 seeds x 2 episodes, written out by hand
A = [[[10, 12], [11, 13]], [[20, 25], [22, 21]], [[5, 9], [7, 5]], [[30, 28], [32, 36]]]
B = [[[8, 14], [9, 12]], [[17, 24], [19, 23]], [[4, 8], [4, 7]], [[28, 30], [29, 33]]]


def test_paired_difference_equals_the_hand_computation(tmp_path, capsys):
    a = make_report(tmp_path / "a.json", "rl2", A)
    b = make_report(tmp_path / "b.json", "dr", B)
    # per task, seeds averaged, A - B: episode 1 (2, 3, 2, 2.5), episode 2 (-.5, -.5, -.5, .5)
    d = np.array([[2.0, -0.5], [3.0, -0.5], [2.0, -0.5], [2.5, 0.5]])
    mean = d.mean(axis=0)
    half = scipy.stats.t.ppf(0.975, df=3) * d.std(axis=0, ddof=1) / np.sqrt(4)
    assert mean == pytest.approx([2.375, -0.25])
    assert half == pytest.approx([0.76174, 0.79561], abs=1e-5)  # t*(3) = 3.18245

    got = paired_difference(load_report(a), load_report(b))
    assert got["mean"] == pytest.approx(mean, rel=1e-12)
    assert got["ci95"] == pytest.approx(half, rel=1e-12)
    assert got["excludes_zero"] == [True, False]

    fig = tmp_path / "compare.png"
    assert main(["compare", str(a), str(b), "--out", str(fig)]) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("my-rl2 - my-dr"))
    assert row.split()[3:] == ["+2.38", "±", "0.76", "*", "-0.25", "±", "0.80"]
    assert "over the 4 tasks" in out
    assert "no normalized score" in out  # a dr report but no oracle
    assert fig.stat().st_size > 20_000 and not list(tmp_path.glob(".tmp-*"))


def test_pairs_are_every_report_against_dr_and_oracle_or_against_the_first():
    def reports(*algos):
        return [{"policy": {"algo": a}} for a in algos]

    assert comparison_pairs(reports("rl2", "dr", "oracle")) == [(0, 1), (2, 1), (0, 2)]
    assert comparison_pairs(reports("oracle", "rl2", "zero", "dr")) == [
        (0, 3), (1, 3), (2, 3), (1, 0), (2, 0)]
    assert comparison_pairs(reports("zero", "rl2")) == [(1, 0)]
    assert comparison_pairs(reports("rl2", "dr")) == [(0, 1)]


def test_normalized_score_equals_the_hand_computation(tmp_path, capsys):
    tasks = np.ones((3, 1, 3))
    dr = make_report(tmp_path / "dr.json", "dr", -10.0 * tasks)
    oracle = make_report(tmp_path / "oracle.json", "oracle", -2.0 * tasks)
    rl2 = make_report(tmp_path / "rl2.json", "rl2", np.array([-8.0, -4.0, -3.0]) * tasks)
    # (R_k - R_dr) / (R_oracle - R_dr) = (2/8, 6/8, 7/8); every task alike: a zero-width interval
    got = normalized_score(*(load_report(p) for p in (rl2, dr, oracle)))
    assert got == {"score": [0.25, 0.75, 0.875], "low": [0.25, 0.75, 0.875],
                   "high": [0.25, 0.75, 0.875]}

    fig = tmp_path / "figs" / "compare.png"
    assert main(["compare", str(rl2), str(dr), str(oracle), "--out", str(fig)]) == 0
    out = capsys.readouterr().out
    assert "normalized score (R_k - R_dr,k) / (R_oracle,k - R_dr,k): 0 = my-dr, 1 = my-oracle" \
        in out
    score_line = next(line for line in out.splitlines()[::-1] if line.startswith("my-rl2"))
    assert score_line.split()[1:] == ["0.25", "[0.25,", "0.25]", "0.75", "[0.75,", "0.75]",
                                      "0.88", "[0.88,", "0.88]"]
    assert "-8.00 ± 0.00" in out and "note:" not in out
    assert fig.stat().st_size > 20_000
    assert not list(fig.parent.glob(".tmp-*"))


def test_bootstrap_interval_is_deterministic_and_contains_the_score(tmp_path, capsys):
    rng = np.random.default_rng(7)
    difficulty = rng.normal(0.0, 30.0, size=(20, 1, 3))  # shared by the three: paired
    dr = make_report(tmp_path / "dr.json", "dr", difficulty - 100 + rng.normal(0, 5, (20, 2, 3)))
    oracle = make_report(tmp_path / "oracle.json", "oracle",
                         difficulty - 20 + rng.normal(0, 5, (20, 2, 3)))
    rl2 = make_report(tmp_path / "rl2.json", "rl2", difficulty - 40 + rng.normal(0, 5, (20, 2, 3)))
    loaded = [load_report(p) for p in (rl2, dr, oracle)]
    first, again = normalized_score(*loaded), normalized_score(*loaded)
    assert first == again
    x, d, o = (np.array([np.mean(e["returns"], axis=0) for e in r["tasks"]]) for r in loaded)
    hand = (x.mean(0) - d.mean(0)) / (o.mean(0) - d.mean(0))
    assert first["score"] == pytest.approx(hand, rel=1e-12)
    for score, low, high in zip(first["score"], first["low"], first["high"], strict=True):
        assert low < score < high and high - low < 0.5
    assert normalized_score(*loaded, seed=1)["low"] != first["low"]  # the seed is used

    outputs = []
    for _ in range(2):
        assert main(["compare", str(rl2), str(dr), str(oracle),
                     "--out", str(tmp_path / "c.png")]) == 0
        outputs.append(capsys.readouterr().out)
    assert outputs[0] == outputs[1]
    assert f"{first['score'][1]:.2f} [{first['low'][1]:.2f}, {first['high'][1]:.2f}]" \
        in outputs[0]


@pytest.mark.parametrize("case", ["tasks", "split", "seed", "seeds"])
def test_unpaired_reports_are_one_line_exit_2_and_no_figure(case, tmp_path, capsys):
    returns = np.zeros((4, 2, 3))
    a = make_report(tmp_path / "a.json", "dr", returns)
    if case == "tasks":  # fewer tasks
        b = make_report(tmp_path / "b.json", "rl2", returns[:3])
    elif case == "split":
        b = make_report(tmp_path / "b.json", "rl2", returns, split="ood")
    elif case == "seed":  # --seed 100
        b = make_report(tmp_path / "b.json", "rl2", returns,
                        seeds=[[100 + i, 104 + i] for i in range(4)])
    else:  # --seeds 1
        b = make_report(tmp_path / "b.json", "rl2", returns[:, :1])
    fig = tmp_path / "fig.png"
    assert main(["compare", str(a), str(b), "--out", str(fig)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("robo-meta compare: error: ")
    assert f"{a} and {b} are not paired" in err[0]
    assert ("different seeds" if case.startswith("seed") else "different tasks") in err[0]
    assert not fig.exists() and not list(tmp_path.glob(".tmp-*"))

    # --curves-only draws them anyway, with no paired statistics
    assert main(["compare", str(a), str(b), "--out", str(fig), "--curves-only"]) == 0
    out = capsys.readouterr().out
    assert "paired difference" not in out and "normalized score" not in out
    assert fig.is_file()


def test_lengths_are_shown_and_old_reports_without_them_still_load(tmp_path, capsys):
    returns = np.zeros((2, 1, 2))
    zero = make_report(tmp_path / "zero.json", "zero", returns, lengths=[[[50, 50]], [[50, 50]]])
    exploit = make_report(tmp_path / "x.json", "rl2", returns + 1, lengths=[[[12, 50]], [[8, 50]]])
    old = make_report(tmp_path / "old.json", "dr", returns)  # written before reports kept lengths
    assert main(["compare", str(zero), str(exploit), str(old), "--out",
                 str(tmp_path / "c.png")]) == 0
    out = capsys.readouterr().out
    assert "mean episode length in steps" in out
    lines = out.splitlines()
    lines = lines[lines.index(next(ln for ln in lines if ln.startswith("mean episode length"))):]
    assert next(ln for ln in lines if ln.startswith("my-zero ")).split() == ["my-zero", "50.0",
                                                                             "50.0"]
    assert next(ln for ln in lines if ln.startswith("my-rl2 ")).split() == ["my-rl2", "10.0",
                                                                            "50.0"]
    assert next(ln for ln in lines if ln.startswith("my-dr ")).split() == ["my-dr", "n/a", "n/a"]

    assert main(["compare", str(zero), str(zero), "--out", str(tmp_path / "c.png")]) == 0
    assert "episode length: 50 steps in every episode of every report" in capsys.readouterr().out


def test_evaluate_reports_keep_per_trial_lengths(tmp_path, capsys):
    tasks = tmp_path / "tasks.json"
    tasks.write_text(json.dumps([t.to_dict() for t in get_family(FAMILY).tasks("test")[:3]]))
    out = tmp_path / "zero.json"
    assert main(["evaluate", "--policy", "zero", "--tasks-file", str(tasks), "--seeds", "2",
                 "--out", str(out)]) == 0
    report = load_report(out)
    assert [e["lengths"] for e in report["tasks"]] == [[[50, 50, 50]] * 2] * 3  # horizon 50
    capsys.readouterr()
    assert main(["compare", str(out), str(out), "--out", str(tmp_path / "c.png")]) == 0
    out_text = capsys.readouterr().out
    assert "zero (zero) - zero (zero)" in out_text and "+0.00 ± 0.00" in out_text


@pytest.mark.parametrize("case", ["missing", "not json", "not a report", "ragged returns",
                                  "no lengths in one task", "NaN return"])
def test_bad_reports_are_one_line_exit_2_and_no_figure(case, tmp_path, capsys):
    good = make_report(tmp_path / "dr.json", "dr", np.zeros((2, 1, 3)), lengths=np.ones((2, 1, 3)))
    bad = tmp_path / "bad.json"
    if case == "not json":
        bad.write_text("{")
    elif case == "not a report":
        bad.write_text(json.dumps([{"family": FAMILY}]))
    elif case != "missing":
        report = copy.deepcopy(json.loads(good.read_text()))
        if case == "ragged returns":
            report["tasks"][1]["returns"] = [[0.0, 0.0]]
        elif case == "NaN return":  # json.dumps writes NaN; json.loads reads it back
            report["tasks"][1]["returns"] = [[0.0, float("nan"), 0.0]]
        else:
            del report["tasks"][0]["lengths"]
        bad.write_text(json.dumps(report))
    fig = tmp_path / "fig.png"
    assert main(["compare", str(good), str(bad), "--out", str(fig)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("robo-meta compare: error: ")
    assert str(bad) in err[0]
    assert not fig.exists()


@pytest.mark.parametrize(("algo", "meta", "deterministic", "expected"), [
    ("rl2", None, True, "mean actions"),
    ("dr", {}, False, "sampled actions"),
    ("maml", {"exploration_episodes": 1}, True, "sampled actions in episode 1, then mean"),
    ("maml", {"exploration_episodes": 5}, True, "sampled actions in episodes 1-5, then mean"),
    ("maml", {"exploration_episodes": 1}, False, "sampled actions"),
    ("zero", None, True, ""),
])
def test_action_mode_names_what_cards_and_titles_say(algo, meta, deterministic, expected):
    report = {"policy": {"algo": algo, "name": algo, "meta": meta},
              "deterministic": deterministic}
    assert action_mode(report) == expected
