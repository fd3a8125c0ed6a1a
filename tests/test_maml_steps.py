"""The maths of maml (robo_meta.algos.maml_steps), each against a hand computation: the
inner step against a policy gradient written by hand (one episode, and several pooled), the
guards, MAML's linear baseline, GAE and per-row normalization, per-simulation independence of
the fast weights, the meta-gradient through the inner step against its closed form, and
CAVIA's context step and the meta-gradient through it."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from maml_run import recorded_episodes

from robo_meta.algos.maml_steps import (
    Episodes,
    episode_advantages,
    grouped,
    inner_adapt,
    inner_advantages,
    normalize,
    outer_loss,
)
from robo_meta.policies.maml import MetaSGDActorCritic, stacked
from robo_meta.ppo import gaussian_logprob

NORM = math.sqrt(1.0 + 1e-8)  # the fresh RunningNormalizer divides by sqrt(var + eps)


def _linear_policy(obs_dim=2, act_dim=1, log_std=-0.6931471805599453) -> MetaSGDActorCritic:
    """No hidden layer: the mean is W x + b, so the policy gradient is easy to write by hand
    (default std 0.5: log_std = log 0.5)."""
    torch.manual_seed(0)
    module = MetaSGDActorCritic(obs_dim, act_dim, hidden_sizes=(), init_log_std=log_std)
    with torch.no_grad():
        module.actor[0].weight.copy_(torch.tensor([[0.3, -0.2]][:act_dim])[:, :obs_dim])
        module.actor[0].bias.fill_(0.1)
    return module


# Meta-SGD: a different step size for every weight of _linear_policy
LRS = {"actor.0.weight": np.array([[0.05, 0.2]]), "actor.0.bias": np.array([0.3]),
       "log_std": np.array([0.07])}


def _meta_sgd_linear_policy() -> MetaSGDActorCritic:
    module = _linear_policy()
    with torch.no_grad():
        for name, lr in module.step_sizes().items():
            lr.copy_(torch.as_tensor(LRS[name]))
    return module


def _assert_hand_step(fast, row: int, x, a, A) -> None:
    """Row ``row`` of ``fast`` is θ - α ⊙ ∇L for L = -mean_t A_t log N(a_t; W x_t + b, σ),
    the gradient written by hand (W, b, σ of _linear_policy; ``x`` already normalized)."""
    W, b, sigma = np.array([[0.3, -0.2]]), np.array([0.1]), 0.5
    mu = x @ W[0] + b[0]
    g_w = -np.mean((A * (a - mu) / sigma**2)[:, None] * x, axis=0)
    g_b = -np.mean(A * (a - mu) / sigma**2)
    g_s = -np.mean(A * ((a - mu) ** 2 / sigma**2 - 1.0))
    np.testing.assert_allclose(fast["actor.0.weight"][row].numpy(),
                               W - LRS["actor.0.weight"] * g_w, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(fast["actor.0.bias"][row].numpy(),
                               b - LRS["actor.0.bias"] * g_b, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(fast["log_std"][row].numpy(),
                               math.log(sigma) - LRS["log_std"] * g_s, rtol=1e-5, atol=1e-6)


def test_the_inner_step_is_the_hand_computed_policy_gradient_step():
    module = _meta_sgd_linear_policy()
    rng = np.random.default_rng(0)
    n, T = 2, 5
    obs = rng.normal(size=(n, T, 2))
    actions = rng.normal(size=(n, T, 1))
    advantages = rng.normal(size=(n, T))
    mask = np.ones((n, T))
    mask[1, 3:] = 0.0  # row 1's episode ended after 3 steps
    t = lambda a: torch.as_tensor(a, dtype=torch.float32)  # noqa: E731
    episodes = recorded_episodes(module, t(obs), t(actions), t(np.zeros((n, T))), t(mask))
    fast = inner_adapt(module, stacked(module.adapted_parameters(), n), episodes,
                       t(advantages), steps=1, create_graph=False)
    for i in range(n):
        valid = mask[i] > 0
        _assert_hand_step(fast, i, obs[i][valid] / NORM, actions[i][valid, 0],
                          advantages[i][valid])


def test_the_guards_bound_the_mean_and_floor_the_log_std_in_every_forward_pass():
    """--squash-mean and --min-log-std: the mean of every row (and of θ) in (-1, 1), the log
    std at least the floor, and no gradient pushes the log std further below it."""
    module = _linear_policy(log_std=-3.0)
    module.squash_mean, module.min_log_std = True, -0.5
    with torch.no_grad():
        module.actor[0].bias.fill_(4.0)  # unbounded, the mean would be 4 + 0.3 x0 - 0.2 x1
    obs = torch.tensor([[[1.0, -1.0]], [[-4.0, 4.0]]])  # (n=2, T=1, 2)
    theta = stacked(module.adapted_parameters(), 2)
    mean, log_std = module.rows_forward(theta, obs)
    x = obs / NORM
    raw = 4.0 + 0.3 * x[..., :1] - 0.2 * x[..., 1:]
    torch.testing.assert_close(mean, torch.tanh(raw))
    assert float(mean.detach().abs().max()) < 1.0 and float(raw.min()) > 1.0
    torch.testing.assert_close(log_std, torch.full_like(mean, -0.5))
    shared_mean, shared_log_std = module.shared_forward(obs[:, 0])
    torch.testing.assert_close(shared_mean, mean[:, 0])
    torch.testing.assert_close(shared_log_std, torch.full_like(shared_mean, -0.5))
    logp = gaussian_logprob(mean, log_std, torch.zeros_like(mean)).sum()
    (grad,) = torch.autograd.grad(logp, [module.log_std])
    assert float(grad.abs().max()) == 0.0  # below the floor: held there
    # off (the default, and every older checkpoint): the raw mean and log std
    module.squash_mean, module.min_log_std = False, None
    mean, log_std = module.rows_forward(theta, obs)
    torch.testing.assert_close(mean, raw)
    torch.testing.assert_close(log_std, torch.full_like(mean, -3.0))


def test_a_pooled_step_is_the_policy_gradient_over_all_its_episodes():
    """--inner-episodes 2: episodes (0, 1) and (2, 3) each give one step, the mean of the LVC
    loss over all their steps, advantages normalized over the pair; by hand as above."""
    module = _meta_sgd_linear_policy()
    rng = np.random.default_rng(3)
    n, T, k = 4, 5, 2
    obs, actions = rng.normal(size=(n, T, 2)), rng.normal(size=(n, T, 1))
    rewards = rng.normal(size=(n, T))
    mask = np.ones((n, T))
    mask[1, 2:] = 0.0  # episode 1 ended after 2 steps, episode 2 after 4
    mask[2, 4:] = 0.0
    t = lambda a: torch.as_tensor(a, dtype=torch.float32)  # noqa: E731
    episodes = recorded_episodes(module, t(obs), t(actions), t(rewards * mask), t(mask))
    advantages = inner_advantages(module, episodes, 0, 0.9, 0.8, k)
    assert advantages.shape == (n // k, k * T)
    fast = inner_adapt(module, stacked(module.adapted_parameters(), n // k),
                       grouped(episodes, k), advantages, steps=1, create_graph=False)

    with torch.no_grad():  # GAE within each episode (tested by hand above)
        values = module.values(t(obs))[..., 0]
        gae = episode_advantages(t(rewards * mask), values, t(mask), 0.9, 0.8)[0].numpy()
    for g in range(n // k):
        rows = slice(k * g, k * g + k)
        valid = mask[rows] > 0
        A = gae[rows][valid]
        A = (A - A.mean()) / (A.std() + 1e-8)  # over both episodes' steps together
        np.testing.assert_allclose(advantages[g].numpy()[mask[rows].reshape(-1) > 0], A,
                                   rtol=1e-5, atol=1e-5)
        _assert_hand_step(fast, g, obs[rows][valid] / NORM, actions[rows][valid, 0], A)


def test_the_linear_baseline_is_each_inner_steps_own_ridge_fit_of_the_returns():
    """--inner-baseline linear (MAML's): per group of k pooled episodes, the discounted
    returns minus their ridge fit on [o, o², t, t², t³, 1] (t = step / 100), normalized over
    the group; by hand in numpy. The critic plays no part, and a group sees only its own
    episodes."""
    module = _meta_sgd_linear_policy()
    rng = np.random.default_rng(5)
    n, T, k, gamma = 4, 6, 2, 0.9
    obs, actions = rng.normal(size=(n, T, 2)) * 8, rng.normal(size=(n, T, 1))  # some |o| > 10
    rewards = rng.normal(size=(n, T))
    mask = np.ones((n, T))
    mask[1, 4:] = 0.0  # episode 1 ended after 4 steps
    t = lambda a: torch.as_tensor(a, dtype=torch.float32)  # noqa: E731

    def linear(rewards, module=module):
        episodes = recorded_episodes(module, t(obs), t(actions), t(rewards * mask), t(mask))
        return inner_advantages(module, episodes, 0, gamma, 0.5, k, baseline="linear")

    advantages = linear(rewards)
    returns = np.zeros((n, T))  # discounted returns-to-go within each episode
    for i in range(n):
        following = 0.0
        for step in reversed(range(T)):
            if mask[i, step]:
                following = rewards[i, step] + gamma * following
                returns[i, step] = following
    clipped = np.clip(obs, -10, 10)
    steps = np.broadcast_to(np.arange(T) / 100.0, (n, T))[..., None]
    features = np.concatenate([clipped, clipped**2, steps, steps**2, steps**3,
                               np.ones_like(steps)], -1)
    for g in range(n // k):
        rows, valid = slice(k * g, k * g + k), mask[k * g:k * g + k] > 0
        F, R = features[rows][valid], returns[rows][valid]
        fit = F @ np.linalg.solve(F.T @ F + 1e-5 * np.eye(F.shape[1]), F.T @ R)
        A = R - fit
        A = (A - A.mean()) / (A.std() + 1e-8)
        np.testing.assert_allclose(advantages[g].numpy()[valid.reshape(-1)], A, rtol=1e-4,
                                   atol=1e-4)
        assert np.all(advantages[g].numpy()[~valid.reshape(-1)] == 0.0)
    # another group's rewards leave group 0 bit for bit; a different critic changes nothing
    other = rewards.copy()
    other[2:] += 5.0 * rng.normal(size=(2, T))
    changed = linear(other)
    assert torch.equal(changed[0], advantages[0]) and not torch.equal(changed[1], advantages[1])
    critic = _meta_sgd_linear_policy()
    with torch.no_grad():
        for w in critic.critic.parameters():
            w.add_(1.0)
    assert torch.equal(linear(rewards, critic), advantages)


def test_episode_advantages_and_per_row_normalization_by_hand():
    rewards = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 0.0]])
    values = torch.tensor([[0.5, 0.5, 0.5], [1.0, 1.0, 9.0]])
    mask = torch.tensor([[1.0, 1.0, 1.0], [1.0, 1.0, 0.0]])
    gamma, lam = 0.9, 0.5
    advantages, returns = episode_advantages(rewards, values, mask, gamma, lam)
    # row 0: deltas 1 + .45 - .5 = .95, 2 + .45 - .5 = 1.95, 3 - .5 = 2.5 (no bootstrap)
    a2 = 2.5
    a1 = 1.95 + gamma * lam * a2
    a0 = 0.95 + gamma * lam * a1
    # row 1 ends after step 1: its third step (value 9) must not leak in
    b1 = 5.0 - 1.0
    b0 = 4.0 + gamma * 1.0 - 1.0 + gamma * lam * b1
    expected = torch.tensor([[a0, a1, a2], [b0, b1, 0.0]])
    torch.testing.assert_close(advantages, expected)
    torch.testing.assert_close(returns, (expected + values) * mask)
    normed = normalize(advantages, mask)
    row = np.array([b0, b1])
    np.testing.assert_allclose(normed[1, :2].numpy(), (row - row.mean()) / row.std(), rtol=1e-5)
    assert normed[1, 2] == 0.0


def test_fast_weights_of_a_simulation_depend_only_on_its_own_episode():
    torch.manual_seed(1)
    module = MetaSGDActorCritic(3, 2, hidden_sizes=(8,))
    n, T = 4, 6
    obs, actions = torch.randn(n, T, 3), torch.randn(n, T, 2)
    rewards, mask = torch.randn(n, T), torch.ones(n, T)

    def adapted(rewards):
        episodes = recorded_episodes(module, obs, actions, rewards, mask)
        advantages = inner_advantages(module, episodes, 0, 0.99, 0.95)
        return inner_adapt(module, stacked(module.adapted_parameters(), n), episodes,
                           advantages, steps=2, create_graph=False)

    before = adapted(rewards)
    perturbed = rewards.clone()
    perturbed[2] = perturbed[2] * -3.0 + 1.0
    after = adapted(perturbed)
    for name in before:
        for i in range(n):
            same = torch.equal(before[name][i], after[name][i])
            assert same == (i != 2), (name, i)


def test_the_meta_gradient_through_the_inner_step_matches_its_closed_form():
    """One action dimension, observation 0: the mean is the bias b, the std exp(s). With
    L_in = -mean_t A_t π(a_t)/π_old(a_t) at π_old = π_θ, θ' = θ - α ⊙ g, and the outer loss
    L_out = -mean_u A'_u π_θ'(a'_u)/π_old'(a'_u) inside the clip, the chain rule gives
    dL/dθ = (I - H diag α) v and dL/dα = -g ⊙ v, v = ∇L_out(θ'), H the Hessian of L_in."""
    module = _linear_policy(obs_dim=1, act_dim=1, log_std=math.log(0.8))
    alpha = np.array([0.2, 0.05])  # (b, s)
    with torch.no_grad():
        module.inner_lrs["actor_0_bias"].fill_(alpha[0])
        module.inner_lrs["log_std"].fill_(alpha[1])
    rng = np.random.default_rng(3)
    T, U = 7, 6
    a, A = rng.normal(0.4, 0.8, T), rng.normal(size=T)
    a2, A2 = rng.normal(0.2, 0.8, U), rng.normal(size=U)
    t = lambda x: torch.as_tensor(x, dtype=torch.float32)  # noqa: E731
    pre = recorded_episodes(module, t(np.zeros((1, T, 1))), t(a[None, :, None]),
                            t(np.zeros((1, T))), t(np.ones((1, T))))
    fast = inner_adapt(module, stacked(module.adapted_parameters(), 1), pre, t(A[None]),
                       steps=1, create_graph=False)
    with torch.no_grad():
        mean, log_std = module.rows_forward(fast, t(np.zeros((1, U, 1))))
        logp_post = gaussian_logprob(mean, log_std, t(a2[None, :, None]))
    post = Episodes(t(np.zeros((1, U, 1))), t(a2[None, :, None]), logp_post,
                    t(np.zeros((1, U))), t(np.ones((1, U))))
    loss, ratio = outer_loss(module, pre, post, t(A[None]), t(A2[None]), inner_steps=1,
                             clip_coef=0.2)
    assert torch.allclose(ratio, torch.ones_like(ratio), atol=1e-5)
    loss.backward()

    b, s = 0.1, math.log(0.8)
    sig2 = math.exp(2 * s)
    d_b, d_s = (a - b) / sig2, (a - b) ** 2 / sig2 - 1.0
    g = -np.array([np.mean(A * d_b), np.mean(A * d_s)])
    # Hessian of π/π_old at π_old = π: ∇logπ ∇logπᵀ + ∇²logπ
    h_bb = d_b**2 - 1.0 / sig2
    h_bs = d_b * d_s - 2.0 * (a - b) / sig2
    h_ss = d_s**2 - 2.0 * (a - b) ** 2 / sig2
    H = -np.array([[np.mean(A * h_bb), np.mean(A * h_bs)],
                   [np.mean(A * h_bs), np.mean(A * h_ss)]])
    b2, s2 = b - alpha[0] * g[0], s - alpha[1] * g[1]
    sig2_post = math.exp(2 * s2)
    v = -np.array([np.mean(A2 * (a2 - b2) / sig2_post),
                   np.mean(A2 * ((a2 - b2) ** 2 / sig2_post - 1.0))])
    meta_theta = v - H @ (alpha * v)
    meta_alpha = -g * v
    got_theta = [module.actor[0].bias.grad.item(), module.log_std.grad.item()]
    got_alpha = [module.inner_lrs["actor_0_bias"].grad.item(),
                 module.inner_lrs["log_std"].grad.item()]
    np.testing.assert_allclose(got_theta, meta_theta, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(got_alpha, meta_alpha, rtol=1e-4, atol=1e-6)
    assert abs(meta_theta - v).max() > 1e-2  # the second-order term is not negligible here
    # the observation is 0, so the weight's gradient is exactly 0 (a check of the setup)
    assert module.actor[0].weight.grad.abs().max() == 0.0


def _context_policy(context_dim=2) -> MetaSGDActorCritic:
    """CAVIA on a linear actor: the mean is W x + V c + b, c the context; std 0.5."""
    torch.manual_seed(0)
    module = MetaSGDActorCritic(2, 1, hidden_sizes=(), init_log_std=math.log(0.5),
                                adapt="context", context_dim=context_dim)
    with torch.no_grad():
        module.actor[0].weight.copy_(torch.tensor([[0.3, -0.2, 0.7, -1.1][:2 + context_dim]]))
        module.actor[0].bias.fill_(0.1)
        module.context.copy_(torch.tensor([0.4, -0.3][:context_dim]))
        module.inner_lrs["context"].copy_(torch.tensor([2.0, 0.5][:context_dim]))
    return module


def test_a_context_step_moves_only_the_context_by_its_hand_computed_gradient():
    """--adapt context (CAVIA): θ' is the context c' = c - α ⊙ ∇_c L; for a linear actor
    ∇_c L = -mean_t A_t V^T (a_t - μ_t) / σ², and the actor's weights do not move."""
    module = _context_policy()
    assert list(module.adapted_parameters()) == list(module.step_sizes()) == ["context"]
    rng = np.random.default_rng(4)
    n, T = 3, 6
    obs, actions, A = rng.normal(size=(n, T, 2)), rng.normal(size=(n, T, 1)), rng.normal(
        size=(n, T))
    mask = np.ones((n, T))
    mask[2, 4:] = 0.0
    t = lambda a: torch.as_tensor(a, dtype=torch.float32)  # noqa: E731
    weight_before = module.actor[0].weight.detach().clone()
    episodes = recorded_episodes(module, t(obs), t(actions), t(np.zeros((n, T))), t(mask))
    fast = inner_adapt(module, stacked(module.adapted_parameters(), n), episodes, t(A),
                       steps=1, create_graph=False)
    assert set(fast) == {"context"}
    W, V, b, c, sigma = [0.3, -0.2], np.array([0.7, -1.1]), 0.1, np.array([0.4, -0.3]), 0.5
    for i in range(n):
        valid = mask[i] > 0
        x, a = obs[i][valid] / NORM, actions[i][valid, 0]
        mu = x @ W + V @ c + b
        grad = -np.mean((A[i][valid] * (a - mu) / sigma**2)[:, None] * V, axis=0)
        np.testing.assert_allclose(fast["context"][i].numpy(), c - np.array([2.0, 0.5]) * grad,
                                   rtol=1e-5, atol=1e-6)
    assert torch.equal(module.actor[0].weight, weight_before)
    # the adapted context drives the mean: row i's mean under c'_i, by hand
    mean, _ = module.rows_forward(fast, t(obs))
    expected = (obs / NORM) @ np.array(W) + (fast["context"].numpy() @ V)[:, None] + b
    np.testing.assert_allclose(mean[..., 0].detach().numpy(), expected, rtol=1e-5, atol=1e-6)


def test_the_meta_gradient_reaches_the_weights_through_a_context_step():
    """With only the context adapted, the outer loss still depends on the actor's weights
    twice: directly, and through the inner step's gradient. Autograd's derivative of the
    whole meta-objective matches central finite differences in float64, and differs from
    the first-order one (the inner step's dependence on the weights cut)."""
    module = _context_policy().double()
    rng = np.random.default_rng(5)
    n, T = 2, 8
    d = lambda a: torch.as_tensor(a, dtype=torch.float64)  # noqa: E731
    obs, actions, A = rng.normal(size=(n, T, 2)), rng.normal(size=(n, T, 1)), rng.normal(
        size=(n, T))
    post_obs, post_actions = rng.normal(size=(n, T, 2)), rng.normal(size=(n, T, 1))
    A2, ones = rng.normal(size=(n, T)), d(np.ones((n, T)))
    pre = recorded_episodes(module, d(obs), d(actions), d(np.zeros((n, T))), ones)
    fast = inner_adapt(module, stacked(module.adapted_parameters(), n), pre, d(A), steps=1,
                       create_graph=False)  # c', with the weights' part of its graph cut
    with torch.no_grad():  # the post-update episodes as sampled by c'
        mean, log_std = module.rows_forward(fast, d(post_obs))
        post_logp = gaussian_logprob(mean, log_std, d(post_actions))
    post = Episodes(d(post_obs), d(post_actions), post_logp, d(np.zeros((n, T))), ones)

    def meta_loss():
        loss, _ = outer_loss(module, pre, post, d(A), d(A2), inner_steps=1, clip_coef=1e3)
        return loss

    weight = module.actor[0].weight
    (grad,) = torch.autograd.grad(meta_loss(), [weight])
    numeric, eps = np.zeros(weight.shape), 1e-6
    for j in range(weight.shape[1]):  # the inner step needs autograd: no no_grad here
        weight.data[0, j] += eps
        up = meta_loss().item()
        weight.data[0, j] -= 2 * eps
        down = meta_loss().item()
        weight.data[0, j] += eps
        numeric[0, j] = (up - down) / (2 * eps)
    np.testing.assert_allclose(grad.numpy(), numeric, rtol=1e-6, atol=1e-9)
    mean, log_std = module.rows_forward(fast, post.obs)
    ratio = (gaussian_logprob(mean, log_std, post.actions) - post.logprobs).exp()
    (first_order,) = torch.autograd.grad(-(ratio * d(A2)).mean(), [weight])
    assert (grad - first_order).abs().max() > 1e-3


def test_bad_context_settings_are_errors():
    with pytest.raises(ValueError, match="'context' needs a context"):
        MetaSGDActorCritic(2, 1, adapt="context", context_dim=0)
    with pytest.raises(ValueError, match="'weights' none"):
        MetaSGDActorCritic(2, 1, adapt="weights", context_dim=3)
