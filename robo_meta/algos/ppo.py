"""On-policy PPO and its three variants: ``dr``, ``oracle`` and ``rl2``.

- ``dr`` (domain randomization, the lower reference): an MLP Gaussian policy trained over the
  family's train distribution, a new task every episode. It sees only the observation, so it
  learns what is best on average and acts the same at every episode of a trial.
- ``oracle`` (the upper reference): dr's MLP with the task features appended to its
  observation (privileged: the normalized task parameters). Told the task, it needs no
  adaptation. With ``--latent-dim N`` the features first go through an encoder z = μ(e) of N
  dimensions (RMA's teacher network, which rma's phase 1 trains exactly this way): on the
  *-params families, 30-odd raw features appended to a 17-dimensional observation left the
  plain MLP below dr (docs/families.md).
- ``rl2`` (RL², Duan et al. 2016; Wang et al. 2016): a GRU policy whose input also holds the
  previous action, reward and episode-ended flag. Trials are K episodes on one task; the
  hidden state carries across them and resets only at a new trial, so the policy can identify
  the task early and exploit it later. Trained with truncated BPTT over rollout-length
  sequences from stored hidden states. ``--separate-critic`` gives the value function its own
  memory; ``--privileged-critic`` lets the value head read the task features (asymmetric
  actor-critic: in training only, the actor never sees them); ``--task-inference-coef W``
  adds W x the squared error of a guess of the task features from the actor's memory
  (Humplik et al. 2019: the memory is taught what to remember; the actor never reads the
  guess nor the features).

One iteration, top to bottom: the Sampler steps every simulation ``rollout_steps`` times;
rewards are scaled by the running std of the discounted return; GAE(λ) gives advantages,
cut at trial ends and at terminations (with trial-long returns an rl2 fall would only buy a
fresh episode) and bootstrapped where a trial hits its time limit; then ``epochs`` passes of
minibatch PPO (recurrent policies in whole sequences of a subset of simulations); then the
observation normalizer and the KL-adaptive learning rate move. The loss maths (GAE, the
clipped loss, Gaussian log-probabilities) live in ``robo_meta.ppo``, tested by hand.
"""

from __future__ import annotations

import math
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import nn

from robo_meta.adaptive import TrainedPolicy
from robo_meta.algos import AlgorithmSpec
from robo_meta.config import RunConfig, check_bool, check_range
from robo_meta.envs import Family
from robo_meta.envs.errors import RoboMetaError
from robo_meta.policies import POLICY_CLASSES, build_policy
from robo_meta.ppo import compute_gae, gaussian_entropy, gaussian_logprob, ppo_loss
from robo_meta.sampler import Trajectories, make_sampler


