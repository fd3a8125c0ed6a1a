"""The maths of ``maml``, each function tested by hand (tests/test_maml_steps.py): episodes
as per-row tensors, their advantages (GAE(λ) on the critic, or MAML's linear feature
baseline), the inner step θ' = θ - α ⊙ ∇L_lvc(θ) for every row at once, and ProMP's clipped
outer surrogate through it. The algorithm that uses them, and the deployed policy, are
``robo_meta.algos.maml``.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from robo_meta.policies.maml import FastWeights, MetaSGDActorCritic, stacked
from robo_meta.ppo import compute_gae, gaussian_logprob

LINEAR_BASELINE_RIDGE = 1e-5  # rllab's LinearFeatureBaseline, which MAML's runs used


class Episodes(NamedTuple):
    """One episode per simulation, (n, T, ...) tensors; steps after an episode ended are
    masked out (``mask`` 0, reward 0)."""

    obs: torch.Tensor  # (n, T, obs_dim) raw observations
    actions: torch.Tensor  # (n, T, act_dim) sampled actions (before the env's clipping)
    logprobs: torch.Tensor  # (n, T) under the weights that sampled them
    rewards: torch.Tensor  # (n, T)
    mask: torch.Tensor  # (n, T) float: 1 where the step belongs to the episode


def grouped(episodes: Episodes, k: int) -> Episodes:
    """(n, T, ...) episodes as (n/k, k*T, ...): each k consecutive episodes pooled into one
    row, the data of one inner step (the identity for k = 1)."""
    return Episodes(*(x.reshape(len(x) // k, k * x.shape[1], *x.shape[2:]) for x in episodes))


def repeated(fast: FastWeights, k: int) -> FastWeights:
    """Each row's fast weights for the k simulations of its group, (n/k, ...) -> (n, ...)."""
    return {name: w.repeat_interleave(k, dim=0) for name, w in fast.items()}


def episode_advantages(rewards: torch.Tensor, values: torch.Tensor, mask: torch.Tensor,
                       gamma: float, lam: float) -> tuple[torch.Tensor, torch.Tensor]:
    """GAE(λ) advantages and returns of (n, T) episodes, cut after each one's last step."""
    following = torch.cat([mask[:, 1:], torch.zeros_like(mask[:, :1])], dim=1)
    last = (mask > 0) & (following == 0)
    advantages, returns = compute_gae((rewards * mask).T, values.T,
                                      torch.zeros(len(mask), device=mask.device), last.T,
                                      gamma, lam)
    return advantages.T * mask, returns.T * mask


