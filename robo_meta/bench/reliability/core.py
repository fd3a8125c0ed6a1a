"""The probe's machinery, shared by every category of cases.

The target tree (``Target``: where it imports from, the features that gate cases, the shared
inputs it builds once), a case's process (a fresh interpreter with ``PYTHONPATH`` set to the
tree, an address-space limit and a timeout, run by ``spawn``/``run``), ``Case`` and ``Outcome``,
the verdict rules in their order, and what several categories use: tiny training runs and
copies of them, snapshots of a run directory and the check that it did not change, a hostile
pickle payload, the checks that a command which should have been refused trained NaN weights
or scored a report, and read-only directories. The target's code runs only in the case's
subprocess; what is done here (torch loads, snapshots) uses this environment.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

CLEAN = "clean"
CODE = "code execution"
HANG = "hang / runaway"
TRACE = "traceback"
TORN = "data loss / torn run dir"
SILENT = "silent wrong result"
ACCEPTED = "accepted invalid input"
UNCLEAR = "unclear error"
REFUSED = "refused valid input"
NA = "n/a"
KINDS = [CODE, SILENT, TORN, TRACE, HANG, ACCEPTED, UNCLEAR, REFUSED]
CATEGORIES = ["CLI flags", "family specs", "tasks files", "checkpoints", "SB3 zips", "actions",
              "runs"]

MEMORY_LIMIT = 6 << 30  # address space of each case's process (torch alone maps ~2 GiB)
TIMEOUT = 90.0          # a case's default limit; the tiny runs below take 3-6 s
HANG_TIMEOUT = 30.0     # for cases whose old behaviour is a hang: 30 s is "does not end"

# point-goal trains at a few thousand steps/s on one core; these runs take ~4 s, mostly imports
TINY = ["--family", "point-goal", "--algo", "dr", "--num-envs", "8", "--rollout-steps", "16",
        "--total-steps", "256", "--threads", "1", "--no-progress"]
ZERO = ["--policy", "zero", "--family", "point-goal", "--episodes", "1", "--threads", "1"]


# Runs the target: sets the memory limit, then runs a module (the CLI) or a script by path.
_WRAPPER = (
    "import resource, runpy, sys\n"
    "limit = int(sys.argv[1]); resource.setrlimit(resource.RLIMIT_AS, (limit, limit))\n"
    "how, what = sys.argv[2], sys.argv[3]; sys.argv = [what] + sys.argv[4:]\n"
    "if how == 'module':\n"
    "    runpy.run_module(what, run_name='__main__', alter_sys=True)\n"
    "else:\n"
    "    runpy.run_path(what, run_name='__main__')\n"
)


# -- the target tree ---------------------------------------------------------------------------
@dataclass
class Target:
    """The robo_meta tree under test and this probe's scratch space for it."""

    root: Path
    scratch: Path
    features: set[str] = field(default_factory=set)
    cuda: bool = False
    _fixtures: dict[str, object] = field(default_factory=dict)
    _locks: dict[str, threading.Lock] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
        env.update(PYTHONPATH=str(self.root), PYTHONDONTWRITEBYTECODE="1", COLUMNS="100",
                   MUJOCO_GL=os.environ.get("MUJOCO_GL", "egl"), PYTHONHASHSEED="0")
        return env

    def fixture(self, name: str, build: Callable[[Target, Path], object]) -> object:
        """Build a shared input once (a tiny run, reports, an SB3 zip) and remember it."""
        with self._lock:
            lock = self._locks.setdefault(name, threading.Lock())
        with lock:
            if name not in self._fixtures:
                folder = self.scratch / "fixtures" / name
                folder.mkdir(parents=True, exist_ok=True)
                try:
                    self._fixtures[name] = build(self, folder)
                except FixtureError as exc:
                    self._fixtures[name] = exc
            value = self._fixtures[name]
        if isinstance(value, FixtureError):
            raise value
        return value


class FixtureError(Exception):
    """A shared input could not be built with this tree: its cases are n/a."""


