"""Policy networks: normalizer statistics, recurrent step == sequence, RL² memory semantics."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from robo_meta.adaptive import TrainedPolicy
from robo_meta.policies import (
    GaussianActorCritic,
    RecurrentActorCritic,
    RunningNormalizer,
    build_policy,
)
from tiny_policies import deployed

OBS, ACT = 5, 2


def _recurrent(seed: int = 0, separate_critic: bool = False) -> RecurrentActorCritic:
    torch.manual_seed(seed)
    policy = RecurrentActorCritic(OBS, ACT, hidden_size=16, encoder_sizes=(16,),
                                  head_sizes=(16,), separate_critic=separate_critic)
    # non-trivial normalizer statistics, so step and sequence both go through them
    policy.normalizer.update(torch.randn(64, OBS) * 3 + 1)
    # the actor's last layer starts at gain 0.01; scale it so action differences are visible
    with torch.no_grad():
        policy.actor[-1].weight.mul_(100)
    return policy


def test_normalizer_update_over_two_batches_equals_statistics_of_their_concatenation():
    gen = torch.Generator().manual_seed(0)
    first = torch.randn(3000, 4, generator=gen, dtype=torch.float64) * 2 + 3
    second = torch.randn(2000, 4, generator=gen, dtype=torch.float64) * 0.5 - 1
    normalizer = RunningNormalizer(4)
    normalizer.update(first)
    normalizer.update(second.reshape(50, 40, 4))  # (..., dim) batches are flattened
    both = torch.cat([first, second])
    torch.testing.assert_close(normalizer.mean, both.mean(0), rtol=0, atol=1e-10)
    torch.testing.assert_close(normalizer.var, both.var(0, unbiased=False), rtol=0, atol=1e-10)
    assert normalizer.count.item() == pytest.approx(5000, abs=1e-6)
    x = torch.randn(7, 4, generator=gen, dtype=torch.float64)
    expected = ((x - both.mean(0)) / (both.var(0, unbiased=False) + 1e-8).sqrt()).clamp(-10, 10)
    torch.testing.assert_close(normalizer(x), expected, rtol=0, atol=1e-9)


def test_normalizer_clips_and_travels_in_the_state_dict():
    normalizer = RunningNormalizer(2, clip=3.0)
    normalizer.update(torch.tensor([[0.0, 1.0], [2.0, 3.0]]))  # mean (1, 2), var (1, 1)
    out = normalizer(torch.tensor([[100.0, 2.0], [-100.0, 3.0]]))
    torch.testing.assert_close(out, torch.tensor([[3.0, 0.0], [-3.0, 1.0]]), rtol=0, atol=1e-6)
    copy = RunningNormalizer(2, clip=3.0)
    copy.load_state_dict(normalizer.state_dict())
    assert torch.equal(copy.mean, normalizer.mean) and torch.equal(copy.var, normalizer.var)


def _inputs(T: int, B: int, seed: int = 1):
    gen = torch.Generator().manual_seed(seed)
    obs = torch.randn(T, B, OBS, generator=gen)
    prev_action = torch.randn(T, B, ACT, generator=gen)
    prev_reward_done = torch.randn(T, B, 2, generator=gen)
    return obs, prev_action, prev_reward_done


@pytest.mark.parametrize("separate_critic", [False, True])
def test_recurrent_sequence_equals_step_repeated_with_a_trial_start_in_the_middle(
        separate_critic):
    policy = _recurrent(separate_critic=separate_critic)
    T, B = 6, 3
    obs, prev_action, prev_reward_done = _inputs(T, B)
    trial_start = torch.zeros(T, B, dtype=torch.bool)
    trial_start[3, 0] = True  # simulation 0 starts a new trial at step 3
    trial_start[0, 2] = True  # simulation 2 starts one at step 0
    state = torch.randn(B, 32 if separate_critic else 16,
                        generator=torch.Generator().manual_seed(2))

    seq_mean, seq_log_std, seq_value = policy.sequence(obs, prev_action, prev_reward_done,
                                                       trial_start, state)
    h, means, values = state, [], []
    for t in range(T):
        mean, log_std, value, h = policy.step(obs[t], prev_action[t], prev_reward_done[t],
                                              trial_start[t], h)
        means.append(mean)
        values.append(value)
    torch.testing.assert_close(seq_mean, torch.stack(means), rtol=0, atol=1e-6)
    torch.testing.assert_close(seq_value, torch.stack(values), rtol=0, atol=1e-6)
    assert seq_log_std.shape == seq_mean.shape == (T, B, ACT)


def test_recurrent_state_resets_exactly_where_trial_start_is_set():
    policy = _recurrent()
    T, B = 6, 2
    obs, prev_action, prev_reward_done = _inputs(T, B)
    state = torch.randn(B, 16, generator=torch.Generator().manual_seed(3))
    trial_start = torch.zeros(T, B, dtype=torch.bool)
    trial_start[3, 0] = True
    mean, _, value = policy.sequence(obs, prev_action, prev_reward_done, trial_start, state)
    carried, _, _ = policy.sequence(obs, prev_action, prev_reward_done,
                                    torch.zeros_like(trial_start), state)
    # from step 3 on, simulation 0 is what a fresh unroll from the zero state gives
    fresh, _, fresh_value = policy.sequence(obs[3:, :1], prev_action[3:, :1],
                                            prev_reward_done[3:, :1], trial_start[3:, :1],
                                            torch.randn(1, 16))  # reset overrides any state
    torch.testing.assert_close(mean[3:, :1], fresh, rtol=0, atol=1e-6)
    torch.testing.assert_close(value[3:, :1], fresh_value, rtol=0, atol=1e-6)
    # before the reset, and in simulation 1 throughout, nothing was reset
    torch.testing.assert_close(mean[:3], carried[:3], rtol=0, atol=0)
    torch.testing.assert_close(mean[:, 1], carried[:, 1], rtol=0, atol=0)
    assert (mean[3:, 0] - carried[3:, 0]).abs().max() > 1e-3  # the reset did change things


def test_separate_critic_memory_gets_only_the_value_loss_and_the_actors_only_the_policys():
    """--separate-critic: the value's gradient never reaches the actor's encoder and GRU, nor
    the actions' the critic's; the state is both memories side by side, the actor's first."""
    policy = _recurrent(separate_critic=True)
    T, B = 5, 2
    obs, prev_action, prev_reward_done = _inputs(T, B)
    trial_start = torch.zeros(T, B, dtype=torch.bool)
    state = policy.initial_state(B)
    assert state.shape == (B, 32)
    actor_memory = [*policy.encoder.parameters(), *policy.gru.parameters()]
    critic_memory = [*policy.critic_encoder.parameters(), *policy.critic_gru.parameters()]
    mean, _, value = policy.sequence(obs, prev_action, prev_reward_done, trial_start, state)
    for loss, reached, untouched in ((value.sum(), critic_memory, actor_memory),
                                     (mean.sum(), actor_memory, critic_memory)):
        grads = torch.autograd.grad(loss, reached + untouched, allow_unused=True,
                                    retain_graph=True)
        assert all(g is not None and g.abs().sum() > 0 for g in grads[:len(reached)])
        assert all(g is None for g in grads[len(reached):])
    # each head reads its own half of the state: the actor's half moves only the mean
    moved = state.clone()
    moved[:, 16:] = 1.0
    mean2, _, value2 = policy.sequence(obs, prev_action, prev_reward_done, trial_start, moved)
    torch.testing.assert_close(mean2, mean, rtol=0, atol=0)
    assert (value2 - value).abs().max() > 1e-3


