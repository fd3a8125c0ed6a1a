"""maml (MAML / Meta-SGD with ProMP's objective) end to end: the learned step sizes through
a checkpoint and --resume, the outer learning-rate schedule, theta restored at every trial
start, the deployed trial protocol (pooled and fresh exploration episodes) against the
training-side step, and train -> load -> evaluate --inner-steps. Its maths, each function by
hand: test_maml_steps.py."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch
from cli_helpers import exit_status as _main
from maml_run import FLAGS, ITERATION, recorded_episodes

import robo_meta
from robo_meta.algos.maml import MAMLPolicy
from robo_meta.algos.maml_steps import Episodes, grouped, inner_adapt, inner_advantages
from robo_meta.envs import get_family
from robo_meta.evaluation import run_trials
from robo_meta.policies.maml import stacked
from robo_meta.ppo import gaussian_logprob


# -- training, checkpoints, deployment ----------------------------------------------------------
def test_learned_step_sizes_are_saved_loaded_and_resumed(tiny_maml_run):
    run_dir, first = tiny_maml_run
    state = torch.load(run_dir / "state.pt", weights_only=True)
    assert first["algorithm"]["steps"] == 2 * ITERATION
    assert state["algorithm"]["steps"] == state["runner"]["step"] == 4 * ITERATION
    saved = {k: v for k, v in state["modules"]["policy"].items() if k.startswith("inner_lrs.")}
    assert set(saved) == {"inner_lrs.actor_0_weight", "inner_lrs.actor_0_bias",
                          "inner_lrs.actor_2_weight", "inner_lrs.actor_2_bias",
                          "inner_lrs.log_std"}
    # learned: they moved from their initial 0.1, and went on moving after the resume
    assert all(not torch.all(v == 0.1) for v in saved.values())
    assert any(not torch.equal(v, first["modules"]["policy"][k]) for k, v in saved.items())
    policy = robo_meta.load_policy(run_dir, device="cpu")
    assert isinstance(policy, MAMLPolicy) and policy.algo == "maml" and policy.inner_steps == 1
    for name, lr in policy.module.step_sizes().items():
        assert torch.equal(lr.detach(), saved["inner_lrs." + name.replace(".", "_")])
    config = json.loads((run_dir / "config.json").read_text())
    assert config["modules"]["policy"]["class"] == "maml"
    assert config["modules"]["policy"]["kwargs"]["learn_inner_lr"] is True


def test_a_fixed_inner_learning_rate_stays_fixed(tmp_path):
    run_dir = tmp_path / "fixed"
    assert _main(["train", *FLAGS, "--no-inner-lr-learned", "--inner-lr", "0.05",
                  "--total-steps", ITERATION, "--out", run_dir]) == 0
    state = torch.load(run_dir / "state.pt", weights_only=True)["modules"]["policy"]
    lrs = [v for k, v in state.items() if k.startswith("inner_lrs.")]
    assert lrs and all(torch.all(v == 0.05) for v in lrs)
    policy = robo_meta.load_policy(run_dir, device="cpu")
    assert not any(p.requires_grad for p in policy.module.inner_lrs.parameters())


def test_a_linear_schedule_decays_the_outer_learning_rate_to_zero(tmp_path):
    """Four iterations of 1/4 of the run each: Adam's rate is lr x (1 - steps / total) at
    each one's start (0.01, 0.0075, 0.005, 0.0025), as PPO's linear schedule."""
    run_dir = tmp_path / "linear"
    assert _main(["train", *FLAGS, "--lr-schedule", "linear", "--total-steps", 4 * ITERATION,
                  "--eval-every", 4 * ITERATION, "--out", run_dir]) == 0
    rows = list(csv.DictReader((run_dir / "metrics.csv").open()))
    assert [float(r["lr"]) for r in rows] == pytest.approx([0.01, 0.0075, 0.005, 0.0025])
    state = torch.load(run_dir / "state.pt", weights_only=True)["algorithm"]["optimizer"]
    assert state["param_groups"][0]["lr"] == pytest.approx(0.0025)


def test_the_guards_travel_through_the_checkpoint(tmp_path):
    run_dir = tmp_path / "guarded"
    assert _main(["train", *FLAGS, "--squash-mean", "--min-log-std", "-0.7",
                  "--init-log-std", "-0.7", "--total-steps", ITERATION, "--out", run_dir]) == 0
    kwargs = json.loads((run_dir / "config.json").read_text())["modules"]["policy"]["kwargs"]
    assert kwargs["squash_mean"] is True and kwargs["min_log_std"] == -0.7
    module = robo_meta.load_policy(run_dir, device="cpu").module
    assert module.squash_mean and module.min_log_std == -0.7
    obs = torch.full((3, module.obs_dim), 50.0)
    mean, log_std = module.shared_forward(obs)
    assert float(mean.detach().abs().max()) < 1.0 and float(log_std.detach().min()) >= -0.7


def test_a_context_run_trains_saves_and_adapts_only_its_context(tmp_path):
    """--adapt context end to end: the config names the context, the checkpoint holds it and
    its step sizes (learned), a weights run's config does not mention it (older configs load
    as before), and the deployed policy adapts the context alone, from θ's every trial."""
    run_dir = tmp_path / "cavia"
    assert _main(["train", *FLAGS, "--adapt", "context", "--context-dim", "3", "--inner-lr",
                  "2.0", "--total-steps", 2 * ITERATION, "--out", run_dir]) == 0
    kwargs = json.loads((run_dir / "config.json").read_text())["modules"]["policy"]["kwargs"]
    assert kwargs["adapt"] == "context" and kwargs["context_dim"] == 3
    state = torch.load(run_dir / "state.pt", weights_only=True)["modules"]["policy"]
    assert state["context"].shape == (3,) and state["actor.0.weight"].shape[1] == 4 + 3
    assert [k for k in state if k.startswith("inner_lrs.")] == ["inner_lrs.context"]
    assert not torch.all(state["inner_lrs.context"] == 2.0)  # learned
    policy = robo_meta.load_policy(run_dir, device="cpu")
    module = policy.module
    assert module.adapt == "context" and torch.equal(module.context.detach(), state["context"])
    n, rng = 2, np.random.default_rng(1)
    weights = {k: v.detach().clone() for k, v in module.actor.state_dict().items()}
    policy.reset(n)
    for _ in range(2):  # two trials
        assert all(torch.equal(policy.fast["context"][r], module.context.detach())
                   for r in range(n))
        for step in range(50):  # one exploration episode, then the step
            policy.act(rng.normal(size=(n, module.obs_dim)))
            policy.observe(None, None, rng.normal(size=n), np.zeros(n, bool),
                           np.full(n, step == 49))
        assert set(policy.fast) == {"context"}
        assert not any(torch.equal(policy.fast["context"][r], module.context.detach())
                       for r in range(n))
        policy.restart(np.arange(n))
    assert all(torch.equal(v, module.actor.state_dict()[k]) for k, v in weights.items())
    plain = tmp_path / "weights"
    assert _main(["train", *FLAGS, "--total-steps", ITERATION, "--out", plain]) == 0
    kwargs = json.loads((plain / "config.json").read_text())["modules"]["policy"]["kwargs"]
    assert "adapt" not in kwargs and "context_dim" not in kwargs
    assert robo_meta.load_policy(plain, device="cpu").module.context is None


