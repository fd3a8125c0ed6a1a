"""Run configuration: one dataclass, one source of defaults, saved as ``config.json``."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from robo_meta import io
from robo_meta.envs.errors import RoboMetaError

ALGORITHMS = ("dr", "oracle", "rl2")


@dataclass
class TrainConfig:
    """Everything that defines a training run (CLI flags override a ``--config`` JSON file)."""

    family: str = "point-goal"
    """Task family name or path to a ``.toml`` spec."""
    algo: str = "rl2"
    """Algorithm: dr (MLP, domain randomization), oracle (MLP + task features), rl2 (GRU)."""
    total_steps: int = 1_000_000
    """Environment steps to train for (all simulations together)."""
    num_envs: int = 64
    """Simulations stepped together in one batch."""
    seed: int = 0
    """Run seed: every generator (tasks, reset noise, weights, sampling) derives from it."""
    device: str = "auto"
    """Torch device of the policy: auto (cuda if available), cpu or cuda."""
    threads: int = 0
    """Threads of the simulation batch; 0 uses every CPU."""
    episodes_per_trial: int = 3
    """RL² trial length K (tasks stay fixed for K episodes); dr and oracle always use 1."""
    rollout_steps: int = 64
    """Steps per simulation per rollout (also the BPTT length of rl2)."""
    epochs: int = 5
    """PPO epochs over each rollout."""
    minibatches: int = 4
    """Minibatches per epoch (rl2 splits by simulation, keeping sequences whole)."""
    learning_rate: float = 3e-4
    """Adam learning rate at the start."""
    lr_schedule: str = "adaptive"
    """adaptive (scale by 1.5 to keep the KL near desired_kl, as legged_gym), linear or constant."""
    desired_kl: float = 0.01
    """KL target of the adaptive learning-rate schedule."""
    max_learning_rate: float = 1e-3
    """Ceiling of the adaptive schedule (at 5e-3 the rl2 GRU stalled on hopper-params)."""
    torch_threads: int = 1
    """Torch intra-op threads on CPU: more fight the simulation batch's own threads."""
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
    """Hidden layers of the MLP policy and value networks (dr, oracle)."""
    gru_hidden: int = 128
    """GRU hidden size (rl2)."""
    init_log_std: float = -0.5
    """Initial log standard deviation of the Gaussian policy."""
    eval_every: int = 0
    """Quick held-out evaluation every this many steps (0: ten times per run)."""
    eval_tasks: int = 8
    """Number of ``test`` tasks in the quick evaluation."""
    checkpoint_every: int = 0
    """Write the checkpoint every this many steps (0: with each quick evaluation)."""
    time_limit_s: float = 0.0
    """Stop cleanly (final evaluation, checkpoint) after this much training time; 0: none."""

    def validate(self) -> TrainConfig:
        if self.algo not in ALGORITHMS:
            raise RoboMetaError(f"unknown algorithm {self.algo!r} (known: {', '.join(ALGORITHMS)})")
        for name in ("total_steps", "num_envs", "rollout_steps", "epochs", "minibatches",
                     "episodes_per_trial", "eval_tasks", "gru_hidden"):
            if getattr(self, name) <= 0:
                raise RoboMetaError(f"{name} must be positive, got {getattr(self, name)}")
        if self.device not in ("auto", "cpu", "cuda") and not self.device.startswith("cuda:"):
            raise RoboMetaError(f"device must be auto, cpu or cuda, got {self.device!r}")
        if self.lr_schedule not in ("adaptive", "linear", "constant"):
            raise RoboMetaError(f"lr_schedule must be adaptive, linear or constant, got "
                                f"{self.lr_schedule!r}")
        if self.minibatches > self.num_envs * self.rollout_steps:
            raise RoboMetaError("more minibatches than samples per rollout")
        return self

    @property
    def trial_episodes(self) -> int:
        """Episodes per trial actually used: K for rl2, 1 for the non-adaptive baselines."""
        return self.episodes_per_trial if self.algo == "rl2" else 1

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise RoboMetaError(f"unknown config key {unknown[0]!r}")
        return cls(**data)

    @classmethod
    def from_file(cls, path: str | Path) -> TrainConfig:
        data = io.read_json(path, "config")
        if not isinstance(data, dict):
            raise RoboMetaError(f"config {path} must hold a JSON object")
        return cls.from_dict(data)