def _drive(policy: TrainedPolicy, episodes: list[tuple[np.ndarray, np.ndarray]]):
    """Act through episodes [(obs (L, n, d), rewards (L, n))]; return each episode's actions."""
    actions = []
    for obs, rewards in episodes:
        length, n = rewards.shape
        episode_actions = []
        for t in range(length):
            action = policy.act(obs[t])
            episode_actions.append(action)
            last = t == length - 1
            policy.observe(obs[t], action, rewards[t], np.zeros(n, bool), np.full(n, last))
        actions.append(np.stack(episode_actions))
    return actions


def test_rl2_memory_carries_across_episodes_and_resets_at_a_new_trial():
    policy = deployed(_recurrent(), "rl2")
    rng = np.random.default_rng(0)
    length = 4
    # two simulations see identical observations; only their episode-1 rewards differ
    obs1 = np.repeat(rng.normal(size=(length, 1, OBS)), 2, axis=1)
    obs2 = np.repeat(rng.normal(size=(length, 1, OBS)), 2, axis=1)
    rewards1 = np.stack([np.full(length, -1.0), np.full(length, 1.0)], axis=1)
    rewards2 = np.zeros((length, 2))

    policy.reset(2)
    ep1, ep2 = _drive(policy, [(obs1, rewards1), (obs2, rewards2)])
    # episode 1: rewards arrive only after each action, so the first action is the same
    # (to float32 rounding: the two batch rows may take different SIMD paths)
    np.testing.assert_allclose(ep1[0, 0], ep1[0, 1], rtol=0, atol=1e-6)
    # episode 2, first step: same observation, different episode-1 rewards -> different action
    assert np.abs(ep2[0, 0] - ep2[0, 1]).max() > 1e-3
    # ... because the GRU state was carried over the episode boundary: the same inputs
    # (observation, last action, last reward and done flag) from a reset state act otherwise
    module = policy.module
    with torch.no_grad():
        memoryless, _, _, _ = module.step(
            torch.as_tensor(obs2[0], dtype=torch.float32),
            torch.as_tensor(ep1[-1], dtype=torch.float32),
            torch.tensor([[rewards1[-1, 0], 1.0], [rewards1[-1, 1], 1.0]], dtype=torch.float32),
            torch.ones(2, dtype=torch.bool), module.initial_state(2))
    assert np.abs(ep2[0] - memoryless.numpy()).max() > 1e-3

    # the memory is the GRU state, not only the last reward: run the same episode 2 after an
    # episode 1 whose rewards differ except at its last step
    rewards1_late_equal = rewards1.copy()
    rewards1_late_equal[-1] = 0.0
    policy.reset(2)
    _, ep2_late_equal = _drive(policy, [(obs1, rewards1_late_equal), (obs2, rewards2)])
    assert np.abs(ep2_late_equal[0, 0] - ep2_late_equal[0, 1]).max() > 1e-4

    # a new trial forgets episode 1: reset, then episode 2's observations as a first episode
    policy.reset(2)
    (fresh,) = _drive(policy, [(obs2, rewards2)])
    np.testing.assert_allclose(fresh[0, 0], fresh[0, 1], rtol=0, atol=1e-6)
    assert np.abs(fresh[0] - ep2[0]).max() > 1e-3

    # and the same episode-1 history reproduces the same episode-2 actions exactly
    policy.reset(2)
    _, again = _drive(policy, [(obs1, rewards1), (obs2, rewards2)])
    np.testing.assert_array_equal(again, ep2)