def test_evaluation_restores_theta_at_every_trial_start(tiny_maml_run):
    run_dir, _ = tiny_maml_run
    policy = robo_meta.load_policy(run_dir, device="cpu")
    theta = {k: w.detach().clone() for k, w in policy.module.adapted_parameters().items()}
    family = get_family("point-goal")
    n = 3
    rng = np.random.default_rng(0)

    def episode():  # one exploration episode of 50 steps, then every row adapts
        for step in range(50):
            policy.act(rng.normal(size=(n, policy.module.obs_dim)))
            last = np.full(n, step == 49)
            policy.observe(None, None, rng.normal(size=n), np.zeros(n, bool), last)

    def is_theta(row):
        return all(torch.equal(policy.fast[k][row], w) for k, w in theta.items())

    policy.reset(n)
    assert all(is_theta(r) for r in range(n))
    episode()
    assert not any(is_theta(r) for r in range(n))
    policy.restart(np.array([1]))  # a new trial in row 1 only
    assert [is_theta(r) for r in range(n)] == [False, True, False]
    policy.reset(n)
    assert all(is_theta(r) for r in range(n)) and (policy.episode == 0).all()
    # through the evaluator: a second evaluation and a chunked one give the same returns
    tasks = family.tasks("val")[:4]
    first = run_trials(policy, "point-goal", tasks, episodes=2, seed=5, threads=1).returns
    again = run_trials(policy, "point-goal", tasks, episodes=2, seed=5, threads=1).returns
    np.testing.assert_array_equal(first, again)
    # exploration draws from each trial's seed: one trial at a time gives the same returns
    alone = run_trials(policy, "point-goal", tasks, episodes=2, seed=5, threads=1,
                       num_envs=1).returns
    np.testing.assert_allclose(alone, first, rtol=1e-6, atol=1e-6)
    assert not np.array_equal(first[:, 0], first[:, 1])  # episode 2 acts otherwise


