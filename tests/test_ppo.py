"""The PPO core against answers computed by hand: GAE(λ), the clipped loss, Gaussian densities."""

from __future__ import annotations

import math

import pytest
import torch

from robo_meta.ppo import compute_gae, gaussian_entropy, gaussian_logprob, ppo_loss

GAMMA, LAM = 0.9, 0.8  # γλ = 0.72


def test_gae_matches_hand_computation_with_a_trial_end_in_the_middle():
    # (T=3, B=2). Column 0: its trial ends after step 1, so step 1 does not bootstrap from
    # step 2 and step 0's advantage stops there. Column 1: its trial ends after the last step,
    # so next_value is ignored.
    rewards = torch.tensor([[1.0, 0.0], [2.0, 1.0], [3.0, -1.0]], dtype=torch.float64)
    values = torch.tensor([[0.5, 1.0], [1.0, 0.0], [1.5, 2.0]], dtype=torch.float64)
    next_value = torch.tensor([2.0, -1.0], dtype=torch.float64)
    trial_end = torch.tensor([[False, False], [True, False], [False, True]])

    advantages, returns = compute_gae(rewards, values, next_value, trial_end, GAMMA, LAM)

    # column 0
    a02 = 3.0 + 0.9 * 2.0 - 1.5  # δ2 = 3.3, bootstraps from next_value
    a01 = 2.0 - 1.0  # δ1 = 1.0: trial end, no bootstrap, no carry from step 2
    a00 = (1.0 + 0.9 * 1.0 - 0.5) + 0.72 * a01  # δ0 = 1.4 -> 2.12
    # column 1
    a12 = -1.0 - 2.0  # δ2 = -3: trial end, next_value (-1) ignored
    a11 = (1.0 + 0.9 * 2.0 - 0.0) + 0.72 * a12  # 2.8 - 2.16 = 0.64
    a10 = (0.0 + 0.9 * 0.0 - 1.0) + 0.72 * a11  # -1 + 0.4608 = -0.5392
    expected = torch.tensor([[a00, a10], [a01, a11], [a02, a12]], dtype=torch.float64)
    assert expected[:, 0].tolist() == pytest.approx([2.12, 1.0, 3.3])
    assert expected[:, 1].tolist() == pytest.approx([-0.5392, 0.64, -3.0])
    torch.testing.assert_close(advantages, expected, rtol=0, atol=1e-12)
    torch.testing.assert_close(returns, expected + values, rtol=0, atol=1e-12)


def test_gae_with_lambda_one_and_no_trial_end_is_the_discounted_return():
    rewards = torch.tensor([[1.0], [2.0], [4.0]], dtype=torch.float64)
    values = torch.tensor([[3.0], [-1.0], [0.5]], dtype=torch.float64)
    next_value = torch.tensor([10.0], dtype=torch.float64)
    _, returns = compute_gae(rewards, values, next_value, torch.zeros(3, 1, dtype=torch.bool),
                             0.5, 1.0)
    # R0 = 1 + .5*2 + .25*4 + .125*10, R1 = 2 + .5*4 + .25*10, R2 = 4 + .5*10
    assert returns[:, 0].tolist() == pytest.approx([4.25, 6.5, 9.0], abs=1e-12)


def _loss_batch():
    # ratio r = exp(new - old); clip range [0.8, 1.2]
    ratio = torch.tensor([1.5, 0.5, 1.1, 0.7, 1.5], dtype=torch.float64)
    old_logprob = torch.tensor([-1.0, 0.3, -2.0, 0.0, 0.5], dtype=torch.float64)
    new_logprob = (old_logprob + ratio.log()).requires_grad_()
    advantages = torch.tensor([2.0, -1.0, 3.0, 1.0, -2.0], dtype=torch.float64)
    new_value = torch.tensor([1.0, 2.0, 0.0, 0.0, 1.0], dtype=torch.float64)
    returns = torch.tensor([0.0, 2.0, 1.0, 3.0, 1.0], dtype=torch.float64)
    entropy = torch.tensor([1.0, 2.0, 1.0, 2.0, 1.5], dtype=torch.float64)
    return ratio, old_logprob, new_logprob, advantages, new_value, returns, entropy


