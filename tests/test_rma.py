"""rma: the history's order, window and resets; a frozen teacher in phase 2; predict() adapting
row by row; the phase-1 checkpoint refused as a student; bad inputs in one line; a tiny run of
both phases loaded, evaluated (with the identification curve) and driven by SB3's
evaluate_policy with the same returns as ``run_trials``."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from cli_helpers import exit_status as _main

from robo_meta.adaptive import load_policy
from robo_meta.algos.rma import RMA, RMAConfig, RMAPolicy
from robo_meta.envs import RoboMetaError, get_family, make, make_vec
from robo_meta.evaluation import run_trials
from robo_meta.policies import AdaptationModule, RMATeacher
from robo_meta.policies.rma import RolloutHistories, StateActionHistory, conv_layers
from robo_meta.runner import Runner

FAMILY = "hopper-params"  # dynamics randomized; a random hopper falls at varied steps
CPU = torch.device("cpu")
TINY = ["--family", FAMILY, "--algo", "rma", "--num-envs", "4", "--rollout-steps", "16",
        "--epochs", "1", "--minibatches", "2", "--adapter-epochs", "1", "--history", "6",
        "--latent-dim", "3", "--hidden-sizes", "16", "--encoder-sizes", "8",
        "--adapter-channels", "4", "--eval-tasks", "1", "--threads", "1", "--device", "cpu",
        "--no-progress"]


def fresh_policy(history: int = 5, seed: int = 0) -> RMAPolicy:
    """An untrained student with O(1) actions (actor's output layer x100), marked trained."""
    fam = get_family(FAMILY)
    obs_dim = make(FAMILY).observation_space.shape[0]
    act_dim = fam.model.nu
    torch.manual_seed(seed)
    teacher = RMATeacher(obs_dim, fam.feature_dim, act_dim, latent_dim=3, hidden_sizes=(16,),
                         encoder_sizes=(8,))
    with torch.no_grad():
        teacher.actor[-1].weight.mul_(100.0)
    adapter = AdaptationModule(obs_dim, act_dim, latent_dim=3, history=history, channels=4)
    adapter.trained_steps += 1
    return RMAPolicy(teacher, adapter, FAMILY, CPU)


# -- the history ------------------------------------------------------------------------------
def test_history_keeps_the_last_h_entries_oldest_first_per_row():
    history = StateActionHistory(num_envs=2, length=3, entry_dim=3, device=CPU)
    for t in range(1, 6):  # row r's entry at step t: (10 r + t, -(10 r + t), 1)
        x = torch.tensor([[float(t)], [10.0 + t]])
        buffer = history.push(x, -x)
        if t == 1:  # nothing before the first entry: zero padding, the valid flag 0
            assert buffer[0].tolist() == [[0, 0, 0], [0, 0, 0], [1, -1, 1]]
    assert buffer[0].tolist() == [[3, -3, 1], [4, -4, 1], [5, -5, 1]]
    assert buffer[1].tolist() == [[13, -13, 1], [14, -14, 1], [15, -15, 1]]
    history.restart(np.array([False, True]))  # row 1 only: row 0 keeps its entries
    # the buffer a caller kept (phase 2 keeps each step's) is not erased by the restart
    assert buffer[1].tolist() == [[13, -13, 1], [14, -14, 1], [15, -15, 1]]
    buffer = history.push(torch.tensor([[6.0], [16.0]]), torch.zeros(2, 1))
    assert buffer[0].tolist() == [[4, -4, 1], [5, -5, 1], [6, 0, 1]]
    assert buffer[1].tolist() == [[0, 0, 0], [0, 0, 0], [16, 0, 1]]


def test_student_history_holds_each_observation_with_the_action_that_led_to_it():
    policy = fresh_policy(history=4)
    rng = np.random.default_rng(0)
    obs = rng.normal(size=(3, policy.obs_dim))
    policy.reset(3)
    first = policy.act(obs)
    second = policy.act(obs + 1.0)
    buffer = policy.student.history.buffer
    x = policy.teacher.normalize_obs(torch.as_tensor(obs + 1.0, dtype=torch.float32))
    assert torch.equal(buffer[:, -1, :policy.obs_dim], x)  # the newest entry: this step's obs
    first = torch.as_tensor(first, dtype=torch.float32)
    assert torch.equal(buffer[:, -1, policy.obs_dim:-1], first)  # ... and the action before
    assert torch.equal(buffer[:, -2, policy.obs_dim:-1], torch.zeros(3, 3))  # none before step 1
    assert buffer[:, :2].abs().sum() == 0 and buffer[:, 2:, -1].tolist() == [[1, 1]] * 3
    assert not np.array_equal(first.numpy(), second)


def test_an_episode_end_restarts_only_that_rows_history_and_reset_restarts_all():
    policy = fresh_policy(history=4)
    obs = np.random.default_rng(1).normal(size=(3, policy.obs_dim))
    policy.reset(3)
    for _ in range(3):
        action = policy.act(obs)
        policy.observe(obs, action, np.zeros(3), np.zeros(3, bool), np.zeros(3, bool))
    before = policy.student.history.buffer.clone()
    action = policy.act(obs)
    policy.observe(obs, action, np.zeros(3), np.array([False, True, False]), np.zeros(3, bool))
    policy.act(obs)
    after = policy.student.history.buffer
    assert torch.equal(after[[0, 2], :-2], before[[0, 2], 2:])  # rows 0, 2 slid on
    assert after[1, :-1].abs().sum() == 0 and after[1, -1, -1] == 1  # row 1: one new entry
    assert torch.equal(after[1, -1, policy.obs_dim:-1], torch.zeros(3))  # no previous action
    policy.reset(3)
    assert policy.student.history.buffer.abs().sum() == 0  # a new trial: nothing remembered


def test_the_student_fed_the_true_latent_is_the_teacher():
    """The split the student relies on: the teacher's step on (obs, features) equals its base
    policy on the normalized observation and μ(features), bit for bit."""
    teacher = fresh_policy().teacher
    teacher.normalizer.update(torch.randn(50, teacher.obs_dim + teacher.feature_dim) * 3 + 1)
    obs, features = torch.randn(4, teacher.obs_dim), torch.rand(4, teacher.feature_dim)
    prev = torch.randn(4, teacher.act_dim)
    mean, _, _, _ = teacher.step(torch.cat([obs, features], 1), prev, None, None, None)
    assert torch.equal(mean, teacher.base(teacher.normalize_obs(obs), prev,
                                          teacher.encode(features)))


def test_convolutions_shrink_to_fit_a_short_history():
    assert conv_layers(50) == [(8, 4), (5, 1), (5, 1)]  # the paper's: 50 -> 11 -> 7 -> 3
    assert conv_layers(5) == [(5, 4), (1, 1), (1, 1)]
    for history in (1, 5, 12, 50):
        module = AdaptationModule(4, 2, latent_dim=3, history=history, channels=4)
        assert module(torch.zeros(2, history, 7)).shape == (2, 3)


def test_rollout_histories_index_every_steps_history_bit_for_bit():
    """Phase 2 stores a rollout's histories as entries and indices: they must rebuild each
    step's history exactly, across rows that restart, and with entries from before the
    rollout (history 4, 3 rows, 2 steps before the rollout, then 9 steps)."""
    policy = fresh_policy(history=4)
    rng = np.random.default_rng(3)
    policy.reset(3)
    for _ in range(2):
        policy.act(rng.normal(size=(3, policy.obs_dim)))
    histories, seen = RolloutHistories(policy.student.history.buffer), []
    ends = [[], [1], [], [0, 2], [], [], [1], [], []]  # rows whose episode ends after step t
    for rows in ends:
        policy.act(rng.normal(size=(3, policy.obs_dim)))
        history = policy.student.history.buffer
        histories.record(history)
        seen.append(history.clone())
        policy.restart(np.array(rows, dtype=np.int64))
    entries, windows = histories.entries(), histories.windows()
    assert entries.shape == (1 + 3 * 4 + 9 * 3, policy.adapter.entry_dim)
    assert windows.shape == (9 * 3, 4)
    assert torch.equal(entries[windows], torch.cat(seen))
    # step 0 row 1 (nothing restarted yet): two padding slots, the two entries held before
    # (slots 2, 3 of row 1's buffer at 1 + 4 + 2, 1 + 4 + 3), then step 0's (1 + 12 + 1)
    assert windows[1].tolist() == [0, 7, 8, 14]
    assert windows[3 + 1].tolist() == [7, 8, 14, 1 + 12 + 3 + 1]  # step 1: all slide one on
    assert windows[6 + 1].tolist() == [0, 0, 0, 1 + 12 + 6 + 1]  # row 1 restarted after it


@pytest.mark.parametrize("align_newest", [False, True])
@pytest.mark.parametrize("history", [5, 12, 50])  # conv 1 unfolded (5 % 4); in blocks (8 = 2 x 4)
def test_forward_windows_is_forward_up_to_rounding_values_and_gradients(history, align_newest):
    torch.manual_seed(history)
    module = AdaptationModule(6, 2, latent_dim=3, history=history, channels=8,
                              align_newest=align_newest)
    entries = torch.cat([torch.zeros(1, 9), torch.randn(40, 9)])
    windows = torch.randint(0, 41, (16, history))
    reference = module(entries[windows])
    reference.square().sum().backward()
    expected = [p.grad.clone() for p in module.parameters()]
    module.zero_grad()
    ours = module.forward_windows(entries, windows)
    ours.square().sum().backward()
    torch.testing.assert_close(ours, reference, rtol=1e-5, atol=1e-6)
    for grad, want in zip((p.grad for p in module.parameters()), expected, strict=True):
        torch.testing.assert_close(grad, want, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize(("align_newest", "unread"), [(False, (48, 49)), (True, (0, 1))])
def test_the_first_convolution_reads_the_newest_entries_when_aligned(align_newest, unread):
    """H = 50, kernel 8, stride 4 reads 48 entries: the oldest 48 (modules saved before the
    option), or the newest 48, so that ẑ reacts to the latest step."""
    torch.manual_seed(0)
    module = AdaptationModule(4, 2, latent_dim=3, history=50, channels=32,
                              align_newest=align_newest)
    history = torch.randn(1, 50, module.entry_dim)
    base = module(history)
    for slot in range(50):
        changed = history.clone()
        changed[0, slot] = torch.randn(module.entry_dim) * 3
        if slot in unread:
            assert torch.equal(module(changed), base), slot
        elif slot in (0, 1, 48, 49):  # the slots one alignment reads and the other does not
            assert not torch.equal(module(changed), base), slot


def test_rma_runs_align_the_adapter_to_the_newest_entries():
    algorithm = RMA(_tiny_config(history=10), get_family(FAMILY), CPU)  # (10 - 8) % 4 = 2
    try:
        assert algorithm.adapter.skip == 2
    finally:
        algorithm.close()


# -- predict() --------------------------------------------------------------------------------
def test_predict_with_episode_start_restarts_only_those_rows():
    policy = fresh_policy(history=4)
    obs = np.random.default_rng(2).normal(size=(3, policy.obs_dim))
    for _ in range(3):
        policy.predict(obs, episode_start=np.zeros(3, bool))
    before = policy.student.history.buffer.clone()
    policy.predict(obs, episode_start=np.array([True, False, False]))
    after = policy.student.history.buffer
    assert after[0, :-1].abs().sum() == 0
    assert torch.equal(after[1:, :-1], before[1:, 1:])


def test_predict_and_act_observe_give_the_same_actions_through_episode_ends():
    """SB3's loop (predict, episode_start = last step's dones) against the evaluator's."""
    actions = {}
    for path in ("act", "predict"):
        policy = fresh_policy(history=6)
        env = make_vec(FAMILY, 3, tasks=get_family(FAMILY).tasks("test")[:3], nthread=1)
        obs, _ = env.reset(seed=0)
        policy.reset(3)
        done, taken, ends = np.zeros(3, bool), [], 0
        for _ in range(80):
            if path == "act":
                action = policy.act(obs)
            else:
                action, _ = policy.predict(obs, episode_start=done)
            obs, reward, terminated, truncated, _ = env.step(action)
            done = terminated | truncated
            ends += done.sum()
            if path == "act":
                policy.observe(obs, action, reward, terminated, truncated)
            taken.append(action)
        env.close()
        assert ends >= 3  # the episode ends are exercised
        actions[path] = np.stack(taken)
    assert np.array_equal(actions["act"], actions["predict"])


# -- training ---------------------------------------------------------------------------------
def _tiny_config(**changes) -> RMAConfig:
    fields = dict(family=FAMILY, num_envs=4, rollout_steps=16, epochs=1, minibatches=2,
                  adapter_epochs=1, history=6, latent_dim=3, hidden_sizes=[16],
                  encoder_sizes=[8], adapter_channels=4, eval_tasks=1, threads=1,
                  total_steps=64, adapt_steps=64, device="cpu")
    return RMAConfig(**{**fields, **changes}).validate()


def test_phase_2_leaves_the_teacher_bitwise_unchanged_and_trains_the_adapter():
    algorithm = RMA(_tiny_config(), get_family(FAMILY), CPU)
    try:
        assert algorithm.iteration()["phase"] == 1.0
        teacher = {k: v.clone() for k, v in algorithm.teacher.state_dict().items()}
        adapter = {k: v.clone() for k, v in algorithm.adapter.state_dict().items()}
        for _ in range(2):
            assert algorithm.iteration()["phase"] == 2.0
        assert algorithm.steps == 64 + 2 * 64 and algorithm.adapt_steps == 128
        after = algorithm.teacher.state_dict()
        assert all(torch.equal(teacher[k], after[k]) for k in teacher)
        moved = algorithm.adapter.state_dict()
        assert not torch.equal(adapter["head.0.weight"], moved["head.0.weight"])
        assert int(moved["trained_steps"]) == 128
    finally:
        algorithm.close()


def test_the_regression_on_stored_entries_trains_as_on_stacked_histories():
    """regress (φ.forward_windows on entries and indices) against the regression phase 2 ran
    before it stored entries: forward on every step's stacked (N, H, entry) histories, the
    same minibatches, a copy of the adapter and of Adam. Equal up to float rounding."""
    import copy

    algorithm = RMA(_tiny_config(history=12, adapter_epochs=2), get_family(FAMILY), CPU)
    try:
        algorithm.iteration()  # phase 1
        algorithm.iteration()  # phase 2: Adam has moments
        histories, targets, _ = algorithm.collect()
        entries, windows = histories.entries(), histories.windows()
        adapter = copy.deepcopy(algorithm.adapter)
        optimizer = torch.optim.Adam(adapter.parameters(), lr=algorithm.config.adapter_lr)
        optimizer.load_state_dict(copy.deepcopy(algorithm.optimizer.state_dict()))  # own moments
        generator = torch.Generator().set_state(algorithm.generator.get_state())
        start = adapter.head[0].weight.clone()
        algorithm.regress(entries, windows, targets)
        stacked = entries[windows]
        for _ in range(2):
            for index in torch.randperm(len(targets), generator=generator).chunk(2):
                loss = (adapter(stacked[index]) - targets[index]).square().mean()
                optimizer.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(adapter.parameters(),
                                               algorithm.config.max_grad_norm)
                optimizer.step()
        assert not torch.equal(adapter.head[0].weight, start)  # 4 Adam steps moved it
        for name, value in algorithm.adapter.state_dict().items():
            torch.testing.assert_close(value, adapter.state_dict()[name], rtol=1e-4, atol=1e-5)
    finally:
        algorithm.close()


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A tiny rma run, both phases: 64 teacher steps, then 128 student steps."""
    out = tmp_path_factory.mktemp("rma") / "run"
    assert _main(["train", *TINY, "--total-steps", 64, "--adapt-steps", 128, "--out", out]) == 0
    return out


def test_the_run_keeps_both_networks_and_logs_phase_2_apart(run_dir):
    state = torch.load(run_dir / "state.pt", weights_only=True)
    assert set(state["modules"]) == {"teacher", "adapter"}
    assert state["algorithm"]["phase"] == 2 and state["algorithm"]["adapt_steps"] == 128
    assert state["runner"]["step"] == 64 + 128
    rows = (run_dir / "metrics.csv").read_text().splitlines()
    header = rows[0].split(",")
    phases = [row.split(",")[header.index("phase")] for row in rows[1:]]
    assert phases == ["1", "2", "2"]
    assert rows[-1].split(",")[header.index("adapt/steps")] == "128"


def test_the_tiny_run_evaluates_with_its_identification_curve(run_dir, tmp_path, capsys):
    out = tmp_path / "report.json"
    assert _main(["evaluate", "--policy", run_dir, "--split", "test", "--episodes", 2,
                  "--threads", 1, "--device", "cpu", "--out", out]) == 0
    report = json.loads(out.read_text())
    assert report["identification"]["estimate"] == "ẑ"
    [curve] = report["identification"]["by_episode"]  # the first episode only: ẑ restarts
    assert curve["episodes"][0] == report["num_tasks"]  # step 1: every trial's first episode
    assert len(curve["r2"]) == len(curve["step"]) == max(
        t["lengths"][0][0] for t in report["tasks"])
    assert "how well ẑ tracks z" in capsys.readouterr().out


def test_evaluate_policy_of_sb3_gives_the_returns_of_run_trials(run_dir):
    from stable_baselines3.common.evaluation import evaluate_policy
    from stable_baselines3.common.vec_env import DummyVecEnv

    policy = load_policy(run_dir, device="cpu")
    task = get_family(FAMILY).tasks("test")[0]
    ours = run_trials(policy, FAMILY, [task], episodes=3, seed=5, num_envs=1, threads=1)
    env = DummyVecEnv([lambda: make(FAMILY, task=task)])
    env.seed(5)
    with pytest.warns(UserWarning, match="Monitor"):
        returns, lengths = evaluate_policy(policy, env, n_eval_episodes=3, deterministic=True,
                                           return_episode_rewards=True)
    # the same trajectories: the same lengths, and returns equal up to DummyVecEnv's float32
    # reward buffer (SB3 rounds each reward to float32 before summing)
    assert lengths == ours.lengths[0].tolist()
    np.testing.assert_allclose(returns, ours.returns[0], rtol=1e-6)


def test_a_phase_1_checkpoint_is_refused_as_a_student_and_resumes_into_phase_2(tmp_path,
                                                                               capsys):
    out = tmp_path / "phase1"
    runner = Runner(_tiny_config(), out, CPU, progress=False)
    runner.algorithm.iteration()
    runner.save()
    runner.algorithm.close()
    runner.release()
    with pytest.raises(RoboMetaError, match="adaptation module is untrained"):
        load_policy(out, device="cpu")
    assert _main(["evaluate", "--policy", out, "--threads", 1, "--out", tmp_path / "r.json"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "untrained" in err
    assert _main(["train", "--resume", out, "--no-progress"]) == 0
    assert isinstance(load_policy(out, device="cpu"), RMAPolicy)


@pytest.mark.parametrize("flags, message", [
    (["--history", 0], "history must be in [1, "),
    (["--history", -3], "history must be in [1, "),
    (["--teacher", "policies/pretrained/hopper-params-dr"], "a dr run, not an rma run"),
    (["--teacher", "no/such/run"], "--teacher no/such/run: no checkpoint directory"),
])
def test_bad_inputs_are_one_line_and_exit_2(flags, message, tmp_path, capsys):
    out = tmp_path / "run"
    assert _main(["train", *TINY, *flags, "--out", out]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err
    assert not (out / "state.pt").exists()


def test_a_teacher_of_another_family_or_network_is_refused(run_dir, tmp_path, capsys):
    other = [*TINY, "--family", "walker-params", "--teacher", run_dir, "--out", tmp_path / "a"]
    assert _main(["train", *other]) == 2
    assert f"--teacher {run_dir}: trained on family 'hopper-params'" in capsys.readouterr().err
    wider = [*TINY, "--latent-dim", 5, "--teacher", run_dir, "--out", tmp_path / "b"]
    assert _main(["train", *wider]) == 2
    assert "its teacher network differs" in capsys.readouterr().err


def test_phase_2_reruns_from_a_teacher_with_its_weights(run_dir, tmp_path):
    out = tmp_path / "student"
    assert _main(["train", *TINY, "--teacher", run_dir, "--adapt-steps", 64, "--out", out]) == 0
    ours = torch.load(out / "state.pt", weights_only=True)
    theirs = torch.load(run_dir / "state.pt", weights_only=True)
    assert ours["runner"]["step"] == 64  # phase 2 only
    assert ours["algorithm"]["teacher_steps"] == 64
    assert all(torch.equal(v, theirs["modules"]["teacher"][k])
               for k, v in ours["modules"]["teacher"].items())


def test_plug_in_example_shows_evaluate_policy_adapting_like_the_loop(run_dir, capsys,
                                                                      monkeypatch):
    import runpy
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "scripts" / "plug_in_example.py"
    monkeypatch.setattr(sys, "argv", ["plug_in_example.py", "--policy", str(run_dir),
                                      "--family", FAMILY, "--task", "1", "--seed", "3", "--sb3"])
    runpy.run_path(str(script), run_name="__main__")
    lines = capsys.readouterr().out.splitlines()
    loop = [line.rsplit(" ", 1)[1] for line in lines if line.startswith("episode")]
    sb3 = [line.rsplit(" ", 1)[1] for line in lines if line.startswith("evaluate_policy")]
    assert len(loop) == 3 and sb3 == loop


def test_phase_2_resumes_with_the_adapters_optimizer_and_the_teacher_unchanged(run_dir,
                                                                               tmp_path):
    import shutil

    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    before = torch.load(copy / "state.pt", weights_only=True)
    assert _main(["train", "--resume", copy, "--adapt-steps", 192, "--no-progress"]) == 0
    after = torch.load(copy / "state.pt", weights_only=True)
    assert after["runner"]["step"] == 64 + 192 and after["algorithm"]["adapt_steps"] == 192
    assert int(after["modules"]["adapter"]["trained_steps"]) == 192
    assert all(torch.equal(v, before["modules"]["teacher"][k])
               for k, v in after["modules"]["teacher"].items())
    # Adam went on counting from the first run's 2 rollouts x 1 epoch x 2 minibatches
    adam_steps = {int(s["step"]) for s in after["algorithm"]["optimizer"]["state"].values()}
    assert adam_steps == {(2 + 1) * 1 * 2}


# -- phase 1 is the oracle with a feature encoder ---------------------------------------------
def test_phase_1_trains_bitwise_the_oracle_with_latent_dim(tmp_path):
    """`--algo oracle --latent-dim N` is rma's teacher: same network, same PPO, same bits."""
    from robo_meta.algos.ppo import PPO

    rma = RMA(_tiny_config(total_steps=128), get_family(FAMILY), CPU)
    oracle = PPO(rma.config.teacher_config(), get_family(FAMILY), CPU)
    assert rma.config.teacher_config().algo == "oracle"
    try:
        for _ in range(2):
            rma.iteration()
            oracle.iteration()
        assert isinstance(oracle.policy, RMATeacher)
        ours, theirs = oracle.policy.state_dict(), rma.teacher.state_dict()
        assert ours.keys() == theirs.keys()
        assert all(torch.equal(ours[k], theirs[k]) for k in ours)
    finally:
        rma.close()
        oracle.close()


def test_an_encoder_oracle_run_loads_and_evaluates(tmp_path):
    out = tmp_path / "oracle"
    assert _main(["train", "--family", FAMILY, "--algo", "oracle", "--latent-dim", 3,
                  "--encoder-sizes", 8, "--hidden-sizes", 16, "--num-envs", 4,
                  "--rollout-steps", 16, "--epochs", 1, "--minibatches", 2, "--eval-tasks", 1,
                  "--threads", 1, "--device", "cpu", "--no-progress", "--total-steps", 64,
                  "--out", out]) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["modules"]["policy"]["class"] == "rma_teacher"
    policy = load_policy(out, device="cpu")
    assert policy.algo == "oracle" and isinstance(policy.module, RMATeacher)
    task = get_family(FAMILY).tasks("test")[0]
    result = run_trials(policy, FAMILY, [task], episodes=1, seed=0, num_envs=1, threads=1)
    assert np.isfinite(result.returns).all()


def test_latent_dim_is_refused_where_no_features_are_seen(capsys):
    assert _main(["train", "--family", FAMILY, "--algo", "dr", "--latent-dim", 8,
                  "--total-steps", 64, "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--latent-dim" in err[0] and "dr" in err[0]
