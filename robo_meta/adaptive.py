"""AdaptivePolicy: the one interface every trained artifact is evaluated and deployed through.

Batched over ``n`` simulations::

    policy.reset(n, task_features=None)  # new trials: forget everything learned so far
    action = policy.act(obs)               # (n, obs_dim) -> (n, act_dim)
    policy.observe(next_obs, action, reward, terminated, truncated)   # after env.step

An adaptive policy (rl2) keeps what it learned across the episodes of a trial, so call
``reset`` only when the task changes, not at every episode. ``task_features`` is needed only
by the oracle (privileged information; the env returns it in ``info["task_features"]``).
``predict`` is stable-baselines3's signature, so SB3 tooling can drive any policy; it cannot
pass rewards, so an rl2 policy does not adapt through it; use ``act``/``observe`` for that.
An rma policy adapts from observations and actions alone, so it does adapt through ``predict``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch

from robo_meta import checkpoint
from robo_meta import policies as policies_package
from robo_meta.device import resolve_device
from robo_meta.envs import get_family
from robo_meta.envs.errors import RoboMetaError, did_you_mean, one_line
from robo_meta.identification import TrialIdentification
from robo_meta.sampler import PolicyInputs

# policies/pretrained in the repository; robo_meta/policies/pretrained once installed
PRETRAINED_DIR = Path(policies_package.__file__).resolve().parent / "pretrained"
BUILTIN = ("random", "zero")


@runtime_checkable
class AdaptivePolicy(Protocol):
    name: str
    algo: str
    family: str | None
    adaptive: bool

    def reset(self, num_envs: int, task_features: np.ndarray | None = None) -> None: ...

    def act(self, obs: np.ndarray, deterministic: bool = True) -> np.ndarray: ...

    def observe(self, obs, action, reward, terminated, truncated) -> None: ...


class _PredictMixin:
    """SB3's ``predict`` in terms of reset/act (state is unused: memory lives in the policy)."""

    def predict(self, obs, state=None, episode_start=None, deterministic: bool = True):
        obs = np.asarray(obs, dtype=np.float64)
        single = obs.ndim == 1
        batch = obs[None] if single else obs
        if getattr(self, "_num_envs", None) != len(batch):
            self.reset(len(batch))
        elif episode_start is not None and np.any(episode_start):
            # SB3's vector envs end episodes at different steps: restart only those rows
            self.restart(np.flatnonzero(np.atleast_1d(episode_start)))
        action = self.act(batch, deterministic=deterministic)
        return (action[0] if single else action), state

    def restart(self, rows: np.ndarray) -> None:
        """Start new trials in ``rows`` only (memoryless policies have nothing to forget)."""


