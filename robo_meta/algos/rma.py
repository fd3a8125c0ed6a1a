"""Rapid Motor Adaptation (Kumar et al., RSS 2021) as ``--algo rma``: adapt to new dynamics
from the recent states and actions alone, without rewards, within the first episode.

- **Phase 1, the teacher** (``--total-steps`` env steps): PPO, exactly as ``oracle`` (trials of
  one episode, the task features appended to the observation), on ``RMATeacher``: the base
  policy π(x, a_prev, z) with z = μ(task features), μ a small MLP trained end to end.
- **Phase 2, the adaptation module** (``--adapt-steps`` env steps): φ, a 1-D convolution over
  the last ``--history`` (observation, previous action) entries, regressed (MSE) to z = μ(e)
  on rollouts of the student itself (the base policy fed ẑ = φ(history), deterministic
  actions as deployed), so it sees the states its own errors cause. Base policy and μ are
  frozen: only φ's optimizer steps.
- **Deployment** (``RMAPolicy``): needs observations and actions only; ``predict`` adapts.

Steps. ``--total-steps`` is phase 1, the same budget as a dr/oracle/rl2 run, and
``--adapt-steps`` phase 2, reported separately (``phase`` and ``adapt/steps`` columns of
metrics.csv). The run's step counter counts every env step this run took, so the Runner
trains for ``total_steps + adapt_steps``; with ``--teacher RUN`` (phase 2 only, the teacher
taken from a finished rma run of the same family) for ``adapt_steps``. The checkpoint holds
both networks (``teacher``, ``adapter``) and the phase, so either phase resumes.

History and episodes. The history restarts at every episode start, not only at a trial's: a
trial's episodes share the task, but the entry across a reset is no transition of the
dynamics (the observation jumps to a fresh start), the teacher always saw a zero previous
action at an episode's first step, and stable-baselines3 marks every episode start as
``episode_start``, so ``predict`` and act/observe drive the same code. What this forgoes is
small: after H steps (50 of hopper's 200) nothing of the previous episode would remain.
"""

from __future__ import annotations

import dataclasses
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from robo_meta import checkpoint
from robo_meta.adaptive import TrainedPolicy, _PredictMixin
from robo_meta.algos import AlgorithmSpec
from robo_meta.algos.ppo import PPO, PPOConfig, _mean
from robo_meta.config import RunConfig, check_range
from robo_meta.envs import Family, get_family, make_vec
from robo_meta.envs.errors import RoboMetaError
from robo_meta.identification import TrialIdentification
from robo_meta.policies import AdaptationModule, RMATeacher, build_policy
from robo_meta.policies.rma import RolloutHistories, Student


@dataclass
class RMAConfig(PPOConfig):
    """An rma run: PPO's fields (for the teacher) plus the adaptation module's.

    Phase 1, the teacher, is PPO as the oracle's: --total-steps and PPO's flags, --num-envs
    to --worker-threads (--gru-hidden is rl2's: unused). Phase 2, the adaptation module:
    --adapt-steps, --history and --adapter-*, with --num-envs, --rollout-steps, --minibatches
    and --max-grad-norm of PPO's, and no Ray. Both phases train on one-episode trials:
    --episodes-per-trial sets the trials of the quick evaluations on val only.
    """

    algo: str = "rma"
    """Algorithm (robo-meta train --algo NAME --help shows its options)."""
    total_steps: int = 1_000_000
    """Phase 1: environment steps of the teacher's PPO (unused with --teacher)."""
    adapt_steps: int = 500_000
    """Phase 2: environment steps of student rollouts that train the adaptation module."""
    history: int = 50
    """H: (observation, previous action) entries the adaptation module reads (RMA: 50)."""
    latent_dim: int = 8
    """Size of z = μ(task features), the latent the base policy is conditioned on."""
    adapter_channels: int = 32
    """Channels of the adaptation module's embedding and convolutions (RMA: 32)."""
    adapter_lr: float = 1e-3
    """Adam learning rate of the adaptation module."""
    adapter_epochs: int = 2
    """Regression epochs over each phase-2 rollout (in --minibatches minibatches)."""
    teacher: str | None = None
    """A finished rma run directory of the same family: reuse its teacher, run phase 2 only."""

    def run_steps(self) -> int:
        return self.adapt_steps + (0 if self.teacher else self.total_steps)

    def teacher_config(self) -> PPOConfig:
        """The teacher's PPO config: these fields, as the oracle (features in, one episode)."""
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(PPOConfig)}
        return PPOConfig(**{**values, "algo": "oracle"})

    def validate(self) -> RMAConfig:
        if self.algo != "rma":
            raise RoboMetaError(f"RMAConfig is for rma, not {self.algo!r}")
        self.teacher_config().validate()  # RunConfig's and PPO's checks of the shared fields
        check_range(self, "adapt_steps", 1, 10**13)
        check_range(self, "history", 1, 100_000)
        check_range(self, "latent_dim", 1, 4096)
        check_range(self, "adapter_channels", 1, 4096)
        check_range(self, "adapter_epochs", 1, 1000)
        check_range(self, "adapter_lr", 0.0, 1e6, low_open=True)
        return self


