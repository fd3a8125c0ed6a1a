"""Run configuration: dataclasses with one docstring per field, saved as ``config.json``.

``RunConfig`` holds what the Runner needs (family, length, seed, device, evaluation and
checkpoint cadence); each algorithm's config extends it with its own fields (``PPOConfig`` in
``robo_meta.algos.ppo``). The CLI builds its flags from the algorithm's config class with
tyro, which reads the field docstrings, so a new field is a new documented flag. One source
of defaults: the dataclass.

A saved run's ``config.json`` names every field its code had. A field it lacks is newer than
the run, which trained as the code did before the field existed; where today's default is not
that behaviour, the class lists the old value in ``former_defaults`` and ``from_saved`` uses
it. So a default can change without changing how old runs load, resume and evaluate.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from robo_meta import io
from robo_meta.envs.errors import RoboMetaError, did_you_mean

C = TypeVar("C", bound="RunConfig")


@dataclass
class RunConfig:
    """The fields every algorithm shares: what to train on, how long, and how to watch it."""

    family: str = "point-goal"
    """Task family name or path to a .toml spec."""
    algo: str = "rl2"
    """Algorithm (robo-meta train --algo NAME --help shows its options)."""
    total_steps: int = 1_000_000
    """Environment steps to train for (all simulations together)."""
    seed: int = 0
    """Run seed: every generator (tasks, reset noise, weights, sampling) derives from it."""
    device: str = "auto"
    """Torch device of the learner: auto (cuda if available), cpu or cuda."""
    threads: int = 0
    """Threads of the simulation batch; 0 uses every CPU."""
    torch_threads: int = 1
    """Torch intra-op threads on CPU: more fight the simulation batch's own threads."""
    episodes_per_trial: int = 3
    """Trial length K: episodes on one task (adaptive algorithms train on K, baselines on 1)."""
    eval_every: int = 0
    """Quick evaluation on the val split every this many steps (0: ten times per run)."""
    eval_tasks: int = 8
    """Number of val tasks in the quick evaluation."""
    checkpoint_every: int = 0
    """Write the checkpoint every this many steps (0: with each quick evaluation)."""
    time_limit_s: float = 0.0
    """Stop cleanly (final evaluation, checkpoint) after this much training time; 0: none."""
    init_from: str = ""
    """Start the networks from another run's weights (a run directory or pretrained:NAME,
    the same networks and sizes), with a fresh optimizer: fine-tuning, or a curriculum's next
    stage; empty: fresh weights. --resume continues from the run's own checkpoint instead."""

    numpy_tanh: bool = True
    """Differentiate tanh layers with numpy's vectorized kernel in the CPU updates (torch 2.13's
    is scalar); --no-numpy-tanh: torch's, as the code before 2026-11-29 did, so that the
    commands of runs trained on it repeat bit for bit. Rollouts and deployed policies always
    run torch's tanh."""

    former_defaults: ClassVar[dict[str, Any]] = {}
    """Fields added after runs were saved whose default is not what those runs did: the
    value a saved config.json that lacks the field means (see the module's docstring)."""

    def validate(self: C) -> C:
        """Check the shared fields; algorithm configs extend this with their own checks."""
        check_range(self, "total_steps", 1, 10**13)
        check_range(self, "episodes_per_trial", 1, 1000)
        check_range(self, "eval_tasks", 1, 10_000)
        check_range(self, "seed", 0, 2**32 - 1)
        check_range(self, "threads", 0, 1024)
        check_range(self, "torch_threads", 0, 1024)
        check_range(self, "eval_every", 0, 10**13)
        check_range(self, "checkpoint_every", 0, 10**13)
        check_range(self, "time_limit_s", 0.0, 1e9)
        check_bool(self, "numpy_tanh")
        if self.device not in ("auto", "cpu", "cuda") and not self.device.startswith("cuda:"):
            raise RoboMetaError(f"device must be auto, cpu or cuda, got {self.device!r}")
        return self

    def run_steps(self) -> int:
        """Environment steps the Runner trains for: ``total_steps``, plus the later phases of
        an algorithm that has several (rma's phase 2)."""
        return self.total_steps

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls: type[C], data: dict[str, Any]) -> C:
        names = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(data) - set(names))
        if unknown:
            raise RoboMetaError(f"unknown config key {unknown[0]!r} for --algo "
                                f"{data.get('algo', cls.algo)}{did_you_mean(unknown[0], names)}")
        return cls(**data)

    @classmethod
    def from_saved(cls: type[C], data: dict[str, Any]) -> C:
        """The config of a saved run's fields: those it lacks take their former defaults."""
        return cls.from_dict({**cls.former_defaults, **data})


def check_range(config: Any, name: str, low: float, high: float, low_open: bool = False) -> None:
    """``config.name`` is a finite number of the field's kind in [low, high] (or (low, high])."""
    value = getattr(config, name)
    kind = int if isinstance(getattr(type(config), name, 0.0), int) else float
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (
            kind is int and not isinstance(value, int)):
        raise RoboMetaError(f"{name} must be {'an integer' if kind is int else 'a number'}, "
                            f"got {value!r}")
    if not math.isfinite(value) or value > high or value < low or (low_open and value == low):
        shown = str if kind is int else "{:g}".format
        raise RoboMetaError(f"{name} must be in {'(' if low_open else '['}{shown(low)}, "
                            f"{shown(high)}], got {value!r}")


def check_bool(config: Any, name: str) -> None:
    """``config.name`` is true or false (a JSON config could hold anything there)."""
    value = getattr(config, name)
    if not isinstance(value, bool):
        raise RoboMetaError(f"{name} must be true or false, got {value!r}")


def read_config_file(path: str | Path) -> tuple[dict[str, Any], bool]:
    """(the config fields in ``path``, whether it is a saved run's): a JSON object of fields,
    or a run's own config.json.

    A run directory's ``config.json`` holds the fields under ``"train"`` beside the module
    specs, so ``--config runs/x/config.json`` repeats that run's settings; the fields it lacks
    then mean their ``former_defaults``, where a hand-written file's mean today's defaults.
    """
    data = io.read_json(path, "config")
    if not isinstance(data, dict):
        raise RoboMetaError(f"config {path} must hold a JSON object")
    if "train" in data and isinstance(data["train"], dict):
        return data["train"], True
    return data, False