@dataclass
class PPOConfig(RunConfig):
    """A run of dr, oracle or rl2: the shared run fields plus PPO's own."""

    num_envs: int = 64
    """Simulations stepped together in one batch."""
    rollout_steps: int = 64
    """Steps per simulation per rollout (also the BPTT length of rl2)."""
    epochs: int = 5
    """PPO epochs over each rollout."""
    minibatches: int = 4
    """Minibatches per epoch (rl2 splits by simulation, keeping sequences whole)."""
    learning_rate: float = 3e-4
    """Adam learning rate at the start."""
    lr_schedule: str = "adaptive"
    """adaptive (x or / 1.5 to keep the KL near desired_kl, as legged_gym), linear or constant."""
    desired_kl: float = 0.01
    """KL target of the adaptive learning-rate schedule."""
    max_learning_rate: float = 1e-3
    """Ceiling of the adaptive schedule (at 5e-3 the rl2 GRU stalled on hopper-params)."""
    gamma: float = 0.99
    """Discount factor."""
    gae_lambda: float = 0.95
    """GAE(λ) parameter."""
    clip_coef: float = 0.2
    """PPO ratio clip."""
    ent_coef: float = 0.0
    """Entropy bonus weight."""
    vf_coef: float = 0.5
    """Value loss weight."""
    max_grad_norm: float = 0.5
    """Global gradient-norm clip."""
    norm_adv: bool = True
    """Normalize advantages per minibatch."""
    target_kl: float | None = None
    """Stop an update's epochs early when the approximate KL exceeds this (None: never)."""
    hidden_sizes: list[int] = field(default_factory=lambda: [64, 64])
    """Hidden layers of the MLP policy and value networks (dr, oracle, rma's teacher)."""
    gru_hidden: int = 128
    """GRU hidden size (rl2)."""
    separate_critic: bool = False
    """rl2: give the value function its own encoder and GRU, so the actor's memory learns
    from the policy loss (and the task-inference loss, if any) alone (default: one memory
    shared by both heads)."""
    privileged_critic: bool = False
    """rl2: the value head also reads the task features (asymmetric actor-critic). Training
    only: the actor and its memory never read them, and the deployed policy is given none."""
    task_inference_coef: float = 0.0
    """rl2: weight of an auxiliary loss, the squared error of a linear guess of the normalized
    task features from the actor's memory at every step (0: none). Training only."""
    init_log_std: float = -0.5
    """Initial log standard deviation of the Gaussian policy."""
    latent_dim: int = 0
    """oracle: encode the task features to z = μ(e) of this size before the MLP (0: raw)."""
    encoder_sizes: list[int] = field(default_factory=lambda: [64, 64])
    """Hidden layers of μ, the task-feature encoder (with --latent-dim)."""
    ray: str = ""
    """Ray cluster of the rollouts: host:port, auto or local (docs/scale-out.md); empty: none."""
    workers: int = 1
    """Ray rollout workers (actors) sharing the num_envs simulations; needs --ray."""
    worker_threads: int = 1
    """Simulation threads of each Ray worker (and the CPUs it reserves on its node)."""

    def validate(self) -> PPOConfig:
        super().validate()
        if self.algo not in VARIANTS:
            raise RoboMetaError(f"PPOConfig is for {', '.join(VARIANTS)}, not {self.algo!r}")
        check_range(self, "num_envs", 1, 1 << 16)
        check_range(self, "rollout_steps", 1, 1 << 16)
        check_range(self, "epochs", 1, 1000)
        check_range(self, "minibatches", 1, 1 << 20)
        check_range(self, "gru_hidden", 1, 1 << 14)
        check_bool(self, "separate_critic")
        if self.separate_critic and VARIANTS[self.algo].policy_class != "gru":
            raise RoboMetaError(f"--separate-critic splits rl2's recurrent memory; {self.algo}'s "
                                "MLP actor and critic are separate networks already")
        check_bool(self, "privileged_critic")
        if self.privileged_critic and VARIANTS[self.algo].policy_class != "gru":
            raise RoboMetaError(f"--privileged-critic gives rl2's value head the task features; "
                                f"{self.algo} has no such split (the oracle's whole network "
                                "reads them, dr's none)")
        check_range(self, "task_inference_coef", 0.0, 1e6)
        if self.task_inference_coef and VARIANTS[self.algo].policy_class != "gru":
            raise RoboMetaError(f"--task-inference-coef trains rl2's memory to guess the task; "
                                f"{self.algo} has no memory")
        for name in ("learning_rate", "max_learning_rate", "desired_kl", "max_grad_norm",
                     "clip_coef"):
            check_range(self, name, 0.0, 1e6, low_open=True)
        check_range(self, "gamma", 0.0, 1.0, low_open=True)
        check_range(self, "gae_lambda", 0.0, 1.0)
        check_range(self, "ent_coef", 0.0, 1e6)
        check_range(self, "vf_coef", 0.0, 1e6)
        check_range(self, "init_log_std", -20.0, 5.0)
        check_range(self, "latent_dim", 0, 4096)
        if self.latent_dim and not VARIANTS[self.algo].with_features:
            raise RoboMetaError(f"--latent-dim encodes the task features, which {self.algo} "
                                "does not see (oracle and rma do)")
        if not self.encoder_sizes or any(not 0 < int(h) <= 1 << 14 for h in self.encoder_sizes):
            raise RoboMetaError(f"encoder_sizes must be 1 to 16384 units per layer, got "
                                f"{self.encoder_sizes}")
        if self.target_kl is not None:
            check_range(self, "target_kl", 0.0, 1e6, low_open=True)
        if not self.hidden_sizes or any(not 0 < int(h) <= 1 << 14 for h in self.hidden_sizes):
            raise RoboMetaError(f"hidden_sizes must be 1 to 16384 units per layer, got "
                                f"{self.hidden_sizes}")
        if self.lr_schedule not in ("adaptive", "linear", "constant"):
            raise RoboMetaError(f"lr_schedule must be adaptive, linear or constant, got "
                                f"{self.lr_schedule!r}")
        if self.minibatches > self.num_envs * self.rollout_steps:
            raise RoboMetaError("more minibatches than samples per rollout")
        check_range(self, "workers", 1, self.num_envs)  # each worker steps >= 1 simulation
        check_range(self, "worker_threads", 1, 1024)
        if self.workers > 1 and not self.ray:
            raise RoboMetaError("--workers needs --ray ADDRESS (auto, local or host:port)")
        return self