def test_the_first_episode_samples_and_later_ones_take_the_adapted_mean(tiny_maml_run):
    run_dir, _ = tiny_maml_run
    policy = robo_meta.load_policy(run_dir, device="cpu")
    n, obs_dim = 2, policy.module.obs_dim
    obs = np.ones((n, obs_dim))
    policy.reset(n)
    theta_mean = policy.predict(obs, deterministic=True)[0]
    first = policy.act(obs, deterministic=True)
    assert not np.allclose(first, theta_mean)  # exploring: sampled although deterministic
    policy.observe(obs, first, np.ones(n), np.zeros(n, bool), np.zeros(n, bool))
    second = policy.act(obs + 0.5, deterministic=True)
    assert not np.allclose(second, first)
    # a 2-step episode ends (one step would give a normalized advantage of 0: no step)
    policy.observe(obs, second, np.full(n, -1.0), np.zeros(n, bool), np.ones(n, bool))
    adapted = policy.act(obs, deterministic=True)
    np.testing.assert_array_equal(adapted, policy.act(obs, deterministic=True))
    assert not np.allclose(adapted, theta_mean)  # the adapted weights' mean, not θ's
    # predict cannot adapt: θ's mean action whatever the trial saw
    np.testing.assert_array_equal(policy.predict(obs)[0], theta_mean)


@pytest.mark.parametrize("baseline", ["critic", "linear"])
def test_a_policy_that_explores_two_episodes_steps_once_on_both_as_in_training(
        tiny_maml_run, baseline):
    """exploration_episodes 2 (a run's --inner-episodes 2): θ through both exploration
    episodes (sampled), then one step on the two pooled, exactly the training-side step,
    with either inner baseline."""
    run_dir, _ = tiny_maml_run
    loaded = robo_meta.load_policy(run_dir, device="cpu")
    policy = MAMLPolicy(loaded.module, "point-goal", torch.device("cpu"), inner_steps=2,
                        gamma=0.99, gae_lambda=0.95, exploration_episodes=2,
                        inner_baseline=baseline)
    module, n = policy.module, 2
    theta = {k: w.detach().clone() for k, w in module.adapted_parameters().items()}
    rng = np.random.default_rng(7)
    lengths = (3, 5)  # steps of exploration episodes 1 and 2
    record = {"obs": np.zeros((n, 2, 5, module.obs_dim)), "act": np.zeros((n, 2, 5, 2)),
              "rew": np.zeros((n, 2, 5)), "mask": np.zeros((n, 2, 5))}
    policy.reset(n)
    for e, length in enumerate(lengths):
        for step in range(length):
            obs, reward = rng.normal(size=(n, module.obs_dim)), rng.normal(size=n)
            action = policy.act(obs, deterministic=True)
            for key, value in (("obs", obs), ("act", action), ("rew", reward)):
                record[key][:, e, step] = value
            record["mask"][:, e, step] = 1.0
            policy.observe(obs, action, reward, np.zeros(n, bool), np.full(n, step == length - 1))
        unchanged = all(torch.equal(policy.fast[k][i], w) for k, w in theta.items()
                        for i in range(n))
        assert unchanged == (e == 0), e  # no step after the first episode, one after both
    t = lambda a: torch.as_tensor(a, dtype=torch.float32).flatten(0, 1)  # noqa: E731
    episodes = recorded_episodes(module, t(record["obs"]), t(record["act"]), t(record["rew"]),
                         t(record["mask"]))
    advantages = inner_advantages(module, episodes, 0, 0.99, 0.95, 2, baseline)
    expected = inner_adapt(module, stacked(module.adapted_parameters(), n),
                           grouped(episodes, 2), advantages, steps=2, create_graph=False)
    for name, w in expected.items():
        torch.testing.assert_close(policy.fast[name], w, rtol=1e-6, atol=1e-6)
    exploit = policy.act(np.ones((n, module.obs_dim)), deterministic=True)
    np.testing.assert_array_equal(exploit, policy.act(np.ones((n, module.obs_dim))))