def test_dr_policy_has_no_memory_of_episode_1():
    torch.manual_seed(0)
    module = GaussianActorCritic(OBS, ACT, hidden_sizes=(16,))
    policy = deployed(module, "dr")
    rng = np.random.default_rng(0)
    obs1 = np.repeat(rng.normal(size=(3, 1, OBS)), 2, axis=1)
    obs2 = np.repeat(rng.normal(size=(3, 1, OBS)), 2, axis=1)
    rewards1 = np.stack([np.full(3, -1.0), np.full(3, 1.0)], axis=1)
    policy.reset(2)
    _, ep2 = _drive(policy, [(obs1, rewards1), (obs2, np.zeros((3, 2)))])
    np.testing.assert_allclose(ep2[:, 0], ep2[:, 1], rtol=0, atol=1e-6)


@pytest.mark.parametrize("spec", [
    {"class": "mlp", "kwargs": {"obs_dim": 3, "act_dim": 2, "hidden_sizes": [8]}},
    {"class": "gru", "kwargs": {"obs_dim": 3, "act_dim": 2, "hidden_size": 8}},
    {"class": "gru", "kwargs": {"obs_dim": 3, "act_dim": 2, "hidden_size": 8,
                                "separate_critic": True}},
])
def test_build_policy_from_its_json_spec_round_trips_the_state_dict(spec):
    torch.manual_seed(0)
    policy = build_policy(spec)
    policy.normalizer.update(torch.randn(10, 3))
    copy = build_policy(spec)
    copy.load_state_dict(policy.state_dict())
    x = torch.randn(4, 3)
    args = (x, torch.zeros(4, 2), torch.zeros(4, 2), torch.ones(4, dtype=torch.bool),
            policy.initial_state(4))
    for a, b in zip(policy.step(*args), copy.step(*args), strict=True):
        assert torch.equal(a, b)
    with pytest.raises(ValueError, match="unknown policy class 'lstm'"):
        build_policy({"class": "lstm"})