class TrainedPolicy(_PredictMixin):
    """A policy network trained by robo_meta, on its device.

    Its inputs are encoded by ``PolicyInputs``, the same code the Sampler uses in training.
    ``with_features``: the network also sees the task features (the oracle); ``adaptive``: its
    memory carries across the episodes of a trial.

    A network with a task head (rl2 trained with ``--task-inference-coef``), given
    ``task_features`` at ``reset`` (the evaluator passes them; the policy does not act on
    them), records how well the head's guess tracks the normalized features at each step of
    each episode of the trial: ``identification()`` (robo_meta.identification).
    """

    def __init__(self, module: torch.nn.Module, algo: str, family: str, device: torch.device,
                 with_features: bool = False, adaptive: bool = False, name: str = "",
                 seed: int = 0, meta: dict | None = None):
        self.module = module.to(device).eval()
        self.algo, self.family, self.adaptive = algo, family, adaptive
        self.with_features = with_features
        self.device, self.name, self.meta = device, name or algo, meta or {}
        self.generator = torch.Generator(device=device).manual_seed(seed)
        # what the env must observe (the oracle's input also holds the task features)
        self.obs_dim = None if with_features else module.obs_dim
        self._num_envs: int | None = None
        self._guesses = getattr(module, "task_head", None) is not None
        self.tracker = TrialIdentification(
            "the task head's guess", "the normalized task features",
            dims=get_family(family).feature_names() if self._guesses else None)

    def reset(self, num_envs: int, task_features: np.ndarray | None = None) -> None:
        self._features = self._targets = None
        if self._guesses and task_features is not None:
            features = torch.as_tensor(np.asarray(task_features), dtype=torch.float32,
                                       device=self.device).reshape(num_envs, -1)
            with torch.no_grad():
                self._targets = self.module.normalized_features(features)
        self.tracker.start(num_envs)
        if self.with_features:
            if task_features is None:
                raise RoboMetaError(f"the {self.algo} policy needs task_features at reset")
            self._features = np.asarray(task_features, dtype=np.float32).reshape(num_envs, -1)
        self._num_envs = num_envs
        self._state = self.module.initial_state(num_envs, self.device)
        self._inputs = PolicyInputs(num_envs, self.module.act_dim, self.device)

    def restart(self, rows: np.ndarray) -> None:
        """Forget what ``rows`` learned: the network resets its state where a trial starts."""
        if self._num_envs is None:
            raise RoboMetaError("call reset(num_envs) before restart()")
        self._inputs.start_trials(rows)

    @torch.no_grad()
    def act(self, obs: np.ndarray, deterministic: bool = True) -> np.ndarray:
        if self._num_envs is None:
            raise RoboMetaError("call reset(num_envs) before act()")
        x = self._inputs.encode(obs, self._features)
        mean, log_std, _, self._state = self.module.step(*x, self._state)
        if self._targets is not None:
            self.tracker.add(self.module.task_guess(self._state), self._targets)
        action = mean if deterministic else mean + log_std.exp() * torch.randn(
            mean.shape, generator=self.generator, device=self.device)
        self._inputs.acted(action)
        return action.cpu().numpy().astype(np.float64)

    def observe(self, obs, action, reward, terminated, truncated) -> None:
        self._inputs.observed(reward, terminated, truncated)
        if self._targets is not None:  # scoring a task head (else nothing to count)
            self.tracker.ended(np.flatnonzero(np.logical_or(terminated, truncated)))

    @property
    def has_memory(self) -> bool:
        """Whether the network is recurrent (rl2): it has a state that ``memory`` returns."""
        return bool(getattr(self.module, "recurrent", False))

    def memory(self) -> torch.Tensor:
        """The actor's memory after the last action, (num_envs, hidden): what a recurrent
        network knows of its trials (robo_meta.probe reads it)."""
        if not self.has_memory:
            raise RoboMetaError(f"{self.name} ({self.algo}) has no memory")
        if self._num_envs is None:
            raise RoboMetaError("call reset(num_envs) before memory()")
        return self._state[:, :self.module.hidden_size]

    def identification(self, episodes: int | None = None) -> dict[str, Any] | None:
        """How the task head's guess tracked the features since the last call, by episode
        (the first ``episodes``) and step; None for a network without a task head or when no
        features were given."""
        return self.tracker.pop(episodes)


class ConstantPolicy(_PredictMixin):
    """``zero``: always the zero action. ``random``: uniform in the action bounds (seeded)."""

    adaptive = False

    def __init__(self, kind: str, family: str, seed: int = 0):
        fam = get_family(family)
        self.name = self.algo = kind
        self.family = fam.name
        ranges = fam.model.actuator_ctrlrange
        self.low, self.high = ranges[:, 0].copy(), ranges[:, 1].copy()
        self.rng = np.random.default_rng(seed)
        self.meta: dict[str, Any] = {}

    def reset(self, num_envs: int, task_features=None) -> None:
        self._num_envs = num_envs

    def act(self, obs: np.ndarray, deterministic: bool = True) -> np.ndarray:
        n = len(obs)
        if self.algo == "zero":
            return np.zeros((n, len(self.low)))
        return self.rng.uniform(self.low, self.high, (n, len(self.low)))

    def observe(self, obs, action, reward, terminated, truncated) -> None:
        pass


def check_observations(policy: AdaptivePolicy, family: str, obs_dim: int) -> None:
    """Raise if ``policy`` was built for observations of another size than ``family`` gives."""
    expected = getattr(policy, "obs_dim", None)
    if expected is not None and expected != obs_dim:
        raise RoboMetaError(f"policy {policy.name!r} expects {expected} observations; "
                            f"family {family} gives {obs_dim}")