def normalize(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``values`` (g, m) centred and scaled per row over its masked-in entries."""
    count = mask.sum(1, keepdim=True).clamp(min=1.0)
    mean = (values * mask).sum(1, keepdim=True) / count
    var = ((values - mean).square() * mask).sum(1, keepdim=True) / count
    return (values - mean) / (var.sqrt() + 1e-8) * mask


def lvc_loss(logprobs: torch.Tensor, old_logprobs: torch.Tensor, advantages: torch.Tensor,
             mask: torch.Tensor) -> torch.Tensor:
    """ProMP's LVC inner loss per row, (n,): -mean_t exp(logπ - logπ_old) A."""
    ratio = (logprobs - old_logprobs.detach()).exp()
    return -(ratio * advantages * mask).sum(-1) / mask.sum(-1).clamp(min=1.0)


def inner_adapt(module: MetaSGDActorCritic, start: FastWeights, episodes: Episodes,
                advantages: torch.Tensor, steps: int, create_graph: bool) -> FastWeights:
    """θ' per row: ``steps`` times w <- w - α ⊙ ∇ L_lvc(w) on the row's own episode.

    ``start``: stacked (n, ...) weights; ``advantages``: (n, T), already normalized.
    ``create_graph``: keep the graph so the outer loss differentiates through the steps.
    """
    lrs = module.step_sizes()
    if not create_graph:
        lrs = {k: a.detach() for k, a in lrs.items()}
    fast = start
    for _ in range(steps):
        if not create_graph:
            fast = {k: w.detach().requires_grad_() for k, w in fast.items()}
        mean, log_std = module.rows_forward(fast, episodes.obs)
        logp = gaussian_logprob(mean, log_std, episodes.actions)
        per_row = lvc_loss(logp, episodes.logprobs, advantages, episodes.mask)
        # rows share no weights, so the gradient of the sum is each row's own gradient
        grads = torch.autograd.grad(per_row.sum(), list(fast.values()),
                                    create_graph=create_graph)
        fast = {k: w - lrs[k] * g for (k, w), g in zip(fast.items(), grads, strict=True)}
    return fast if create_graph else {k: w.detach() for k, w in fast.items()}


def linear_baseline(episodes: Episodes, returns: torch.Tensor, k: int = 1) -> torch.Tensor:
    """MAML's inner-step baseline, (n, T): for each group of ``k`` pooled episodes (one inner
    step's data, as ``grouped``), the ridge least-squares fit of ``returns`` on rllab's
    LinearFeatureBaseline features [o, o², t, t², t³, 1] (o the raw observation clipped to
    ±10, t the step index / 100), evaluated at every step. Fitted in float64, one batched
    solve for all groups."""
    n, T = episodes.mask.shape
    obs = episodes.obs.double().clamp(-10.0, 10.0)
    t = (torch.arange(T, dtype=torch.float64, device=obs.device) / 100.0).expand(n, T)[..., None]
    features = torch.cat([obs, obs.square(), t, t.square(), t.pow(3), torch.ones_like(t)], -1)
    f = features.reshape(n // k, k * T, -1)
    mask = episodes.mask.double().reshape(n // k, k * T, 1)
    target = returns.double().reshape(n // k, k * T, 1)
    gram = f.transpose(1, 2) @ (mask * f)
    ridge = LINEAR_BASELINE_RIDGE * torch.eye(f.shape[-1], dtype=f.dtype, device=f.device)
    coefficients = torch.linalg.solve(gram + ridge, f.transpose(1, 2) @ (mask * target))
    return (f @ coefficients).reshape(n, T).to(returns.dtype) * episodes.mask


def inner_advantages(module: MetaSGDActorCritic, episodes: Episodes, head: int, gamma: float,
                     lam: float, k: int = 1, baseline: str = "critic") -> torch.Tensor:
    """The inner step's advantages, normalized over each group of ``k`` pooled episodes:
    (n/k, k*T), as ``grouped``. ``baseline`` critic: GAE(``lam``) on the critic's ``head``
    within each (n, T) episode; linear: the discounted returns minus ``linear_baseline``."""
    with torch.no_grad():
        if baseline == "linear":
            zeros = torch.zeros_like(episodes.rewards)
            _, returns = episode_advantages(episodes.rewards, zeros, episodes.mask, gamma, 1.0)
            advantages = (returns - linear_baseline(episodes, returns, k)) * episodes.mask
        else:
            values = module.values(episodes.obs)[..., head] * module.return_scale.float()
            advantages, _ = episode_advantages(episodes.rewards, values, episodes.mask, gamma,
                                               lam)
        n = len(advantages)
    return normalize(advantages.reshape(n // k, -1), episodes.mask.reshape(n // k, -1))


def outer_loss(module: MetaSGDActorCritic, pre: Episodes, post: Episodes,
               pre_advantages: torch.Tensor, post_advantages: torch.Tensor, inner_steps: int,
               clip_coef: float) -> tuple[torch.Tensor, torch.Tensor]:
    """ProMP's clipped surrogate of the post-update episodes, through the inner step(s).

    Returns (loss, ratio); ``post_advantages`` are normalized per task by the caller.
    """
    n = len(pre.obs)
    fast = inner_adapt(module, stacked(module.adapted_parameters(), n), pre, pre_advantages,
                       inner_steps, create_graph=True)
    mean, log_std = module.rows_forward(fast, post.obs)
    ratio = (gaussian_logprob(mean, log_std, post.actions) - post.logprobs).exp()
    surrogate = torch.min(ratio * post_advantages,
                          ratio.clamp(1 - clip_coef, 1 + clip_coef) * post_advantages)
    return -(surrogate * post.mask).sum() / post.mask.sum(), ratio
