"""``maml``: gradient-based adaptation (MAML, Finn et al. 2017) with a learned step size per
weight (Meta-SGD, Li et al. 2017), trained with ProMP's objective (Rothfuss et al. 2019).

The policy learns initial weights θ and step sizes α (one per weight) such that one or a few
policy-gradient steps on a task's own episodes, θ' = θ - α ⊙ ∇L_in(θ), give a good policy
for that task.

Outer objective: ProMP's, chosen over MAML-TRPO because it fits this package's PPO-style
learner and costs a first-order optimizer: the clipped surrogate of the post-update policy
θ'(θ, α), maximized for several epochs of Adam on one batch (no conjugate gradient, no line
search), with the gradient taken through the inner step. The inner objective is ProMP's
low-variance-curvature (LVC) surrogate, -mean_t[π_θ(a|s) / π_old(a|s) · A]: its gradient at
the sampling weights is the policy gradient, and its Hessian is the estimator of the
meta-gradient's curvature term that ProMP shows unbiased and low in variance (DiCE's and
MAML's own estimators have higher variance; MAML's drops the term that credits the
pre-update episodes' sampling). ProMP's KL penalty between pre- and post-update policies is
left out: the clip alone bounds the outer step here.

Unit of adaptation: a group of ``inner_episodes`` simulations of one task (by default all of
its ``rollouts_per_task``, 20: MAML's "fast batch"). Each simulation runs one pre-update
episode with θ (sampled actions); the group takes ``inner_steps`` gradient steps on those
episodes pooled (repeated steps reuse them, importance-weighted by the LVC ratio), then each
of its simulations runs one post-update episode with the group's θ'. That is what a deployed
policy does in a trial (explore ``inner_episodes`` episodes, adapt on them), so training and
evaluation match. Every group's inner step runs in one batched call: per-row fast weights
stacked (n, ...), the forward pass ``functional_call`` under ``vmap``, and the per-row
gradients from one ``autograd.grad`` of the sum of the rows' losses (row i's loss depends
only on row i's copy of the weights).

Baselines. The inner step's, by default, is MAML's linear feature baseline
(``inner_baseline = "linear"``): a ridge fit of the discounted returns on features of the
group's own exploration episodes, made afresh at every adaptation, so a deployed policy needs
nothing but those episodes. ``"critic"`` takes GAE(λ) on the meta-learned critic instead
(the default until 2026-11-30, which did not adapt significantly here). The outer
advantages come from the critic of ``MetaSGDActorCritic``, one head for the pre-update and
one for the post-update episodes, regressed on the discounted returns; both baselines are
functions of the state only, so the policy gradient stays unbiased. Advantages run over each
episode (the horizon ends it: no bootstrap, as MAML's finite-horizon tasks).

Reward normalization: none on the rewards themselves. The inner step normalizes its
advantages over each group's pooled episodes (mean 0, std 1), so its size does not depend on
the family's reward scale and a deployed policy computes exactly the same step from its
exploration episodes, with no running statistics. The outer advantages are normalized per
task (ProMP). The critic regresses returns divided by ``return_scale``, a running std saved
with the network.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from robo_meta.adaptive import _PredictMixin
from robo_meta.algos import AlgorithmSpec
from robo_meta.algos.maml_steps import (
    Episodes,
    episode_advantages,
    grouped,
    inner_adapt,
    inner_advantages,
    normalize,
    outer_loss,
    repeated,
)
from robo_meta.config import RunConfig, check_bool, check_range
from robo_meta.envs import Family, get_family, make_vec
from robo_meta.envs.errors import RoboMetaError
from robo_meta.policies.maml import FastWeights, MetaSGDActorCritic, stacked
from robo_meta.ppo import gaussian_logprob

CAVIA_CONTEXT_DIM = 50  # the context size of CAVIA's RL runs
INNER_BASELINES = ("critic", "linear")


@dataclass
class MAMLConfig(RunConfig):
    """A maml run: the shared run fields plus the inner and outer loops' own."""

    former_defaults: ClassVar[dict[str, Any]] = {
        # runs saved before 2026-11-30 explored one episode per step on the critic's
        # advantages, with neither guard
        "inner_episodes": 1, "inner_baseline": "critic", "squash_mean": False,
        "min_log_std": None}

    meta_batch: int = 20
    """Tasks per iteration (the meta-batch)."""
    rollouts_per_task: int = 20
    """Simulations per task, each running one pre- and one post-update episode (MAML's fast
    batch: 20 episodes per task)."""
    inner_episodes: int | None = None
    """Exploration episodes each inner step is taken on, pooled (None: all of a task's
    rollouts_per_task, MAML's fast batch). In training, groups of this many of a task's
    simulations share one step; a deployed trial explores this many episodes with θ, then
    adapts. Must divide rollouts_per_task."""
    inner_steps: int = 1
    """Inner gradient steps per adaptation (on the same exploration episodes)."""
    inner_lr: float = 0.1
    """Initial inner step size of every weight (the fixed step when not learned)."""
    inner_lr_learned: bool = True
    """Meta-SGD: learn a step size per weight (--no-inner-lr-learned: one fixed scalar)."""
    outer_epochs: int = 5
    """Passes of the outer objective over each meta-batch (ProMP: 5)."""
    minibatches: int = 4
    """Minibatches per pass, split by task (rows adapt independently, so a subset is exact)."""
    learning_rate: float = 1e-3
    """Adam learning rate of the outer loop (θ, α and the critic), at the start."""
    lr_schedule: str = "constant"
    """constant, or linear: from learning_rate down to 0 at total_steps (as PPO's linear)."""
    clip_coef: float = 0.3
    """Ratio clip of the outer surrogate (ProMP: 0.3)."""
    gamma: float = 0.99
    """Discount factor."""
    gae_lambda: float = 0.95
    """GAE(λ) parameter of the outer advantages, and of the inner ones on the critic."""
    inner_baseline: str = "linear"
    """Baseline of the inner step's advantages: critic (GAE(λ) on the meta-learned critic) or
    linear (MAML's: a linear fit of the returns on the task's own exploration episodes, made
    afresh at every adaptation; advantages are the returns minus the fit)."""
    vf_coef: float = 0.5
    """Critic loss weight."""
    max_grad_norm: float = 1.0
    """Global gradient-norm clip of the outer step."""
    hidden_sizes: list[int] = field(default_factory=lambda: [64, 64])
    """Hidden layers of the actor and the critic (ProMP: 64, 64)."""
    init_log_std: float = -0.5
    """Initial log standard deviation of the Gaussian policy."""
    squash_mean: bool = True
    """Bound the mean action to (-1, 1) with a tanh (families whose actions are [-1, 1]; the
    shipped ones all are): the inner step cannot push it out of the motors' range."""
    min_log_std: float | None = -0.5
    """Floor of the log standard deviation (None: none); keeps the exploration episodes
    informative."""
    adapt: str = "weights"
    """What the inner step moves: weights (MAML / Meta-SGD: the actor's weights and log std)
    or context (CAVIA: only a vector of --context-dim numbers appended to the actor's input)."""
    context_dim: int | None = None
    """Size of CAVIA's context vector, with --adapt context (None: CAVIA's 50)."""

    def validate(self) -> MAMLConfig:
        super().validate()
        if self.algo != "maml":
            raise RoboMetaError(f"MAMLConfig is for maml, not {self.algo!r}")
        check_range(self, "meta_batch", 1, 1 << 14)
        check_range(self, "rollouts_per_task", 1, 1 << 14)
        if self.inner_episodes is None:  # resolved here, so a saved config names the number
            self.inner_episodes = self.rollouts_per_task
        check_range(self, "inner_episodes", 1, 1 << 14)
        if self.rollouts_per_task % self.inner_episodes:
            raise RoboMetaError(f"inner_episodes ({self.inner_episodes}) must divide "
                                f"rollouts_per_task ({self.rollouts_per_task}): a task's "
                                "simulations adapt in groups of inner_episodes")
        check_range(self, "inner_steps", 0, 100)
        check_range(self, "outer_epochs", 1, 1000)
        check_range(self, "minibatches", 1, 1 << 14)
        check_range(self, "inner_lr", 0.0, 1e3)
        for name in ("learning_rate", "clip_coef", "max_grad_norm"):
            check_range(self, name, 0.0, 1e6, low_open=True)
        check_range(self, "gamma", 0.0, 1.0, low_open=True)
        check_range(self, "gae_lambda", 0.0, 1.0)
        check_range(self, "vf_coef", 0.0, 1e6)
        check_range(self, "init_log_std", -20.0, 5.0)
        if self.min_log_std is not None:
            check_range(self, "min_log_std", -20.0, 5.0)
        if self.inner_baseline not in INNER_BASELINES:
            raise RoboMetaError(f"inner_baseline must be critic or linear, got "
                                f"{self.inner_baseline!r}")
        if self.lr_schedule not in ("constant", "linear"):
            raise RoboMetaError(f"lr_schedule must be constant or linear, got "
                                f"{self.lr_schedule!r}")
        if self.adapt not in ("weights", "context"):
            raise RoboMetaError(f"adapt must be weights or context, got {self.adapt!r}")
        if self.context_dim is not None:
            if self.adapt != "context":
                raise RoboMetaError("--context-dim sizes the context that --adapt context "
                                    "adapts; without it there is none")
            check_range(self, "context_dim", 1, 1 << 12)
        check_bool(self, "squash_mean")
        check_bool(self, "inner_lr_learned")
        if self.minibatches > self.meta_batch:
            raise RoboMetaError(f"minibatches ({self.minibatches}) must be at most meta_batch "
                                f"({self.meta_batch}): they split the tasks")
        if self.meta_batch * self.rollouts_per_task > 1 << 16:
            raise RoboMetaError("meta_batch x rollouts_per_task must be at most 65536 "
                                "simulations")
        if not self.hidden_sizes or any(not 0 < int(h) <= 1 << 14 for h in self.hidden_sizes):
            raise RoboMetaError(f"hidden_sizes must be 1 to 16384 units per layer, got "
                                f"{self.hidden_sizes}")
        return self


