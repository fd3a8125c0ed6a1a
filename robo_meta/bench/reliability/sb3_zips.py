"""SB3 zips (``--policy sb3:FILE``): stable-baselines3 unpickles parts of its zips, so a
downloaded model must not be able to run code, and a damaged one must be refused, not scored.

The cases take a model saved by the target's ``scripts/baseline_sb3.py`` and put a
cloudpickled reducer that would create a marker file into ``data`` entries and into
policy.pth (through ``evaluate`` and ``demo``: refusing the file or loading it without the
payload are both clean), or NaN weights into policy.pth; then truncated and non-zip files, a
model evaluated on another family, and model.json malformed, naming another algorithm, or
absent without ``--family``.
"""

from __future__ import annotations

import base64
import io
import json
import shutil
import zipfile
from pathlib import Path

from robo_meta.bench.reliability.core import (
    SILENT,
    Case,
    FixtureError,
    Target,
    _last,
    _Payload,
    report_check,
    run,
)


def _sb3_fixture(target: Target, folder: Path) -> Path:
    script = target.root / "scripts" / "baseline_sb3.py"
    out = folder / "sb3"
    proc = run(target, ["--family", "point-goal", "--total-steps", "256", "--out", str(out)],
               folder, script=script)
    if proc.rc != 0 or not (out / "model.zip").is_file():
        raise FixtureError(f"scripts/baseline_sb3.py failed: {_last(proc.err)}")
    return out


def _zip_members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def _write_zip(path: Path, members: dict[str, bytes]) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)


def _hostile(where: str):
    """A change putting a cloudpickled ``open(marker, "w")`` into a data entry or policy.pth."""
    def change(members: dict[str, bytes], folder: Path) -> None:
        import cloudpickle
        import torch

        payload = _Payload(folder / "PWNED")
        if where.startswith("data:"):
            data = json.loads(members["data"])
            entry = {":type:": "<class 'abc.ABCMeta'>",
                     ":serialized:": base64.b64encode(cloudpickle.dumps(payload)).decode()}
            data[where[5:]] = entry
            members["data"] = json.dumps(data).encode()
        else:
            buffer = io.BytesIO()
            torch.save({"weight": payload}, buffer)
            members[where] = buffer.getvalue()
    return change


def _nan_pth(members: dict[str, bytes], folder: Path) -> None:
    import torch

    state = torch.load(io.BytesIO(members["policy.pth"]), weights_only=True)
    key = next(k for k, v in state.items() if v.is_floating_point() and v.ndim == 2)
    state[key] = state[key] * float("nan")
    buffer = io.BytesIO()
    torch.save(state, buffer)
    members["policy.pth"] = buffer.getvalue()


def sb3_cases() -> list[Case]:
    c = "SB3 zips"
    cases: list[Case] = []

    def model(change=None, info: str | None | bool = True, raw: bytes | None = None):
        def setup(target, folder):
            source = target.fixture("sb3", _sb3_fixture)
            members = _zip_members(source / "model.zip")
            if change is not None:
                change(members, folder)
            path = folder / "m" / "model.zip"
            path.parent.mkdir()
            if raw is not None:
                path.write_bytes(raw(source) if callable(raw) else raw)
            else:
                _write_zip(path, members)
            if info is True:
                shutil.copy(source / "model.json", path.with_suffix(".json"))
            elif isinstance(info, str):
                path.with_suffix(".json").write_text(info)
            return {"zip": str(path)}
        return setup

    def evaluate(name, setup, expect="refuse", extra=(), if_accepted=SILENT):
        cases.append(Case(c, f"evaluate: {name}",
                          ["evaluate", "--policy", "sb3:{zip}", "--episodes", "1", "--threads",
                           "1", "--out", "{dir}/r.json", *extra],
                          expect=expect, setup=setup, check=report_check,
                          if_accepted=if_accepted))

    evaluate("unmodified (control)", model(), expect="ok")
    for where in ("data:policy_class", "data:policy_kwargs", "data:reward_hacker",
                  "data:observation_space", "policy.pth"):
        evaluate(f"cloudpickled reducer in {where}", model(_hostile(where)), expect="either")
    cases.append(Case(c, "demo: cloudpickled reducer in data:reward_hacker",
                      ["demo", "--policy", "sb3:{zip}", "--episodes", "1", "--width", "64",
                       "--height", "48", "--video", "{dir}/v.mp4"],
                      setup=model(_hostile("data:reward_hacker")), expect="either"))
    evaluate("NaN weights in policy.pth", model(_nan_pth))
    evaluate("truncated zip", model(raw=lambda s: (s / "model.zip").read_bytes()[:2000]))
    evaluate("not a zip", model(raw=b"this is not a zip file\n"))
    evaluate("on another family", model(), extra=("--family", "cheetah-vel"))
    evaluate("model.json malformed", model(info="{"))
    evaluate("model.json algo A2C", model(info='{"algo": "A2C", "family": "point-goal"}'))
    evaluate("no model.json, no --family", model(info=None))
    return cases
