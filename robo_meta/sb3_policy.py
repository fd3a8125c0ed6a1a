"""stable-baselines3 models (``sb3:FILE.zip``) as AdaptivePolicies, loaded without running code.

SB3's own ``PPO.load`` unpickles (cloudpickle) every entry of the zip's ``data`` JSON that it
could not store as JSON: the policy class, the spaces, schedules, buffers. Unpickling runs
whatever the file says, so a model downloaded from someone else could run code. This loader
unpickles nothing:

- every serialized entry of ``data`` is replaced (SB3's ``custom_objects``) by a value of ours:
  the policy class from an allow-list (the ``MlpPolicy`` of PPO or SAC, named by the entry's
  readable metadata), the observation and action spaces rebuilt from the family, and neutral
  values for training-only state (buffers, schedules, the last observation), which acting does
  not use. An entry we do not know how to replace is refused: loading it needs unpickling;
- of the weights, only ``policy.pth`` is read, with ``torch.load(weights_only=True)``, and must
  fit the rebuilt network exactly and be finite.

A model that needs unpickling (a custom policy class, ``policy_kwargs`` holding a class such as
``activation_fn``) is refused with one line. ``trust_pickle=True`` (``--trust-pickle`` on the
command line, or ``with trusting_pickle():`` around ``load_policy``) uses SB3's own loader
instead, for files whose author you trust.
"""

from __future__ import annotations

import contextlib
import io
import json
import pickle
import re
import zipfile
from collections.abc import Iterator
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import numpy as np
import torch

from robo_meta.adaptive import _PredictMixin
from robo_meta.checkpoint import first_non_finite
from robo_meta.envs import get_family, make
from robo_meta.envs.errors import RoboMetaError, one_line

ALGOS = ("PPO", "SAC")
# (module, class) named by the policy_class entry's metadata -> the class we build instead
POLICY_CLASSES = {
    "PPO": ("stable_baselines3.common.policies", "ActorCriticPolicy"),
    "SAC": ("stable_baselines3.sac.policies", "SACPolicy"),
}
# serialized entries of training-only state, replaced by values SB3 accepts; none is used to act
TRAINING_STATE: dict[str, Any] = {
    "_last_obs": None, "_last_original_obs": None, "_last_episode_starts": None,
    "ep_info_buffer": None, "ep_success_buffer": None, "action_noise": None, "env": None,
    "rollout_buffer_class": None, "replay_buffer_class": None,
    "lr_schedule": None, "learning_rate": 0.0, "clip_range": 0.2, "clip_range_vf": None,
    "train_freq": 1,
}
MAX_DATA_BYTES = 64 << 20
MAX_WEIGHTS_BYTES = 2 << 30

_TRUST_PICKLE: ContextVar[bool] = ContextVar("robo_meta_sb3_trust_pickle", default=False)


@contextlib.contextmanager
def trusting_pickle(enabled: bool = True) -> Iterator[None]:
    """Within the block, SB3 zips load with SB3's own loader (it unpickles: runs their code)."""
    token = _TRUST_PICKLE.set(enabled)
    try:
        yield
    finally:
        _TRUST_PICKLE.reset(token)


