"""``robo-meta train``: train dr, oracle or rl2 on a family and write a checkpoint directory."""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

from robo_meta.config import ALGORITHMS, TrainConfig
from robo_meta.envs.errors import RoboMetaError

# flag -> config field; flags left unset keep the --config file's value or the default
FLAGS = {"family": str, "algo": str, "total_steps": int, "num_envs": int, "seed": int,
         "device": str, "threads": int, "episodes_per_trial": int, "rollout_steps": int,
         "learning_rate": float, "epochs": int, "minibatches": int, "eval_every": int,
         "eval_tasks": int, "checkpoint_every": int, "time_limit_s": float,
         "max_learning_rate": float, "init_log_std": float}


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "train", help="train a policy (dr, oracle or rl2) on a task family",
        description="Train with PPO on batched simulations; writes config.json, state.pt, "
                    "meta.json, metrics.csv and TensorBoard logs to --out.",
    )
    docs = {f.name: _field_doc(f.name) for f in dataclasses.fields(TrainConfig)}
    for name, kind in FLAGS.items():
        flag = "--" + name.replace("_", "-")
        # a metavar, not choices: argparse's error is a usage block; validate() gives one line
        extra = {"metavar": "{" + ",".join(ALGORITHMS) + "}"} if name == "algo" else {}
        parser.add_argument(flag, type=kind, default=None, help=docs.get(name), **extra)
    parser.add_argument("--out", type=Path, help="run directory (default runs/FAMILY-ALGO-sSEED)")
    parser.add_argument("--config", type=Path, help="JSON file of TrainConfig fields")
    parser.add_argument("--resume", type=Path, help="continue the run in this directory")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(run=run)


def _field_doc(name: str) -> str | None:
    """The docstring under a dataclass field (one line per field, by convention)."""
    import inspect

    source = inspect.getsource(TrainConfig).splitlines()
    for i, line in enumerate(source):
        if line.strip().startswith(f"{name}:") and i + 1 < len(source):
            return source[i + 1].strip().strip('"').replace("%", "%%")
    return None


def resolve_config(args: argparse.Namespace) -> TrainConfig:
    """Defaults < --resume's saved config < --config file < explicit flags."""
    data: dict = {}
    if args.resume is not None:
        saved = args.resume / "config.json"
        if not saved.is_file():
            raise RoboMetaError(f"--resume {args.resume}: no config.json there")
        data.update(json.loads(saved.read_text())["train"])
    if args.config is not None:
        loaded = TrainConfig.from_file(args.config).to_dict()
        file_data = json.loads(args.config.read_text())
        data.update({k: loaded[k] for k in (file_data.get("train", file_data))})
    data.update({k: getattr(args, k) for k in FLAGS if getattr(args, k) is not None})
    return TrainConfig.from_dict(data).validate()


def run(args: argparse.Namespace) -> int:
    config = resolve_config(args)
    from robo_meta.device import resolve_device
    from robo_meta.trainer import Trainer

    device = resolve_device(config.device)
    default_out = Path("runs") / f"{Path(config.family).stem}-{config.algo}-s{config.seed}"
    out = args.resume or args.out or default_out
    if args.resume is None and (out / "state.pt").exists():
        raise RoboMetaError(f"{out} already holds a run: use --resume {out} or another --out")
    print(f"training {config.algo} on {config.family} for {config.total_steps:,} steps "
          f"with {config.num_envs} simulations on {device} -> {out}")
    trainer = Trainer(config, out, device, resume=args.resume is not None,
                      progress=False if args.no_progress else None)
    result = trainer.train()
    shown = ", ".join(f"{k}={v:.2f}" if isinstance(v, float) else f"{k}={v}"
                      for k, v in result.items())
    print(f"done: {shown}\ncheckpoint: {out}")
    return 0
