"""The Runner: a training run's directory, cadence and bookkeeping, for any algorithm.

It builds the algorithm named by ``config.algo`` and calls ``iteration()`` until
``config.run_steps()`` (or ``time_limit_s``), and around it: ``config.json``, ``metrics.csv``
(every column any algorithm logs), TensorBoard, the progress bar, quick evaluations on the ``val``
split (``test`` is for final reports only), atomic checkpoints and ``--resume``. It knows the
Algorithm protocol (robo_meta.algos) and nothing of PPO.

A run directory is guarded by an advisory lock (``.lock``, holding the owner's pid): a second
run on it fails in one line. Nothing is written into it before the config, the checkpoint to
resume and the algorithm have all been accepted.
"""

from __future__ import annotations

import fcntl
import math
import os
import time
from pathlib import Path

import numpy as np
import torch

from robo_meta import checkpoint
from robo_meta.adaptive import checkpoint_dir
from robo_meta.algos import get_algorithm
from robo_meta.config import RunConfig
from robo_meta.device import device_name
from robo_meta.envs import get_family
from robo_meta.envs.errors import RoboMetaError
from robo_meta.evaluation import run_trials, shown_episodes, trial_episodes
from robo_meta.logger import Logger
from robo_meta.policies.activations import numpy_kernel

EVAL_SEED = 10_000  # quick evaluations reset their trials with this seed: comparable over time