class SB3Policy(_PredictMixin):
    """A stable-baselines3 model (``.zip``), evaluated like any other (non-adaptive) policy.

    ``model.json`` beside the zip (written by ``scripts/baseline_sb3.py``) gives the algorithm
    and the family; without it the algorithm is read from the zip's policy class (PPO's or
    SAC's MlpPolicy) and ``family`` must be given. The policy's name is the zip's folder for
    ``DIR/model.zip``, else the file's stem. ``trust_pickle`` (default: ``trusting_pickle``'s
    setting, off) loads with SB3's own, unpickling loader.
    """

    adaptive = False

    def __init__(self, path: Path, family: str | None, device: torch.device,
                 trust_pickle: bool | None = None):
        path = Path(path)
        if not path.is_file():
            raise RoboMetaError(f"no SB3 model at {path}")
        info = _read_info(path.with_suffix(".json"))
        trained_family = info.get("family")
        if trained_family is not None and not isinstance(trained_family, str):
            raise RoboMetaError(f"{path.with_suffix('.json')}: 'family' must be a string")
        if (family is not None and trained_family is not None
                and get_family(family).name != get_family(trained_family).name):
            raise RoboMetaError(
                f"SB3 model {path} was trained on family {trained_family!r}, not {family!r}"
            )
        algo = str(info["algo"]).upper() if "algo" in info else None
        if algo is not None and algo not in ALGOS:
            raise RoboMetaError(f"unsupported SB3 algorithm {algo!r} in "
                                f"{path.with_suffix('.json')} (supported: {', '.join(ALGOS)})")
        self.family = trained_family or family
        trust = _TRUST_PICKLE.get() if trust_pickle is None else trust_pickle
        if trust:
            algo = algo or "PPO"
            self.model = _load_trusting(path, algo, device)
        else:
            if self.family is None:
                raise RoboMetaError(f"cannot tell the family of SB3 model {path} (no "
                                    f"{path.with_suffix('.json').name} beside it): give --family")
            algo, self.model = _load_safely(path, algo, self.family, device)
        _check_finite(self.model, path)
        self.algo = f"sb3-{algo.lower()}"
        self.name = path.parent.name if path.stem == "model" and path.parent.name else path.stem
        self.meta = info
        self.obs_dim = int(np.prod(self.model.observation_space.shape))

    def reset(self, num_envs: int, task_features=None) -> None:
        self._num_envs = num_envs

    def act(self, obs: np.ndarray, deterministic: bool = True) -> np.ndarray:
        action, _ = self.model.predict(np.asarray(obs, dtype=np.float32),
                                       deterministic=deterministic)
        return np.asarray(action, dtype=np.float64)

    def observe(self, obs, action, reward, terminated, truncated) -> None:
        pass