@pytest.mark.parametrize("separate_critic", [False, True])
def test_the_task_inference_loss_is_the_squared_error_of_a_guess_from_the_actor_memory(
        separate_critic):
    """By hand: h_t from step-by-step calls, the guess W h_t + b against the features
    normalized with the running statistics, squared, summed over features, averaged over
    steps. The features reach neither the actor nor (not privileged) the critic, and the
    loss's gradient reaches the actor's memory and never the critic's own."""
    torch.manual_seed(0)
    F = 3
    policy = RecurrentActorCritic(OBS, ACT, hidden_size=8, encoder_sizes=(8,), head_sizes=(8,),
                                  separate_critic=separate_critic, feature_dim=F,
                                  privileged_critic=False, task_inference=True)
    policy.normalizer.update(torch.randn(50, OBS + F) * 2 + 1)
    T, B = 5, 4
    obs, prev_action, prev_reward_done = _inputs(T, B)
    trial_start = torch.zeros(T, B, dtype=torch.bool)
    trial_start[2, 1] = True
    state = policy.initial_state(B)
    feats = torch.randn(T, B, F) * 3
    mean, _, value, loss = policy.sequence_with_task_loss(
        torch.cat([obs, feats], -1), prev_action, prev_reward_done, trial_start, state)
    plain = policy.sequence(obs, prev_action, prev_reward_done, trial_start, state)
    assert torch.equal(mean, plain[0]) and torch.equal(value, plain[2])  # features unread

    norm = policy.normalizer
    target = ((feats - norm.mean[OBS:]) / (norm.var[OBS:] + norm.epsilon).sqrt()).float()
    target = target.clamp(-norm.clip, norm.clip)
    h, errors = state, []
    with torch.no_grad():
        for t in range(T):
            _, _, _, h = policy.step(obs[t], prev_action[t], prev_reward_done[t], trial_start[t],
                                     h)
            guess = h[:, :8] @ policy.task_head.weight.T + policy.task_head.bias
            errors.append(((guess - target[t]) ** 2).sum(-1))
    torch.testing.assert_close(loss, torch.stack(errors).mean(), rtol=1e-6, atol=1e-6)

    policy.zero_grad()
    loss.backward()
    assert policy.gru.weight_ih.grad.abs().sum() > 0
    assert policy.encoder[0][0].weight.grad.abs().sum() > 0
    assert policy.actor[0].weight.grad is None and policy.critic[0].weight.grad is None
    if separate_critic:
        assert policy.critic_gru.weight_ih.grad is None


def test_task_inference_refuses_a_network_or_inputs_without_features():
    with pytest.raises(ValueError, match="feature_dim must be > 0"):
        RecurrentActorCritic(OBS, ACT, hidden_size=8, task_inference=True)
    obs, prev_action, prev_reward_done = _inputs(2, 3)
    start, state = torch.zeros(2, 3, dtype=torch.bool), torch.zeros(3, 8)
    with pytest.raises(ValueError, match="no task head"):
        RecurrentActorCritic(OBS, ACT, hidden_size=8, feature_dim=2).sequence_with_task_loss(
            obs, prev_action, prev_reward_done, start, state)
    policy = RecurrentActorCritic(OBS, ACT, hidden_size=8, feature_dim=2, task_inference=True)
    with pytest.raises(ValueError, match=r"needs the 2 task features .* obs has 5 columns, not 7"):
        policy.sequence_with_task_loss(obs, prev_action, prev_reward_done, start, state)


@pytest.mark.parametrize("separate_critic", [False, True])
def test_a_privileged_critic_reads_the_features_and_the_actor_never_does(separate_critic):
    torch.manual_seed(0)
    policy = RecurrentActorCritic(OBS, ACT, hidden_size=8, encoder_sizes=(8,), head_sizes=(8,),
                                  separate_critic=separate_critic, feature_dim=3)
    policy.normalizer.update(torch.randn(50, OBS + 3) * 2 + 1)
    T, B = 5, 4
    obs, prev_action, prev_reward_done = _inputs(T, B)
    trial_start = torch.zeros(T, B, dtype=torch.bool)
    state = policy.initial_state(B)
    feats = [torch.randn(T, B, 3), torch.randn(T, B, 3) * 5]
    runs = [policy.sequence(torch.cat([obs, f], -1), prev_action, prev_reward_done, trial_start,
                            state) for f in feats]
    deployed = policy.sequence(obs, prev_action, prev_reward_done, trial_start, state)
    # the actor: bit for bit the same with either features or none (deployed)
    assert torch.equal(runs[0][0], runs[1][0]) and torch.equal(runs[0][0], deployed[0])
    assert not torch.allclose(runs[0][2], runs[1][2])  # the value reads them
    # a step, as the sampler takes it, agrees with the sequence
    mean, _, value, _ = policy.step(torch.cat([obs[0], feats[0][0]], -1), prev_action[0],
                                    prev_reward_done[0], trial_start[0], state)
    torch.testing.assert_close(mean, runs[0][0][0], rtol=0, atol=1e-6)
    torch.testing.assert_close(value, runs[0][2][0], rtol=0, atol=1e-6)
