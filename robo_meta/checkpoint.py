"""Checkpoints: a run directory with ``config.json``, ``state.pt`` and ``meta.json``.

``config.json``: ``{"format": 2, "train": config fields, "modules": {name: {"class",
"kwargs"}}}``: enough to rebuild every network without the environment. ``state.pt``: state
dicts and plain numbers only (``torch.load(weights_only=True)`` reads it; no pickled
objects): ``{"format": 2, "modules": {name: state dict}, "algorithm": the algorithm's own
state, "runner": {"step", "wall_time"}}``. ``meta.json``: family, algorithm, steps, wall time,
device, versions and the sha256 of ``state.pt``, checked at load. Each file is written
atomically; ``state.pt`` carries its own step count, so a run killed between two writes still
loads and resumes. Weights that are not finite are refused at load, as damage.

Format 1 (one ``policy`` network, the trainer's state under ``trainer``), as the first
pretrained policies were written, is read by ``upgrade``.
"""

from __future__ import annotations

import functools
import hashlib
import io as io_bytes
import json
import platform
import subprocess
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch

from robo_meta import io
from robo_meta.config import RunConfig
from robo_meta.envs.errors import RoboMetaError, one_line

FILES = ("config.json", "state.pt", "meta.json")
FORMAT = 2


def versions() -> dict[str, str]:
    """The versions a run was saved with; ``robo_meta_commit`` too where the package runs
    from a git checkout: a run's numbers repeat bit for bit only on the same code (a change
    of rounding, as commit a032d71's tanh, makes the same command a different run). A resumed
    run's meta.json names the code of its last save, not necessarily the code it began on."""
    import gymnasium
    import mujoco
    import numpy

    import robo_meta

    found = {"robo_meta": robo_meta.__version__, "torch": torch.__version__,
             "mujoco": mujoco.__version__, "gymnasium": gymnasium.__version__,
             "numpy": numpy.__version__, "python": platform.python_version()}
    commit = source_commit(Path(robo_meta.__file__).resolve().parent.parent)
    return {**found, "robo_meta_commit": commit} if commit else found


