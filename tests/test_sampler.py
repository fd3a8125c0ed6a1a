"""The Sampler and the one input encoding it shares with the deployed policy."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from robo_meta.adaptive import TrainedPolicy
from robo_meta.algos.ppo import VARIANTS
from robo_meta.envs import get_family, make_vec
from robo_meta.sampler import PolicyInputs, Sampler
from tiny_policies import CPU, tiny_policy

FAMILY = "point-goal"  # episodes of 50 steps, never terminated early


class Recorder(torch.nn.Module):
    """A policy module that remembers the inputs of every ``step`` call."""

    def __init__(self, module):
        super().__init__()
        self.module, self.calls = module, []
        self.obs_dim, self.act_dim = module.obs_dim, module.act_dim

    def initial_state(self, batch, device="cpu"):
        return self.module.initial_state(batch, device)

    def step(self, obs, prev_action, prev_reward_done, trial_start, state):
        self.calls.append((obs.clone(), prev_action.clone(), prev_reward_done.clone(),
                           trial_start.clone()))
        return self.module.step(obs, prev_action, prev_reward_done, trial_start, state)


@pytest.mark.parametrize("algo, steps", [("rl2", 160), ("oracle", 50)])
def test_training_and_deployment_feed_the_network_identical_inputs(algo, steps):
    # rl2: trials of 2 episodes over 160 steps (episode ends at 50 and 150, a trial start at
    # 100). oracle: one trial, since its deployed form is told the task once per reset.
    n, trial = 3, 2 if algo == "rl2" else 1
    module, _, _ = tiny_policy(algo, FAMILY)
    family = get_family(FAMILY)
    sampler = Sampler(family, n, trial, with_features=algo == "oracle", device=CPU, threads=1)
    sampler.reset(module, seed=4)
    traj = sampler.collect(module, steps, torch.Generator().manual_seed(7))
    sampler.close()
    starts = traj.inputs.trial_start[:, 0].nonzero().flatten().tolist()
    assert starts == ([0, 100] if algo == "rl2" else [0])
    assert traj.inputs.prev_reward_done[:, 0, 1].nonzero().flatten().tolist() == (
        [50, 150] if algo == "rl2" else [])

    # the same transitions through the deployed policy, stepping the env ourselves
    recorder = Recorder(module)
    variant = VARIANTS[algo]
    policy = TrainedPolicy(recorder, algo, FAMILY, CPU, with_features=variant.with_features,
                           adaptive=variant.adaptive, seed=7)  # the sampler's generator seed
    env = make_vec(FAMILY, n, episodes_per_trial=trial, nthread=1)
    obs, info = env.reset(seed=4)
    policy.reset(n, task_features=info["task_features"])
    for t in range(steps):
        if t > 0 and info["trial_start"].any():
            policy.restart(np.flatnonzero(info["trial_start"]))
        action = policy.act(obs, deterministic=False)
        np.testing.assert_array_equal(action.astype(np.float32), traj.actions[t].numpy())
        obs, reward, terminated, truncated, info = env.step(action)
        policy.observe(obs, action, reward, terminated, truncated)
    env.close()
    assert len(recorder.calls) == steps
    for t, (obs_t, prev_action, prev_reward_done, trial_start) in enumerate(recorder.calls):
        assert torch.equal(obs_t, traj.inputs.obs[t]), t
        assert torch.equal(prev_action, traj.inputs.prev_action[t]), t
        assert torch.equal(prev_reward_done, traj.inputs.prev_reward_done[t]), t
        assert torch.equal(trial_start, traj.inputs.trial_start[t]), t


def test_inputs_are_zero_at_a_trial_start_and_carry_reward_and_done_inside_one():
    inputs = PolicyInputs(2, act_dim=1, device=CPU)
    obs = np.array([[1.0, 2.0], [3.0, 4.0]])
    first = inputs.encode(obs, features=np.array([[9.0], [8.0]]))
    assert first.obs.tolist() == [[1, 2, 9], [3, 4, 8]] and first.trial_start.all()
    inputs.acted(torch.tensor([[0.5], [-0.5]]))
    # row 0 ends an episode inside its trial; row 1's next step starts a new trial
    inputs.observed(np.array([1.5, -2.0]), np.array([True, False]), np.array([False, True]),
                    trial_start=np.array([False, True]))
    second = inputs.encode(obs)
    assert second.prev_reward_done.tolist() == [[1.5, 1.0], [0.0, 0.0]]
    assert second.prev_action.tolist() == [[0.5], [0.0]]
    assert second.trial_start.tolist() == [False, True]
    inputs.start_trials(np.array([0]))
    third = inputs.encode(obs)
    assert third.prev_reward_done.tolist() == [[0.0, 0.0], [0.0, 0.0]]
    assert third.prev_action.tolist() == [[0.0], [0.0]] and third.trial_start.all()


def test_collect_returns_plain_arrays_of_the_promised_shapes():
    module, _, _ = tiny_policy("dr", FAMILY)
    sampler = Sampler(get_family(FAMILY), 4, 1, with_features=False, device=CPU, threads=1)
    sampler.reset(module, seed=0)
    traj = sampler.collect(module, 60, torch.Generator().manual_seed(0))
    sampler.close()
    assert traj.inputs.obs.shape == (60, 4, module.obs_dim)
    assert traj.actions.shape == (60, 4, module.act_dim) and traj.values.shape == (60, 4)
    assert isinstance(traj.rewards, np.ndarray) and traj.rewards.shape == (60, 4)
    # the 50-step episodes end at step 49: a new trial (dr: one episode each), bootstrapped
    assert traj.trial_end[:, 0].nonzero()[0].tolist() == [49]
    assert (traj.final_values[49] != 0).all() and (traj.final_values[:49] == 0).all()
    assert len(traj.episode_returns) == 4 and traj.episode_lengths.tolist() == [50] * 4
    np.testing.assert_allclose(traj.episode_returns, traj.rewards[:50].sum(axis=0))