def policy_spec(config: MAMLConfig, obs_dim: int, act_dim: int) -> dict[str, Any]:
    return {"class": "maml", "kwargs": {
        "obs_dim": obs_dim, "act_dim": act_dim, "hidden_sizes": list(config.hidden_sizes),
        "init_log_std": config.init_log_std, "inner_lr": config.inner_lr,
        "learn_inner_lr": config.inner_lr_learned, "squash_mean": config.squash_mean,
        "min_log_std": config.min_log_std,
        # only a context run names its context: older configs and checkpoints stay as they were
        **({"adapt": "context", "context_dim": config.context_dim or CAVIA_CONTEXT_DIM}
           if config.adapt == "context" else {})}}


class MAML:
    """ProMP / Meta-SGD on ``family``: ``meta_batch`` tasks x ``rollouts_per_task``
    simulations per iteration, a pre- and a post-update episode each; each group of
    ``inner_episodes`` simulations of a task adapts on its pooled pre-update episodes."""

    def __init__(self, config: MAMLConfig, family: Family, device: torch.device):
        self.config, self.device, self.family = config.validate(), device, family
        self.num_envs = config.meta_batch * config.rollouts_per_task
        self.horizon = family.spec.horizon
        self.env = make_vec(family, self.num_envs, episodes_per_trial=1, nthread=config.threads)
        obs_dim, act_dim = self.env.sim.obs_dim, self.env.single_action_space.shape[0]
        space = self.env.single_action_space
        if config.squash_mean and not (np.all(space.low == -1.0) and np.all(space.high == 1.0)):
            raise RoboMetaError(f"--squash-mean bounds the mean to (-1, 1), but {family.name}'s "
                                f"actions range over [{space.low.min()}, {space.high.max()}]"
                                f" (train with --no-squash-mean)")
        spec = policy_spec(config, obs_dim, act_dim)
        with torch.random.fork_rng(devices=[]):  # weights from the run seed, not global state
            torch.manual_seed(config.seed)
            self.module = MetaSGDActorCritic(**spec["kwargs"]).to(device)
        self.modules: dict[str, nn.Module] = {"policy": self.module}
        self.module_specs = {"policy": spec}
        trainable = [p for p in self.module.parameters() if p.requires_grad]
        self.optimizer = torch.optim.Adam(trainable, lr=config.learning_rate, eps=1e-5)
        self.generator = torch.Generator(device=device).manual_seed(config.seed)
        self.steps = 0

    # -- one iteration, top to bottom -------------------------------------------------------
    def iteration(self) -> dict[str, float]:
        cfg, module = self.config, self.module
        iteration = self.steps // (2 * self.num_envs * self.horizon)
        start = time.perf_counter()
        # a meta-batch of tasks, each on rollouts_per_task consecutive simulations
        rng = np.random.default_rng([cfg.seed, iteration])
        tasks = self.family.sample_tasks(cfg.meta_batch, rng)
        self.env.set_tasks([t for t in tasks for _ in range(cfg.rollouts_per_task)])
        seed = (cfg.seed + iteration * 2 * self.num_envs) % 2**31
        lr = cfg.learning_rate
        if cfg.lr_schedule == "linear":  # from the steps before this iteration's, as PPO's
            lr *= 1 - self.steps / cfg.total_steps
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        theta = {k: w.detach() for k, w in module.adapted_parameters().items()}
        pre = self.collect(stacked(theta, self.num_envs), seed)
        group = cfg.inner_episodes
        pre_adv = inner_advantages(module, pre, 0, cfg.gamma, cfg.gae_lambda, group,
                                   cfg.inner_baseline)
        fast = inner_adapt(module, stacked(module.adapted_parameters(), self.num_envs // group),
                           grouped(pre, group), pre_adv, cfg.inner_steps, create_graph=False)
        post = self.collect(repeated(fast, group), seed + self.num_envs)
        self.steps += 2 * self.num_envs * self.horizon
        collected = time.perf_counter()
        stats = self.update(pre, post, pre_adv)
        module.normalizer.update(torch.cat([pre.obs[pre.mask > 0], post.obs[post.mask > 0]]))
        return {"lr": lr, **stats,
                "train/return_pre": _episode_return(pre),
                "train/return_post": _episode_return(post),
                "inner_lr/mean": float(torch.cat([a.detach().flatten() for a in
                                                  module.step_sizes().values()]).mean()),
                "time/collect_s": collected - start,
                "time/update_s": time.perf_counter() - collected}

    @torch.no_grad()
    def collect(self, fast: FastWeights, seed: int) -> Episodes:
        """One episode in every simulation, row i sampling from its fast weights ``fast[.][i]``."""
        n, T, dev = self.num_envs, self.horizon, self.device
        obs, _ = self.env.reset(seed=seed)
        shape = (n, T)
        buf_obs = torch.zeros(*shape, obs.shape[1], device=dev)
        buf_act = torch.zeros(*shape, self.env.single_action_space.shape[0], device=dev)
        buf_logp, rewards = torch.zeros(shape, device=dev), np.zeros(shape)
        mask, alive = np.zeros(shape, dtype=np.float32), np.ones(n, dtype=bool)
        for t in range(T):
            o = torch.as_tensor(obs, dtype=torch.float32, device=dev)
            mean, log_std = self.module.rows_forward(fast, o)
            action = mean + log_std.exp() * torch.randn(mean.shape, generator=self.generator,
                                                        device=dev)
            buf_obs[:, t], buf_act[:, t] = o, action
            buf_logp[:, t] = gaussian_logprob(mean, log_std, action)
            obs, reward, terminated, truncated, _ = self.env.step(action.cpu().numpy())
            rewards[:, t], mask[:, t] = reward * alive, alive
            alive &= ~(terminated | truncated)  # the env restarts it; the rest is masked out
        as_tensor = lambda a: torch.as_tensor(a, dtype=torch.float32, device=dev)  # noqa: E731
        return Episodes(buf_obs, buf_act, buf_logp, as_tensor(rewards), as_tensor(mask))

    def update(self, pre: Episodes, post: Episodes, pre_adv: torch.Tensor) -> dict[str, float]:
        """``outer_epochs`` x ``minibatches`` Adam steps on ProMP's objective plus the
        critic's regression; advantages and targets are computed once, on the whole batch.
        ``pre_adv`` is grouped (one row per inner step), ``pre`` and ``post`` are not."""
        cfg, module = self.config, self.module
        with torch.no_grad():
            scale = module.return_scale.float()
            values = module.values(post.obs)[..., 1] * scale
            post_adv, post_returns = episode_advantages(post.rewards, values, post.mask,
                                                        cfg.gamma, cfg.gae_lambda)
            pre_values = module.values(pre.obs)[..., 0] * scale
            _, pre_returns = episode_advantages(pre.rewards, pre_values, pre.mask, cfg.gamma,
                                                cfg.gae_lambda)
            tasks, per = cfg.meta_batch, cfg.rollouts_per_task
            post_adv = normalize(post_adv.reshape(tasks, -1),
                                 post.mask.reshape(tasks, -1)).reshape(tasks * per, -1)
            valid = torch.cat([pre_returns[pre.mask > 0], post_returns[post.mask > 0]])
            observed = valid.std().clamp(min=1e-3).double()
            first = bool(module.return_scale == 1.0)
            module.return_scale.copy_(observed if first else
                                      0.9 * module.return_scale + 0.1 * observed)
            targets = torch.stack([pre_returns, post_returns]) / module.return_scale.float()
        # one row per inner step from here on: a group's pooled episodes, in task order
        group = cfg.inner_episodes
        pre, post = grouped(pre, group), grouped(post, group)
        post_adv, targets = post_adv.reshape(len(pre.obs), -1), targets.reshape(
            2, len(pre.obs), -1)
        per //= group
        totals: dict[str, float] = {}
        updates = cfg.outer_epochs * cfg.minibatches
        for _ in range(cfg.outer_epochs):
            order = torch.randperm(tasks, generator=self.generator, device=self.device)
            for chosen in order.chunk(cfg.minibatches):
                rows = (chosen[:, None] * per + torch.arange(per, device=self.device)).flatten()
                step = self._step(*(_rows(x, rows) for x in (pre, post)), pre_adv[rows],
                                  post_adv[rows], targets[:, rows])
                for key, val in step.items():
                    totals[key] = totals.get(key, 0.0) + val / updates
        return totals

    def _step(self, pre: Episodes, post: Episodes, pre_adv: torch.Tensor,
              post_adv: torch.Tensor, targets: torch.Tensor) -> dict[str, float]:
        """One Adam step on the rows of a minibatch."""
        cfg, module = self.config, self.module
        policy_loss, ratio = outer_loss(module, pre, post, pre_adv, post_adv,
                                        cfg.inner_steps, cfg.clip_coef)
        v_pre, v_post = module.values(pre.obs)[..., 0], module.values(post.obs)[..., 1]
        value_loss = 0.5 * (((v_pre - targets[0]).square() * pre.mask).sum()
                            + ((v_post - targets[1]).square() * post.mask).sum()) / (
            pre.mask.sum() + post.mask.sum())
        self.optimizer.zero_grad(set_to_none=True)
        (policy_loss + cfg.vf_coef * value_loss).backward()
        grad_norm = nn.utils.clip_grad_norm_(self.optimizer.param_groups[0]["params"],
                                             cfg.max_grad_norm)
        self.optimizer.step()
        with torch.no_grad():
            clipped = ((ratio - 1).abs() > cfg.clip_coef).float()
            step = {"loss/policy": policy_loss.item(), "loss/value": value_loss.item(),
                    "loss/clip_fraction": float((clipped * post.mask).sum() / post.mask.sum()),
                    "grad_norm": grad_norm.item()}
        return step

    # -- state and deployment ---------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {"optimizer": self.optimizer.state_dict(),
                "generator": self.generator.get_state(), "steps": self.steps}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
        self.generator.set_state(state["generator"].to("cpu"))
        self.steps = int(state["steps"])

    def adaptive_policy(self) -> MAMLPolicy:
        return load_policy(self.config, self.modules, self.family.name, self.device)

    def close(self) -> None:
        self.env.close()


