"""Task: one sample of a family, a frozen mapping of parameter name -> value."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from robo_meta.envs.errors import RoboMetaError

Value = float | tuple[float, ...]


def _number(name: str, value: Any) -> float:
    """``value`` as a float if it is a real number (not a bool, not a string), else an error."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise RoboMetaError(f"task parameter {name!r}: expected a number, got {_show(value)}")
    try:
        return float(value)
    except OverflowError:  # an int beyond the float range
        raise RoboMetaError(f"task parameter {name!r}: {_show(value)} is too large") from None


def freeze_value(name: str, value: Any) -> Value:
    """A float, or a tuple of floats for vector parameters; anything else is an error."""
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, list | tuple):
        return tuple(_number(name, v) for v in value)
    return _number(name, value)


def _show(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


@dataclass(frozen=True)
class Task:
    """One task of a family: ``family`` plus parameter values (scalars or per-element tuples).

    Hashable and JSON round-trippable (``to_dict`` / ``from_dict``). A Task says nothing about
    whether its values are valid for the family: ``Family.validate(task)`` checks that.
    """

    family: str
    params: tuple[tuple[str, Value], ...]

    @classmethod
    def make(cls, family: str, params: Mapping[str, Any]) -> Task:
        """Build a task from a mapping; keys are sorted so equal tasks compare equal."""
        frozen = tuple(sorted((str(k), freeze_value(str(k), v)) for k, v in params.items()))
        return cls(family=family, params=frozen)

    def __getitem__(self, name: str) -> Value:
        for key, value in self.params:
            if key == name:
                return value
        raise KeyError(name)

    def as_dict(self) -> dict[str, Value]:
        """Parameter name -> value."""
        return dict(self.params)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: ``{"family": ..., "params": {name: float | list[float]}}``."""
        return {
            "family": self.family,
            "params": {k: list(v) if isinstance(v, tuple) else v for k, v in self.params},
        }

    @classmethod
    def from_dict(cls, data: Any) -> Task:
        """Inverse of ``to_dict``; a malformed mapping raises RoboMetaError."""
        if (
            not isinstance(data, Mapping)
            or not isinstance(data.get("family"), str)
            or not isinstance(data.get("params"), Mapping)
        ):
            raise RoboMetaError(
                f'a task must be {{"family": str, "params": {{...}}}}, got {_show(data, 120)}'
            )
        return cls.make(data["family"], data["params"])

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    def short(self, digits: int = 2) -> str:
        """A compact human-readable form for tables and video overlays."""
        parts = []
        for key, value in self.params:
            if isinstance(value, tuple):
                shown = ",".join(f"{v:.{digits}f}" for v in value[:4])
                shown += ",..." if len(value) > 4 else ""
                parts.append(f"{key}=[{shown}]")
            else:
                parts.append(f"{key}={value:.{digits}f}")
        return " ".join(parts)
