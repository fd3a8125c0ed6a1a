"""Checkpoints: a run directory with ``config.json``, ``state.pt`` and ``meta.json``.

``config.json``: ``{"train": TrainConfig fields, "policy": {"class", "kwargs"}}``: enough to
rebuild the policy without the environment. ``state.pt``: state dicts and plain numbers only
(``torch.load(weights_only=True)`` reads it; no pickled objects). ``meta.json``: family,
algorithm, steps, wall time, device, versions. Each file is written atomically; ``state.pt``
carries its own step count, so a run killed between two writes still loads and resumes.
"""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path
from typing import Any

import torch

from robo_meta import io
from robo_meta.config import TrainConfig
from robo_meta.envs.errors import RoboMetaError

FILES = ("config.json", "state.pt", "meta.json")


def versions() -> dict[str, str]:
    import gymnasium
    import mujoco
    import numpy

    import robo_meta

    return {"robo_meta": robo_meta.__version__, "torch": torch.__version__,
            "mujoco": mujoco.__version__, "gymnasium": gymnasium.__version__,
            "numpy": numpy.__version__, "python": platform.python_version()}


def save_config(run_dir: Path, config: TrainConfig, policy_spec: dict[str, Any]) -> None:
    io.write_json(run_dir / "config.json", {"train": config.to_dict(), "policy": policy_spec})


def save_state(run_dir: Path, state: dict[str, Any], meta: dict[str, Any]) -> None:
    """Write ``state.pt`` then ``meta.json``, each atomically."""
    with io.atomic_path(run_dir / "state.pt") as tmp:
        torch.save(state, tmp)
    io.write_json(run_dir / "meta.json", {**meta, "versions": versions(),
                                          "saved_at": time.strftime("%Y-%m-%dT%H:%M:%S")})


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
    if not isinstance(config, dict) or "train" not in config or "policy" not in config:
        raise RoboMetaError(f"corrupt checkpoint {run_dir}: config.json lacks train/policy")
    try:
        state = torch.load(run_dir / "state.pt", map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises many types for a damaged file
        # one line: torch's weights_only message spans several, the useful one names the global
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()] or [repr(exc)]
        detail = next((line for line in lines if "Unsupported global" in line), lines[0])
        raise RoboMetaError(
            f"corrupt checkpoint {run_dir}: cannot read state.pt ({detail})"
        ) from None
    if not isinstance(state, dict) or "policy" not in state:
        raise RoboMetaError(f"corrupt checkpoint {run_dir}: state.pt lacks the policy")
    return config, state, meta