def _read_info(info_path: Path) -> dict[str, Any]:
    if not info_path.is_file():
        return {}
    try:
        info = json.loads(info_path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RoboMetaError(f"cannot read {info_path}: {one_line(exc)}") from None
    if not isinstance(info, dict):
        raise RoboMetaError(f"{info_path} must hold a JSON object")
    return info


def _algorithm_class(algo: str):
    from stable_baselines3 import PPO, SAC

    return {"PPO": PPO, "SAC": SAC}[algo]


def _load_trusting(path: Path, algo: str, device: torch.device):
    try:
        return _algorithm_class(algo).load(str(path), device=device)
    except Exception as exc:  # SB3 raises several types for a bad zip
        raise RoboMetaError(f"cannot load SB3 model {path}: {one_line(exc)}") from None


def _is_serialized(item: Any) -> bool:
    return isinstance(item, dict) and ":serialized:" in item


def _named_class(entry: Any) -> tuple[str, str] | None:
    """(module, class name) that a serialized class entry's readable metadata claims."""
    if not _is_serialized(entry):
        return None
    module, init = entry.get("__module__"), entry.get("__init__")
    match = re.fullmatch(r"<function (\w+)\.__init__ at 0x[0-9a-f]+>", str(init))
    if not isinstance(module, str) or match is None:
        return None
    return module, match.group(1)


def _read_zip(path: Path, device: torch.device) -> tuple[dict[str, Any], str, dict[str, Any]]:
    """(the data JSON, its text, the policy's state dict) of the zip, unpickling nothing."""
    refuse = f"cannot load SB3 model {path}"
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            if "data" not in names or "policy.pth" not in names:
                raise RoboMetaError(f"{refuse}: not an SB3 model (no data or policy.pth in it)")
            for name, limit in (("data", MAX_DATA_BYTES), ("policy.pth", MAX_WEIGHTS_BYTES)):
                if archive.getinfo(name).file_size > limit:
                    raise RoboMetaError(f"{refuse}: {name} is larger than {limit >> 20} MiB")
            text = archive.read("data").decode("utf-8")
            weights = archive.read("policy.pth")
    except (OSError, zipfile.BadZipFile, zipfile.LargeZipFile, UnicodeDecodeError,
            RuntimeError, ValueError) as exc:
        raise RoboMetaError(f"{refuse}: {one_line(exc)}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RoboMetaError(f"{refuse}: its data is not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise RoboMetaError(f"{refuse}: its data is not a JSON object")
    try:
        state = torch.load(io.BytesIO(weights), map_location=device, weights_only=True)
    except pickle.UnpicklingError:
        raise RoboMetaError(
            f"{refuse}: policy.pth holds more than tensors, and reading it would run code from "
            f"the file (use --trust-pickle only if you trust whoever made it)") from None
    except Exception as exc:  # torch raises several types for damaged files
        raise RoboMetaError(f"{refuse}: policy.pth: {one_line(exc)}") from None
    if not isinstance(state, dict) or not all(
            isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()):
        raise RoboMetaError(f"{refuse}: policy.pth is not a state dict of tensors")
    return data, text, state


def _replacements(path: Path, data: dict[str, Any], algo: str | None,
                  family: str) -> tuple[str, dict[str, Any]]:
    """(the algorithm, a custom_objects value for every serialized entry of ``data``)."""
    from stable_baselines3.common.policies import ActorCriticPolicy
    from stable_baselines3.sac.policies import SACPolicy

    refuse = f"refusing SB3 model {path}"
    trust = "use --trust-pickle only if you trust whoever made it"
    claimed = _named_class(data.get("policy_class"))
    found = next((a for a, named in POLICY_CLASSES.items() if named == claimed), None)
    if claimed is None or found is None:
        what = f"policy class {claimed[0]}.{claimed[1]}" if claimed else "its policy class"
        raise RoboMetaError(
            f"{refuse}: loading {what} would unpickle code from the file (only the MlpPolicy "
            f"of {' or '.join(ALGOS)} loads without unpickling; {trust})")
    if algo is not None and found != algo:
        raise RoboMetaError(f"{refuse}: it holds a {found} policy, but "
                            f"{path.with_suffix('.json').name} says {algo}")
    env = make(family)
    try:
        spaces = {"observation_space": env.observation_space, "action_space": env.action_space}
    finally:
        env.close()
    for key, space in spaces.items():
        stored = data.get(key, {}).get("_shape") if isinstance(data.get(key), dict) else None
        if isinstance(stored, list) and tuple(stored) != space.shape:
            raise RoboMetaError(f"SB3 model {path} was trained with an {key.split('_')[0]} "
                                f"space of shape {tuple(stored)}; family {family} has "
                                f"{space.shape}")
    custom = {"policy_class": {"PPO": ActorCriticPolicy, "SAC": SACPolicy}[found], **spaces}
    for key, item in data.items():
        if not _is_serialized(item) or key in custom:
            continue
        if key not in TRAINING_STATE:
            raise RoboMetaError(f"{refuse}: its entry {key!r} ({item.get(':type:', '?')}) can "
                                f"only be read by unpickling code from the file ({trust})")
        custom[key] = TRAINING_STATE[key]
    if not isinstance(data.get("policy_kwargs", {}), dict):
        raise RoboMetaError(f"{refuse}: its policy_kwargs is not a JSON object")
    return found, custom


def _load_safely(path: Path, algo: str | None, family: str,
                 device: torch.device) -> tuple[str, Any]:
    """(algorithm, model): SB3's ``load`` without unpickling anything (module docstring)."""
    from stable_baselines3.common.save_util import json_to_data

    raw, text, state = _read_zip(path, device)
    algo, custom = _replacements(path, raw, algo, family)
    # every serialized entry has a replacement, so json_to_data unpickles nothing
    assert all(key in custom for key, item in raw.items() if _is_serialized(item))
    data = json_to_data(text, custom_objects=custom)
    data.update({k: v for k, v in custom.items() if k in ("observation_space", "action_space")})
    data.pop("device", None)  # ours, as SB3's save leaves it out
    # what SB3's load does to the stored data before building the model
    policy_kwargs = dict(data.get("policy_kwargs") or {})
    policy_kwargs.pop("device", None)
    net_arch = policy_kwargs.get("net_arch")
    if isinstance(net_arch, list) and net_arch and isinstance(net_arch[0], dict):
        policy_kwargs["net_arch"] = net_arch[0]
    data["policy_kwargs"] = policy_kwargs
    try:
        model = _algorithm_class(algo)(policy=data["policy_class"], env=None, device=device,
                                       _init_setup_model=False)
        model.__dict__.update(data)
        model._setup_model()
    except Exception as exc:  # SB3 and torch raise many types (MemoryError included)
        raise RoboMetaError(f"cannot load SB3 model {path}: {one_line(exc)}") from None
    try:
        model.policy.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise RoboMetaError(f"cannot load SB3 model {path}: its weights do not fit a {algo} "
                            f"MlpPolicy on {family}: {one_line(exc)}") from None
    if model.use_sde:
        model.policy.reset_noise()
    return algo, model


def _check_finite(model: Any, path: Path) -> None:
    name = first_non_finite(model.policy.state_dict().items())
    if name is not None:
        raise RoboMetaError(f"SB3 model {path}: weight {name} is not finite (NaN or inf)")
