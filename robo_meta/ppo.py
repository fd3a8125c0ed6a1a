"""The PPO core shared by every algorithm: GAE(λ), the clipped loss, the minibatch update.

Recurrent and feed-forward policies go through the same code: data is laid out (T, B, ...)
(rollout step, simulation). A recurrent policy is unrolled over whole (T, ·) sequences of a
subset of simulations from their stored initial states (truncated BPTT); a feed-forward
policy's samples are independent, so they are flattened to (1, T·B) first.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import nn


class Rollout(NamedTuple):
    """One rollout, every tensor (T, B, ...) on the policy's device."""

    obs: torch.Tensor  # (T, B, obs_dim) policy inputs
    prev_action: torch.Tensor  # (T, B, act_dim)
    prev_reward: torch.Tensor  # (T, B, 2): previous reward, previous episode ended
    trial_start: torch.Tensor  # (T, B) bool: memory resets before this step
    actions: torch.Tensor  # (T, B, act_dim)
    logprobs: torch.Tensor  # (T, B)
    values: torch.Tensor  # (T, B)
    advantages: torch.Tensor  # (T, B)
    returns: torch.Tensor  # (T, B)
    initial_state: torch.Tensor  # (B, hidden) policy state before step 0


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


_SEQUENCE_FIELDS = tuple(f for f in Rollout._fields if f != "initial_state")


def _as_independent(rollout: Rollout) -> Rollout:
    """(T, B, ...) -> (1, T*B, ...): feed-forward samples need no sequence order."""
    flat = {f: getattr(rollout, f).reshape(1, -1, *getattr(rollout, f).shape[2:])
            for f in _SEQUENCE_FIELDS}
    return Rollout(**flat, initial_state=rollout.initial_state.new_zeros(flat["obs"].shape[1], 0))


def _select(rollout: Rollout, index: torch.Tensor) -> Rollout:
    """The columns ``index`` (simulations, or samples once flattened) of a rollout."""
    return Rollout(**{f: getattr(rollout, f)[:, index] for f in _SEQUENCE_FIELDS},
                   initial_state=rollout.initial_state[index])


def ppo_update(
    policy: nn.Module,
    optimizer: torch.optim.Optimizer,
    rollout: Rollout,
    *,
    epochs: int,
    minibatches: int,
    clip_coef: float,
    vf_coef: float,
    ent_coef: float,
    max_grad_norm: float,
    norm_adv: bool,
    generator: torch.Generator,
    target_kl: float | None = None,
) -> dict[str, float]:
    """Run ``epochs`` passes of minibatch PPO over ``rollout``; return mean statistics."""
    if not policy.recurrent:
        rollout = _as_independent(rollout)
    width = rollout.obs.shape[1]
    totals: dict[str, float] = {}
    updates = 0
    for _ in range(epochs):
        order = torch.randperm(width, generator=generator, device=generator.device)
        for index in order.chunk(minibatches):
            mb = _select(rollout, index.to(rollout.obs.device))
            mean, log_std, value = policy.sequence(
                mb.obs, mb.prev_action, mb.prev_reward, mb.trial_start, mb.initial_state
            )
            advantages = mb.advantages
            if norm_adv and advantages.numel() > 1:
                advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
            loss, stats = ppo_loss(
                gaussian_logprob(mean, log_std, mb.actions), mb.logprobs, advantages, value,
                mb.returns, gaussian_entropy(log_std), clip_coef, vf_coef, ent_coef,
            )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            stats["grad_norm"] = nn.utils.clip_grad_norm_(policy.parameters(), max_grad_norm).item()
            optimizer.step()
            for key, val in stats.items():
                totals[key] = totals.get(key, 0.0) + val
            updates += 1
        if target_kl is not None and totals["loss/approx_kl"] / updates > target_kl:
            break
    return {key: val / updates for key, val in totals.items()}
