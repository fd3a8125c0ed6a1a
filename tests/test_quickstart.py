"""``robo-meta quickstart`` in its reduced form (1 seed, no video, one training rollout): every
step runs, the paired comparison of the shipped trio is printed, and the files land in --out.
"""

from __future__ import annotations

import json

import pytest

from robo_meta.cli.main import main

TRAIN_STEPS = 16384  # one rollout of 256 simulations x 64 steps


@pytest.mark.slow
def test_reduced_quickstart_runs_every_step(tmp_path, capsys):
    out = tmp_path / "qs"
    assert main(["quickstart", "--out", str(out), "--seeds", "1", "--no-video",
                 "--train-steps", str(TRAIN_STEPS)]) == 0
    text = capsys.readouterr().out
    # each step shows the command it ran
    for command in ("$ robo-meta evaluate --policy pretrained:cheetah-vel-rl2 --split test",
                    "$ robo-meta compare", "$ robo-meta train --family cheetah-vel --algo oracle",
                    "$ robo-meta evaluate --policy zero"):
        assert command in text
    assert "demo" not in text  # --no-video
    row = next(ln for ln in text.splitlines() if ln.startswith("cheetah-vel-rl2 - cheetah-vel-dr"))
    assert row.count("*") == 3  # rl2 beats dr on every episode, paired
    assert "normalized score" in text and "In words: rl2 is never told" in text
    from robo_meta.quality_bars import episode_gain
    gain = episode_gain(json.loads((out / "reports" / "cheetah-vel-rl2-test.json").read_text()))
    assert f"{gain['mean']:+.1f} ± {gain['ci95']:.1f} from episode 1 to 2, paired" in text
    assert "after - before (paired)" in text
    probe = json.loads((out / "reports" / "cheetah-vel-rl2-test.json").read_text())["probe"]
    assert probe["fit_tasks"] == 40
    first, second = (curve["r2"] for curve in probe["by_episode"][:2])
    assert (f"reads it with R² {first[0]:.2f} at step 1, {first[9]:.2f} at step 10, "
            f"{first[49]:.2f} at step 50 of episode 1, and {second[0]:.2f} at the first step "
            f"of episode 2." in text)

    for name in ("rl2", "dr", "oracle"):
        report = json.loads((out / "reports" / f"cheetah-vel-{name}-test.json").read_text())
        assert report["seeds"] == 1 and report["num_tasks"] == 40
    assert (out / "compare.png").stat().st_size > 20_000
    assert (out / "cheetah-vel-oracle-16384" / "state.pt").is_file()
    assert (out / "reports" / "cheetah-vel-oracle-16384-test.json").is_file()
    assert not list(out.glob("*.mp4"))

    # a second run into the same directory stops at once, in one line
    assert main(["quickstart", "--out", str(out), "--seeds", "1", "--no-video",
                 "--train-steps", str(TRAIN_STEPS)]) == 2
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and "holds an earlier quickstart's training run" in err[0]
    assert captured.out == ""


@pytest.mark.parametrize("flags", [["--seeds", "0"], ["--train-steps", "-1"],
                                   ["--out", "/proc/quickstart"],
                                   ["--device", "tpu", "--train-steps", "0"]])
def test_bad_numbers_are_one_line_exit_2(flags, tmp_path, capsys):
    assert main(["quickstart", "--out", str(tmp_path / "qs"), *flags]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("robo-meta quickstart: error: ")
    assert not (tmp_path / "qs").exists()
