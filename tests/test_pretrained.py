"""The shipped pretrained policies: they load by name and their cards still hold."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from cli_helpers import load_script

import robo_meta
from robo_meta import pretrained
from robo_meta import report as report_format
from robo_meta.adaptive import PRETRAINED_DIR, pretrained_names
from robo_meta.envs.errors import RoboMetaError

REQUIRED = {f"{family}-{algo}" for family in ("cheetah-vel", "hopper-params")
            for algo in ("rl2", "dr", "oracle")}


def test_every_required_policy_is_shipped_small_and_weights_only():
    assert set(pretrained_names()) >= REQUIRED
    for name in pretrained_names():
        folder = PRETRAINED_DIR / name
        assert {p.name for p in folder.iterdir()} >= {"config.json", "state.pt", "meta.json",
                                                      "card.md"}
        assert sum(p.stat().st_size for p in folder.iterdir()) < 2_000_000
        state = torch.load(folder / "state.pt", weights_only=True)
        assert set(state) in ({"policy", "trainer"}, {"format", "modules", "algorithm", "runner"})
        assert "optimizer" not in state and not state.get("algorithm")  # inference only


@pytest.mark.parametrize("name", sorted(REQUIRED))
def test_pretrained_name_resolves(name):
    policy = robo_meta.load_policy(f"pretrained:{name}", device="cpu")
    family, algo = name.rsplit("-", 1)
    assert (policy.family, policy.algo) == (family, algo)


def test_unknown_pretrained_name_lists_the_shipped_ones():
    with pytest.raises(RoboMetaError) as error:
        robo_meta.load_policy("pretrained:cheetah-vel-rl3", device="cpu")
    message = str(error.value)
    assert "cheetah-vel-rl2" in message and "available" in message


@pytest.mark.parametrize("name", sorted(REQUIRED))
def test_card_test_table_matches_a_fresh_evaluation(name):
    meta = json.loads((PRETRAINED_DIR / name / "meta.json").read_text())
    card = meta["evaluation"]["test"]
    report = pretrained.evaluate_splits(f"pretrained:{name}", card["seeds"], ("test",))["test"]
    now = np.array(report["summary"]["mean_return"])
    mean, ci = np.array(card["mean_return"]), np.array(card["ci95_return"])
    assert np.all(np.abs(now - mean) <= ci), (name, now, mean, ci)
    text = (PRETRAINED_DIR / name / "card.md").read_text()
    assert f"{mean[0]:.2f}" in text  # the card's table shows the stored numbers


def test_a_shipped_maml_policy_reproduces_its_reports_with_and_without_its_step():
    # every trial's returns, with the inner step (the card), without (k = 0) and of the
    # references on the same trials; the exploration episodes are the same with and without
    # the step, so they match across them too
    name = "cheetah-dir-maml"
    policy = robo_meta.load_policy(f"pretrained:{name}", device="cpu")
    assert (policy.family, policy.algo) == ("cheetah-dir", "maml")
    k = policy.exploration_episodes
    fresh = pretrained.evaluate_splits(f"pretrained:{name}", 10, ("test",))
    assert set(fresh) == {"test", "test-k0"} | ({"test-dr", "test-oracle"} if k > 2 else set())
    for split in fresh:
        stored = pretrained.shipped_report(name, split)
        now = [np.array(t["returns"]) for t in fresh[split]["tasks"]]
        then = [np.array(t["returns"]) for t in stored["tasks"]]
        for a, b in zip(now, then, strict=True):
            np.testing.assert_allclose(a, b, rtol=0, atol=1e-3)
    with_step, without = ([np.array(t["returns"]) for t in fresh[s]["tasks"]]
                          for s in ("test", "test-k0"))
    for a, b in zip(with_step, without, strict=True):
        np.testing.assert_array_equal(a[:, :k], b[:, :k])
        assert not np.array_equal(a[:, k], b[:, k])  # the step changed episode k + 1


def test_refresh_rewrites_only_the_evaluation_tables(tmp_path):
    name = "cheetah-vel-dr"  # the cheapest card to re-evaluate
    shutil.copytree(PRETRAINED_DIR / name, tmp_path / name)
    shipped = json.loads((PRETRAINED_DIR / name / "meta.json").read_text())
    stale = {**shipped, "evaluation": {split: {**e, "mean_return": [1.0, 2.0, 3.0]}
                                       for split, e in shipped["evaluation"].items()}}
    (tmp_path / name / "meta.json").write_text(json.dumps(stale))
    card = (PRETRAINED_DIR / name / "card.md").read_text()
    first = f"{shipped['evaluation']['test']['mean_return'][0]:.2f}"
    assert first in card
    (tmp_path / name / "card.md").write_text(card.replace(first, "1.00"))

    assert pretrained.refresh(name, root=tmp_path) == tmp_path / name
    meta = json.loads((tmp_path / name / "meta.json").read_text())
    assert {k: v for k, v in meta.items() if k != "evaluation"} == {
        k: v for k, v in shipped.items() if k != "evaluation"}
    for split, before in shipped["evaluation"].items():
        now = meta["evaluation"][split]
        assert now["seeds"] == before["seeds"] and now["episodes"] == before["episodes"]
        assert np.all(np.abs(np.array(now["mean_return"]) - before["mean_return"])
                      <= np.array(before["ci95_return"]))
    text = (tmp_path / name / "card.md").read_text()
    head = card.split("## Evaluation")[0]
    assert text.startswith(head)  # command, facts and notes kept
    assert pretrained.card_notes(text) == pretrained.card_notes(card) != ""
    assert f"{meta['evaluation']['test']['mean_return'][0]:.2f}" in text
    for kept in ("state.pt", "config.json"):
        assert (tmp_path / name / kept).read_bytes() == (PRETRAINED_DIR / name / kept).read_bytes()
    # the reports are redone byte for byte, without the stale summary the meta held
    for split in shipped["evaluation"]:
        report = f"report-{split}.json"
        assert (tmp_path / name / report).read_bytes() == \
            (PRETRAINED_DIR / name / report).read_bytes()


def test_refresh_of_an_unknown_policy_is_one_clear_error(tmp_path):
    with pytest.raises(RoboMetaError, match="no pretrained policy 'hopper-params-rl3'"):
        pretrained.refresh("hopper-params-rl3")
    with pytest.raises(RoboMetaError, match="bad pretrained name"):
        pretrained.refresh("../cheetah-vel-dr", root=tmp_path)


@pytest.mark.parametrize(("argv", "message"), [
    (["policies", "refresh"], "usage: robo-meta policies refresh NAME"),
    (["policies", "refresh", "nope-rl2"], "no pretrained policy 'nope-rl2' (available: "),
    (["policies", "export", "runs/x", "x"], "usage: robo-meta policies export"),
])
def test_policies_cli_errors_are_one_line_naming_the_subcommand(capsys, argv, message):
    from robo_meta.cli.main import main

    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert err.startswith(f"robo-meta policies: error: {message}")


def _stored_report(root, name, returns, seeds=((0, 3), (1, 4), (2, 5))):
    """A shipped folder holding only a test report with per-(task, seed) returns (2 episodes)."""
    tasks = [{"task": {"family": "point-goal", "goal": [float(i), 0.0]}, "seeds": list(s),
              "returns": [[r, r] for r in rs]}
             for i, (s, rs) in enumerate(zip(seeds, returns, strict=True))]
    summary = {"episode": [1, 2], "mean_return": [0.0, 0.0], "ci95_return": [0.0, 0.0]}
    report = {"format": report_format.FORMAT, "family": "point-goal", "split": "test",
              "episodes": 2, "seeds": 2, "num_tasks": len(tasks), "tasks": tasks,
              "summary": summary}
    (root / name).mkdir()
    (root / name / "report-test.json").write_text(json.dumps(report))


def test_measured_gap_is_the_paired_oracle_minus_dr_difference(tmp_path):
    # per task, seeds averaged: oracle 11, 21, 32; dr 10, 15, 30 -> differences 1, 6, 2
    _stored_report(tmp_path, "fam-oracle", [(10, 12), (20, 22), (31, 33)])
    _stored_report(tmp_path, "fam-dr", [(9, 11), (15, 15), (30, 30)])
    gap = pretrained.measured_gap("fam", root=tmp_path)
    diffs = np.array([1.0, 6.0, 2.0])
    half = 4.302652729911275 * diffs.std(ddof=1) / np.sqrt(3)  # t(0.975, 2 df)
    assert gap["mean"] == pytest.approx(3.0) and gap["ci95"] == pytest.approx(half)
    assert gap["significant"] is False  # 3.0 - 6.57 < 0: inside the noise
    assert gap["verdict"] == "not significant"


def test_measured_gap_says_when_the_oracle_is_significantly_below_dr(tmp_path):
    # per task: oracle 10, 20, 30; dr 12, 22, 33 -> differences -2, -2, -3: -2.33 ± 1.43
    _stored_report(tmp_path, "fam-oracle", [(10, 10), (20, 20), (30, 30)])
    _stored_report(tmp_path, "fam-dr", [(12, 12), (22, 22), (33, 33)])
    gap = pretrained.measured_gap("fam", root=tmp_path)
    diffs = np.array([-2.0, -2.0, -3.0])
    assert gap["mean"] == pytest.approx(diffs.mean())
    assert gap["ci95"] == pytest.approx(4.302652729911275 * diffs.std(ddof=1) / np.sqrt(3))
    assert (gap["significant"], gap["verdict"]) == (False, "oracle below dr")
    assert pretrained.measured_gap("other", root=tmp_path) is None  # not shipped


def test_measured_gap_refuses_unpaired_reports(tmp_path):
    _stored_report(tmp_path, "fam-oracle", [(10, 12), (20, 22), (31, 33)])
    _stored_report(tmp_path, "fam-dr", [(9, 11), (15, 15), (30, 30)],
                   seeds=((0, 3), (1, 4), (2, 7)))
    with pytest.raises(RoboMetaError, match="not paired: different seeds: task 2"):
        pretrained.measured_gap("fam", root=tmp_path)


def test_shipped_reports_match_their_cards():
    for name in pretrained_names():
        meta = json.loads((PRETRAINED_DIR / name / "meta.json").read_text())
        for split, stored in meta["evaluation"].items():
            report = pretrained.shipped_report(name, split)
            assert report is not None, (name, split)
            assert report["summary"]["mean_return"] == stored["mean_return"], (name, split)
            assert report["policy"]["source"] == f"pretrained:{name}"


def test_matrix_rows_hold_the_normalized_score_and_paired_difference(tmp_path):
    # per task (seeds averaged): dr 10, 15, 30; oracle 20, 25, 40; rl2 15, 20, 35
    for algo, returns in (("dr", [(9, 11), (15, 15), (30, 30)]),
                          ("oracle", [(20, 20), (24, 26), (40, 40)]),
                          ("rl2", [(15, 15), (20, 20), (34, 36)])):
        _stored_report(tmp_path, f"fam-{algo}", returns)
        (tmp_path / f"fam-{algo}" / "meta.json").write_text(json.dumps(
            {"family": "fam", "algo": algo, "steps": 2_000_000, "wall_time_s": 12.0,
             "device_name": "cpu"}))
    rows = pretrained.matrix("test", root=tmp_path)
    assert [r["algo"] for r in rows] == ["dr", "oracle", "rl2"]
    rl2 = rows[2]
    assert rl2["normalized"]["score"] == pytest.approx([0.5, 0.5])  # (23.3 - 18.3) / 10
    assert rl2["minus_dr"]["mean"] == pytest.approx([5.0, 5.0])
    assert rl2["minus_dr"]["ci95"] == pytest.approx([0.0, 0.0])
    assert rows[0]["minus_dr"] is None and rows[1]["minus_dr"]["mean"] == pytest.approx([10, 10])
    text = pretrained.matrix_markdown(rows)
    assert text.splitlines()[-1] == (  # returns from the report's summary (zeros here)
        "| fam | rl2 | 2.0 M | 12 s | 0.0 ± 0.0 / 0.0 ± 0.0 | 0.50 [0.50, 0.50] / "
        "0.50 [0.50, 0.50] | +5.0 ± 0.0* / +5.0 ± 0.0* | cpu |")


def _episode_report(root, name, algo, per_task_episodes):
    """A shipped point-goal folder: one seed per task, the given returns per episode."""
    tasks = [{"task": {"family": "point-goal", "goal": [float(i), 0.0]}, "seeds": [i],
              "returns": [list(eps)]} for i, eps in enumerate(per_task_episodes)]
    k = len(per_task_episodes[0])
    report = {"format": report_format.FORMAT, "family": "point-goal", "split": "test",
              "episodes": k, "seeds": 1, "num_tasks": len(tasks), "tasks": tasks,
              "summary": {"episode": list(range(1, k + 1)), "mean_return": [0.0] * k,
                          "ci95_return": [0.0] * k}}
    (root / name).mkdir()
    (root / name / "report-test.json").write_text(json.dumps(report))
    (root / name / "meta.json").write_text(json.dumps(
        {"family": "point-goal", "algo": algo, "steps": 1, "device_name": "cpu"}))


def test_quality_bars_computed_by_hand(tmp_path):
    from robo_meta import quality_bars

    _episode_report(tmp_path, "point-goal-dr", "dr", [(10, 10), (15, 15), (30, 30)])
    _episode_report(tmp_path, "point-goal-oracle", "oracle", [(20, 20), (25, 25), (40, 40)])
    _episode_report(tmp_path, "point-goal-rl2", "rl2", [(12, 18), (17, 24), (31, 38)])
    (row,) = quality_bars.bars(tmp_path)
    half = 4.302652729911275 * np.std([8, 9, 8], ddof=1) / np.sqrt(3)  # t(0.975, 2 df)
    assert row["valid"]["significant"] and row["valid"]["mean"] == pytest.approx(10.0)
    assert row["rl2_test"] == pytest.approx((80 / 3 - 55 / 3) / 10)  # 0.83 at episode 2
    assert row["rl2_ood"] is None and row["rma_test"] is None  # not shipped
    assert row["rl2_minus_dr"]["mean"] == pytest.approx(25 / 3)
    assert row["rl2_minus_dr"]["ci95"] == pytest.approx(half)
    # a goal task: episode 2 - episode 1 per task 6, 7, 7
    assert row["explore"]["mean"] == pytest.approx(20 / 3)
    assert row["explore"]["ci95"] == pytest.approx(half) and row["explore"]["significant"]
    line = quality_bars.bars_markdown([row]).splitlines()[-1]
    assert line == (f"| point-goal | +10.0 ± 0.0 yes | 0.83 yes | - | +8.3 ± {half:.1f} yes "
                    f"| +6.7 ± {half:.1f} yes | - | - | - | - | - | -, - |")


def test_maml_bars_score_the_episode_after_exploring_against_the_same_trials_without_a_step(
        tmp_path):
    from robo_meta import quality_bars

    _episode_report(tmp_path, "point-goal-dr", "dr", [(10, 10), (15, 15), (30, 30)])
    _episode_report(tmp_path, "point-goal-oracle", "oracle", [(20, 20), (25, 25), (40, 40)])
    # the same exploration episode (1) in both; episode 2 after one step: 18, 24, 38 against
    # 12, 21, 33 with none (gains 6, 3, 5)
    _episode_report(tmp_path, "point-goal-maml", "maml", [(5, 18), (6, 24), (7, 38)])
    folder = tmp_path / "point-goal-maml"
    for name, second in (("report-test.json", (18, 24, 38)), ("report-test-k0.json", (12, 21, 33))):
        report = json.loads((folder / "report-test.json").read_text())
        for task, value in zip(report["tasks"], second, strict=True):
            task["returns"][0][1] = value
        steps = int(name == "report-test.json")
        report["policy"] = {"algo": "maml",
                            "meta": {"exploration_episodes": 1, "inner_steps": steps}}
        (folder / name).write_text(json.dumps(report))
    (row,) = quality_bars.bars(tmp_path)
    assert row["maml_test"] == pytest.approx((80 / 3 - 55 / 3) / 10)  # 0.83 at episode 2
    gain = row["maml_steps"]
    half = 4.302652729911275 * np.std([6, 3, 5], ddof=1) / np.sqrt(3)
    assert gain["mean"] == pytest.approx(14 / 3) and gain["ci95"] == pytest.approx(half)
    assert gain["significant"] and gain["episode"] == 2
    cells = quality_bars.bars_markdown([row]).splitlines()[-1].split(" | ")
    assert cells[9:11] == ["0.83 yes", f"+4.7 ± {half:.1f} yes"]
    # trials that differ are refused, not paired
    k0 = json.loads((folder / "report-test-k0.json").read_text())
    k0["tasks"][1]["seeds"] = [9]
    (folder / "report-test-k0.json").write_text(json.dumps(k0))
    with pytest.raises(RoboMetaError, match="not paired: different seeds: task 1"):
        quality_bars.bars(tmp_path)


def test_convergence_is_the_fitted_rise_over_the_last_fifth_against_the_gap_with_its_ci(tmp_path):
    from robo_meta import quality_bars

    _episode_report(tmp_path, "point-goal-dr", "dr", [(10, 10), (15, 15), (30, 30)])
    _episode_report(tmp_path, "point-goal-oracle", "oracle", [(20, 20), (25, 25), (40, 40)])
    steps = [100_000 * i for i in range(1, 11)]
    # dr: the tail (0.8, 0.9, 1.0 M) at 5, 6, 7.5: least-squares slope (-0.1 x -7/6 + 0.1 x
    # 4/3) / 0.02 = 12.5 per M steps, rise 2.5 over 0.2 M; oracle 9, 8, 9.2: 1 per M, rise 0.2
    for algo, tail in (("dr", [5.0, 6.0, 7.5]), ("oracle", [9.0, 8.0, 9.2])):
        meta_path = tmp_path / f"point-goal-{algo}" / "meta.json"
        meta = json.loads(meta_path.read_text())
        meta["val_curve"] = {"steps": steps, "return_ep1": [0.0] * 7 + tail}
        meta_path.write_text(json.dumps(meta))
    (row,) = quality_bars.bars(tmp_path)
    dr, oracle = row["converged"]["dr"], row["converged"]["oracle"]
    assert dr["points"] == 3 and dr["rise"] == pytest.approx(2.5)  # gap 10: a quarter of it
    assert dr["of_gap"] == pytest.approx(0.25) and not dr["flat"]
    # dr's residuals 1/12, -1/6, 1/12: s^2 = (1/144 + 1/36 + 1/144) / 1 = 1/24, Sxx = 0.02
    # (M steps)^2, so the slope's standard error is sqrt(1/24 / 0.02) per M, the rise's 0.2
    # times that, and t(0.975, 1 dof) = 12.706: 2.5 +- 3.67 includes 0, so "noisy"
    assert dr["ci95"] == pytest.approx(12.7062 * 0.2 * (1 / 24 / 0.02) ** 0.5, rel=1e-4)
    assert dr["verdict"] == "noisy"
    assert oracle["rise"] == pytest.approx(0.2) and oracle["flat"]
    assert oracle["verdict"] == "flat"
    assert quality_bars.bars_markdown([row]).endswith(
        f"| +0.25 ± {dr['ci95'] / 10:.2f} noisy, +0.02 ± {oracle['ci95'] / 10:.2f} yes |")
    # a clean rise (no scatter) beyond a tenth of the gap is a run that had not converged
    clean = quality_bars.plateau({"steps": steps, "return_ep1": [0.0] * 7 + [5, 6, 7]}, 10.0)
    assert clean["rise"] == pytest.approx(2.0) and clean["ci95"] == pytest.approx(0.0, abs=1e-9)
    assert clean["verdict"] == "rising" and not clean["flat"]
    falling = quality_bars.plateau({"steps": steps, "return_ep1": [0.0] * 7 + [7, 6, 5]}, 10.0)
    assert falling["verdict"] == "falling"
    # fewer than 3 evaluations in the last fifth, or no positive gap: no verdict
    assert quality_bars.plateau({"steps": [1, 10], "return_ep1": [0.0, 1.0]}, 10.0) is None
    assert quality_bars.plateau({"steps": steps, "return_ep1": [0.0] * 10}, -1.0) is None


def test_export_keeps_the_runs_quick_evaluations(tmp_path):
    (tmp_path / "metrics.csv").write_text(
        "step,lr,eval/return_ep1,eval/return_ep2\n8192,0.001,,\n16384,0.001,-5.5,-4.0\n"
        "24576,0.001,,\n32768,0.001,-3.25,-3.0\n")
    assert pretrained.val_curve(tmp_path) == {"steps": [16384, 32768],
                                              "return_ep1": [-5.5, -3.25]}
    (tmp_path / "metrics.csv").write_text("step,lr\n8192,0.001\n")
    assert pretrained.val_curve(tmp_path) is None


def test_quality_bars_say_n_a_where_the_oracle_gap_is_not_significant(tmp_path):
    from robo_meta import quality_bars

    _episode_report(tmp_path, "point-goal-dr", "dr", [(10, 10), (15, 15), (30, 30)])
    _episode_report(tmp_path, "point-goal-oracle", "oracle", [(14, 14), (12, 12), (32, 32)])
    _episode_report(tmp_path, "point-goal-rl2", "rl2", [(12, 18), (17, 24), (31, 38)])
    (row,) = quality_bars.bars(tmp_path)
    assert not row["valid"]["significant"]  # differences 4, -3, 2: inside the noise
    cells = quality_bars.bars_markdown([row]).splitlines()[-1].split(" | ")
    assert cells[1].endswith("NO") and cells[2].endswith("n/a")  # no verdict on the score


def _docs_script():
    return load_script("update_benchmark_docs")


def test_the_documents_say_what_the_shipped_reports_say():
    """README's table of shipped policies, the matrix section of docs/benchmarks.md and the
    measured gaps of docs/families.md are what scripts/update_benchmark_docs.py writes from
    the shipped meta and reports today."""
    docs = _docs_script()
    readme = docs.README.read_text()
    start, end = docs.rows_span(readme, docs.TABLE_HEADER)
    assert readme[start:end] == docs.readme_rows()
    assert len(docs.readme_rows().splitlines()) == len(pretrained_names())
    families = docs.FAMILIES.read_text()
    start, end = docs.rows_span(families, docs.GAPS_HEADER)
    assert families[start:end] == docs.gap_rows()
    text = docs.DOC.read_text()
    start, end = docs.section_span(text)
    assert text[start:end] == docs.section(docs.matrices())


def test_a_card_of_k_exploration_episodes_runs_k_plus_1_and_keeps_its_references(tmp_path):
    """A maml run that explores K = 4 episodes: its card runs 5 per trial, and the family's
    dr and oracle run the same 5-episode trials beside it, so the matrix can pair them."""
    from maml_run import train_explorer

    run = train_explorer(tmp_path / "run", 4)
    root = tmp_path / "pretrained"
    for ref in ("dr", "oracle"):
        shutil.copytree(PRETRAINED_DIR / f"point-goal-{ref}", root / f"point-goal-{ref}")
    # with the seeds of the family's dr card, as every maml card (its references pair)
    folder = pretrained.export(run, "point-goal-maml", "robo-meta train ...", seeds=3, root=root)
    splits = ("test", "ood")
    stored = {p.name for p in folder.glob("report-*.json")}
    assert stored == {f"report-{s}{x}.json" for s in splits
                      for x in ("", "-k0", "-dr", "-oracle")}
    for ref in ("dr", "oracle"):
        three = pretrained.shipped_report(f"point-goal-{ref}", "test", root)  # 3 episodes
        five = pretrained.shipped_report("point-goal-maml", f"test-{ref}", root)
        assert five["episodes"] == 5 and five["policy"]["source"] == f"pretrained:point-goal-{ref}"
        assert report_format.unpaired_reason(five, three) is None
        for a, b in zip(five["tasks"], three["tasks"], strict=True):  # same trials, longer
            np.testing.assert_allclose(np.array(a["returns"])[:, :3], b["returns"], atol=1e-3)
    meta = json.loads((folder / "meta.json").read_text())
    assert set(meta["evaluation"]) == {f"{s}{x}" for s in splits for x in ("", "-k0")}
    assert meta["evaluation"]["test"]["episodes"] == 5
    card = (folder / "card.md").read_text()
    assert "5 episodes per trial" in card
    assert "--split test --seeds 3 --episodes 5 --inner-steps 0,1" in card
    (row,) = [r for r in pretrained.matrix("test", root) if r["algo"] == "maml"]
    assert len(row["mean"]) == len(row["normalized"]["score"]) == len(row["minus_dr"]["mean"]) == 5
    maml = pretrained.shipped_report("point-goal-maml", "test", root)
    dr = pretrained.shipped_report("point-goal-maml", "test-dr", root)
    assert row["minus_dr"]["mean"][4] == pytest.approx(
        np.mean([np.mean(a["returns"], axis=0)[4] - np.mean(b["returns"], axis=0)[4]
                 for a, b in zip(maml["tasks"], dr["tasks"], strict=True)]))
    cell = pretrained.matrix_markdown([row]).splitlines()[-1].split(" | ")[4]
    assert cell.startswith("(ep 1 / 4 / 5) ") and cell.count(" ± ") == 3


def test_the_policy_list_names_the_episodes_of_a_longer_trial(capsys):
    from cli_helpers import exit_status

    assert pretrained.episodes_cell(["1.0", "2.0", "3.0"]) == "1.0 / 2.0 / 3.0"
    assert pretrained.episodes_cell(list("abcde")) == "(ep 1 / 4 / 5) a / d / e"
    assert exit_status(["policies"]) == 0
    rows = {line.split()[0]: line for line in capsys.readouterr().out.splitlines() if line}
    maml = json.loads((PRETRAINED_DIR / "cheetah-vel-maml" / "meta.json").read_text())
    k = maml["evaluation"]["test"]["episodes"]
    assert f"(ep 1 / {k - 1} / {k})" in rows["cheetah-vel-maml"]
    dr = json.loads((PRETRAINED_DIR / "cheetah-vel-dr" / "meta.json").read_text())
    assert rows["cheetah-vel-dr"].endswith(
        " / ".join(f"{v:.1f}" for v in dr["evaluation"]["test"]["mean_return"]))