class Runner:
    """Trains ``config.algo`` on ``config.family``, writing the run to ``run_dir``."""

    def __init__(self, config: RunConfig, run_dir: str | Path, device: torch.device,
                 resume: bool = False, progress: bool | None = None):
        spec = get_algorithm(config.algo)
        if not isinstance(config, spec.config_class):
            raise RoboMetaError(f"--algo {config.algo} takes a {spec.config_class.__name__}, "
                                f"not a {type(config).__name__}")
        self.config = config.validate()
        self.run_dir, self.device = Path(run_dir), device
        checkpoint.versions()  # the commit read now, once (cached): edits of the tree after
        # the start do not change the code this process runs, nor what its saves record
        self.family = get_family(config.family)
        if device.type == "cpu" and config.torch_threads > 0:
            torch.set_num_threads(config.torch_threads)
        if resume and not self.run_dir.is_dir():
            raise RoboMetaError(f"--resume {self.run_dir}: no such run directory")
        self._lock = _lock(self.run_dir) if resume else None  # before reading the checkpoint
        self.wall_time = 0.0
        self._saved_step: int | None = None
        self.started_from: dict | None = None  # --init-from's record (meta.json "init_from")
        try:
            self.algorithm = spec.build(config, self.family, device)
            try:
                if resume:
                    self._load()
                elif config.init_from:
                    self._init_from(config.init_from)
                if self._lock is None:
                    self._lock = _lock(self.run_dir)
            except BaseException:
                self.algorithm.close()
                raise
        except BaseException:
            self.release()
            raise
        _claim(self.run_dir)
        _remove_stray_temporaries(self.run_dir)
        checkpoint.save_config(self.run_dir, config, self.algorithm.module_specs)
        self.logger = Logger(self.run_dir, config.run_steps(), self.step, progress=progress)

    def release(self) -> None:
        """Unlock the run directory (also done by the end of the process)."""
        if self._lock is not None:
            os.close(self._lock)
            self._lock = None

    @property
    def step(self) -> int:
        return self.algorithm.steps

    # -- state -------------------------------------------------------------------------------
    def _load(self) -> None:
        saved_config, state, meta = checkpoint.load(self.run_dir, map_location=self.device)
        self.started_from = meta.get("init_from")
        saved = saved_config["train"]
        if get_family(saved["family"]).name != self.family.name:
            raise RoboMetaError(f"--resume {self.run_dir}: that run trained family "
                                f"{saved['family']!r}, not {self.family.name!r}")
        if saved["algo"] != self.config.algo:
            raise RoboMetaError(f"--resume {self.run_dir}: that run used algorithm "
                                f"{saved['algo']!r}, not {self.config.algo!r}")
        self._require_same_networks(f"--resume {self.run_dir}", saved_config["modules"])
        if not state["algorithm"]:  # what `policies export` writes: the weights alone
            raise RoboMetaError(f"--resume {self.run_dir}: it holds a policy's weights only "
                                "(a pretrained copy), not the optimizer state a run keeps; "
                                "resume the training run's own directory")
        checkpoint.restore_modules(self.algorithm.modules, state["modules"], self.run_dir)
        self.algorithm.load_state_dict(state["algorithm"])
        self.wall_time = float(state["runner"]["wall_time"])
        self._saved_step = self.step

    def _init_from(self, source: str) -> None:
        """Load the networks of ``source`` (--init-from) into the fresh algorithm's."""
        path = checkpoint_dir(source)
        saved_config, state, meta = checkpoint.load(path, map_location=self.device)
        self._require_same_networks(f"--init-from {source}", saved_config["modules"])
        checkpoint.restore_modules(self.algorithm.modules, state["modules"], path)
        self.started_from = checkpoint.started_from(source, meta)

    def _require_same_networks(self, what: str, saved: dict) -> None:
        """Fail in one line, naming the first difference, unless a checkpoint's module specs
        are the ones this config builds (its weights can only load into those)."""
        built = self.algorithm.module_specs
        if saved != built:
            raise RoboMetaError(f"{what}: its networks differ from the ones this config builds "
                                f"({_spec_difference(saved, built)})")

    def save(self) -> None:
        state = {"modules": {name: m.state_dict() for name, m in self.algorithm.modules.items()},
                 "algorithm": self.algorithm.state_dict(),
                 "runner": {"step": self.step, "wall_time": self.wall_time}}
        meta = {"family": self.family.name, "algo": self.config.algo, "steps": self.step,
                "wall_time_s": round(self.wall_time, 1), "device": str(self.device),
                "device_name": device_name(self.device), "seed": self.config.seed}
        if self.started_from is not None:
            meta["init_from"] = self.started_from
        checkpoint.save_state(self.run_dir, state, meta)
        self._saved_step = self.step

    def _non_finite(self, stats: dict[str, float]) -> str | None:
        """What went non-finite in this iteration (a statistic or a weight), else None."""
        for key, value in stats.items():
            if isinstance(value, float) and not math.isfinite(value):
                return f"{key} = {value}"
        for name, module in self.algorithm.modules.items():
            bad = checkpoint.first_non_finite(module.named_parameters())
            if bad is not None:
                return f"{name}.{bad} has non-finite values"
        return None

    # -- the loop ------------------------------------------------------------------------------
    def evaluate(self) -> dict[str, float]:
        """Quick check on the first ``eval_tasks`` val tasks (deterministic actions); trials
        whose simulation failed are left out, and counted in ``eval/failed_trials``.

        Trials of ``episodes_per_trial`` episodes, and at least one more than a policy spends
        exploring (maml's ``--inner-episodes``), so the curve shows an adapted episode."""
        tasks = self.family.tasks("val")[: self.config.eval_tasks]
        policy = self.algorithm.adaptive_policy()
        episodes = trial_episodes(policy, at_least=self.config.episodes_per_trial)
        results = run_trials(policy, self.family, tasks, episodes=episodes, seed=EVAL_SEED,
                             threads=self.config.threads)
        scored = ~results.failed.any(axis=1)  # a failed simulation's episode has no return
        means = (results.returns[scored].mean(axis=0) if scored.any()
                 else np.full(results.returns.shape[1], np.nan))
        stats = {f"eval/return_ep{k + 1}": float(v) for k, v in enumerate(means)}
        if not scored.all():
            stats["eval/failed_trials"] = float((~scored).sum())
        return stats

    def _out_of_time(self) -> bool:
        return self.config.time_limit_s > 0 and self.wall_time >= self.config.time_limit_s

    def train(self) -> dict[str, float]:
        cfg = self.config
        eval_every = cfg.eval_every or max(1, cfg.run_steps() // 10)
        ckpt_every = cfg.checkpoint_every or eval_every
        next_eval = (self.step // eval_every + 1) * eval_every
        next_ckpt = (self.step // ckpt_every + 1) * ckpt_every
        last_eval: dict[str, float] = {}
        diverged = False
        try:
            while self.step < cfg.run_steps() and not self._out_of_time():
                start, before = time.perf_counter(), self.step
                with numpy_kernel(cfg.numpy_tanh):
                    stats = self.algorithm.iteration()
                problem = self._non_finite(stats)
                if problem:
                    diverged = True
                    kept = (f"the checkpoint of step {self._saved_step:,} is kept"
                            if self._saved_step is not None else "no checkpoint was written")
                    raise RoboMetaError(f"training diverged at step {self.step:,} ({problem}); "
                                        f"{kept} (try a lower --learning-rate)")
                elapsed = time.perf_counter() - start
                self.wall_time += elapsed
                row = {"step": self.step, "wall_time": self.wall_time,
                       "steps_per_s": (self.step - before) / elapsed, **stats}
                if self.step >= next_eval or self.step >= cfg.run_steps() or self._out_of_time():
                    last_eval = self.evaluate()
                    row.update(last_eval)
                    next_eval = (self.step // eval_every + 1) * eval_every
                    self.logger.message(_progress_line(row, last_eval))
                self.logger.log(row)
                if self.step >= next_ckpt:
                    self.save()
                    next_ckpt = (self.step // ckpt_every + 1) * ckpt_every
        finally:
            if not diverged:
                self.save()
            self.logger.close()
            self.algorithm.close()
            self.release()
        return {"steps": self.step, "wall_time": self.wall_time, **last_eval}


def _spec_difference(saved: dict, built: dict) -> str:
    """The first way two {module: {"class", "kwargs"}} specs differ, in words."""
    if set(saved) != set(built):
        return f"modules {sorted(saved)} in the source, {sorted(built)} here"
    for name in sorted(saved):
        if saved[name].get("class") != built[name].get("class"):
            return (f"{name} is a {saved[name].get('class')} in the source, "
                    f"a {built[name].get('class')} here")
        mine, theirs = saved[name].get("kwargs", {}), built[name].get("kwargs", {})
        for key in sorted(set(mine) | set(theirs)):
            if mine.get(key) != theirs.get(key):
                return f"{name} {key}: {mine.get(key)} in the source, {theirs.get(key)} here"
    return "specs differ"


def _progress_line(row: dict, evaluation: dict[str, float]) -> str:
    """One line per quick evaluation: the step, the rate, and the val returns of the episodes
    that ``shown_episodes`` picks (of a 21-episode trial, episodes 1 / 20 / 21)."""
    returns = returned_episodes(evaluation)
    picked = shown_episodes(len(returns))
    which = ("by episode" if len(picked) == len(returns)
             else "at episodes " + " / ".join(str(i + 1) for i in picked))
    shown = " ".join(f"{returns[i]:.1f}" for i in picked)
    failed = evaluation.get("eval/failed_trials")
    dropped = f" ({failed:.0f} failed trials left out)" if failed else ""
    train_return = row.get("train/return")
    trained = f"  train return {train_return:8.2f}" if train_return is not None else ""
    return (f"step {row['step']:>10,}  {row['steps_per_s']:>8.0f} steps/s{trained}  "
            f"val return {which} [{shown}]{dropped}")


def returned_episodes(evaluation: dict[str, float]) -> list[float]:
    """The quick evaluation's returns by episode, in order (``eval/return_epK``)."""
    return [evaluation[f"eval/return_ep{k}"]
            for k in range(1, 1 + sum(key.startswith("eval/return_ep") for key in evaluation))]


def _lock(run_dir: Path) -> int:
    """Lock ``run_dir`` (flock on the directory itself) for this process, or fail in a line.

    The lock goes with the process, however it ends; ``.lock`` only names the holder's pid,
    written by ``_claim`` once the run has been accepted.
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(run_dir, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        try:
            holder = "pid " + (run_dir / ".lock").read_text().strip()
        except OSError:
            holder = "another process"
        raise RoboMetaError(f"{run_dir} is in use by another training run ({holder}); "
                            "wait for it to end or use another --out") from None
    return fd


def _claim(run_dir: Path) -> None:
    (run_dir / ".lock").write_text(f"{os.getpid()}\n")


def _remove_stray_temporaries(run_dir: Path) -> None:
    """Half-written files left by a run killed while saving (we hold the lock: none is live)."""
    for path in run_dir.glob(".tmp-*"):
        path.unlink(missing_ok=True)
