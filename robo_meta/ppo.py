"""The policy-gradient maths every algorithm shares, each function checked by hand in tests:
GAE(λ) over trials, Gaussian log-probabilities and entropy, the clipped PPO loss.

Data is laid out (T, B, ...) (rollout step, simulation). The PPO algorithm that uses them,
read top to bottom, is ``robo_meta.algos.ppo``.
"""

from __future__ import annotations

import math

import torch


def compute_gae(
    rewards: torch.Tensor,
    values: torch.Tensor,
    next_value: torch.Tensor,
    trial_end: torch.Tensor,
    gamma: float,
    lam: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """GAE(λ) advantages and returns, (T, B) each.

    ``trial_end[t]`` cuts the recursion after step t (no bootstrap from step t + 1); a
    time-limit truncation is bootstrapped by the caller, who adds γ V(final obs) to its reward.
    ``next_value`` (B,) is the value of the observation after the last step.
    """
    steps = rewards.shape[0]
    advantages = torch.zeros_like(rewards)
    last = torch.zeros_like(next_value)
    for t in reversed(range(steps)):
        following = next_value if t == steps - 1 else values[t + 1]
        keep = 1.0 - trial_end[t].to(rewards.dtype)
        delta = rewards[t] + gamma * following * keep - values[t]
        last = delta + gamma * lam * keep * last
        advantages[t] = last
    return advantages, advantages + values


def gaussian_logprob(mean, log_std, actions) -> torch.Tensor:
    """Log density of a diagonal Gaussian, summed over the action dimension."""
    var = torch.exp(2 * log_std)
    return (-((actions - mean) ** 2) / (2 * var) - log_std - 0.5 * math.log(2 * math.pi)).sum(-1)


def gaussian_entropy(log_std) -> torch.Tensor:
    return (log_std + 0.5 * (1.0 + math.log(2 * math.pi))).sum(-1)


def ppo_loss(
    new_logprob: torch.Tensor,
    old_logprob: torch.Tensor,
    advantages: torch.Tensor,
    new_value: torch.Tensor,
    returns: torch.Tensor,
    entropy: torch.Tensor,
    clip_coef: float,
    vf_coef: float,
    ent_coef: float,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Clipped-surrogate PPO loss: pg - ent_coef * entropy + vf_coef * 0.5 (V - R)^2."""
    log_ratio = new_logprob - old_logprob
    ratio = log_ratio.exp()
    pg_loss = torch.max(
        -advantages * ratio, -advantages * ratio.clamp(1 - clip_coef, 1 + clip_coef)
    ).mean()
    value_loss = 0.5 * (new_value - returns).square().mean()
    entropy_mean = entropy.mean()
    loss = pg_loss - ent_coef * entropy_mean + vf_coef * value_loss
    with torch.no_grad():
        stats = {
            "loss/policy": pg_loss.item(),
            "loss/value": value_loss.item(),
            "loss/entropy": entropy_mean.item(),
            "loss/approx_kl": ((ratio - 1) - log_ratio).mean().item(),
            "loss/clip_fraction": ((ratio - 1).abs() > clip_coef).float().mean().item(),
        }
    return loss, stats