@functools.cache
def source_commit(root: Path) -> str | None:
    """The commit checked out at ``root`` when it is the top of a git work tree, with
    ``+dirty`` when tracked files differ from it; None elsewhere (an installed wheel, no git).
    Once per process: the code a process runs is the code it imported."""
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True,
                              timeout=10, check=True).stdout.strip()

    try:
        if Path(git("rev-parse", "--show-toplevel")).resolve() != root.resolve():
            return None  # the package sits inside some other repository
        commit = git("rev-parse", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("+dirty" if dirty else "")


def save_config(run_dir: Path, config: RunConfig,
                module_specs: dict[str, dict[str, Any]]) -> None:
    io.write_json(run_dir / "config.json", {"format": FORMAT, "train": config.to_dict(),
                                            "modules": module_specs})


def save_state(run_dir: Path, state: dict[str, Any], meta: dict[str, Any]) -> None:
    """Write ``state.pt`` then ``meta.json`` (with the sha256 of state.pt), each atomically."""
    with io.atomic_path(run_dir / "state.pt") as tmp:
        torch.save({"format": FORMAT, **state}, tmp)
        digest = sha256(tmp)
    io.write_json(run_dir / "meta.json", {**meta, "state_sha256": digest, "versions": versions(),
                                          "saved_at": time.strftime("%Y-%m-%dT%H:%M:%S")})


def started_from(source: str, meta: dict[str, Any]) -> dict[str, Any]:
    """What a run started with ``--init-from source`` records of it (meta.json "init_from"):
    the source, the digest of the weights it loaded, and the training behind them, their
    own ``--init-from`` ancestors' included (``steps``, ``wall_time_s``), so that a
    fine-tuned policy's card can give its whole budget (``training_budget``)."""
    before = meta.get("init_from") or {}
    return {"source": str(source), "state_sha256": meta.get("state_sha256"),
            "steps": int(meta.get("steps", 0)) + int(before.get("steps", 0)),
            "wall_time_s": round(float(meta.get("wall_time_s") or 0.0)
                                 + float(before.get("wall_time_s") or 0.0), 1)}


def training_budget(meta: dict[str, Any]) -> tuple[int, float | None]:
    """(env steps, wall time in s) of all the training behind a checkpoint: its own run's
    and, for a run started with ``--init-from``, the training of the weights it started
    from. Wall time None where the meta has none."""
    before = meta.get("init_from") or {}
    wall = meta.get("wall_time_s")
    if wall is not None:
        wall = round(float(wall) + float(before.get("wall_time_s") or 0.0), 1)
    return int(meta["steps"]) + int(before.get("steps", 0)), wall


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def load(run_dir: str | Path, map_location: str | torch.device = "cpu"):
    """(config dict, state dict, meta dict) of a run directory; clear errors if broken."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RoboMetaError(f"no checkpoint directory at {run_dir}")
    missing = [name for name in FILES if not (run_dir / name).is_file()]
    if missing:
        raise RoboMetaError(
            f"{run_dir} is not a robo_meta checkpoint (missing {', '.join(missing)})"
        )
    try:
        config = json.loads((run_dir / "config.json").read_text())
        meta = json.loads((run_dir / "meta.json").read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise RoboMetaError(f"corrupt checkpoint {run_dir}: {exc}") from None
    if not isinstance(config, dict) or "train" not in config or not (
            "modules" in config or "policy" in config):
        raise RoboMetaError(f"corrupt checkpoint {run_dir}: config.json lacks train/modules")
    try:
        data = (run_dir / "state.pt").read_bytes()
        state = torch.load(io_bytes.BytesIO(data), map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises many types for a damaged file
        # one line: torch's weights_only message spans several, the useful one names the global
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()] or [repr(exc)]
        detail = next((line for line in lines if "Unsupported global" in line), lines[0])
        raise RoboMetaError(
            f"corrupt checkpoint {run_dir}: cannot read state.pt ({detail})"
        ) from None
    if not isinstance(state, dict) or not ("modules" in state or "policy" in state):
        raise RoboMetaError(f"corrupt checkpoint {run_dir}: state.pt lacks the modules")
    config, state = upgrade(config, state)
    recorded = meta.get("state_sha256")
    # state.pt is written before meta.json: a run killed between the two leaves a newer
    # state.pt (a later step) beside the previous meta.json, which is not damage
    if (recorded is not None and hashlib.sha256(data).hexdigest() != recorded
            and state["runner"].get("step") == meta.get("steps")):
        raise RoboMetaError(f"corrupt checkpoint {run_dir}: state.pt does not match the sha256 "
                            "that meta.json recorded (damaged or replaced)")
    return config, state, meta


def upgrade(config: dict[str, Any], state: dict[str, Any]) -> tuple[dict, dict]:
    """(config, state) of format 1 (one ``policy``, a ``trainer`` dict) in format 2."""
    if "modules" not in config:
        config = {"format": FORMAT, "train": config["train"],
                  "modules": {"policy": config["policy"]}}
    if "modules" not in state:
        trainer = state.get("trainer", {})
        algorithm = {}
        if "optimizer" in state:  # a training run (pretrained copies keep the policy only)
            algorithm = {"optimizer": state["optimizer"], "scaler": trainer["scaler"],
                         "generator": trainer["generator"], "steps": trainer["step"],
                         "lr": trainer.get("lr", config["train"].get("learning_rate"))}
        state = {"format": FORMAT, "modules": {"policy": state["policy"]},
                 "algorithm": algorithm,
                 "runner": {"step": trainer.get("step", 0),
                            "wall_time": trainer.get("wall_time", 0.0)}}
    return config, state


def build_modules(config: dict[str, Any], state: dict[str, Any], source: str | Path,
                  device: str | torch.device = "cpu") -> dict[str, Any]:
    """Every named network of a checkpoint, rebuilt from its spec, with its saved weights."""
    from robo_meta.policies import build_policy

    modules = {}
    for name, spec in config["modules"].items():
        try:
            modules[name] = build_policy(spec).to(device)
        except (TypeError, ValueError) as exc:
            raise RoboMetaError(f"corrupt checkpoint {source}: config.json: {exc}") from None
    restore_modules(modules, state["modules"], source)
    return modules


def first_non_finite(named: Iterable[tuple[str, Any]]) -> str | None:
    """The name of the first floating-point tensor holding NaN or inf, else None.

    One device synchronization when all are finite (the Runner asks after every iteration).
    """
    floats = [(name, t) for name, t in named if torch.is_tensor(t) and t.is_floating_point()]
    if not floats or bool(torch.stack([t.isfinite().all() for _, t in floats]).all()):
        return None
    return next(name for name, t in floats if not bool(t.isfinite().all()))


def restore_modules(modules: dict[str, Any], saved: dict[str, Any], source: str | Path) -> None:
    """Load ``saved`` state dicts into ``modules`` (same names, same shapes) or fail in a line."""
    if set(saved) != set(modules):
        raise RoboMetaError(f"corrupt checkpoint {source}: state.pt holds modules "
                            f"{sorted(saved)}, config.json {sorted(modules)}")
    for name, module in modules.items():
        bad = first_non_finite(saved[name].items() if isinstance(saved[name], dict) else ())
        if bad is not None:
            raise RoboMetaError(f"corrupt checkpoint {source}: non-finite values in "
                                f"{name}.{bad} (a diverged or damaged run)")
        try:
            module.load_state_dict(saved[name])
        except RuntimeError as exc:
            detail = [line.strip() for line in str(exc).splitlines()[1:] if line.strip()]
            raise RoboMetaError(
                f"corrupt checkpoint {source}: state.pt does not fit the {name} network of "
                "config.json" + (f" ({one_line(detail[0])})" if detail else "")
            ) from None
