"""``robo-meta compare``: curves of several reports, the normalized score against dr and oracle
(checked against a hand computation), and clear notes when reports are on different tasks.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from robo_meta.cli.main import main
from robo_meta.report import load_report, normalized_scores

FAMILY = "point-goal"


@pytest.fixture(scope="module")
def base_report(tmp_path_factory) -> dict:
    """A real report (zero policy, 3 test tasks, 3 episodes) to derive the others from."""
    root = tmp_path_factory.mktemp("compare")
    tasks = root / "tasks.json"
    from robo_meta.envs import get_family

    tasks.write_text(json.dumps([t.to_dict() for t in get_family(FAMILY).tasks("test")[:3]]))
    out = root / "zero.json"
    assert main(["evaluate", "--policy", "zero", "--tasks-file", str(tasks), "--out",
                 str(out)]) == 0
    return json.loads(out.read_text())


def _variant(report: dict, path: Path, algo: str, means: list[float]) -> Path:
    """``report`` as if a policy of ``algo`` had scored ``means`` (CI 1 at every episode)."""
    report = copy.deepcopy(report)
    report["policy"].update(name=f"my-{algo}", algo=algo)
    report["summary"]["mean_return"] = means
    report["summary"]["ci95_return"] = [1.0] * len(means)
    path.write_text(json.dumps(report))
    return path


def test_normalized_score_equals_the_hand_computation(base_report, tmp_path, capsys):
    dr = _variant(base_report, tmp_path / "dr.json", "dr", [-10.0, -10.0, -10.0])
    oracle = _variant(base_report, tmp_path / "oracle.json", "oracle", [-2.0, -2.0, -2.0])
    rl2 = _variant(base_report, tmp_path / "rl2.json", "rl2", [-8.0, -4.0, -3.0])
    # (R_k - R_dr) / (R_oracle - R_dr) = (2/8, 6/8, 7/8)
    groups, notes = normalized_scores([load_report(p) for p in (rl2, dr, oracle)])
    assert notes == []
    assert groups[0]["dr"] == 1 and groups[0]["oracle"] == 2
    assert groups[0]["scores"] == {0: [0.25, 0.75, 0.875]}

    fig = tmp_path / "figs" / "compare.png"
    assert main(["compare", str(rl2), str(dr), str(oracle), "--out", str(fig)]) == 0
    out = capsys.readouterr().out
    assert "normalized score on point-goal tasks.json (3 tasks)" in out
    score_line = next(line for line in out.splitlines()[::-1] if line.startswith("my-rl2"))
    assert score_line.split()[1:] == ["0.250", "0.750", "0.875"]
    assert "-8.00 ± 1.00" in out and "different tasks" not in out
    assert fig.stat().st_size > 20_000
    assert not list(fig.parent.glob(".tmp-*"))


def test_reports_on_different_tasks_get_curves_only(base_report, tmp_path, capsys):
    other = copy.deepcopy(base_report)
    other["tasks"] = other["tasks"][:2]
    other["num_tasks"] = 2
    dr = _variant(base_report, tmp_path / "dr.json", "dr", [-10.0] * 3)
    oracle = _variant(other, tmp_path / "oracle.json", "oracle", [-2.0] * 3)
    rl2 = _variant(base_report, tmp_path / "rl2.json", "rl2", [-8.0] * 3)
    fig = tmp_path / "compare.png"
    assert main(["compare", str(dr), str(oracle), str(rl2), "--out", str(fig)]) == 0
    out = capsys.readouterr().out
    assert "these reports are on different tasks" in out
    assert "no normalized score" in out
    assert not any(line.startswith("normalized score") for line in out.splitlines())
    assert fig.is_file()


@pytest.mark.parametrize("case", ["missing", "not json", "not a report"])
def test_bad_reports_are_one_line_exit_2_and_no_figure(case, base_report, tmp_path, capsys):
    good = _variant(base_report, tmp_path / "dr.json", "dr", [-1.0] * 3)
    bad = tmp_path / "bad.json"
    if case == "not json":
        bad.write_text("{")
    elif case == "not a report":
        bad.write_text(json.dumps([{"family": FAMILY}]))
    fig = tmp_path / "fig.png"
    assert main(["compare", str(good), str(bad), "--out", str(fig)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("robo-meta compare: error: ")
    assert str(bad) in err[0]
    assert not fig.exists()
