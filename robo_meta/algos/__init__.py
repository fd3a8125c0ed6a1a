"""Algorithms: one module each in this package, peers behind one small protocol.

An algorithm is built from its own config dataclass (a ``RunConfig`` subclass), on a family
and a device. The Runner drives it and knows nothing else about it::

    algorithm = spec.build(config, family, device)
    stats = algorithm.iteration()          # collect and update; {"loss/...": float, ...}
    algorithm.modules                       # {"policy": nn.Module, ...}: saved by name
    algorithm.module_specs                  # {"policy": {"class", "kwargs"}}: JSON to rebuild
    algorithm.state_dict()                  # the rest of its state (optimizers, scalers, rngs)
    algorithm.adaptive_policy()             # an AdaptivePolicy for evaluation and deployment

A module declares what it offers as ``ALGORITHMS``, a tuple of ``AlgorithmSpec`` (one module
can hold several variants: ``ppo`` holds ``dr``, ``oracle`` and ``rl2``). Every module of this
package is discovered, so adding an algorithm is adding one file; code outside the package (a
test, a user's plug-in) calls ``register``.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from robo_meta.config import RunConfig
from robo_meta.envs.errors import RoboMetaError, did_you_mean

if TYPE_CHECKING:
    import torch
    from torch import nn

    from robo_meta.adaptive import AdaptivePolicy
    from robo_meta.envs import Family


class Algorithm(Protocol):
    """What the Runner needs of a learning algorithm."""

    config: RunConfig
    steps: int  # environment steps taken so far (all simulations together)
    modules: dict[str, nn.Module]
    module_specs: dict[str, dict[str, Any]]

    def iteration(self) -> dict[str, float]: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...

    def adaptive_policy(self) -> AdaptivePolicy: ...

    def close(self) -> None: ...


# (config, {name: module with weights loaded}, family name, device, name, seed, meta)
LoadPolicy = Callable[[RunConfig, "dict[str, nn.Module]", str, "torch.device", str, int, dict],
                      "AdaptivePolicy"]


@dataclass(frozen=True)
class AlgorithmSpec:
    """An algorithm as the CLI, the Runner and ``load_policy`` see it."""

    name: str
    summary: str
    config_class: type[RunConfig]
    build: Callable[[RunConfig, Family, torch.device], Algorithm]
    load_policy: LoadPolicy  # the deployed policy from a checkpoint's modules (no simulator)


_REGISTRY: dict[str, AlgorithmSpec] = {}
_discovered = False


def register(spec: AlgorithmSpec) -> None:
    """Make ``spec`` available by name (for algorithms defined outside this package)."""
    existing = _REGISTRY.get(spec.name)
    if existing is not None and existing is not spec:
        raise RoboMetaError(f"an algorithm named {spec.name!r} is already registered")
    _REGISTRY[spec.name] = spec


def _discover() -> None:
    global _discovered
    if _discovered:
        return
    for module in pkgutil.iter_modules(__path__, __name__ + "."):
        for spec in getattr(importlib.import_module(module.name), "ALGORITHMS", ()):
            register(spec)
    _discovered = True


def algorithm_names() -> list[str]:
    _discover()
    return sorted(_REGISTRY)


def get_algorithm(name: str) -> AlgorithmSpec:
    _discover()
    if name not in _REGISTRY:
        raise RoboMetaError(f"unknown algorithm {name!r}{did_you_mean(name, _REGISTRY)}"
                            f" (known: {', '.join(sorted(_REGISTRY))})")
    return _REGISTRY[name]


def config_from_dict(data: dict[str, Any], saved: bool = False) -> RunConfig:
    """The validated config of the algorithm that ``data["algo"]`` names; ``saved``: the
    fields of a saved run's config.json, whose missing fields take their former defaults."""
    config_class = get_algorithm(str(data.get("algo", RunConfig.algo))).config_class
    return (config_class.from_saved(data) if saved else config_class.from_dict(data)).validate()
