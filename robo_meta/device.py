"""Device choice, made once at the entry point and passed explicitly from there."""

from __future__ import annotations

import torch

from robo_meta.envs.errors import RoboMetaError


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` -> cuda when available, else cpu; ``cuda`` without CUDA is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise RoboMetaError(f"--device {name} asked for, but CUDA is not available here")
        return torch.device(name)
    if name == "cpu":
        return torch.device("cpu")
    raise RoboMetaError(f"unknown device {name!r} (use auto, cpu or cuda)")


def device_name(device: torch.device) -> str:
    """The GPU's name, or the CPU model and count (recorded in meta.json and the cards)."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    import os
    import platform

    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            model = next(line.split(":", 1)[1].strip() for line in cpuinfo
                         if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{model} ({os.cpu_count()} CPUs)"