class Variant(NamedTuple):
    summary: str
    policy_class: str  # a key of robo_meta.policies.POLICY_CLASSES
    with_features: bool  # privileged task features appended to the observation
    adaptive: bool  # memory carried across the episodes of a trial


VARIANTS = {
    "dr": Variant("MLP + PPO over randomized tasks; no adaptation (lower reference)",
                  "mlp", with_features=False, adaptive=False),
    "oracle": Variant("MLP + PPO with the task features in the observation (upper reference)",
                      "mlp", with_features=True, adaptive=False),
    "rl2": Variant("GRU + recurrent PPO across the K episodes of a trial (adapts in context)",
                   "gru", with_features=False, adaptive=True),
}


def policy_class(config: PPOConfig) -> str:
    """The key in POLICY_CLASSES of the network ``config`` trains."""
    return "rma_teacher" if config.latent_dim else VARIANTS[config.algo].policy_class


def policy_spec(config: PPOConfig, obs_dim: int, act_dim: int,
                feature_dim: int = 0) -> dict[str, Any]:
    """The JSON description of the policy network (saved in the checkpoint's config).

    ``obs_dim`` is the Sampler's: the oracle's, and that of an rl2 with a privileged critic,
    include the ``feature_dim`` task features.
    """
    variant = VARIANTS[config.algo]
    if config.latent_dim:  # the features through an encoder: RMA's teacher network
        return {"class": "rma_teacher", "kwargs": {
            "obs_dim": obs_dim - feature_dim, "feature_dim": feature_dim, "act_dim": act_dim,
            "latent_dim": config.latent_dim, "hidden_sizes": list(config.hidden_sizes),
            "encoder_sizes": list(config.encoder_sizes), "init_log_std": config.init_log_std}}
    kwargs: dict[str, Any] = {"obs_dim": obs_dim, "act_dim": act_dim,
                              "init_log_std": config.init_log_std}
    if variant.policy_class == "gru":
        kwargs["hidden_size"] = config.gru_hidden
        if config.separate_critic:  # absent otherwise: configs written before it still match
            kwargs["separate_critic"] = True
        if feature_dim:  # the features ride at the observation's end, for the critic
            kwargs["obs_dim"], kwargs["feature_dim"] = obs_dim - feature_dim, feature_dim
            if not config.privileged_critic:  # ... or only for the task head
                kwargs["privileged_critic"] = False
            if config.task_inference_coef:
                kwargs["task_inference"] = True
    else:
        kwargs["hidden_sizes"] = list(config.hidden_sizes)
    return {"class": variant.policy_class, "kwargs": kwargs}


class Rollout(NamedTuple):
    """One rollout ready for the update, every tensor (T, B, ...) on the learner's device."""

    obs: torch.Tensor  # (T, B, obs_dim) policy inputs
    prev_action: torch.Tensor  # (T, B, act_dim)
    prev_reward_done: torch.Tensor  # (T, B, 2): previous reward, previous episode ended
    trial_start: torch.Tensor  # (T, B) bool: memory resets before this step
    actions: torch.Tensor  # (T, B, act_dim)
    logprobs: torch.Tensor  # (T, B)
    values: torch.Tensor  # (T, B)
    advantages: torch.Tensor  # (T, B)
    returns: torch.Tensor  # (T, B)
    initial_state: torch.Tensor  # (B, hidden) policy state before step 0


class ReturnScaler:
    """Divides rewards by the running std of the discounted return (as SB3's VecNormalize).

    Keeps PPO's value targets near unit scale across families whose rewards differ by 100x.
    """

    def __init__(self, num_envs: int, gamma: float):
        self.gamma = gamma
        self.discounted = np.zeros(num_envs)
        self.mean, self.var, self.count = 0.0, 1.0, 1e-4

    def __call__(self, reward: np.ndarray, trial_end: np.ndarray) -> np.ndarray:
        self.discounted = self.discounted * self.gamma + reward
        batch_mean, batch_var, n = self.discounted.mean(), self.discounted.var(), len(reward)
        delta, total = batch_mean - self.mean, self.count + n
        self.mean += delta * n / total
        m2 = self.var * self.count + batch_var * n + delta**2 * self.count * n / total
        self.var = m2 / total
        self.count = total
        self.discounted[trial_end] = 0.0
        return reward / math.sqrt(self.var + 1e-8)

    def state_dict(self) -> dict:
        # plain floats: numpy scalars would make state.pt unreadable with weights_only=True
        return {"mean": float(self.mean), "var": float(self.var), "count": float(self.count)}

    def load_state_dict(self, state: dict) -> None:
        self.mean, self.var, self.count = state["mean"], state["var"], state["count"]