def adapter_spec(config: RMAConfig, obs_dim: int, act_dim: int) -> dict:
    return {"class": "rma_adapter", "kwargs": {
        "obs_dim": obs_dim, "act_dim": act_dim, "latent_dim": config.latent_dim,
        "history": config.history, "channels": config.adapter_channels, "align_newest": True}}


class RMA:
    """Teacher by PPO (phase 1), then the adaptation module by regression (phase 2)."""

    def __init__(self, config: RMAConfig, family: Family, device: torch.device):
        self.config, self.family, self.device = config.validate(), family, device
        # phase 1 is the oracle with a feature encoder (--algo oracle --latent-dim N), bit for bit
        self.ppo = PPO(config.teacher_config(), family, device)
        self.teacher: RMATeacher = self.ppo.policy
        spec = adapter_spec(config, self.teacher.obs_dim, self.teacher.act_dim)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(config.seed + 1)
            self.adapter: AdaptationModule = build_policy(spec).to(device)
        self.modules: dict[str, nn.Module] = {"teacher": self.teacher, "adapter": self.adapter}
        self.module_specs = {"teacher": self.ppo.module_specs["policy"], "adapter": spec}
        self.optimizer = torch.optim.Adam(self.adapter.parameters(), lr=config.adapter_lr)
        self.generator = torch.Generator(device=device).manual_seed(config.seed + 1)
        self.phase, self.teacher_steps, self.adapt_steps = 1, 0, 0
        self.env = None  # phase 2's simulations, made when phase 2 starts
        self.recent_returns: deque[float] = deque(maxlen=100)
        if config.teacher:
            self.teacher_steps = adopt_teacher(config, family, self.teacher,
                                               self.module_specs["teacher"], device)
            self._enter_phase2()

    @property
    def steps(self) -> int:
        """Environment steps this run took: phase 1 (none with --teacher) and phase 2."""
        return self.ppo.steps + self.adapt_steps

    # -- one iteration, top to bottom -------------------------------------------------------
    def iteration(self) -> dict[str, float]:
        if self.phase == 1:
            if self.ppo.steps < self.config.total_steps:
                return {"phase": 1.0, **self.ppo.iteration()}
            self.teacher_steps = self.ppo.steps
            self._enter_phase2()
        if self.env is None:  # fresh student rollouts, seeded by the step count
            self.env = make_vec(self.family, self.config.num_envs, episodes_per_trial=1,
                                nthread=self.config.threads)
            seed = self.config.seed + 7919 * (self.steps // self.config.num_envs)
            self.obs, _ = self.env.reset(seed=seed)
            self.student = Student(self.teacher, self.adapter, self.config.num_envs, self.device)
            self.episode_return = np.zeros(self.config.num_envs)
        start = time.perf_counter()
        histories, targets, estimates = self.collect()
        self.adapt_steps += len(targets)
        self.adapter.trained_steps += len(targets)
        collected = time.perf_counter()
        stats = self.regress(histories.entries(), histories.windows(), targets)
        return {"phase": 2.0, "adapt/steps": float(self.adapt_steps), **stats,
                "adapt/rollout_mse": (estimates - targets).square().mean().item(),
                "adapt/rollout_r2": r_squared(estimates, targets),
                "train/return": _mean(self.recent_returns),
                "time/collect_s": collected - start,
                "time/update_s": time.perf_counter() - collected}

    @torch.no_grad()
    def collect(self) -> tuple[RolloutHistories, torch.Tensor, torch.Tensor]:
        """``rollout_steps`` steps of every simulation driven by the student: (the histories
        it saw (N windows of H entries), targets z = μ(e) (N, latent), estimates ẑ (N,
        latent)), N = T x n, rows step-major."""
        histories = RolloutHistories(self.student.history.buffer)
        estimates, features = [], []
        obs_dim = self.teacher.obs_dim
        for _ in range(self.config.rollout_steps):
            # one transfer per step: observation and (for the targets) the task features
            packed = np.concatenate([self.obs, self.env.task_features], axis=1, dtype=np.float32)
            packed = torch.from_numpy(packed).to(self.device)
            action, z_hat, history = self.student.step(packed[:, :obs_dim])
            histories.record(history)
            estimates.append(z_hat)
            features.append(packed[:, obs_dim:])
            self.obs, reward, terminated, truncated, _ = self.env.step(action.cpu().numpy())
            self.student.acted(action)
            done = terminated | truncated
            self.episode_return += reward
            self.recent_returns.extend(self.episode_return[done].tolist())
            self.episode_return[done] = 0.0
            if done.any():
                self.student.restart(done)
        targets = self.teacher.encode(torch.cat(features))
        return histories, targets, torch.cat(estimates)

    def regress(self, entries: torch.Tensor, windows: torch.Tensor,
                targets: torch.Tensor) -> dict[str, float]:
        """``adapter_epochs`` passes of minibatch MSE regression of φ(history) to z, the
        histories ``entries[windows]`` (``RolloutHistories``; φ embeds each entry once)."""
        cfg = self.config
        losses = []
        for _ in range(cfg.adapter_epochs):
            order = torch.randperm(len(targets), generator=self.generator, device=self.device)
            for index in order.chunk(cfg.minibatches):
                estimates = self.adapter.forward_windows(entries, windows[index])
                loss = (estimates - targets[index]).square().mean()
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                nn.utils.clip_grad_norm_(self.adapter.parameters(), cfg.max_grad_norm)
                self.optimizer.step()
                losses.append(loss.item())
        return {"loss/adapter_mse": float(np.mean(losses))}

    def _enter_phase2(self) -> None:
        """Freeze the teacher (base policy, μ, normalizer) and drop phase 1's simulations."""
        self.phase = 2
        self.teacher.eval().requires_grad_(False)
        self.ppo.sampler.close()

    # -- state and deployment ---------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {"phase": self.phase, "ppo": self.ppo.state_dict(),
                "teacher_steps": self.teacher_steps, "adapt_steps": self.adapt_steps,
                "optimizer": self.optimizer.state_dict(), "generator": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.ppo.load_state_dict(state["ppo"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.generator.set_state(state["generator"].to("cpu"))
        self.teacher_steps = int(state["teacher_steps"])
        self.adapt_steps = int(state["adapt_steps"])
        if int(state["phase"]) == 2 and self.phase == 1:
            self._enter_phase2()
        self.env = None

    def adaptive_policy(self):
        """The student once phase 2 has begun; in phase 1 the teacher, told the task."""
        if self.phase == 1:
            return TrainedPolicy(self.teacher, "rma", self.family.name, self.device,
                                 with_features=True, name="rma-teacher")
        return RMAPolicy(self.teacher, self.adapter, self.family.name, self.device)

    def close(self) -> None:
        self.ppo.close()
        if self.env is not None:
            self.env.close()
            self.env = None


def adopt_teacher(config: RMAConfig, family: Family, teacher: RMATeacher, spec: dict,
                  device: torch.device) -> int:
    """Load the teacher of the rma run ``config.teacher`` into ``teacher``; its phase-1 steps.

    Refused in one line: not an rma run, another family, another teacher network, or a run
    whose phase 1 has not finished.
    """
    source = Path(str(config.teacher))
    try:
        saved_config, state, meta = checkpoint.load(source, map_location=device)
    except RoboMetaError as exc:
        raise RoboMetaError(f"--teacher {source}: {exc}") from None
    saved = saved_config["train"]
    if saved.get("algo") != "rma":
        raise RoboMetaError(f"--teacher {source}: a {saved.get('algo')} run, not an rma run "
                            "(only rma trains a teacher with a task encoder)")
    if get_family(saved["family"]).name != family.name:
        raise RoboMetaError(f"--teacher {source}: trained on family {saved['family']!r}, "
                            f"not {family.name!r}")
    if saved_config["modules"].get("teacher") != spec:
        raise RoboMetaError(f"--teacher {source}: its teacher network differs from the one "
                            "this config builds (use its --latent-dim, --hidden-sizes, "
                            "--encoder-sizes and --init-log-std, or --config "
                            f"{source}/config.json)")
    algorithm = state.get("algorithm") or {}
    if int(algorithm.get("phase", 1)) != 2:
        raise RoboMetaError(f"--teacher {source}: its phase 1 has not finished (resume it)")
    checkpoint.restore_modules({"teacher": teacher}, {"teacher": state["modules"]["teacher"]},
                               source)
    return int(algorithm.get("teacher_steps", meta.get("steps", 0)))


def r_squared(estimates: torch.Tensor, targets: torch.Tensor) -> float | None:
    """1 - Σ|ẑ - z|² / Σ|z - mean z|² over rows (latent dimensions pooled); None if z is
    constant."""
    spread = (targets - targets.mean(0)).square().sum()
    if spread.item() == 0.0:
        return None
    return (1.0 - (estimates - targets).square().sum() / spread).item()


class RMAPolicy(_PredictMixin):
    """The deployed student: ẑ = φ(history) feeds the frozen base policy. No rewards needed.

    ``observe`` reads the actions taken (what the history records) and the episode ends; the
    reward is ignored. ``predict`` adapts too: SB3's ``episode_start`` restarts those rows
    exactly as an episode end in ``observe`` does, so both paths give the same actions. The
    history restarts at every episode start (see the module docstring), so nothing carries
    across a trial's episodes and ``adaptive`` (memory across episodes) is False.

    Given ``task_features`` at ``reset`` (the evaluator passes them), it also records how well
    ẑ tracks z = μ(features) at each step of each trial's first episode (once per trial, so
    rows the evaluator keeps stepping after their K episodes add nothing):
    ``identification()`` (robo_meta.identification).
    """

    algo = "rma"
    adaptive = False

    def __init__(self, teacher: RMATeacher, adapter: AdaptationModule, family: str,
                 device: torch.device, name: str = "", seed: int = 0, meta: dict | None = None):
        if int(adapter.trained_steps) == 0:
            raise RoboMetaError(f"rma policy {name or family}: the adaptation module is untrained "
                                "(a checkpoint from phase 1, the teacher alone, which needs the "
                                "task features); resume the run to train phase 2")
        self.teacher, self.adapter = teacher.to(device).eval(), adapter.to(device).eval()
        self.family, self.device, self.name, self.meta = family, device, name or "rma", meta or {}
        self.obs_dim = teacher.obs_dim
        self.generator = torch.Generator(device=device).manual_seed(seed)
        self.tracker = TrialIdentification("ẑ", "z = μ(task features)", episodes=1)
        self._num_envs: int | None = None

    def reset(self, num_envs: int, task_features: np.ndarray | None = None) -> None:
        self._num_envs = num_envs
        self.student = Student(self.teacher, self.adapter, num_envs, self.device)
        self.tracker.start(num_envs)
        self._z = None
        if task_features is not None:
            features = torch.as_tensor(np.asarray(task_features), dtype=torch.float32,
                                       device=self.device).reshape(num_envs, -1)
            with torch.no_grad():
                self._z = self.teacher.encode(features)

    def restart(self, rows: np.ndarray) -> None:
        """New episodes (or trials) in ``rows`` only: their history and previous action go."""
        if self._num_envs is None:
            raise RoboMetaError("call reset(num_envs) before restart()")
        self.student.restart(rows)

    @torch.no_grad()
    def act(self, obs: np.ndarray, deterministic: bool = True) -> np.ndarray:
        if self._num_envs is None:
            raise RoboMetaError("call reset(num_envs) before act()")
        obs = torch.as_tensor(np.asarray(obs), dtype=torch.float32, device=self.device)
        mean, z_hat, _ = self.student.step(obs)
        action = mean if deterministic else mean + self.teacher.log_std.exp() * torch.randn(
            mean.shape, generator=self.generator, device=self.device)
        self.student.acted(action)
        if self._z is not None:
            self.tracker.add(z_hat, self._z)
        return action.cpu().numpy().astype(np.float64)

    def observe(self, obs, action, reward, terminated, truncated) -> None:
        """Record the action taken; restart the rows whose episode ended. ``reward`` unused."""
        taken = torch.as_tensor(np.asarray(action), dtype=torch.float32, device=self.device)
        self.student.acted(taken.reshape(self._num_envs, -1))
        done = np.flatnonzero(np.logical_or(terminated, truncated))
        if len(done):
            self.restart(done)
            self.tracker.ended(done)

    def identification(self, episodes: int | None = None) -> dict[str, Any] | None:
        """How ẑ tracked z since the last call, by step in the first episode (None: no
        features); ``episodes`` is unused: ẑ restarts with every episode."""
        return self.tracker.pop()


def load_policy(config: RunConfig, modules: dict[str, nn.Module], family: str,
                device: torch.device, name: str = "", seed: int = 0,
                meta: dict | None = None) -> RMAPolicy:
    """The deployed student of an rma run; refused for a checkpoint of phase 1 only."""
    teacher, adapter = modules.get("teacher"), modules.get("adapter")
    if not isinstance(teacher, RMATeacher) or not isinstance(adapter, AdaptationModule):
        raise RoboMetaError("an rma checkpoint holds an rma_teacher and an rma_adapter network; "
                            "this one does not (config.json names the wrong algorithm?)")
    return RMAPolicy(teacher, adapter, family, device, name=name, seed=seed, meta=meta)


ALGORITHMS = (AlgorithmSpec(
    name="rma", summary="Rapid Motor Adaptation: a teacher told the task, then an adaptation "
                        "module that infers it from states and actions (no rewards)",
    config_class=RMAConfig, build=RMA, load_policy=load_policy),)
