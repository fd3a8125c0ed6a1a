"""Probe a maml policy's inner step on a goal family (point-goal): does it adapt, and if not, why.

No training; seconds on one CPU thread. For each of the first ``--tasks`` tasks of ``--split``,
``--rows`` simulations run one exploration episode with θ (sampled actions, as deployed), and
every row takes the policy's inner step (its step sizes α) on its own episode. Printed:

- the policy's log std, its step sizes α per tensor (mean, min, max, share below 0), and the
  share of the exploration episode's action components beyond the motors' [-1, 1] (there the
  noise does not reach the simulation, so the policy gradient is noise);
- the step's size relative to the weights, per tensor;
- the inner (LVC) loss on the row's own episode before and after the step, and the first-order
  prediction of its change, sum(α g²) (negative where α < 0 turns the step uphill);
- the change of the mean action at the start state and along the episode, against the
  direction to the goal (the adaptation MAML's 2-D navigation shows);
- the return of one episode with mean actions after the step scaled by c (c = 0: θ), paired
  over the same resets, for the row's own step and for a "pooled" step (the gradient averaged
  over the task's ``--rows`` episodes: what a less noisy inner gradient would give).

``--explore-log-std`` explores with that log std instead of the policy's (a counterfactual:
would more exploration noise inform the step?), ``--uniform-lr`` replaces α by one step size
(the plain policy gradient's direction). Used for docs/maml.md::

    python scripts/maml_probe.py --policy runs/point-goal-maml --tasks 8 --rows 16
"""

import sys

from robo_meta.argtypes import OneLineParser, UsageError, error_line, positive_int
from robo_meta.envs.errors import RoboMetaError

SCALES = (0.0, 1.0, 3.0, 10.0, 30.0)