class PPO:
    """dr, oracle or rl2 (``config.algo``) on ``family``, the policy on ``device``."""

    def __init__(self, config: PPOConfig, family: Family, device: torch.device):
        self.config, self.device = config.validate(), device
        self.variant = VARIANTS[config.algo]
        self.family = family
        trial = config.episodes_per_trial if self.variant.adaptive else 1
        # the learner's observations carry the features for the oracle, a privileged critic
        # and the task-inference loss
        features = (self.variant.with_features or config.privileged_critic
                    or config.task_inference_coef > 0)
        self.sampler = make_sampler(family, config.num_envs, trial, features, device,
                                    config.threads, config.ray, config.workers,
                                    config.worker_threads)
        spec = policy_spec(config, self.sampler.obs_dim, self.sampler.act_dim,
                           family.feature_dim if features else 0)
        with torch.random.fork_rng(devices=[]):  # weights from the run seed, not global state
            torch.manual_seed(config.seed)
            self.policy = build_policy(spec).to(device)
        self.modules: dict[str, nn.Module] = {"policy": self.policy}
        self.module_specs = {"policy": spec}
        self.optimizer = torch.optim.Adam(self.policy.parameters(), lr=config.learning_rate,
                                          eps=1e-5)
        self.generator = torch.Generator(device=device).manual_seed(config.seed)
        self.scaler = ReturnScaler(config.num_envs, config.gamma)
        self.steps, self.lr = 0, config.learning_rate
        self.recent_returns: deque[float] = deque(maxlen=100)
        self.recent_lengths: deque[float] = deque(maxlen=100)
        self._sampling = False

    # -- one iteration, top to bottom -------------------------------------------------------
    def iteration(self) -> dict[str, float]:
        cfg = self.config
        if not self._sampling:  # fresh trials, seeded by the step count (so resumes differ)
            self.sampler.reset(self.policy, cfg.seed + 7919 * (self.steps // cfg.num_envs))
            self._sampling = True
        if cfg.lr_schedule == "linear":
            self.lr = cfg.learning_rate * (1 - self.steps / cfg.total_steps)
        for group in self.optimizer.param_groups:
            group["lr"] = self.lr
        self.policy.train()
        start = time.perf_counter()
        trajectories = self.sampler.collect(self.policy, cfg.rollout_steps, self.generator)
        self.steps += cfg.rollout_steps * cfg.num_envs
        rollout = self.advantages(trajectories)
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        collected = time.perf_counter()
        stats = self.update(rollout)
        self.policy.normalizer.update(rollout.obs)  # after the update: ratios stay exact
        if cfg.lr_schedule == "adaptive":
            self.lr = adapt_learning_rate(self.lr, stats["loss/approx_kl"], cfg.desired_kl,
                                          cfg.max_learning_rate)
        self.recent_returns.extend(trajectories.episode_returns.tolist())
        self.recent_lengths.extend(trajectories.episode_lengths.astype(float).tolist())
        return {"lr": self.lr, **stats,
                "train/return": _mean(self.recent_returns),
                "train/episode_length": _mean(self.recent_lengths),
                "time/collect_s": collected - start,
                "time/update_s": time.perf_counter() - collected}

    def advantages(self, traj: Trajectories) -> Rollout:
        """Scale rewards, bootstrap time limits, GAE(λ): the rollout the update sees."""
        cfg = self.config
        scaled = np.zeros(traj.rewards.shape, dtype=np.float32)
        for t in range(len(scaled)):  # in step order: the scaler's returns run through time
            scaled[t] = self.scaler(traj.rewards[t], traj.trial_end[t])
        rewards = torch.from_numpy(scaled).to(self.device) + cfg.gamma * traj.final_values
        trial_end = torch.from_numpy(traj.trial_end).to(self.device)
        advantages, returns = compute_gae(rewards, traj.values, traj.next_value, trial_end,
                                          cfg.gamma, cfg.gae_lambda)
        x = traj.inputs
        return Rollout(x.obs, x.prev_action, x.prev_reward_done, x.trial_start, traj.actions,
                       traj.logprobs, traj.values, advantages, returns, traj.initial_state)

    def update(self, rollout: Rollout) -> dict[str, float]:
        """``epochs`` passes of minibatch PPO over ``rollout``; mean statistics."""
        cfg, policy = self.config, self.policy
        if not policy.recurrent:  # feed-forward samples are independent: (T, B) -> (1, T*B)
            rollout = _as_independent(rollout)
        width = rollout.obs.shape[1]
        totals: dict[str, float] = {}
        updates = 0
        for _ in range(cfg.epochs):
            order = torch.randperm(width, generator=self.generator, device=self.device)
            for index in order.chunk(cfg.minibatches):
                mb = _select(rollout, index)
                inputs = (mb.obs, mb.prev_action, mb.prev_reward_done, mb.trial_start,
                          mb.initial_state)
                if cfg.task_inference_coef:
                    mean, log_std, value, task_loss = policy.sequence_with_task_loss(*inputs)
                else:
                    mean, log_std, value = policy.sequence(*inputs)
                advantages = mb.advantages
                if cfg.norm_adv and advantages.numel() > 1:
                    advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
                loss, stats = ppo_loss(
                    gaussian_logprob(mean, log_std, mb.actions), mb.logprobs, advantages, value,
                    mb.returns, gaussian_entropy(log_std), cfg.clip_coef, cfg.vf_coef,
                    cfg.ent_coef)
                if cfg.task_inference_coef:
                    loss = loss + cfg.task_inference_coef * task_loss
                    stats["loss/task_inference"] = task_loss.item()
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                stats["grad_norm"] = nn.utils.clip_grad_norm_(policy.parameters(),
                                                              cfg.max_grad_norm).item()
                self.optimizer.step()
                for key, val in stats.items():
                    totals[key] = totals.get(key, 0.0) + val
                updates += 1
            if cfg.target_kl is not None and totals["loss/approx_kl"] / updates > cfg.target_kl:
                break
        return {key: val / updates for key, val in totals.items()}

    # -- state and deployment ---------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {"optimizer": self.optimizer.state_dict(), "scaler": self.scaler.state_dict(),
                "generator": self.generator.get_state(), "steps": self.steps, "lr": self.lr}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
        self.scaler.load_state_dict(state["scaler"])
        self.generator.set_state(state["generator"].to("cpu"))
        self.steps = int(state["steps"])
        self.lr = float(state.get("lr", self.config.learning_rate))
        self._sampling = False

    def adaptive_policy(self) -> TrainedPolicy:
        return load_policy(self.config, self.modules, self.family.name, self.device)

    def close(self) -> None:
        self.sampler.close()


def load_policy(config: RunConfig, modules: dict[str, nn.Module], family: str,
                device: torch.device, name: str = "", seed: int = 0,
                meta: dict | None = None) -> TrainedPolicy:
    """The deployed policy of a dr, oracle or rl2 run: its one network."""
    variant, expected = VARIANTS[config.algo], policy_class(config)
    if not isinstance(modules["policy"], POLICY_CLASSES[expected]):
        raise RoboMetaError(f"{config.algo} trains a {expected} policy, but this "
                            f"checkpoint's network is a {type(modules['policy']).__name__} "
                            "(config.json names the wrong algorithm?)")
    return TrainedPolicy(modules["policy"], config.algo, family, device,
                         with_features=variant.with_features, adaptive=variant.adaptive,
                         name=name, seed=seed, meta=meta)


def adapt_learning_rate(lr: float, kl: float, desired_kl: float, max_lr: float = 1e-2) -> float:
    """legged_gym's rule: lr / 1.5 when KL > 2 x target, lr x 1.5 when KL < target / 2."""
    if kl > 2.0 * desired_kl:
        lr /= 1.5
    elif kl < desired_kl / 2.0:
        lr *= 1.5
    return min(max(lr, 1e-5), max_lr)


_SEQUENCE_FIELDS = tuple(f for f in Rollout._fields if f != "initial_state")


def _as_independent(rollout: Rollout) -> Rollout:
    """(T, B, ...) -> (1, T*B, ...): feed-forward samples need no sequence order."""
    flat = {f: getattr(rollout, f).reshape(1, -1, *getattr(rollout, f).shape[2:])
            for f in _SEQUENCE_FIELDS}
    return Rollout(**flat, initial_state=rollout.initial_state.new_zeros(flat["obs"].shape[1], 0))


def _select(rollout: Rollout, index: torch.Tensor) -> Rollout:
    """The columns ``index`` (simulations, or samples once flattened) of a rollout."""
    # index_select, not rollout[:, index]: the same copy, some 10x faster on the CPU
    return Rollout(**{f: getattr(rollout, f).index_select(1, index) for f in _SEQUENCE_FIELDS},
                   initial_state=rollout.initial_state.index_select(0, index))


def _mean(values) -> float | None:
    return float(np.mean(values)) if len(values) else None


ALGORITHMS = tuple(
    AlgorithmSpec(name=name, summary=variant.summary, config_class=PPOConfig, build=PPO,
                  load_policy=load_policy)
    for name, variant in VARIANTS.items()
)