def detect(root: Path) -> tuple[set[str], str]:
    """What the tree at ``root`` offers (features gate cases), and where it imports from."""
    features = set()
    cli = root / "robo_meta" / "cli"
    if (cli / "quickstart.py").is_file():
        features.add("quickstart")
    if "trust-pickle" in _read(cli / "evaluate.py"):
        features.add("trust-pickle")
    if "refresh" in _read(cli / "policies.py"):
        features.add("policies-refresh")
    if "tyro" in _read(cli / "train.py"):
        features.add("algo-config-flags")  # --gamma, --hidden-sizes, ... from the config
    if "val =" in _read(root / "envs" / "families" / "point-goal.toml"):
        features.add("val")
    return features, ""


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def check_root(root: Path) -> str:
    """Where ``robo_meta`` and ``robo_meta.envs`` import from with PYTHONPATH=root."""
    code = ("import robo_meta, robo_meta.envs as e, os; "
            "print(os.path.realpath(robo_meta.__file__)); print(os.path.realpath(e.__file__))")
    env = Target(root, root).env()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         cwd="/", timeout=120)
    if out.returncode != 0:
        raise SystemExit(f"cannot import robo_meta from {root}: {out.stderr.strip()[-300:]}")
    real = os.path.realpath(root)
    for line in out.stdout.split():
        if not line.startswith(real + os.sep):
            raise SystemExit(
                f"with PYTHONPATH={root}, {line} is imported from outside {root}: in a git"
                " worktree, link the packages first (cd ROOT; ln -s ../envs robo_meta/envs;"
                " ln -s ../policies robo_meta/policies)")
    return out.stdout


# -- running a case's process ----------------------------------------------------------------
@dataclass
class Proc:
    rc: int | None
    out: str
    err: str
    seconds: float
    timed_out: bool = False

    @property
    def lines(self) -> list[str]:
        return [line for line in self.err.splitlines() if line.strip()]


def spawn(target: Target, argv: list[str], cwd: Path, script: Path | None = None,
          **popen) -> subprocess.Popen:
    how, what = ("path", str(script)) if script else ("module", "robo_meta.cli.main")
    return subprocess.Popen(
        [sys.executable, "-c", _WRAPPER, str(MEMORY_LIMIT), how, what, *argv], cwd=cwd,
        env=target.env(), start_new_session=True, text=True, errors="replace", **popen)


def finish(process: subprocess.Popen, timeout: float, started: float) -> Proc:
    try:
        out, err = process.communicate(timeout=timeout)
        timed_out = False
    except subprocess.TimeoutExpired:
        kill(process)
        out, err = process.communicate()
        timed_out = True
    return Proc(process.returncode, out or "", err or "", time.monotonic() - started, timed_out)