def probe(source: str, split: str, num_tasks: int, rows: int, explore_log_std, uniform_lr,
          seed: int = 0) -> None:
    import numpy as np
    import torch

    from robo_meta.adaptive import load_policy
    from robo_meta.algos.maml_steps import Episodes, inner_advantages, lvc_loss
    from robo_meta.envs import get_family, make_vec
    from robo_meta.policies.maml import stacked
    from robo_meta.ppo import gaussian_logprob

    torch.set_num_threads(1)
    policy = load_policy(source, device="cpu")
    if getattr(policy, "algo", None) != "maml":
        raise RoboMetaError(f"{source} is not a maml policy")
    module, fam = policy.module, get_family(policy.family)
    if fam.spec.task != "goal":
        raise RoboMetaError(f"the probe measures steps toward a goal; {fam.name} has none")
    if explore_log_std is not None and "log_std" not in module.adapted_parameters():
        raise RoboMetaError("--explore-log-std replaces the adapted log std, but this policy "
                            f"adapts only its {module.adapt}")
    tasks = fam.tasks(split)[:num_tasks]
    nt, n, T = len(tasks), len(tasks) * rows, fam.spec.horizon
    env = make_vec(fam, n, episodes_per_trial=1, nthread=1)
    env.set_tasks([t for t in tasks for _ in range(rows)])
    goal = torch.as_tensor(np.repeat(fam.task_arrays(tasks)["goal"], rows, axis=0),
                           dtype=torch.float32)
    gen = torch.Generator().manual_seed(seed)

    @torch.no_grad()
    def run(fast, reset_seed, sample):
        obs, _ = env.reset(seed=reset_seed)
        o_buf, a_buf = torch.zeros(n, T, obs.shape[1]), torch.zeros(n, T, module.act_dim)
        logp, rewards = torch.zeros(n, T), np.zeros((n, T))
        for t in range(T):
            o = torch.as_tensor(obs, dtype=torch.float32)
            mean, log_std = module.rows_forward(fast, o)
            if sample and explore_log_std is not None:
                log_std = torch.full_like(log_std, explore_log_std)
            a = mean + log_std.exp() * torch.randn(mean.shape, generator=gen) if sample else mean
            o_buf[:, t], a_buf[:, t], logp[:, t] = o, a, gaussian_logprob(mean, log_std, a)
            obs, rewards[:, t], _, _, _ = env.step(a.numpy().astype(np.float64))
        return Episodes(o_buf, a_buf, logp, torch.as_tensor(rewards, dtype=torch.float32),
                        torch.ones(n, T))

    theta = {k: w.detach() for k, w in module.adapted_parameters().items()}
    if explore_log_std is not None:
        theta["log_std"] = torch.full_like(theta["log_std"], explore_log_std)
    th = stacked(theta, n)
    pre = run(th, 123 + seed, sample=True)
    adv = inner_advantages(module, pre, 0, policy.gamma, policy.gae_lambda,
                           baseline=policy.inner_baseline)
    lrs = {k: a.detach() for k, a in module.step_sizes().items()}
    if uniform_lr is not None:
        lrs = {k: torch.full_like(a, uniform_lr) for k, a in lrs.items()}
    fw = {k: w.detach().clone().requires_grad_() for k, w in th.items()}
    mean, log_std = module.rows_forward(fw, pre.obs)
    loss = lvc_loss(gaussian_logprob(mean, log_std, pre.actions), pre.logprobs, adv, pre.mask)
    grads = dict(zip(fw, torch.autograd.grad(loss.sum(), list(fw.values())), strict=True))

    def stepped(c, g):
        return {k: (th[k] - c * lrs[k] * g[k]).detach() for k in th}

    @torch.no_grad()
    def inner_loss(fast):
        m, s = module.rows_forward(fast, pre.obs)
        return lvc_loss(gaussian_logprob(m, s, pre.actions), pre.logprobs, adv, pre.mask)

    with torch.no_grad():
        mu_pre, _ = module.rows_forward(th, pre.obs)
    print(f"policy {source} ({fam.name}); {nt} {split} tasks x {rows} rows; horizon {T}; "
          f"exploration log std {'the policy' if explore_log_std is None else explore_log_std}"
          f"; step sizes {'the policy' if uniform_lr is None else uniform_lr}")
    print(f"log std {module.log_std.detach().numpy().round(3)} (effective, after any floor: "
          f"{log_std[0, 0].detach().numpy().round(3)})")
    print(f"exploration episode: return {float(pre.rewards.sum(1).mean()):.2f}; action "
          f"components beyond [-1, 1]: sampled {float((pre.actions.abs() > 1).float().mean()):.2f}"
          f", mean {float((mu_pre.abs() > 1).float().mean()):.2f}; |mean| > 0.95: "
          f"{float((mu_pre.abs() > 0.95).float().mean()):.2f}")
    print("\nstep sizes α          mean     min      max   share < 0   "
          "|α g| / |w| (median over rows)")
    for k, a in lrs.items():
        # (a context may start at 0)
        ratio = ((a * grads[k]).flatten(1).norm(dim=1)
                 / th[k].flatten(1).norm(dim=1).clamp(min=1e-12)).median()
        print(f"  {k:16s} {float(a.mean()):+.4f} {float(a.min()):+.4f} {float(a.max()):+.4f}"
              f"   {float((a < 0).float().mean()):.2f}        {float(ratio):.4f}")
    before, after = inner_loss(th), inner_loss(stepped(1.0, grads))
    predicted = sum((lrs[k] * grads[k] * grads[k]).flatten(1).sum(1) for k in th)
    print(f"\ninner loss on the row's own episode: {float(before.mean()):+.4f} -> "
          f"{float(after.mean()):+.4f}; lower in {float((after < before).float().mean()):.2f} "
          f"of the rows; first-order drop sum(α g²) > 0 in "
          f"{float((predicted > 0).float().mean()):.2f}")
    with torch.no_grad():
        s0 = pre.obs[:, 0]
        m0 = module.rows_forward(th, s0)[0]
        d = module.rows_forward(stepped(1.0, grads), s0)[0] - m0
        toward = goal - s0[:, :2]
        cos = torch.nn.functional.cosine_similarity(d, toward, dim=1)
        along = module.rows_forward(stepped(1.0, grads), pre.obs)[0] - mu_pre
        direction = goal[:, None] - pre.obs[..., :2]
        projected = (along * direction / direction.norm(dim=-1, keepdim=True)).sum(-1)
    print(f"mean action at the start: |μ_θ| {float(m0.norm(dim=1).mean()):.3f}, "
          f"cos(μ_θ, goal) {float(torch.nn.functional.cosine_similarity(m0, toward).mean()):+.3f}"
          f"; the step moves it by {float(d.norm(dim=1).mean()):.4f}, cos with the goal "
          f"direction {float(cos.mean()):+.3f} (> 0 in {float((cos > 0).float().mean()):.2f} "
          f"of the rows); along the episode, toward the goal {float(projected.mean()):+.4f}")

    pooled = {k: g.reshape(nt, rows, *g.shape[1:]).mean(1, keepdim=True).expand(
        nt, rows, *g.shape[1:]).reshape(g.shape) for k, g in grads.items()}
    print("\nreturn with mean actions after the step x c (paired with c = 0 over the same resets)")
    base = run(th, 999 + seed, sample=False).rewards.sum(1)
    for label, g in (("own episode", grads), (f"pooled {rows} episodes", pooled)):
        for c in SCALES:
            episode = run(stepped(c, g), 999 + seed, sample=False)
            diff = (episode.rewards.sum(1) - base).reshape(nt, rows).mean(1)
            dist = (episode.obs[:, -1, :2] - goal).norm(dim=1).mean()
            better = float((diff > 0).float().mean())
            print(f"  {label:18s} c = {c:4.0f}: {float(episode.rewards.sum(1).mean()):7.2f}, "
                  f"vs c = 0 {float(diff.mean()):+6.2f} (better on {better:.2f}"
                  f" of the tasks), distance to the goal at the end {float(dist):.3f}")


def main(argv: list[str] | None = None) -> int:
    parser = OneLineParser(prog="maml_probe.py", description=__doc__.splitlines()[0])
    parser.add_argument("--policy", required=True, help="a maml checkpoint directory")
    parser.add_argument("--split", default="test", help="val, test or ood (default test)")
    parser.add_argument("--tasks", type=positive_int(1000), default=8)
    parser.add_argument("--rows", type=positive_int(1000), default=16)
    parser.add_argument("--explore-log-std", type=float, default=None)
    parser.add_argument("--uniform-lr", type=float, default=None)
    parser.add_argument("--seed", type=int, default=0)
    try:
        args = parser.parse_args(argv)
        probe(args.policy, args.split, args.tasks, args.rows, args.explore_log_std,
              args.uniform_lr, args.seed)
    except (UsageError, RoboMetaError) as exc:
        print(error_line(parser.prog, exc), file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
