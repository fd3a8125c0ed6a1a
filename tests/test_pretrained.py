"""The shipped pretrained policies: they load by name and their cards still hold."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import robo_meta
from robo_meta import pretrained
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
        assert set(state) == {"policy", "trainer"}  # no optimizer: inference only


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