def kill(process: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


def run(target: Target, argv: list[str], cwd: Path, timeout: float = TIMEOUT,
        script: Path | None = None) -> Proc:
    started = time.monotonic()
    process = spawn(target, argv, cwd, script, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                    stdin=subprocess.DEVNULL)
    return finish(process, timeout, started)


# -- cases and their verdicts ----------------------------------------------------------------
@dataclass
class Outcome:
    category: str
    name: str
    kind: str
    detail: str = ""
    seconds: float = 0.0


@dataclass
class Case:
    """One probe: ``argv`` (a list, or built from the case folder) run through the CLI.

    ``expect``: ``"refuse"`` (exit 2, one stderr line), ``"ok"`` (exit 0) or ``"either"``
    (a hostile file that may be refused, or loaded without reading the payload). ``if_accepted``:
    the kind when a refusal was expected but the command succeeded (``check`` may say more).
    ``check(target, folder, proc)`` returns ``(kind, detail)`` or None after the run;
    ``setup(target, folder)`` prepares inputs and may return a mapping for ``{name}`` fields
    of argv; ``custom(target, folder)`` replaces the whole run and returns ``(kind, detail)``.
    """

    category: str
    name: str
    argv: list[str] = field(default_factory=list)
    expect: str = "refuse"
    if_accepted: str = ACCEPTED
    setup: Callable | None = None
    check: Callable | None = None
    custom: Callable | None = None
    script: str | None = None  # a library script (actions), run instead of the CLI
    needs: tuple[str, ...] = ()
    timeout: float = TIMEOUT


def verdict(case: Case, target: Target, folder: Path, proc: Proc) -> tuple[str, str]:
    if (folder / "PWNED").exists():
        return CODE, "the marker file was created"
    if proc.timed_out:
        return HANG, f"no end after {proc.seconds:.0f} s"
    if "MemoryError" in proc.err or "Unable to allocate" in proc.err:
        return HANG, "memory past the limit: " + _last(proc.err)
    if "Traceback (most recent call last)" in proc.err:
        return TRACE, _last(proc.err)
    if case.check is not None and not (case.expect in ("ok", "either")
                                       and getattr(case.check, "if_accepted", False)):
        found = case.check(target, folder, proc)
        if found is not None:
            return found
    if case.expect == "either" and proc.rc == 0:
        return CLEAN, "exit 0 (the payload was never unpickled): " + _last(proc.out)
    if case.expect in ("refuse", "either"):
        if proc.rc == 0:
            return case.if_accepted, "exit 0: " + (_last(proc.out) or "(no output)")
        if proc.rc == 2 and len(proc.lines) == 1:
            return CLEAN, proc.lines[0]
        return UNCLEAR, f"exit {proc.rc}, {len(proc.lines)} stderr lines: " + _last(proc.err)
    if proc.rc == 0:
        return CLEAN, _last(proc.out)
    if proc.rc == 2 and len(proc.lines) == 1:
        return REFUSED, proc.lines[0]
    return UNCLEAR, f"exit {proc.rc}: " + _last(proc.err)


def _last(text: str, limit: int = 160) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    line = lines[-1] if lines else ""
    return line if len(line) <= limit else line[: limit - 3] + "..."


class NotApplicable(Exception):
    """The case does not exist for this tree (a spec line it lacks)."""


# -- shared inputs ------------------------------------------------------------------------------
def _train_fixture(algo: str, extra: list[str] = ()) -> Callable[[Target, Path], Path]:
    def build(target: Target, folder: Path) -> Path:
        run_dir = folder / "run"
        argv = ["train", *TINY, "--algo", algo, "--out", str(run_dir), *extra]
        proc = run(target, argv, folder)
        if proc.rc != 0 or not (run_dir / "state.pt").is_file():
            raise FixtureError(f"train --algo {algo} failed: {_last(proc.err)}")
        return run_dir
    return build


def run_dr(target: Target) -> Path:
    return target.fixture("run-dr", _train_fixture("dr"))


def run_rl2(target: Target) -> Path:
    return target.fixture("run-rl2", _train_fixture("rl2", ["--episodes-per-trial", "2"]))


def copy_run(target: Target, folder: Path, source: Path | None = None) -> Path:
    run_dir = folder / "run"
    shutil.copytree(source or run_dr(target), run_dir)
    return run_dir


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` (tb logs included) with the sha256 of its bytes."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _changed(before: dict[str, str], after: dict[str, str]) -> list[str]:
    return sorted(k for k in before.keys() | after.keys()
                  if before.get(k) != after.get(k) and k != ".lock")


POINT_TASKS = [{"family": "point-goal", "params": {"goal": [0.8, 0.6]}},
               {"family": "point-goal", "params": {"goal": [-0.6, 0.8]}}]


def _rows(path: Path) -> list[dict[str, str]]:
    import csv

    if not path.is_file():
        return []
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


# -- a hostile payload and the tensors of a saved state (this environment's torch) -------------
class _Payload:
    """Unpickling this creates ``marker`` (``open(marker, "w")``): what a hostile file can do."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return open, (self.marker, "w")


def _tensors(tree, path=""):
    import torch

    if isinstance(tree, dict):
        for key, value in tree.items():
            yield from _tensors(value, f"{path}/{key}")
    elif isinstance(tree, list | tuple):
        for i, value in enumerate(tree):
            yield from _tensors(value, f"{path}/{i}")
    elif torch.is_tensor(tree):
        yield path, tree


# -- checks after a run ------------------------------------------------------------------------
def weights_check(target: Target, folder: Path, proc: Proc) -> tuple[str, str] | None:
    """After a training that should have been refused ended with exit 0: NaN weights are a
    silent wrong result (the run reported a return)."""
    if proc.rc != 0:
        return None
    import torch

    states = list(folder.rglob("state.pt"))
    if not states:
        return None
    tensors = [t for _, t in _tensors(torch.load(states[0], weights_only=True))
               if t.is_floating_point()]
    bad = sum(int((~torch.isfinite(t)).sum()) for t in tensors)
    if bad:
        total = sum(t.numel() for t in tensors)
        return SILENT, f"exit 0 with {bad:,} of {total:,} saved numbers non-finite; " + _last(
            proc.out)
    return None


def report_check(target: Target, folder: Path, proc: Proc) -> tuple[str, str] | None:
    """After an evaluation that should have been refused ended with exit 0: it scored."""
    if proc.rc != 0:
        return None
    reports = [p for p in folder.rglob("*.json") if "returns" in _read(p)]
    if not reports:
        return None
    returns = [r for task in json.loads(reports[0].read_text())["tasks"]
               for seed in task["returns"] for r in seed]
    return SILENT, (f"exit 0, scored {len(returns)} episodes, mean return "
                    f"{sum(returns) / max(len(returns), 1):.2f}")


report_check.if_accepted = True  # about exit 0 where a refusal was expected


def run_dir_unchanged(run_dir_of: Callable[[Path], Path]):
    """A check that the command left the run directory exactly as it was (``before.json``)."""
    def check(target: Target, folder: Path, proc: Proc) -> tuple[str, str] | None:
        run_dir = run_dir_of(folder)
        before = json.loads((folder / "before.json").read_text())
        changed = _changed(before, snapshot(run_dir) if run_dir.exists() else {})
        if changed:
            return TORN, (f"exit {proc.rc}; changed in the run directory: "
                          + ", ".join(changed[:4]) + ("..." if len(changed) > 4 else ""))
        return None
    return check


def _remember(run_dir: Path, folder: Path) -> None:
    (folder / "before.json").write_text(json.dumps(snapshot(run_dir)))


def mean_return(folder: Path) -> float | None:
    path = folder / "r.json"
    if not path.is_file():
        return None
    returns = [r for task in json.loads(path.read_text())["tasks"]
               for seed in task["returns"] for r in seed]
    return sum(returns) / len(returns) if returns else math.nan


def scored(kind: str):
    """For a refusal expected: exit 0 means ``kind``, with the mean return it reported."""
    def check(target: Target, folder: Path, proc: Proc) -> tuple[str, str] | None:
        if proc.rc != 0:
            return None
        value = mean_return(folder)
        shown = "no report" if value is None else f"mean return {value:.2f}"
        return kind, f"exit 0, loaded and scored ({shown})"
    check.if_accepted = True
    return check


# -- read-only directories (root ignores mode bits: immutable instead) -------------------------
def readonly(folder: Path) -> Path:
    path = folder / "readonly"
    path.mkdir()
    if os.geteuid() != 0:
        path.chmod(0o555)
        return path
    if shutil.which("chattr") is None or subprocess.run(
            ["chattr", "+i", str(path)], capture_output=True).returncode != 0:
        raise NotApplicable("running as root without chattr +i: no read-only directory")
    return path


def _unfreeze(folder: Path) -> None:
    path = folder / "readonly"
    if path.exists():
        if os.geteuid() == 0:
            subprocess.run(["chattr", "-i", str(path)], capture_output=True)
        else:
            path.chmod(0o755)