def test_with_fresh_episodes_each_step_is_on_new_episodes_from_the_last_steps_weights(
        tiny_maml_run):
    """MAML's protocol for 2 steps: explore episode 1 with θ (sampled), step to θ1 on it;
    explore episode 2 with θ1 (sampled), step from θ1 on episode 2 alone; episode 3 takes
    θ2's mean. Each step is the training-side step, computed here on the recorded episode."""
    run_dir, _ = tiny_maml_run
    loaded = robo_meta.load_policy(run_dir, device="cpu")
    policy = MAMLPolicy(loaded.module, "point-goal", torch.device("cpu"), inner_steps=2,
                        gamma=0.99, gae_lambda=0.95, exploration_episodes=1)
    policy.fresh_episodes = True
    assert policy.explored_episodes == 2
    assert policy.meta["fresh_episodes"] and policy.meta["explored_episodes"] == 2
    module, n = policy.module, 2
    rng = np.random.default_rng(3)
    t = lambda a: torch.as_tensor(np.stack(a, 1), dtype=torch.float32)  # noqa: E731
    expected = stacked(module.adapted_parameters(), n)
    policy.reset(n)
    for length in (4, 6):  # steps of exploration episodes 1 and 2
        weights = {k: w.clone() for k, w in policy.fast.items()}
        obs_, act_, rew_ = [], [], []
        for step in range(length):
            obs, reward = rng.normal(size=(n, module.obs_dim)), rng.normal(size=n)
            action = policy.act(obs, deterministic=True)
            mean = module.rows_forward(weights, torch.as_tensor(obs, dtype=torch.float32))[0]
            assert not np.allclose(action, mean.detach().numpy())  # sampled while exploring
            obs_.append(obs), act_.append(action), rew_.append(reward)
            policy.observe(obs, action, reward, np.zeros(n, bool), np.full(n, step == length - 1))
        mask = torch.ones(n, length)
        with torch.no_grad():
            mean, log_std = module.rows_forward(weights, t(obs_))
        episodes = Episodes(t(obs_), t(act_), gaussian_logprob(mean, log_std, t(act_)),
                            t(rew_), mask)
        advantages = inner_advantages(module, episodes, 0, 0.99, 0.95, 1, "linear")
        expected = inner_adapt(module, expected, episodes, advantages, steps=1,
                               create_graph=False)
        expected = {k: w.detach() for k, w in expected.items()}
        for name, w in expected.items():
            torch.testing.assert_close(policy.fast[name], w, rtol=1e-5, atol=1e-6)
    obs = np.ones((n, module.obs_dim))
    exploit = policy.act(obs, deterministic=True)  # episode 3: θ2's mean
    mean = module.rows_forward(expected, torch.as_tensor(obs, dtype=torch.float32))[0]
    np.testing.assert_allclose(exploit, mean.detach().numpy(), rtol=1e-5, atol=1e-6)
    # without fresh episodes the same policy steps twice on episode 1, then exploits
    policy.fresh_episodes = False
    assert policy.explored_episodes == 1 and "fresh_episodes" not in policy.meta


