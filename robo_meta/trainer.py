"""The training loop: batched rollouts from ``make_vec``, PPO updates, evaluation, checkpoints.

The hot path per step is: one host->device transfer (observations, previous rewards and
flags packed in one array), one batched policy call on the device, one device->host transfer
(actions), one ``Batch`` step for every simulation. Everything else (GAE, updates) runs once
per rollout on the device.
"""

from __future__ import annotations

import math
import time
from collections import deque
from pathlib import Path

import numpy as np
import torch

from robo_meta import checkpoint
from robo_meta.adaptive import TrainedPolicy
from robo_meta.algos import get_algorithm
from robo_meta.config import TrainConfig
from robo_meta.envs import get_family, make_vec
from robo_meta.envs.errors import RoboMetaError
from robo_meta.evaluation import run_trials
from robo_meta.logger import Logger
from robo_meta.policies import build_policy
from robo_meta.ppo import Rollout, compute_gae, gaussian_logprob, ppo_update

LOSS_COLUMNS = ["loss/policy", "loss/value", "loss/entropy", "loss/approx_kl",
                "loss/clip_fraction", "grad_norm"]


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


class Trainer:
    """Trains ``config.algo`` on ``config.family``, writing the run to ``run_dir``."""

    def __init__(self, config: TrainConfig, run_dir: str | Path, device: torch.device,
                 resume: bool = False, progress: bool | None = None):
        self.config = config.validate()
        self.run_dir = Path(run_dir)
        self.device = device
        if device.type == "cpu" and config.torch_threads > 0:
            torch.set_num_threads(config.torch_threads)
        self.algorithm = get_algorithm(config.algo)
        self.family = get_family(config.family)
        self.env = make_vec(self.family, config.num_envs,
                            episodes_per_trial=config.trial_episodes, nthread=config.threads)
        obs_dim = self.env.sim.obs_dim
        if self.algorithm.uses_task_features:
            obs_dim += self.family.feature_dim
        act_dim = self.env.single_action_space.shape[0]
        self.policy_spec = {"class": self.algorithm.policy_class,
                            "kwargs": self.algorithm.policy_kwargs(config, obs_dim, act_dim)}
        with torch.random.fork_rng(devices=[]):  # weights from the run seed, not global state
            torch.manual_seed(config.seed)
            self.policy = build_policy(self.policy_spec).to(device)
        self.optimizer = torch.optim.Adam(self.policy.parameters(), lr=config.learning_rate,
                                          eps=1e-5)
        self.generator = torch.Generator(device=device).manual_seed(config.seed)
        self.scaler = ReturnScaler(config.num_envs, config.gamma)
        self.step = 0
        self.wall_time = 0.0
        self.lr = config.learning_rate
        self.recent_returns: deque[float] = deque(maxlen=100)
        self.recent_lengths: deque[float] = deque(maxlen=100)
        if resume:
            self._load()
        self.run_dir.mkdir(parents=True, exist_ok=True)
        checkpoint.save_config(self.run_dir, config, self.policy_spec)
        eval_columns = [f"eval/return_ep{k + 1}" for k in range(config.episodes_per_trial)]
        self.logger = Logger(self.run_dir, ["wall_time", "steps_per_s", "lr", "train/return",
                                            "train/episode_length", *LOSS_COLUMNS, *eval_columns],
                             config.total_steps, self.step, progress=progress)

    # -- state -----------------------------------------------------------------------------------
    def _load(self) -> None:
        saved_config, state, meta = checkpoint.load(self.run_dir, map_location=self.device)
        if get_family(saved_config["train"]["family"]).name != self.family.name:
            raise RoboMetaError(
                f"--resume {self.run_dir}: that run trained family"
                f" {saved_config['train']['family']!r}, not {self.family.name!r}"
            )
        if saved_config["train"]["algo"] != self.config.algo:
            raise RoboMetaError(
                f"--resume {self.run_dir}: that run used algorithm"
                f" {saved_config['train']['algo']!r}, not {self.config.algo!r}"
            )
        self.policy.load_state_dict(state["policy"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scaler.load_state_dict(state["trainer"]["scaler"])
        self.generator.set_state(state["trainer"]["generator"].to("cpu"))
        self.step = int(state["trainer"]["step"])
        self.wall_time = float(state["trainer"]["wall_time"])
        self.lr = float(state["trainer"].get("lr", self.config.learning_rate))

    def save(self) -> None:
        state = {
            "policy": self.policy.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "trainer": {"step": self.step, "wall_time": self.wall_time, "lr": self.lr,
                        "scaler": self.scaler.state_dict(),
                        "generator": self.generator.get_state()},
        }
        meta = {"family": self.family.name, "algo": self.config.algo, "steps": self.step,
                "wall_time_s": round(self.wall_time, 1), "device": str(self.device),
                "device_name": _device_name(self.device), "seed": self.config.seed}
        checkpoint.save_state(self.run_dir, state, meta)

    # -- rollouts --------------------------------------------------------------------------------
    def _reset_env(self) -> None:
        seed = self.config.seed + 7919 * (self.step // max(1, self.config.num_envs))
        obs, info = self.env.reset(seed=seed)
        n = self.config.num_envs
        self.obs, self.trial_start = obs, info["trial_start"]
        self.prev_reward = np.zeros((n, 2))
        self.prev_action = torch.zeros(n, self.policy.act_dim, device=self.device)
        self.state = self.policy.initial_state(n, self.device)
        self.episode_return, self.episode_length = np.zeros(n), np.zeros(n, dtype=np.int64)

    def _host_inputs(self) -> torch.Tensor:
        """Observation (+ task features), previous reward/done, trial start: one transfer."""
        parts = [self.obs]
        if self.algorithm.uses_task_features:
            parts.append(self.env.task_features)
        parts += [self.prev_reward, self.trial_start[:, None]]
        packed = np.concatenate(parts, axis=1, dtype=np.float32)
        return torch.from_numpy(packed).to(self.device, non_blocking=True)

    @torch.no_grad()
    def collect(self) -> Rollout:
        """Step every simulation ``rollout_steps`` times; return the rollout with GAE."""
        cfg, policy, dev = self.config, self.policy, self.device
        T, n, A = cfg.rollout_steps, cfg.num_envs, policy.act_dim
        D = policy.obs_dim
        obs_buf = torch.zeros(T, n, D, device=dev)
        prev_action_buf = torch.zeros(T, n, A, device=dev)
        prev_reward_buf = torch.zeros(T, n, 2, device=dev)
        start_buf = torch.zeros(T, n, dtype=torch.bool, device=dev)
        action_buf = torch.zeros(T, n, A, device=dev)
        logp_buf, value_buf = torch.zeros(T, n, device=dev), torch.zeros(T, n, device=dev)
        bootstrap = torch.zeros(T, n, device=dev)
        rewards, trial_end = np.zeros((T, n), np.float32), np.zeros((T, n), bool)
        initial_state = self.state.clone()
        for t in range(T):
            x = self._host_inputs()
            obs_t, prev_r, start = x[:, :D], x[:, D:D + 2], x[:, D + 2] > 0.5
            prev_action = self.prev_action * (~start).unsqueeze(-1)  # none before a trial
            mean, log_std, value, self.state = policy.step(obs_t, prev_action, prev_r, start,
                                                           self.state)
            action = mean + log_std.exp() * torch.randn(mean.shape, generator=self.generator,
                                                        device=dev)
            obs_buf[t], prev_action_buf[t] = obs_t, prev_action
            prev_reward_buf[t], start_buf[t] = prev_r, start
            action_buf[t], value_buf[t] = action, value
            logp_buf[t] = gaussian_logprob(mean, log_std, action)
            action_np = action.cpu().numpy()
            self.obs, reward, terminated, truncated, info = self.env.step(action_np)
            done = terminated | truncated
            self.trial_start = info["trial_start"]
            # Returns run on across time limits inside a trial (the next episode continues the
            # trial) but stop at a termination: a fall must cost the future, not buy a fresh
            # episode worth as much as the rest of this one.
            trial_end[t] = self.trial_start | terminated
            rewards[t] = self.scaler(reward, trial_end[t])  # the same returns the GAE sees
            cut = truncated & ~terminated & self.trial_start  # time limit at a trial's end
            if cut.any():
                bootstrap[t] = self._final_values(info, cut, action, reward, done)
            self._track_episodes(reward, done)
            self.prev_action = action
            self.prev_reward = np.stack([reward, done], axis=1) * ~self.trial_start[:, None]
        x = self._host_inputs()
        start = x[:, D + 2] > 0.5
        _, _, next_value, _ = policy.step(x[:, :D], self.prev_action * (~start).unsqueeze(-1),
                                          x[:, D:D + 2], start, self.state)
        reward_t = torch.from_numpy(rewards).to(dev) + cfg.gamma * bootstrap
        end_t = torch.from_numpy(trial_end).to(dev)
        advantages, returns = compute_gae(reward_t, value_buf, next_value, end_t, cfg.gamma,
                                          cfg.gae_lambda)
        self.step += T * n
        return Rollout(obs_buf, prev_action_buf, prev_reward_buf, start_buf, action_buf, logp_buf,
                       value_buf, advantages, returns, initial_state)

    def _final_values(self, info, cut, action, reward, done) -> torch.Tensor:
        """V(last observation) of simulations whose trial hit the time limit, else 0."""
        parts = [info["final_obs"]]
        if self.algorithm.uses_task_features:
            parts.append(info["task_features"])  # the ended trial's task, not the next one's
        x = torch.from_numpy(np.concatenate(parts, axis=1, dtype=np.float32)).to(self.device)
        prev_r = torch.from_numpy(np.stack([reward, done], axis=1).astype(np.float32)).to(
            self.device)
        no_start = torch.zeros(len(x), dtype=torch.bool, device=self.device)
        _, _, value, _ = self.policy.step(x, action, prev_r, no_start, self.state)
        return value * torch.from_numpy(cut).to(self.device)

    def _track_episodes(self, reward: np.ndarray, done: np.ndarray) -> None:
        self.episode_return += reward
        self.episode_length += 1
        for i in np.flatnonzero(done):
            self.recent_returns.append(float(self.episode_return[i]))
            self.recent_lengths.append(float(self.episode_length[i]))
        self.episode_return[done], self.episode_length[done] = 0.0, 0

    # -- the loop --------------------------------------------------------------------------------
    def evaluate(self) -> dict[str, float]:
        """Quick held-out check on the first ``eval_tasks`` test tasks (deterministic)."""
        tasks = self.family.tasks("test")[: self.config.eval_tasks]
        trained = TrainedPolicy(self.policy, self.algorithm, self.family.name, self.device)
        results = run_trials(trained, self.family.name, tasks,
                             episodes=self.config.episodes_per_trial, seed=10_000,
                             threads=self.config.threads)
        self.policy.train()
        return {f"eval/return_ep{k + 1}": float(v)
                for k, v in enumerate(results.returns.mean(axis=0))}

    def _out_of_time(self) -> bool:
        return self.config.time_limit_s > 0 and self.wall_time >= self.config.time_limit_s

    def train(self) -> dict[str, float]:
        cfg = self.config
        per_rollout = cfg.rollout_steps * cfg.num_envs
        eval_every = cfg.eval_every or max(per_rollout, cfg.total_steps // 10)
        ckpt_every = cfg.checkpoint_every or eval_every
        next_eval = (self.step // eval_every + 1) * eval_every
        next_ckpt = (self.step // ckpt_every + 1) * ckpt_every
        self._reset_env()
        last_eval: dict[str, float] = {}
        try:
            while self.step < cfg.total_steps and not self._out_of_time():
                start = time.perf_counter()
                if cfg.lr_schedule == "linear":
                    self.lr = cfg.learning_rate * (1 - self.step / cfg.total_steps)
                for group in self.optimizer.param_groups:
                    group["lr"] = self.lr
                rollout = self.collect()
                stats = ppo_update(
                    self.policy, self.optimizer, rollout, epochs=cfg.epochs,
                    minibatches=cfg.minibatches, clip_coef=cfg.clip_coef, vf_coef=cfg.vf_coef,
                    ent_coef=cfg.ent_coef, max_grad_norm=cfg.max_grad_norm,
                    norm_adv=cfg.norm_adv, generator=self.generator, target_kl=cfg.target_kl,
                )
                self.policy.normalizer.update(rollout.obs)  # after the update: ratios stay exact
                if cfg.lr_schedule == "adaptive":
                    self.lr = adapt_learning_rate(self.lr, stats["loss/approx_kl"], cfg.desired_kl,
                                                  cfg.max_learning_rate)
                elapsed = time.perf_counter() - start
                self.wall_time += elapsed
                row = {"step": self.step, "wall_time": self.wall_time,
                       "steps_per_s": per_rollout / elapsed, "lr": self.lr, **stats,
                       "train/return": _mean(self.recent_returns),
                       "train/episode_length": _mean(self.recent_lengths)}
                if self.step >= next_eval or self.step >= cfg.total_steps or self._out_of_time():
                    last_eval = self.evaluate()
                    row.update(last_eval)
                    next_eval += eval_every
                    shown = " ".join(f"{v:.1f}" for v in last_eval.values())
                    self.logger.message(
                        f"step {self.step:>10,}  {row['steps_per_s']:>8.0f} steps/s  "
                        f"train return {row['train/return'] or float('nan'):8.2f}  "
                        f"eval return by episode [{shown}]"
                    )
                self.logger.log(row)
                if self.step >= next_ckpt:
                    self.save()
                    next_ckpt += ckpt_every
        finally:
            self.save()
            self.logger.close()
            self.env.close()
        return {"steps": self.step, "wall_time": self.wall_time, **last_eval}


def adapt_learning_rate(lr: float, kl: float, desired_kl: float, max_lr: float = 1e-2) -> float:
    """legged_gym's rule: lr / 1.5 when KL > 2 x target, lr x 1.5 when KL < target / 2."""
    if kl > 2.0 * desired_kl:
        lr /= 1.5
    elif kl < desired_kl / 2.0:
        lr *= 1.5
    return min(max(lr, 1e-5), max_lr)


def _mean(values) -> float | None:
    return float(np.mean(values)) if len(values) else None


def _device_name(device: torch.device) -> str:
    """The GPU's name, or the CPU model and count (recorded in meta.json and the cards)."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    import os
    import platform

    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            model = next(line.split(":", 1)[1].strip() for line in cpuinfo
                         if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{model} ({os.cpu_count()} CPUs)"
