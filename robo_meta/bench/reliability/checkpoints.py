"""Checkpoints: a run directory may come from anywhere, so loading one must never run its
code, never score or train on damaged weights, and never damage the run when refused.

Each case copies a tiny run and damages it one way (64 bytes flipped in state.pt, NaN weights
with meta.json's sha256 updated as a diverged run would write it, state.pt truncated or
missing, config.json or meta.json malformed, missing or edited, a pickled global that would
create a marker file), then loads it with ``evaluate``, ``demo`` or ``train --resume``, or
evaluates an intact run on another family. A refused ``--resume`` must leave the run directory
byte for byte as it was (``run_dir_unchanged``). The mutations are made here, with this
environment's torch.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

from robo_meta.bench.reliability.core import (
    SILENT,
    Case,
    FixtureError,
    _Payload,
    _remember,
    _tensors,
    copy_run,
    report_check,
    run_dir_unchanged,
    run_dr,
    run_rl2,
    weights_check,
)


def _rewrite_state(run_dir: Path, change: Callable[[dict], None]) -> None:
    """Load state.pt, change it, save it, and record the new sha256 where meta.json has one
    (as a user regenerating it would: the check under test is the one after the hash)."""
    import torch

    state = torch.load(run_dir / "state.pt", weights_only=True)
    change(state)
    torch.save(state, run_dir / "state.pt")
    _rehash(run_dir)


def _rehash(run_dir: Path) -> None:
    meta_path = run_dir / "meta.json"
    meta = json.loads(meta_path.read_text())
    if "state_sha256" in meta:
        meta["state_sha256"] = hashlib.sha256((run_dir / "state.pt").read_bytes()).hexdigest()
        meta_path.write_text(json.dumps(meta, indent=2))


def _nan_weights(state: dict) -> None:
    for path, tensor in _tensors(state):
        if tensor.is_floating_point() and tensor.ndim == 2 and "optim" not in path:
            tensor.fill_(float("nan"))
            return
    raise FixtureError("no weight matrix in state.pt")


def flip_bytes(path: Path, count: int = 64) -> None:
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    for i in range(middle, middle + count):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _policy_kwargs(config: dict) -> dict:
    modules = config.get("modules", {"policy": config.get("policy", {})})
    return modules["policy"]["kwargs"]


def _edit_config(run_dir: Path, change: Callable[[dict], None]) -> None:
    path = run_dir / "config.json"
    config = json.loads(path.read_text())
    change(config)
    path.write_text(json.dumps(config, indent=2))


def checkpoint_cases() -> list[Case]:
    c = "checkpoints"
    cases: list[Case] = []

    def mutated(change: Callable[[Path, Path], None] | None, source=run_dr):
        def setup(target, folder):
            run_dir = copy_run(target, folder, source(target))
            if change is not None:
                change(run_dir, folder)
            _remember(run_dir, folder)
            return {"run": str(run_dir)}
        return setup

    unchanged = run_dir_unchanged(lambda folder: folder / "run")

    def resume_check(target, folder, proc):
        return (weights_check(target, folder, proc) if proc.rc == 0
                else unchanged(target, folder, proc))

    def evaluate(name, change, source=run_dr, expect="refuse", extra=()):
        cases.append(Case(c, f"evaluate: {name}",
                          ["evaluate", "--policy", "{run}", "--episodes", "1", "--threads", "1",
                           "--out", "{dir}/r.json", *extra],
                          expect=expect, setup=mutated(change, source), check=report_check))

    def resume(name, change, source=run_dr, expect="refuse"):
        cases.append(Case(c, f"resume: {name}",
                          ["train", "--resume", "{run}", "--total-steps", "512", "--threads",
                           "1", "--no-progress"],
                          expect=expect, setup=mutated(change, source), check=resume_check))

    def nan(run_dir, folder):
        _rewrite_state(run_dir, _nan_weights)

    def pickled(run_dir, folder):
        _rewrite_state(run_dir, lambda state: state.__setitem__("extra", _Payload(
            folder / "PWNED")))

    def flipped(run_dir, folder):
        flip_bytes(run_dir / "state.pt")

    def cut(run_dir, folder):
        truncate(run_dir / "state.pt")

    def algo_dr(run_dir, folder):
        _edit_config(run_dir, lambda cfg: cfg["train"].__setitem__("algo", "dr"))

    def smaller(run_dir, folder):
        _edit_config(run_dir, lambda cfg: _policy_kwargs(cfg).__setitem__("hidden_sizes", [32]))

    def unknown_kwarg(run_dir, folder):
        _edit_config(run_dir, lambda cfg: _policy_kwargs(cfg).__setitem__("bogus", 1))

    def other_family(run_dir, folder):
        _edit_config(run_dir, lambda cfg: cfg["train"].__setitem__("family", "cheetah-vel"))

    evaluate("unmodified (control)", None, expect="ok")
    evaluate("64 flipped bytes in state.pt", flipped)
    evaluate("NaN weights", nan)
    evaluate("state.pt truncated", cut)
    evaluate("state.pt missing", lambda r, f: (r / "state.pt").unlink())
    evaluate("config.json missing", lambda r, f: (r / "config.json").unlink())
    evaluate("config.json malformed", lambda r, f: (r / "config.json").write_text("{"))
    evaluate("meta.json malformed", lambda r, f: (r / "meta.json").write_text("{"))
    evaluate("config.json algo rl2 -> dr", algo_dr, source=run_rl2)
    evaluate("config.json hidden sizes changed", smaller)
    evaluate("config.json unknown policy kwarg", unknown_kwarg)
    evaluate("a pickled global in state.pt", pickled)
    evaluate("on another family", None, extra=("--family", "cheetah-vel"))
    cases.append(Case(c, "demo: NaN weights",
                      ["demo", "--policy", "{run}", "--episodes", "1", "--width", "64",
                       "--height", "48", "--video", "{dir}/v.mp4"],
                      setup=mutated(nan), if_accepted=SILENT))
    resume("longer run (control)", None, expect="ok")
    resume("64 flipped bytes in state.pt", flipped)
    resume("NaN weights", nan)
    resume("state.pt truncated", cut)
    resume("a pickled global in state.pt", pickled)
    resume("config.json family edited (other obs size)", other_family)
    resume("config.json unknown policy kwarg", unknown_kwarg)
    resume("config.json algo rl2 -> dr", algo_dr, source=run_rl2)
    return cases