def test_a_run_with_pooled_inner_episodes_deploys_with_them(tmp_path, capsys):
    run_dir = tmp_path / "pooled"
    assert _main(["train", *FLAGS, "--inner-episodes", "2", "--episodes-per-trial", "2",
                  "--inner-baseline", "linear", "--total-steps", ITERATION,
                  "--out", run_dir]) == 0
    # the quick evaluation scores one episode after the two it explores
    header = (run_dir / "metrics.csv").read_text().splitlines()[0].split(",")
    assert "eval/return_ep3" in header and "eval/return_ep4" not in header
    policy = robo_meta.load_policy(run_dir, device="cpu")
    assert policy.exploration_episodes == 2 and policy.inner_baseline == "linear"
    assert policy.meta["exploration_episodes"] == 2
    capsys.readouterr()
    assert _main(["evaluate", "--policy", run_dir, "--split", "val", "--episodes", "2",
                  "--inner-steps", "0,1", "--out", tmp_path / "r.json"]) == 2
    assert "--episodes must be at least 3" in capsys.readouterr().err
    assert not (tmp_path / "r-k0.json").exists()


def test_evaluate_inner_steps_table_and_its_errors(tiny_maml_run, tmp_path, capsys):
    run_dir, _ = tiny_maml_run
    out = tmp_path / "r.json"
    assert _main(["evaluate", "--policy", run_dir, "--split", "val", "--episodes", "2",
                  "--inner-steps", "0,1,3", "--threads", "1", "--out", out]) == 0
    text = capsys.readouterr().out
    assert "inner steps" in text and "vs 0 steps (paired)" in text
    assert "sampled actions in episode 1, then mean" in text  # the report says it explored
    reports = [json.loads((tmp_path / f"r-k{k}.json").read_text()) for k in (0, 1, 3)]
    assert (tmp_path / "r-inner-lr.png").stat().st_size > 1000
    first = [np.array([t["returns"] for t in r["tasks"]]) for r in reports]
    # the exploration episode is the same trial for every k; the scored episode differs
    np.testing.assert_array_equal(first[0][..., 0], first[1][..., 0])
    np.testing.assert_array_equal(first[0][..., 0], first[2][..., 0])
    assert not np.array_equal(first[0][..., 1], first[1][..., 1])
    # each report records the k it ran with
    assert [r["policy"]["meta"]["inner_steps"] for r in reports] == [0, 1, 3]
    # k = 0 is θ with mean actions: the plain evaluation's episode 2 under θ
    assert robo_meta.load_policy(run_dir, device="cpu").inner_steps == 1
    for argv, message in [
        (["--inner-steps", "0,-1"], "inner steps must be 0 to 100"),
        (["--inner-steps", "1,1"], "listed twice"),
        (["--inner-steps", "a"], "comma-separated integers"),
        (["--inner-steps", "0,1", "--episodes", "1"], "--episodes must be at least 2"),
    ]:
        assert _main(["evaluate", "--policy", run_dir, *argv, "--out", tmp_path / "x.json"]) == 2
        assert message in capsys.readouterr().err
    assert _main(["evaluate", "--policy", "zero", "--family", "point-goal", "--inner-steps",
                  "0,1", "--out", tmp_path / "z.json"]) == 2
    assert "needs a maml policy" in capsys.readouterr().err
    assert not (tmp_path / "x-k0.json").exists() and not (tmp_path / "z-k0.json").exists()


