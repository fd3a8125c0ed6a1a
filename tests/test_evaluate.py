"""``robo-meta evaluate`` end to end (in-process): hand-computed returns, determinism, tasks
files, report layout, and every bad input ending in one line, exit 2 and no report file.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from robo_meta import checkpoint
from robo_meta.cli.main import main
from robo_meta.envs import get_family
from robo_meta.evaluation import t_critical
from tiny_policies import tiny_policy

FAMILY = "point-goal"
HORIZON = 50  # point-goal.toml


def write_checkpoint(run_dir: Path, algo: str, family: str = FAMILY, seed: int = 0) -> Path:
    """A loadable checkpoint of an untrained ``algo`` policy (random biases: it moves)."""
    module, spec, config = tiny_policy(algo, family, seed)
    checkpoint.save_config(run_dir, config, {"policy": spec})
    checkpoint.save_state(run_dir, {"modules": {"policy": module.state_dict()}},
                          {"family": family, "algo": algo, "steps": 0})
    return run_dir


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("checkpoints")
    return {algo: write_checkpoint(root / algo, algo) for algo in ("dr", "oracle", "rl2")}


def evaluate(tmp_path: Path, *args: str, name: str = "report.json") -> tuple[int, dict | None]:
    out = tmp_path / name
    code = main(["evaluate", *args, "--out", str(out)])
    return code, json.loads(out.read_text()) if out.exists() else None


def write_tasks(path: Path, tasks: list[dict]) -> Path:
    path.write_text(json.dumps(tasks))
    return path


def _hand_return(goal) -> float:
    """Return of an episode that stays at the origin: reward -|goal| at each of 50 steps."""
    x, y = goal
    distance = math.sqrt(x * x + y * y)
    total = 0.0
    for _ in range(HORIZON):  # the evaluator sums the step rewards in this order
        total += -distance
    return total


@pytest.mark.parametrize("split", ["test", "ood"])
def test_zero_policy_returns_equal_the_hand_computed_values(split, tmp_path, capsys):
    # zero action: the point mass stays at the origin (no reset noise), so every step's
    # reward is -|goal|: -1 (up to rounding) on the radius-1 test goals, -1.5..-2 on ood goals
    code, report = evaluate(tmp_path, "--policy", "zero", "--family", FAMILY, "--split", split,
                            "--episodes", "2")
    assert code == 0
    tasks = get_family(FAMILY).tasks(split)
    assert report["num_tasks"] == len(tasks) == 40
    for entry, task in zip(report["tasks"], tasks, strict=True):
        assert entry["task"] == task.to_dict()
        expected = _hand_return(task["goal"])
        assert entry["returns"] == [[expected, expected]]
        assert entry["success"] == [[False, False]]
        if split == "test":
            assert expected == pytest.approx(-50.0, abs=1e-12)
    mean = np.mean([_hand_return(t["goal"]) for t in tasks])
    assert report["summary"]["mean_return"] == pytest.approx([mean, mean], rel=1e-12)
    assert report["summary"]["success_rate"] == [0.0, 0.0]
    table = capsys.readouterr().out
    assert f"{mean:.2f}" in table and "success" in table
    assert (tmp_path / "report.png").stat().st_size > 10_000


def test_same_seed_gives_identical_report_bytes(tmp_path, ckpt):
    for policy, extra in (("random", ["--family", FAMILY]), (str(ckpt["rl2"]), ["--stochastic"])):
        texts = []
        for name in ("a.json", "b.json"):
            code, _ = evaluate(tmp_path, "--policy", policy, *extra, "--seed", "7",
                               "--seeds", "2", name=name)
            assert code == 0
            texts.append((tmp_path / name).read_bytes())
        assert texts[0] == texts[1]
        code, _ = evaluate(tmp_path, "--policy", policy, *extra, "--seed", "8", "--seeds", "2",
                           name="c.json")
        assert (tmp_path / "c.json").read_bytes() != texts[0]  # the seed does matter


def test_tasks_file_is_evaluated_exactly_as_given(tmp_path):
    family = get_family(FAMILY)
    given = [t.to_dict() for t in family.tasks("ood")[:2] + family.sample_tasks(2, seed=3)]
    tasks_file = write_tasks(tmp_path / "tasks.json", given)
    code, report = evaluate(tmp_path, "--policy", "zero", "--tasks-file", str(tasks_file),
                            "--episodes", "1")  # the family comes from the tasks
    assert code == 0
    assert [entry["task"] for entry in report["tasks"]] == given
    assert report["split"] is None and report["tasks_file"] == str(tasks_file)
    for entry, task in zip(report["tasks"], given, strict=True):
        assert entry["returns"] == [[_hand_return(task["params"]["goal"])]]


def test_report_layout_seeds_and_summary(tmp_path, ckpt):
    tasks_file = write_tasks(tmp_path / "tasks.json",
                             [t.to_dict() for t in get_family(FAMILY).tasks("test")[:5]])
    code, report = evaluate(tmp_path, "--policy", str(ckpt["rl2"]), "--tasks-file",
                            str(tasks_file), "--seeds", "2", "--seed", "10", "--episodes", "3",
                            "--stochastic", "--num-envs", "4")
    assert code == 0
    assert report["policy"]["algo"] == "rl2" and report["policy"]["adaptive"] is True
    assert report["policy"]["meta"]["family"] == FAMILY
    assert report["family"] == FAMILY and report["episodes"] == 3 and report["seeds"] == 2
    # trial r runs task r % 5 with reset seed 10 + r
    assert [e["seeds"] for e in report["tasks"]] == [[10 + i, 15 + i] for i in range(5)]
    returns = np.array([e["returns"] for e in report["tasks"]])  # (task, seed, episode)
    assert returns.shape == (5, 2, 3)
    per_task = returns.mean(axis=1)
    summary = report["summary"]
    assert summary["episode"] == [1, 2, 3]
    np.testing.assert_allclose(summary["mean_return"], per_task.mean(axis=0), rtol=1e-12)
    half_width = t_critical(4) * per_task.std(axis=0, ddof=1) / np.sqrt(5)
    np.testing.assert_allclose(summary["ci95_return"], half_width, rtol=1e-12)
    success = np.array([e["success"] for e in report["tasks"]])
    np.testing.assert_allclose(summary["success_rate"], success.mean(axis=(0, 1)))
    assert "wall" not in json.dumps(report)  # timing is printed, never stored


def test_train_split_samples_with_the_seed(tmp_path):
    code, report = evaluate(tmp_path, "--policy", "zero", "--family", FAMILY, "--split",
                            "train", "--train-tasks", "6", "--seed", "4", "--episodes", "1")
    assert code == 0
    expected = [t.to_dict() for t in get_family(FAMILY).sample_tasks(6, 4)]
    assert [e["task"] for e in report["tasks"]] == expected


def test_default_out_is_named_after_policy_family_and_split(tmp_path, ckpt, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["evaluate", "--policy", str(ckpt["dr"]), "--episodes", "1"]) == 0
    assert (tmp_path / "reports" / "dr-point-goal-test.json").is_file()
    assert (tmp_path / "reports" / "dr-point-goal-test.png").is_file()


def test_oracle_checkpoint_evaluates_with_task_features(tmp_path, ckpt):
    code, report = evaluate(tmp_path, "--policy", str(ckpt["oracle"]), "--episodes", "1")
    assert code == 0 and report["policy"]["algo"] == "oracle"
    assert len({e["returns"][0][0] for e in report["tasks"]}) > 1


# -- bad input -----------------------------------------------------------------------------------
def _bad_checkpoints(root: Path, ckpt: dict[str, Path]) -> dict[str, Path]:
    import shutil

    broken = {}
    for name, file, content in (("bad_state", "state.pt", b"not a torch file"),
                                ("bad_config", "config.json", b"{not json"),
                                ("bad_weights", "config.json", None)):
        target = root / name
        if not target.exists():
            shutil.copytree(ckpt["dr"], target)
            if content is None:  # a config whose network does not fit the saved weights
                config = json.loads((target / "config.json").read_text())
                config["modules"]["policy"]["kwargs"]["hidden_sizes"] = [8]
                content = json.dumps(config).encode()
            (target / file).write_bytes(content)
        broken[name] = target
    return broken


BAD_INPUTS = {
    "missing checkpoint": (["--policy", "{root}/nowhere"], "no checkpoint directory"),
    "corrupt state.pt": (["--policy", "{bad_state}"], "corrupt checkpoint"),
    "corrupt config.json": (["--policy", "{bad_config}"], "corrupt checkpoint"),
    "weights that do not fit": (["--policy", "{bad_weights}"], "corrupt checkpoint"),
    "checkpoint of another family": (["--policy", "{dr}", "--family", "cheetah-vel"],
                                     "trained on family 'point-goal', not 'cheetah-vel'"),
    "missing tasks file": (["--policy", "{dr}", "--tasks-file", "{root}/none.json"],
                           "cannot read tasks file"),
    "tasks file not JSON": (["--policy", "{dr}", "--tasks-file", "{not_json}"],
                            "is not valid JSON"),
    "tasks file not a list": (["--policy", "{dr}", "--tasks-file", "{not_list}"],
                              "non-empty JSON list"),
    "unknown task parameter": (["--policy", "{dr}", "--tasks-file", "{unknown_param}"],
                               "no task parameter 'gaol'"),
    "another family's tasks": (["--policy", "{dr}", "--tasks-file", "{other_family}"],
                               "a task of family 'cheetah-vel', not 'point-goal'"),
    "out-of-range task": (["--policy", "{dr}", "--tasks-file", "{out_of_range}"],
                          "outside its declared ranges"),
    "episodes 0": (["--policy", "{dr}", "--episodes", "0"],
                   "argument --episodes: must be positive"),
    "seeds 0": (["--policy", "zero", "--family", FAMILY, "--seeds", "0"],
                "argument --seeds: must be positive"),
    "unknown split": (["--policy", "zero", "--family", "cheetah-dir", "--split", "ood"],
                      "has no 'ood' split"),
    "builtin without family": (["--policy", "random"], "needs a family"),
    "unknown family": (["--policy", "zero", "--family", "point-gaol"], "unknown family"),
    "split and tasks file": (["--policy", "zero", "--family", FAMILY, "--split", "test",
                              "--tasks-file", "{not_json}"], "not both"),
    "missing sb3 model": (["--policy", "sb3:{root}/none.zip"], "no SB3 model"),
    "corrupt sb3 model": (["--policy", "sb3:{corrupt_zip}", "--family", FAMILY],
                          "cannot load SB3 model"),
}


@pytest.fixture(scope="module")
def bad_paths(tmp_path_factory, ckpt) -> dict[str, str]:
    root = tmp_path_factory.mktemp("bad")
    files = {
        "not_json": "[{\"family\": ",
        "not_list": json.dumps({"family": FAMILY, "params": {"goal": [1.0, 0.0]}}),
        "unknown_param": json.dumps([{"family": FAMILY, "params": {"gaol": [1.0, 0.0]}}]),
        "other_family": json.dumps([t.to_dict() for t in
                                    get_family("cheetah-vel").tasks("test")[:2]]),
        "out_of_range": json.dumps([{"family": FAMILY, "params": {"goal": [5.0, 0.0]}}]),
    }
    paths = {"root": str(root), **{k: str(v) for k, v in ckpt.items()}}
    for name, text in files.items():
        (root / f"{name}.json").write_text(text)
        paths[name] = str(root / f"{name}.json")
    (root / "corrupt.zip").write_bytes(b"PK not really a zip")
    paths["corrupt_zip"] = str(root / "corrupt.zip")
    paths.update({k: str(v) for k, v in _bad_checkpoints(root, ckpt).items()})
    return paths


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_is_one_line_exit_2_and_no_report(case, tmp_path, capsys, bad_paths):
    args, message = BAD_INPUTS[case]
    args = [a.format(**bad_paths) for a in args]
    out = tmp_path / "out" / "report.json"
    code = main(["evaluate", *args, "--out", str(out)])
    captured = capsys.readouterr()
    assert code == 2
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("robo-meta evaluate: error: ")
    assert message in lines[0]
    assert not out.exists() and not out.with_suffix(".png").exists()
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_bench_loop_and_batch_compute_the_same_returns():
    from robo_meta.bench.evaluate import format_table, measure

    result = measure(FAMILY, "test", episodes=1, policy="zero", rounds=1)
    assert result["tasks"] == 40 and result["env_steps"] == 40 * HORIZON
    assert result["max_return_difference"] == 0.0  # single env == batched simulation, bitwise
    assert result["batched_speedup"] == result["loop_s"] / result["batched_s"]
    assert "run_trials, one batch" in format_table(result)


def test_evaluate_runs_enough_episodes_for_a_policy_that_explores_several(tmp_path, capsys):
    """Without --episodes, a trial runs 3 episodes, or K + 1 for a policy that explores K:
    it must reach the episode the policy adapted for (and the demo's trial likewise)."""
    from maml_run import train_explorer

    from robo_meta import load_policy
    from robo_meta.evaluation import trial_episodes

    run_dir = train_explorer(tmp_path / "k4", 4)
    policy = load_policy(run_dir, device="cpu")
    zero = load_policy("zero", family="point-goal")
    assert trial_episodes(zero) == 3 and trial_episodes(policy) == trial_episodes(zero, policy) == 5
    assert trial_episodes(policy, at_least=7) == 7
    assert main(["evaluate", "--policy", str(run_dir), "--split", "val", "--inner-steps", "0,1",
                 "--out", str(tmp_path / "r.json")]) == 0
    assert "return (episode 5)" in capsys.readouterr().out
    for k in (0, 1):
        assert json.loads((tmp_path / f"r-k{k}.json").read_text())["episodes"] == 5
    assert main(["evaluate", "--policy", "zero", "--family", "point-goal", "--split", "val",
                 "--out", str(tmp_path / "z.json")]) == 0
    assert json.loads((tmp_path / "z.json").read_text())["episodes"] == 3
