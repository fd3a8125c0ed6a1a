"""A default can change without changing old runs: a saved run's config.json that lacks a
newer field loads, resumes and evaluates with the field's former default (maml's defaults
changed on 2026-11-30), while a new run and a hand-written --config get today's."""

from __future__ import annotations

import json

import pytest
from cli_helpers import exit_status as _main
from maml_run import FLAGS, ITERATION

import robo_meta
from robo_meta.algos import config_from_dict
from robo_meta.algos.maml import MAMLConfig
from robo_meta.cli.train import resolve_config

NEWER = ("inner_episodes", "inner_baseline", "squash_mean", "min_log_std")
OLD_RUN = ["--inner-baseline", "critic", "--no-squash-mean", "--min-log-std", "None"]


def test_maml_defaults_are_the_fast_batch_with_the_linear_baseline_and_the_guards():
    config = MAMLConfig(algo="maml").validate()
    assert (config.rollouts_per_task, config.inner_episodes) == (20, 20)
    assert (config.inner_baseline, config.squash_mean, config.min_log_std) == ("linear", True,
                                                                                -0.5)
    # inner_episodes left out means all of a task's simulations, whatever their number
    assert MAMLConfig(algo="maml", rollouts_per_task=6).validate().inner_episodes == 6
    assert MAMLConfig(algo="maml", rollouts_per_task=6, inner_episodes=3).validate(
    ).inner_episodes == 3


def test_fields_a_saved_config_lacks_take_their_former_defaults():
    saved = config_from_dict({"algo": "maml", "rollouts_per_task": 5}, saved=True)
    assert {name: getattr(saved, name) for name in NEWER} == MAMLConfig.former_defaults
    assert config_from_dict({"algo": "maml", "rollouts_per_task": 5}).inner_baseline == "linear"
    # a field the saved config names keeps its saved value
    kept = config_from_dict({"algo": "maml", "rollouts_per_task": 4, "inner_episodes": 2,
                             "inner_baseline": "linear"}, saved=True)
    assert (kept.inner_episodes, kept.inner_baseline, kept.squash_mean) == (2, "linear", False)


@pytest.fixture()
def old_run(tmp_path):
    """A tiny maml run trained as before 2026-11-30, its config.json rewritten as then: without
    the four newer fields."""
    run = tmp_path / "old"
    assert _main(["train", *FLAGS, *OLD_RUN, "--total-steps", ITERATION, "--out", run]) == 0
    config = json.loads((run / "config.json").read_text())
    for name in NEWER:
        del config["train"][name]
    (run / "config.json").write_text(json.dumps(config, indent=2))
    return run


def test_an_old_run_loads_resumes_and_repeats_as_it_trained(old_run, tmp_path):
    policy = robo_meta.load_policy(old_run, device="cpu")
    assert (policy.exploration_episodes, policy.inner_baseline) == (1, "critic")
    assert not policy.module.squash_mean and policy.module.min_log_std is None
    # --resume rebuilds the same networks (with today's defaults squash_mean's would differ)
    assert _main(["train", "--resume", old_run, "--total-steps", 2 * ITERATION,
                  "--no-progress"]) == 0
    resumed = json.loads((old_run / "config.json").read_text())["train"]
    assert {name: resumed[name] for name in NEWER} == MAMLConfig.former_defaults
    # --config with a run's config.json repeats that run; a hand-written file gets today's
    repeated, _ = resolve_config(["--config", str(old_run / "config.json")])
    assert (repeated.inner_episodes, repeated.inner_baseline) == (1, "critic")
    hand = tmp_path / "hand.json"
    hand.write_text(json.dumps({"algo": "maml", "family": "cheetah-vel"}))
    fresh, _ = resolve_config(["--config", str(hand)])
    assert (fresh.inner_episodes, fresh.inner_baseline, fresh.squash_mean) == (20, "linear", True)