def test_evaluate_with_fresh_episodes_scores_each_k_after_its_own_exploration(
        tiny_maml_run, tmp_path, capsys):
    run_dir, _ = tiny_maml_run
    common = ["evaluate", "--policy", run_dir, "--split", "val", "--threads", "1"]
    assert _main([*common, "--inner-steps", "0,1,2", "--fresh-episodes",
                  "--out", tmp_path / "f.json"]) == 0
    text = capsys.readouterr().out
    assert "each step on fresh episodes" in text and "sampled actions in episode 1," in text
    rows = [line.split() for line in text.splitlines() if line.strip()[:1] in "012"]
    assert [r[:2] for r in rows[:3]] == [["0", "2"], ["1", "2"], ["2", "3"]]  # k, episode
    fresh = [json.loads((tmp_path / f"f-k{k}.json").read_text()) for k in (0, 1, 2)]
    assert all(r["episodes"] == 3 for r in fresh)  # default: enough for 2 steps
    assert fresh[2]["policy"]["meta"]["explored_episodes"] == 2
    from robo_meta.report import action_mode
    assert action_mode(fresh[2]) == "sampled actions in episodes 1-2, then mean"
    assert _main([*common, "--inner-steps", "0,1", "--episodes", "3",
                  "--out", tmp_path / "r.json"]) == 0
    reused = [json.loads((tmp_path / f"r-k{k}.json").read_text()) for k in (0, 1)]
    returns = lambda r: np.array([t["returns"] for t in r["tasks"]])  # noqa: E731
    # one step is one step either way: the same trials, bit for bit
    np.testing.assert_array_equal(returns(fresh[1]), returns(reused[1]))
    # two fresh steps explore episode 2 with the first step's weights, sampling
    np.testing.assert_array_equal(returns(fresh[2])[..., 0], returns(reused[1])[..., 0])
    assert not np.array_equal(returns(fresh[2])[..., 1], returns(reused[1])[..., 1])
    assert "fresh_episodes" not in reused[1]["policy"]["meta"]
    capsys.readouterr()
    assert _main(["evaluate", "--policy", "zero", "--family", "point-goal",
                  "--fresh-episodes", "--out", tmp_path / "z.json"]) == 2
    assert "--fresh-episodes needs a maml policy" in capsys.readouterr().err
    assert _main([*common, "--inner-steps", "0,2", "--fresh-episodes", "--episodes", "2",
                  "--out", tmp_path / "x.json"]) == 2
    assert "--episodes must be at least 3" in capsys.readouterr().err
    assert not (tmp_path / "z.json").exists() and not (tmp_path / "x-k0.json").exists()


def test_an_exported_maml_policy_ships_its_trials_without_a_step_and_their_table(
        tiny_maml_run, tmp_path):
    from robo_meta import pretrained, quality_bars
    from robo_meta.inner_steps import steps_table

    run_dir, _ = tiny_maml_run
    folder = pretrained.export(run_dir, "point-goal-maml", "robo-meta train ...", root=tmp_path)
    meta = json.loads((folder / "meta.json").read_text())
    assert set(meta["evaluation"]) == {"test", "test-k0", "ood", "ood-k0"}
    for split in ("test", "ood"):
        adapted, none = (json.loads((folder / f"report-{split}{s}.json").read_text())
                         for s in ("", "-k0"))
        assert [r["policy"]["meta"]["inner_steps"] for r in (adapted, none)] == [1, 0]
        a, b = (np.array([t["returns"] for t in r["tasks"]]) for r in (adapted, none))
        np.testing.assert_array_equal(a[..., 0], b[..., 0])  # the same exploration
        assert not np.array_equal(a[..., 1], b[..., 1])  # the step changed what followed
    card = (folder / "card.md").read_text()
    assert card.count("## Evaluation on") == 2 and "`test-k0`" not in card
    assert steps_table([none, adapted], [0, 1], 1) in card  # the ood table, as evaluate prints
    assert "--split ood --seeds 1 --inner-steps 0,1" in card
    gain = quality_bars.steps_gain(*(pretrained.shipped_report("point-goal-maml", s, tmp_path)
                                     for s in ("test", "test-k0")))
    assert gain["episode"] == 2


def test_bad_maml_flags_are_one_line_errors_before_any_file(tmp_path, capsys):
    for argv, message in [
        (["--inner-steps", "-1"], "inner_steps must be in [0, 100], got -1"),
        (["--minibatches", "3"], "minibatches (3) must be at most meta_batch (2)"),
        (["--inner-lr", "-0.1"], "inner_lr must be in [0, 1000]"),
        (["--inner-episodes", "3"], "inner_episodes (3) must divide rollouts_per_task (2)"),
        (["--adapt", "bias"], "adapt must be weights or context, got 'bias'"),
        (["--lr-schedule", "cosine"], "lr_schedule must be constant or linear, got 'cosine'"),
        (["--inner-baseline", "mean"], "inner_baseline must be critic or linear, got 'mean'"),
        (["--adapt", "context", "--context-dim", "0"], "context_dim must be in [1, 4096]"),
        (["--context-dim", "8"], "--context-dim sizes the context that --adapt context adapts"),
    ]:
        out = tmp_path / "run"
        assert _main(["train", *FLAGS, *argv, "--total-steps", ITERATION, "--out", out]) == 2
        assert message in capsys.readouterr().err
        assert not out.exists()