def pretrained_names(root: Path | None = None, holding: str = "config.json") -> list[str]:
    """The policy folders under ``root`` (default ``PRETRAINED_DIR``, read at each call) that
    hold the file ``holding``, sorted: by default what ``pretrained:NAME`` can load (a
    config); ``holding="meta.json"`` gives the exported ones with card metadata, as the
    benchmark matrix reads them."""
    root = PRETRAINED_DIR if root is None else root
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / holding).is_file())


def checkpoint_dir(source: str) -> str:
    """The folder of a checkpoint source: ``pretrained:NAME`` names a shipped policy's folder
    (an unknown name fails in one line); anything else is a run directory already."""
    if not source.startswith("pretrained:"):
        return source
    name = source.split(":", 1)[1]
    if name not in pretrained_names():
        raise RoboMetaError(
            f"unknown pretrained policy {name!r}{did_you_mean(name, pretrained_names())}"
            f" (available: {', '.join(pretrained_names()) or 'none'})"
        )
    return str(PRETRAINED_DIR / name)


def load_policy(source: str | Path, device: str | torch.device = "auto",
                family: str | None = None, seed: int = 0) -> AdaptivePolicy:
    """Load any policy as an AdaptivePolicy.

    ``source``: a checkpoint directory, ``pretrained:NAME``, ``sb3:FILE.zip``, or a built-in
    reference (``random``, ``zero``; these need ``family``).
    """
    device = device if isinstance(device, torch.device) else resolve_device(device)
    source = str(source)
    if source in BUILTIN:
        if family is None:
            raise RoboMetaError(f"the {source!r} policy needs a family (--family)")
        return ConstantPolicy(source, family, seed)
    if source.startswith("sb3:"):
        from robo_meta.sb3_policy import SB3Policy  # loads without unpickling: see there

        return SB3Policy(Path(source[4:]), family, device)
    name = source.split(":", 1)[1] if source.startswith("pretrained:") else ""
    source = checkpoint_dir(source)
    try:
        config, state, meta = checkpoint.load(source, map_location=device)
    except RoboMetaError as exc:
        # torch's reasons run over many lines and suggest weights_only=False: not to a user
        message, unreadable = str(exc), "cannot read state.pt"
        if unreadable in message:
            message = (message[:message.index(unreadable) + len(unreadable)]
                       + " (damaged, or not a state dict saved by robo_meta)")
        raise RoboMetaError(one_line(message)) from None
    from robo_meta.algos import config_from_dict, get_algorithm

    try:
        run_config = config_from_dict(config["train"], saved=True)
    except (RoboMetaError, TypeError) as exc:  # TypeError: a field of the wrong kind
        raise RoboMetaError(f"corrupt checkpoint {source}: config.json: {exc}") from None
    modules = checkpoint.build_modules(config, state, source, device)
    trained_family = str(run_config.family)
    if family is not None and get_family(family).name != get_family(trained_family).name:
        raise RoboMetaError(
            f"checkpoint {source} was trained on family {trained_family!r}, not {family!r}"
        )
    return get_algorithm(run_config.algo).load_policy(
        run_config, modules, trained_family, device, name or Path(source).resolve().name, seed,
        meta)


def load_policy_on_family(source: str | Path, family: str | None = None, *,
                          task_family: str | None = None, device: str | torch.device = "auto",
                          seed: int = 0) -> tuple[AdaptivePolicy, str]:
    """(policy, family it runs on) for the commands that take ``--policy`` and ``--family``.

    The family is ``family`` if given; else, for the built-in ``random``/``zero`` (which have
    none), the family of the tasks the user named (``task_family``); else the policy's own.
    It comes back as a built-in family's name or a spec file's path.
    """
    if family is None and str(source) in BUILTIN:
        family = task_family
    if family is not None and not family.endswith(".toml"):
        family = get_family(family).name
    policy = load_policy(source, device=device, family=family, seed=seed)
    family = family or policy.family
    if family is None:
        raise RoboMetaError(f"cannot tell the family of {source}: give --family")
    return policy, family
