"""Stock stable-baselines3 baselines on robo_meta's gymnasium env (domain randomization).

``robo_meta.envs.make(family)`` without a task draws a new train task at every reset, so
training SB3 on it is domain randomization with an off-the-shelf implementation: a reference
for our own ``dr`` and something users trust. Hyperparameters are SB3's defaults (MlpPolicy),
except where a short run could not otherwise finish one update: PPO's ``n_steps`` shrinks so
that ``total_steps`` holds at least one rollout, and SAC's replay buffer holds at most
``total_steps`` transitions. The run writes ``DIR/model.zip``, ``DIR/model.json`` and SB3's
training log ``DIR/progress.csv``; ``robo-meta evaluate --policy sb3:DIR/model.zip`` reads the
first two.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from robo_meta import io
from robo_meta.envs import get_family, make
from robo_meta.envs.errors import RoboMetaError

ALGOS = ("PPO", "SAC")


@dataclass
class SB3Config:
    """One SB3 baseline run."""

    family: str
    """Task family name or path to a ``.toml`` spec."""
    algo: str = "PPO"
    """PPO (on-policy, ``n_envs`` environments) or SAC (off-policy, one environment)."""
    total_steps: int = 1_000_000
    """Environment steps to train for (all environments together)."""
    seed: int = 0
    """Seed of SB3 (weights, sampling) and of the environments' task draws."""
    n_envs: int = 8
    """Environments in SB3's DummyVecEnv (PPO only; SAC uses one)."""
    device: str = "cpu"
    """Torch device: cpu (fastest for SB3's small MLPs), cuda or auto."""

    def validate(self) -> SB3Config:
        self.algo = self.algo.upper()
        if self.algo not in ALGOS:
            raise RoboMetaError(f"unknown SB3 algorithm {self.algo!r} (known: {', '.join(ALGOS)})")
        for name in ("total_steps", "n_envs"):
            if getattr(self, name) <= 0:
                raise RoboMetaError(f"--{name.replace('_', '-')} must be positive,"
                                    f" got {getattr(self, name)}")
        get_family(self.family)  # unknown family: a clear error before anything starts
        return self


def sb3_hyperparameters(config: SB3Config) -> dict[str, Any]:
    """SB3 constructor arguments that differ from its defaults (see the module docstring)."""
    if config.algo == "PPO":
        n_steps = min(2048, max(8, config.total_steps // config.n_envs))
        return {"n_steps": n_steps, "batch_size": min(64, n_steps * config.n_envs)}
    return {"buffer_size": min(1_000_000, config.total_steps)}


def train_sb3(config: SB3Config, out: str | Path) -> dict[str, Any]:
    """Train, then write ``out/model.zip`` and ``out/model.json``; returns the JSON's content."""
    config.validate()
    out = Path(out)
    if (out / "model.zip").exists():
        raise RoboMetaError(f"{out} already holds model.zip: choose another --out")
    from stable_baselines3 import PPO, SAC
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.logger import configure
    from stable_baselines3.common.vec_env import DummyVecEnv

    from robo_meta.device import resolve_device
    from robo_meta.evaluation import single_torch_thread

    device = resolve_device(config.device)
    n_envs = config.n_envs if config.algo == "PPO" else 1
    env = make_vec_env(lambda: make(config.family), n_envs=n_envs, seed=config.seed,
                       vec_env_cls=DummyVecEnv)
    hyper = sb3_hyperparameters(config)
    cls = PPO if config.algo == "PPO" else SAC
    model = cls("MlpPolicy", env, seed=config.seed, device=device, verbose=0, **hyper)
    # SB3's training log (rollout/ep_rew_mean, losses) as OUT/progress.csv; without a logger
    # SB3 would leave an SB3-<date> folder in the temp directory at every run
    out.mkdir(parents=True, exist_ok=True)
    model.set_logger(configure(str(out), ["csv"]))
    start = time.perf_counter()
    with single_torch_thread():  # SB3's small MLPs: more threads only spin against the envs
        model.learn(total_timesteps=config.total_steps)
    wall = time.perf_counter() - start
    env.close()
    info = {**asdict(config), "steps_done": int(model.num_timesteps), "n_envs": n_envs,
            "wall_time_s": round(wall, 2), "hyperparameters": hyper,
            "device": str(device), "torch_threads": 1, "sb3_version": _sb3_version()}
    with io.atomic_path(out / "model.zip") as tmp:
        model.save(tmp)
    io.write_json(out / "model.json", info)
    return info


def _sb3_version() -> str:
    import stable_baselines3

    return stable_baselines3.__version__