def test_ppo_loss_matches_hand_computation():
    ratio, old_logprob, new_logprob, advantages, new_value, returns, entropy = _loss_batch()
    loss, stats = ppo_loss(new_logprob, old_logprob, advantages, new_value, returns, entropy,
                           clip_coef=0.2, vf_coef=0.5, ent_coef=0.01)
    # per sample max(-A r, -A clip(r)):
    #   0: r=1.5, A= 2: max(-3.0, -2.4) = -2.4  clipped (gain capped above 1.2)
    #   1: r=0.5, A=-1: max( 0.5,  0.8) =  0.8  clipped (gain capped below 0.8)
    #   2: r=1.1, A= 3: max(-3.3, -3.3) = -3.3  inside the clip range
    #   3: r=0.7, A= 1: max(-0.7, -0.8) = -0.7  unclipped: the pessimistic side
    #   4: r=1.5, A=-2: max( 3.0,  2.4) =  3.0  unclipped: the pessimistic side
    policy = (-2.4 + 0.8 - 3.3 - 0.7 + 3.0) / 5  # -0.52
    value = 0.5 * (1 + 0 + 1 + 9 + 0) / 5  # 0.5 * mean squared error = 1.1
    entropy_mean = (1 + 2 + 1 + 2 + 1.5) / 5  # 1.5
    assert stats["loss/policy"] == pytest.approx(policy, abs=1e-12)
    assert stats["loss/value"] == pytest.approx(value, abs=1e-12)
    assert stats["loss/entropy"] == pytest.approx(entropy_mean, abs=1e-12)
    assert loss.item() == pytest.approx(policy - 0.01 * entropy_mean + 0.5 * value, abs=1e-12)
    assert loss.item() == pytest.approx(0.015, abs=1e-12)
    assert stats["loss/clip_fraction"] == pytest.approx(4 / 5)  # |r - 1| > 0.2 for 0, 1, 3, 4
    approx_kl = sum((r - 1) - math.log(r) for r in ratio.tolist()) / 5
    assert stats["loss/approx_kl"] == pytest.approx(approx_kl, abs=1e-12)


def test_ppo_loss_gradient_is_zero_exactly_where_the_clip_binds():
    _, old_logprob, new_logprob, advantages, new_value, returns, entropy = _loss_batch()
    loss, _ = ppo_loss(new_logprob, old_logprob, advantages, new_value, returns, entropy,
                       clip_coef=0.2, vf_coef=0.5, ent_coef=0.01)
    loss.backward()
    # d/d logp of -A r / N is -A r / N where unclipped; 0 where the clipped term is taken
    expected = [0.0, 0.0, -3.0 * 1.1 / 5, -1.0 * 0.7 / 5, 2.0 * 1.5 / 5]
    assert new_logprob.grad.tolist() == pytest.approx(expected, abs=1e-12)


def test_gaussian_logprob_and_entropy_equal_torch_distributions():
    gen = torch.Generator().manual_seed(0)
    mean = torch.randn(4, 5, 3, generator=gen, dtype=torch.float64)
    log_std = torch.randn(3, generator=gen, dtype=torch.float64).expand_as(mean)
    actions = torch.randn(4, 5, 3, generator=gen, dtype=torch.float64) * 2
    normal = torch.distributions.Normal(mean, log_std.exp())
    torch.testing.assert_close(gaussian_logprob(mean, log_std, actions),
                               normal.log_prob(actions).sum(-1), rtol=0, atol=1e-12)
    torch.testing.assert_close(gaussian_entropy(log_std), normal.entropy().sum(-1),
                               rtol=0, atol=1e-12)