def trial_noise(seeds: np.ndarray, steps: np.ndarray, dim: int) -> np.ndarray:
    """(n, dim) standard normal draws, a pure function of (row seed, step in trial, component).

    Counter-based (splitmix64 of the three, then Box-Muller), so a trial's exploration depends
    on its own seed only, not on which other trials share the batch or how many.
    """
    with np.errstate(over="ignore"):
        key = _splitmix64(np.asarray(seeds, dtype=np.uint64))[:, None]
        counter = (np.asarray(steps, dtype=np.uint64)[:, None] * np.uint64(2 * dim)
                   + np.arange(2 * dim, dtype=np.uint64)[None])
        bits = _splitmix64(key ^ _splitmix64(counter))
    uniform = ((bits >> np.uint64(11)).astype(np.float64) + 1.0) * 2.0**-53  # (0, 1]
    u1, u2 = uniform[:, :dim], uniform[:, dim:]
    return np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)


def _splitmix64(x: np.ndarray) -> np.ndarray:
    z = x + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def _rows(episodes: Episodes, rows: torch.Tensor) -> Episodes:
    return Episodes(*(x[rows] for x in episodes))


def _episode_return(episodes: Episodes) -> float:
    return float((episodes.rewards * episodes.mask).sum(1).mean())


class MAMLPolicy(_PredictMixin):
    """The deployed maml policy: explores, adapts by gradient steps, then exploits.

    Per simulation (row) of a trial: the first ``exploration_episodes`` episodes run θ and
    sample actions (whatever ``deterministic`` says: the inner step needs sampled actions) and
    are recorded; when the last of them ends, the row takes ``inner_steps`` gradient steps on
    all of them pooled, as in training (``--inner-episodes``). Later episodes act with the
    row's adapted weights, mean actions unless ``deterministic`` is False (a bool or an (n,)
    array). ``reset`` and ``restart`` give the rows θ again: nothing learned in one trial
    reaches another, or another row.

    ``fresh_episodes`` (off: as in training) is MAML's evaluation protocol for several steps:
    each step is taken on new exploration episodes, sampled with the weights the previous
    step gave, so a row explores ``exploration_episodes`` x ``inner_steps`` episodes in all
    (``explored_episodes``) and takes one step after each ``exploration_episodes`` of them.
    Off, the ``inner_steps`` steps all reuse the first ``exploration_episodes`` episodes.

    ``predict`` (SB3's signature) cannot adapt, since no rewards reach it: it acts with the
    meta-learned θ itself (mean actions unless ``deterministic=False``). Use
    ``reset``/``act``/``observe`` to adapt.
    """

    adaptive = True

    def __init__(self, module: MetaSGDActorCritic, family: str, device: torch.device,
                 inner_steps: int, gamma: float, gae_lambda: float, name: str = "maml",
                 seed: int = 0, meta: dict | None = None, exploration_episodes: int = 1,
                 inner_baseline: str = "linear"):
        self.module = module.to(device).eval()
        self.algo, self.family, self.device, self.name = "maml", family, device, name
        self.inner_steps, self.exploration_episodes = inner_steps, exploration_episodes
        self.fresh_episodes = False
        self.gamma, self.gae_lambda, self.inner_baseline = gamma, gae_lambda, inner_baseline
        self._meta = dict(meta or {})
        self.obs_dim, self.seed = module.obs_dim, seed
        self.generator = torch.Generator(device=device).manual_seed(seed)  # predict's draws
        self._num_envs: int | None = None

    @property
    def meta(self) -> dict[str, Any]:
        """The checkpoint's meta and the protocol the policy runs now (a report records it:
        ``robo-meta evaluate --inner-steps`` changes ``inner_steps`` for each k)."""
        fresh = ({"fresh_episodes": True, "explored_episodes": self.explored_episodes}
                 if self.fresh_episodes else {})  # only then: older reports stay as they are
        return {**self._meta, "inner_steps": self.inner_steps,
                "exploration_episodes": self.exploration_episodes, **fresh}

    @property
    def explored_episodes(self) -> int:
        """Episodes a trial explores before it acts with its final adapted weights."""
        steps = max(self.inner_steps, 1) if self.fresh_episodes else 1
        return self.exploration_episodes * steps

    def reset(self, num_envs: int, task_features: np.ndarray | None = None) -> None:
        n, dev = num_envs, self.device
        self._num_envs = n
        theta = {k: w.detach() for k, w in self.module.adapted_parameters().items()}
        self.fast = {k: w.clone() for k, w in stacked(theta, n).items()}
        self.episode, self.t = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64)
        self.trial_seeds = self.seed + np.arange(n, dtype=np.uint64)
        self.trial_step = np.zeros(n, dtype=np.int64)  # counts the noise draws of each trial
        # the record of each row's exploration episodes: (n, episodes, steps, ...)
        shape, capacity = (n, self.exploration_episodes), 256
        self._obs = torch.zeros(*shape, capacity, self.module.obs_dim, device=dev)
        self._actions = torch.zeros(*shape, capacity, self.module.act_dim, device=dev)
        self._logp, self._rewards = (torch.zeros(*shape, capacity, device=dev) for _ in range(2))
        self._mask = torch.zeros(*shape, capacity, device=dev)

    def restart(self, rows: np.ndarray) -> None:
        """Start new trials in ``rows``: θ again, the episode count and record cleared."""
        if self._num_envs is None:
            raise RoboMetaError("call reset(num_envs) before restart()")
        index = torch.as_tensor(np.asarray(rows, dtype=np.int64), device=self.device)
        for k, w in self.module.adapted_parameters().items():
            self.fast[k][index] = w.detach()
        self.episode[rows], self.t[rows], self.trial_step[rows] = 0, 0, 0
        self._mask[index] = 0.0

    def seed_trials(self, seeds: np.ndarray) -> None:
        """Each row's exploration noise from its trial's seed (the evaluator gives them after
        ``reset``), so a trial explores alike whatever batch it runs in. Default: the
        policy's seed plus the row index."""
        self.trial_seeds = np.asarray(seeds, dtype=np.uint64).reshape(self._num_envs)
        self.trial_step[:] = 0

    def _recording(self) -> tuple[np.ndarray, torch.Tensor, torch.Tensor, torch.Tensor]:
        """The exploring rows, and (row, episode, step) indices of their record."""
        rows = np.flatnonzero(self.episode < self.explored_episodes)
        as_index = lambda a: torch.as_tensor(a, device=self.device)  # noqa: E731
        batch = self.episode[rows] % self.exploration_episodes  # place in the step's batch
        return rows, as_index(rows), as_index(batch), as_index(self.t[rows])

    @torch.no_grad()
    def act(self, obs: np.ndarray, deterministic: bool | np.ndarray = True) -> np.ndarray:
        if self._num_envs is None:
            raise RoboMetaError("call reset(num_envs) before act()")
        n = self._num_envs
        o = torch.as_tensor(np.asarray(obs), dtype=torch.float32, device=self.device)
        mean, log_std = self.module.rows_forward(self.fast, o)
        noise = torch.as_tensor(trial_noise(self.trial_seeds, self.trial_step, mean.shape[1]),
                                dtype=mean.dtype, device=self.device)
        self.trial_step += 1
        exploring = self.episode < self.explored_episodes
        sample = exploring | ~np.broadcast_to(np.asarray(deterministic, dtype=bool), (n,))
        sampled = torch.as_tensor(sample, device=self.device).unsqueeze(-1)
        action = torch.where(sampled, mean + log_std.exp() * noise, mean)
        rows, r, e, t = self._recording()
        if len(rows):
            self._grow(int(self.t[rows].max()) + 1)
            self._obs[r, e, t], self._actions[r, e, t] = o[r], action[r]
            self._logp[r, e, t] = gaussian_logprob(mean[r], log_std[r], action[r])
        return action.cpu().numpy().astype(np.float64)

    def observe(self, obs, action, reward, terminated, truncated) -> None:
        if self._num_envs is None:
            raise RoboMetaError("call reset(num_envs) before observe()")
        rows, r, e, t = self._recording()
        if len(rows):
            reward = torch.as_tensor(np.asarray(reward, dtype=np.float32), device=self.device)
            self._rewards[r, e, t], self._mask[r, e, t] = reward[r], 1.0
            self.t[rows] += 1
        done = np.logical_or(terminated, truncated)
        self.episode[done] += 1
        self.t[done] = 0
        k = self.exploration_episodes
        explored = np.flatnonzero(done & (self.episode <= self.explored_episodes)
                                  & (self.episode % k == 0))
        if len(explored):
            self._adapt(explored, min(self.inner_steps, 1) if self.fresh_episodes
                        else self.inner_steps)

    def _adapt(self, rows: np.ndarray, steps: int) -> None:
        """``steps`` gradient steps for ``rows`` from their present weights, on their recorded
        episodes pooled."""
        r, k = torch.as_tensor(rows, device=self.device), self.exploration_episodes
        length = int(self._mask[r].sum(2).max().item())
        episodes = Episodes(*(b[r, :, :length].flatten(0, 1) for b in (
            self._obs, self._actions, self._logp, self._rewards, self._mask)))
        with torch.enable_grad():
            advantages = inner_advantages(self.module, episodes, 0, self.gamma,
                                          self.gae_lambda, k, self.inner_baseline)
            start = {name: w[r] for name, w in self.fast.items()}
            adapted = inner_adapt(self.module, start, grouped(episodes, k), advantages,
                                  steps, create_graph=False)
        for name, w in adapted.items():
            self.fast[name][r] = w
        self._mask[r] = 0.0

    def _grow(self, needed: int) -> None:
        """Double the episode record until it holds ``needed`` steps per episode."""
        while self._obs.shape[2] < needed:
            self._obs, self._actions, self._logp, self._rewards, self._mask = (
                torch.cat([b, torch.zeros_like(b)], dim=2) for b in
                (self._obs, self._actions, self._logp, self._rewards, self._mask))

    @torch.no_grad()
    def predict(self, obs, state=None, episode_start=None, deterministic: bool = True):
        """SB3's signature; acts with θ, never adapts (see the class docstring)."""
        obs = np.asarray(obs, dtype=np.float64)
        batch = torch.as_tensor(np.atleast_2d(obs), dtype=torch.float32, device=self.device)
        mean, log_std = self.module.shared_forward(batch)
        if not deterministic:
            mean = mean + log_std.exp() * torch.randn(mean.shape, generator=self.generator,
                                                      device=self.device)
        action = mean.cpu().numpy().astype(np.float64)
        return (action[0] if obs.ndim == 1 else action), state


def load_policy(config: RunConfig, modules: dict[str, nn.Module], family: str,
                device: torch.device, name: str = "", seed: int = 0,
                meta: dict | None = None) -> MAMLPolicy:
    """The deployed policy of a maml run: its network and the run's inner-loop settings."""
    module = modules["policy"]
    if not isinstance(module, MetaSGDActorCritic) or not isinstance(config, MAMLConfig):
        raise RoboMetaError(f"maml trains a maml network, but this checkpoint's is a "
                            f"{type(module).__name__} (config.json names the wrong algorithm?)")
    get_family(family)  # a clear error for a family this installation lacks
    return MAMLPolicy(module, family, device, config.inner_steps, config.gamma,
                      config.gae_lambda, name=name or "maml", seed=seed, meta=meta,
                      exploration_episodes=config.inner_episodes,
                      inner_baseline=config.inner_baseline)


ALGORITHMS = (AlgorithmSpec(
    name="maml", summary="MAML / Meta-SGD with ProMP's objective: adapts by gradient steps",
    config_class=MAMLConfig, build=MAML, load_policy=load_policy),)
