"""Reliability probe: bad input at every boundary of robo_meta, each case classified.

``python scripts/probe_reliability.py --root DIR`` runs a table of cases against the robo_meta
source tree in ``DIR`` (this checkout, or a git worktree of an older commit: see
docs/reliability.md) and prints how each was handled. Every case runs the target's code in a
fresh subprocess (``PYTHONPATH=DIR``, a scratch working directory, an address-space limit, a
timeout): the CLI as a user types it, or a short library script for the actions. Nothing from
the target is imported into this process, so old and new trees are probed by the same table.

| category | what the cases feed |
|---|---|
| CLI flags | every subcommand's numeric flags (NaN, inf, negative, huge), unknown flags, bad |
|  | names, unwritable ``--out`` (/proc, an existing file, a read-only directory) |
| family specs | a built-in spec mutated: keys missing, unknown, misspelt; NaN, inverted and |
|  | overlapping ranges; huge frame_skip, horizon and splits; selectors naming nothing; |
|  | malformed TOML; a built-in's name on other content; a user spec trained end to end |
| tasks files | malformed JSON, wrong family, out-of-range, NaN, huge and mistyped values |
| checkpoints | flipped bytes, NaN weights, truncated or missing state.pt, edited config.json |
|  | (algorithm, sizes, kwargs), a pickled global, a rejected ``--resume`` |
| SB3 zips | a cloudpickled reducer that would create a marker file (data entries, policy.pth), |
|  | NaN weights, truncated and foreign files |
| actions | ``make``/``make_vec`` step with wrong shapes and dtypes, lists, ints, out-of-bound |
|  | values and NaN |
| runs | kill -9 at random moments then ``--resume``; two trainings, or two resumes, on one |
|  | ``--out``; ``families -v`` into a closed pipe; a new run on an existing run directory |

Outcomes, checked in this order:

| kind | meaning |
|---|---|
| code execution | the case's marker file exists: a file's payload ran |
| hang / runaway | no end within the case's timeout, or memory past the limit |
| traceback | a Python traceback on stderr (or, for the library, an exception that is not |
|  | ``RoboMetaError``) |
| data loss / torn run dir | a run directory changed by a refused command, rows duplicated or |
|  | out of order in metrics.csv, temporaries left, a file overwritten |
| silent wrong result | exit 0 with a meaningless number: NaN weights scored, a misread spec's |
|  | returns, another simulation's actions |
| accepted invalid input | exit 0 on input that should have been refused, no wrong number seen |
| unclear error | refused, but not as exit 2 with exactly one stderr line (a usage block, a |
|  | warning before the error, exit 1) |
| refused valid input | a control case (valid input) refused |
| clean | refused with exit 2 and one stderr line (or ``RoboMetaError`` with one line), or, |
|  | for valid input, the documented result |

Cases a tree cannot take (a flag or split it does not have) are ``n/a`` for it, with the reason.
"""

from __future__ import annotations

import base64
import concurrent.futures
import contextlib
import hashlib
import io
import json
import math
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import zipfile
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
DEMO = ["--policy", "zero", "--family", "point-goal", "--episodes", "1", "--width", "64",
        "--height", "48"]
BENCH_SIM = ["bench", "sim", "--family", "point-goal", "--num-envs", "8", "--steps", "10",
             "--rounds", "1", "--threads", "1"]

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


def run_case(case: Case, target: Target, index: int) -> Outcome:
    missing = [n for n in case.needs if n not in target.features]
    if missing:
        return Outcome(case.category, case.name, NA, f"this tree has no {', '.join(missing)}")
    folder = target.scratch / "cases" / f"{index:03d}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    started = time.monotonic()
    try:
        fields = case.setup(target, folder) if case.setup else None
        fields = fields if isinstance(fields, dict) else {}
        if case.custom is not None:
            kind, detail = case.custom(target, folder)
            if (folder / "PWNED").exists():
                kind, detail = CODE, "the marker file was created"
            return Outcome(case.category, case.name, kind, detail, time.monotonic() - started)
        argv = [a.format(**fields, dir=folder) for a in case.argv]
        script = None
        if case.script is not None:
            script = folder / "case.py"
            script.write_text(ACTION_SCRIPT)
            argv = [case.script]
        proc = run(target, argv, folder, case.timeout, script)
        if script is not None:
            kind, detail = library_verdict(case, folder, proc)
        else:
            kind, detail = verdict(case, target, folder, proc)
        return Outcome(case.category, case.name, kind, detail, proc.seconds)
    except FixtureError as exc:
        return Outcome(case.category, case.name, NA, f"fixture: {exc}")
    except NotApplicable as exc:
        return Outcome(case.category, case.name, NA, str(exc))
    finally:
        _unfreeze(folder)


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


def _reports_fixture(target: Target, folder: Path) -> tuple[Path, Path]:
    paths = []
    for policy in ("zero", "random"):
        out = folder / f"{policy}.json"
        proc = run(target, ["evaluate", "--policy", policy, "--family", "point-goal",
                            "--episodes", "2", "--threads", "1", "--out", str(out)], folder)
        if proc.rc != 0:
            raise FixtureError(f"evaluate --policy {policy} failed: {_last(proc.err)}")
        paths.append(out)
    return paths[0], paths[1]


def _sb3_fixture(target: Target, folder: Path) -> Path:
    script = target.root / "scripts" / "baseline_sb3.py"
    out = folder / "sb3"
    proc = run(target, ["--family", "point-goal", "--total-steps", "256", "--out", str(out)],
               folder, script=script)
    if proc.rc != 0 or not (out / "model.zip").is_file():
        raise FixtureError(f"scripts/baseline_sb3.py failed: {_last(proc.err)}")
    return out


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


# -- checkpoint mutations (done here, with this environment's torch) ---------------------------
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


def _setup_readonly(target: Target, folder: Path) -> dict:
    return {"ro": str(readonly(folder))}


def _setup_file(target: Target, folder: Path) -> dict:
    (folder / "existing").write_text("keep me\n")
    return {"file": str(folder / "existing")}


def _file_kept(target: Target, folder: Path, proc: Proc) -> tuple[str, str] | None:
    path = folder / "existing"
    if path.is_file() and path.read_text() != "keep me\n":
        return TORN, f"exit {proc.rc}; the existing file at --out was overwritten"
    return None


# -- CLI flags ---------------------------------------------------------------------------------
def cli_flag_cases(cuda: bool) -> list[Case]:
    c = "CLI flags"
    cases: list[Case] = []

    def train(name, *flags, out="{dir}/run", **kw):
        kw.setdefault("check", weights_check)
        cases.append(Case(c, f"train {name}", ["train", *TINY, "--out", out, *flags], **kw))

    for flag, value in [("--learning-rate", "nan"), ("--learning-rate", "inf"),
                        ("--learning-rate", "-0.001"), ("--init-log-std", "1e30"),
                        ("--init-log-std", "nan"), ("--max-learning-rate", "nan"),
                        ("--total-steps", "-256"), ("--total-steps", "0"),
                        ("--num-envs", "0"), ("--num-envs", "-8"),
                        ("--rollout-steps", "0"), ("--epochs", "-1"), ("--minibatches", "0"),
                        ("--eval-every", "-5"), ("--checkpoint-every", "-5"),
                        ("--threads", "-2"), ("--time-limit-s", "-1"),
                        ("--time-limit-s", "nan"), ("--seed", "-1"),
                        ("--seed", str(2**64)), ("--episodes-per-trial", "0"),
                        ("--eval-tasks", "0"), ("--eval-tasks", "-3"),
                        ("--learning-rate", "abc")]:
        train(f"{flag} {value}", flag, value)
    train("--num-envs 10**12", "--num-envs", str(10**12), timeout=HANG_TIMEOUT)
    for flag, value in [("--gamma", "nan"), ("--gae-lambda", "2"), ("--clip-coef", "-1"),
                        ("--hidden-sizes", "0"), ("--torch-threads", "-1"),
                        ("--max-grad-norm", "inf")]:
        train(f"{flag} {value}", flag, value, needs=("algo-config-flags",))
    train("--family nosuch", "--family", "nosuch")
    train("--algo nosuch", "--algo", "nosuch")
    train("--device tpu", "--device", "tpu")
    if not cuda:
        train("--device cuda (no GPU)", "--device", "cuda")
    train("unknown flag", "--bogus-flag", "1")
    train("--out under /proc", out="/proc/probe-run", check=None)
    train("--out an existing file", out="{file}", check=_file_kept, setup=_setup_file)
    train("--out in a read-only directory", out="{ro}/run", check=None, setup=_setup_readonly)
    train("--config missing file", "--config", "{dir}/missing.json")
    train("--config malformed JSON", "--config", "{dir}/bad.json",
          setup=lambda t, f: (f / "bad.json").write_text('{"learning_rate": 0.1,'))
    train("--config NaN learning rate", "--config", "{dir}/nan.json",
          setup=lambda t, f: (f / "nan.json").write_text('{"learning_rate": NaN}'))
    train("--config unknown key", "--config", "{dir}/typo.json",
          setup=lambda t, f: (f / "typo.json").write_text('{"learnig_rate": 0.001}'))
    train("--resume missing directory", "--resume", "{dir}/nowhere")

    def evaluate(name, *flags, base=ZERO, **kw):
        argv = ["evaluate", *base, *flags]
        if "--out" not in flags:
            argv += ["--out", "{dir}/r.json"]
        cases.append(Case(c, f"evaluate {name}", argv, **kw))

    for flag, value in [("--episodes", "0"), ("--episodes", "-1"), ("--seeds", "0"),
                        ("--seed", "-1"), ("--seed", str(2**64)), ("--num-envs", "0"),
                        ("--num-envs", "-4"), ("--threads", "-1"), ("--split", "bogus"),
                        ("--family", "nosuch"), ("--episodes", "abc")]:
        evaluate(f"{flag} {value}", flag, value)
    evaluate("--episodes 10**9", "--episodes", str(10**9), timeout=HANG_TIMEOUT)
    evaluate("--seeds 10**9", "--seeds", str(10**9), timeout=HANG_TIMEOUT)
    evaluate("--split train --train-tasks 0", "--split", "train", "--train-tasks", "0")
    evaluate("--split train --train-tasks -5", "--split", "train", "--train-tasks", "-5")
    for policy in ("{dir}/nowhere", "pretrained:nosuch", "sb3:{dir}/missing.zip"):
        evaluate(f"--policy {policy.replace('{dir}/', '')}", "--policy", policy)
    if not cuda:
        evaluate("--device cuda (no GPU)", "--device", "cuda")
    evaluate("--out under /proc", "--out", "/proc/probe.json")
    evaluate("--out an existing directory", "--out", "{dir}")
    evaluate("--out whose parent is a file", "--out", "{file}/r.json", setup=_setup_file)
    evaluate("--out in a read-only directory", "--out", "{ro}/sub/r.json",
             setup=_setup_readonly)
    evaluate("unknown flag", "--bogus")

    def compare(name, *argv, expect="refuse", setup=None, **kw):
        def prepare(target, folder):
            zero, rand = target.fixture("reports", _reports_fixture)
            fields = {"zero": str(zero), "random": str(rand)}
            if setup is not None:
                extra = setup(target, folder, zero)
                fields.update(extra if isinstance(extra, dict) else {})
            return fields
        cases.append(Case(c, f"compare {name}", ["compare", *argv], expect=expect,
                          setup=prepare, **kw))

    def bad_report(text_of: Callable[[dict], object]):
        def setup(target, folder, zero):
            report = json.loads(zero.read_text())
            (folder / "bad.json").write_text(json.dumps(text_of(report)))
        return setup

    def nan_returns(report):
        report["tasks"][0]["returns"][0][0] = float("nan")
        return report

    def ragged(report):
        report["tasks"][0]["returns"][0] = report["tasks"][0]["returns"][0][:1]
        return report

    def fmt(report):
        report["format"] = "robo_meta.report/99"
        return report

    compare("two valid reports (control)", "{zero}", "{random}", "--out", "{dir}/c.png",
            expect="ok")
    compare("a missing report", "{zero}", "{dir}/missing.json", "--out", "{dir}/c.png")
    compare("malformed JSON", "{zero}", "{dir}/bad.json", "--out", "{dir}/c.png",
            setup=lambda t, f, z: (f / "bad.json").write_text('{"tasks": ['))
    compare("a JSON list", "{zero}", "{dir}/bad.json", "--out", "{dir}/c.png",
            setup=lambda t, f, z: (f / "bad.json").write_text("[]"))
    compare("an empty object", "{zero}", "{dir}/bad.json", "--out", "{dir}/c.png",
            setup=lambda t, f, z: (f / "bad.json").write_text("{}"))
    compare("NaN returns", "{zero}", "{dir}/bad.json", "--out", "{dir}/c.png",
            setup=bad_report(nan_returns), if_accepted=SILENT)
    compare("ragged returns", "{zero}", "{dir}/bad.json", "--out", "{dir}/c.png",
            setup=bad_report(ragged), if_accepted=SILENT)
    compare("unknown format", "{zero}", "{dir}/bad.json", "--out", "{dir}/c.png",
            setup=bad_report(fmt))
    compare("--out under /proc", "{zero}", "{random}", "--out", "/proc/c.png")
    compare("--out in a read-only directory", "{zero}", "{random}", "--out", "{ro}/c.png",
            setup=lambda t, f, z: _setup_readonly(t, f))
    compare("unknown flag", "{zero}", "{random}", "--bogus")

    def demo(name, *flags, **kw):
        argv = ["demo", *DEMO, *flags]
        if "--video" not in flags:
            argv += ["--video", "{dir}/v.mp4"]
        cases.append(Case(c, f"demo {name}", argv, **kw))

    for flag, value in [("--episodes", "0"), ("--width", "0"), ("--width", "-64"),
                        ("--width", "33"), ("--height", "0"), ("--fps", "0"), ("--fps", "nan"),
                        ("--fps", "-5"), ("--task", "test:9999"), ("--task", "test:-1"),
                        ("--task", "bogus:1"), ("--task", "test:abc"), ("--seed", "-1"),
                        ("--policy", "{dir}/nowhere")]:
        demo(f"{flag} {value.replace('{dir}/', '')}", flag, value)
    demo("--width 10**6", "--width", str(10**6), timeout=HANG_TIMEOUT)
    demo("--task FILE#7 of a 2-task file", "--task", "{dir}/tasks.json#7",
         setup=lambda t, f: (f / "tasks.json").write_text(json.dumps(POINT_TASKS)))
    demo("--video under /proc", "--video", "/proc/v.mp4")
    demo("--video an existing directory", "--video", "{dir}")
    demo("--video in a read-only directory", "--video", "{ro}/v.mp4", setup=_setup_readonly)
    demo("unknown flag", "--bogus")

    def policies(name, *argv, **kw):
        cases.append(Case(c, f"policies {name}", ["policies", *argv], **kw))

    policies("export of a missing run", "export", "{dir}/nowhere", "probe-never-written",
             "--command", "x")
    policies("export --seeds 0", "export", "{run}", "probe-never-written", "--command", "x",
             "--seeds", "0", setup=lambda t, f: {"run": str(run_dr(t))})
    policies("an unknown action", "frobnicate")
    policies("refresh of an unknown name", "refresh", "nosuch", needs=("policies-refresh",))
    policies("unknown flag", "--bogus")

    cases.append(Case(c, "families unknown flag", ["families", "--bogus"]))
    cases.append(Case(c, "families extra argument", ["families", "extra"]))
    cases.append(Case(c, "no command", []))
    cases.append(Case(c, "unknown command", ["frobnicate"]))

    for flag, value in [("--num-envs", "0"), ("--steps", "-1"), ("--rounds", "0"),
                        ("--threads", "-1"), ("--seed", "-1")]:
        cases.append(Case(c, f"bench sim {flag} {value}", [*BENCH_SIM, flag, value]))
    cases.append(Case(c, "bench sim --family nosuch", [*BENCH_SIM, "--family", "nosuch"]))
    cases.append(Case(c, "bench eval --episodes 0",
                      ["bench", "eval", "--family", "point-goal", "--episodes", "0"]))
    cases.append(Case(c, "bench train --steps -1",
                      ["bench", "train", "--family", "point-goal", "--steps", "-1"]))
    cases.append(Case(c, "bench unknown kind", ["bench", "frobnicate"]))

    quick = ["quickstart", "--no-video"]
    for name, argv in [("--seeds 0", ["--seeds", "0", "--train-steps", "0"]),
                       ("--train-steps -1", ["--seeds", "1", "--train-steps", "-1"]),
                       ("--out under /proc", ["--train-steps", "0", "--out", "/proc/qs"]),
                       ("--device tpu", ["--train-steps", "0", "--device", "tpu"])]:
        out = [] if "--out" in argv else ["--out", "{dir}/qs"]
        cases.append(Case(c, f"quickstart {name}", [*quick, *argv, *out], needs=("quickstart",),
                          timeout=120))
    return cases


POINT_TASKS = [{"family": "point-goal", "params": {"goal": [0.8, 0.6]}},
               {"family": "point-goal", "params": {"goal": [-0.6, 0.8]}}]


# -- family specs ------------------------------------------------------------------------------
SPEC_BASES = {"pg": "point-goal", "cv": "cheetah-vel", "cm": "cheetah-motor",
              "ac": "ant-crippled", "hp": "hopper-params"}


def spec_text(target: Target, base: str, mutations, rename: bool = True) -> str:
    """The target's own built-in spec ``base``, renamed ``probe-...`` (a user spec), with each
    ``(pattern, replacement)`` applied; a pattern that matches nothing makes the case n/a."""
    text = (target.root / "envs" / "families" / f"{base}.toml").read_text()
    if rename:
        text, n = re.subn(r'^name = ".*"$', f'name = "probe-{base}"', text, count=1,
                          flags=re.M)
        assert n == 1
    for pattern, replacement in mutations:
        if callable(pattern):
            text = pattern(text)
            continue
        text, n = re.subn(pattern, replacement, text, count=1, flags=re.M)
        if n == 0:
            raise NotApplicable(f"{base}.toml of this tree has no match for {pattern!r}")
    return text


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


def spec_cases() -> list[Case]:
    c = "family specs"
    cases: list[Case] = []

    def spec(name, base, mutations, if_accepted=ACCEPTED, split="test", expect="refuse",
             rename=True, timeout=TIMEOUT):
        def setup(target, folder):
            (folder / "probe.toml").write_text(
                spec_text(target, SPEC_BASES[base], mutations, rename))
        cases.append(Case(
            c, f"{SPEC_BASES[base]}: {name}",
            ["evaluate", "--policy", "zero", "--family", "{dir}/probe.toml", "--split", split,
             "--episodes", "1", "--threads", "1", "--out", "{dir}/r.json"],
            expect=expect, setup=setup, check=scored(if_accepted), timeout=timeout))

    spec("renamed copy (control)", "pg", [], expect="ok")
    for key in ("horizon", "robot", "task"):
        spec(f"missing {key}", "pg", [(rf"^{key} = .*\n", "")])
    spec("missing test split", "pg", [(r"^test = .*\n", "")])
    spec("missing distribution", "pg", [(r'^distribution = "disk"\n', "")])
    spec("missing params table", "pg", [(r"(?s)^\[params\.goal\].*?(?=^\[splits\])", "")])
    spec("unknown key", "pg", [(r"^(horizon = .*)$", r'\1\ncolour = "red"')])
    spec("typo horizn", "pg", [(r"^horizon = ", "horizn = ")], if_accepted=SILENT)
    spec("duplicated key", "pg", [(r"^(horizon = .*)$", r"\1\n\1")])
    for value, kind in [("nan", SILENT), ("0", ACCEPTED), ("-5", ACCEPTED), ('"50"', ACCEPTED),
                        ("50.5", ACCEPTED)]:
        spec(f"horizon = {value}", "pg", [(r"^horizon = .*$", f"horizon = {value}")],
             if_accepted=kind)
    spec("horizon = 10**9", "pg", [(r"^horizon = .*$", "horizon = 1000000000")],
         timeout=HANG_TIMEOUT)
    for value in ("5.5", "0"):
        spec(f"frame_skip = {value}", "pg", [(r"^frame_skip = .*$", f"frame_skip = {value}")])
    spec("frame_skip = 10**9", "pg", [(r"^frame_skip = .*$", "frame_skip = 1000000000")],
         timeout=HANG_TIMEOUT)
    spec("test count 10**7", "pg", [(r"^test = \{ count = \d+", "test = { count = 10000000")],
         timeout=HANG_TIMEOUT)
    for value in ("0", "-1"):
        spec(f"test count {value}", "pg",
             [(r"^test = \{ count = \d+", f"test = {{ count = {value}")])
    spec("test seed -1", "pg", [(r"^(test = \{ count = \d+, seed = )\d+", r"\g<1>-1")])
    spec("inverted radius range", "pg", [(r"radius = \[1\.0, 1\.0\]", "radius = [1.0, 0.5]")],
         if_accepted=SILENT)
    spec("inverted angle range", "pg",
         [(r"^(train = \{ radius = \[1\.0, 1\.0\], angle_deg = )\[0\.0, 180\.0\]",
           r"\g<1>[180.0, 0.0]")], if_accepted=SILENT)
    spec("NaN in a range", "pg", [(r"radius = \[1\.0, 1\.0\]", "radius = [nan, 1.0]")],
         if_accepted=SILENT)
    spec("unknown distribution", "pg", [(r'^distribution = "disk"', 'distribution = "diskk"')])
    spec("unknown robot", "pg", [(r'^robot = ".*"', 'robot = "point_mas"')])
    spec("unknown task kind", "pg", [(r'^task = ".*"', 'task = "gaol"')])
    spec("include_xy a string", "pg", [(r"^include_xy = true", 'include_xy = "yes"')])
    spec("reset_noise 1e6", "pg", [(r"^(horizon = .*)$", r"\1\nreset_noise = 1000000.0")],
         if_accepted=SILENT)
    spec("truncated mid-line", "pg", [(lambda t: t[: t.index("train = ") + 20], None)])
    spec("empty file", "pg", [(lambda t: "", None)])
    spec("ctrl_cost_weigth (typo)", "cv", [(r"^ctrl_cost_weight", "ctrl_cost_weigth")],
         if_accepted=SILENT)
    for value in ("nan", "inf"):
        spec(f"ctrl_cost_weight = {value}", "cv",
             [(r"^ctrl_cost_weight = .*$", f"ctrl_cost_weight = {value}")], if_accepted=SILENT)
    spec("inverted velocity range", "cv", [(r"^train = \[0\.0, 2\.0\]", "train = [2.0, 0.0]")],
         if_accepted=SILENT)
    spec("ood inside train", "cv", [(r"^ood = \[2\.0, 3\.0\]", "ood = [0.5, 1.5]")],
         split="ood", if_accepted=SILENT)
    spec("velocity parameter renamed", "cv",
         [(r"^\[params\.target_velocity\]", "[params.target_speed]")], if_accepted=SILENT)
    spec("selector naming no body", "cm", [(r'select = "torso"', 'select = "torsoo"')])
    spec("unknown model field", "cm", [(r'field = "body_mass"', 'field = "body_mas"')])
    spec("unknown apply mode", "cm", [(r'mode = "add"', 'mode = "multiply"')])
    spec("negative mass", "cm", [(r"(\[params\.payload_mass\][^\n]*\n[^\n]*\n)train = "
                                  r"\[0\.0, 3\.0\]", r"\1train = [-30.0, -20.0]")],
         if_accepted=SILENT)
    spec("a leg the robot lacks", "ac", [(r"^ood = \[3\.0\]", "ood = [9.0]"),
                                          (r"crippled_leg = \[3\.0\]", "crippled_leg = [9.0]")],
         split="ood", if_accepted=SILENT)
    spec("unknown per", "hp", [(r'per = "body"', 'per = "bodyy"')])

    def garbage(target, folder):
        (folder / "probe.toml").write_bytes(bytes(range(256)) * 4)

    for name, setup in [("binary garbage", garbage),
                        ("a directory", lambda t, f: (f / "probe.toml").mkdir()),
                        ("a missing file", None)]:
        cases.append(Case(c, f"spec file: {name}",
                          ["evaluate", *ZERO[:2], "--family", "{dir}/probe.toml",
                           "--episodes", "1", "--out", "{dir}/r.json"], setup=setup))

    def collision(target, folder):
        text = spec_text(target, "point-goal", [(r"^horizon = .*$", "horizon = 10")],
                         rename=False)
        (folder / "mine.toml").write_text(text)

    def same_name_check(target, folder, proc):
        if proc.rc != 0:
            return None
        value = mean_return(folder)
        if value is not None and value < -20:  # -1 per step: 10 steps give about -10
            return SILENT, (f"exit 0, scored with the built-in point-goal (horizon 50: mean "
                            f"return {value:.2f}), not the file (horizon 10)")
        return CLEAN, f"exit 0, the file's own family (mean return {value:.2f})"

    cases.append(Case(c, "point-goal: a built-in's name on other content (horizon 10)",
                      ["evaluate", *ZERO[:2], "--family", "{dir}/mine.toml", "--episodes", "1",
                       "--out", "{dir}/r.json"], setup=collision, check=same_name_check))
    cases.append(Case(c, "point-goal: a user spec trained, then evaluated", custom=user_spec_run))
    return cases


def user_spec_run(target: Target, folder: Path) -> tuple[str, str]:
    (folder / "my-goal.toml").write_text(spec_text(target, "point-goal", []))
    run_dir = folder / "run"
    argv = ["train", *TINY, "--family", str(folder / "my-goal.toml"), "--out", str(run_dir)]
    proc = run(target, argv, folder)
    kind, detail = verdict(Case("", "", expect="ok"), target, folder, proc)
    if kind != CLEAN:
        return kind, "train: " + detail
    metrics = _rows(run_dir / "metrics.csv")
    if not metrics or not metrics[-1].get("eval/return_ep1"):
        return SILENT, "train: exit 0 without a quick evaluation on the spec's val/test tasks"
    proc = run(target, ["evaluate", "--policy", str(run_dir), "--episodes", "1", "--threads",
                        "1", "--out", str(folder / "r.json")], folder)
    kind, detail = verdict(Case("", "", expect="ok"), target, folder, proc)
    return kind, ("evaluate: " if kind != CLEAN else "trained and evaluated: ") + detail


# -- tasks files -------------------------------------------------------------------------------
def tasks_cases() -> list[Case]:
    c = "tasks files"
    cases: list[Case] = []
    goal = POINT_TASKS[0]

    def tasks(name, content, expect="refuse", if_accepted=SILENT):
        def setup(target, folder):
            path = folder / "tasks.json"
            if isinstance(content, bytes):
                path.write_bytes(content)
            elif isinstance(content, str):
                path.write_text(content)
            elif content is not None:
                path.write_text(json.dumps(content))
        cases.append(Case(c, name, ["evaluate", *ZERO, "--tasks-file", "{dir}/tasks.json",
                                    "--out", "{dir}/r.json"],
                          expect=expect, setup=setup, check=scored(if_accepted)))

    def task(**params):
        return [{"family": "point-goal", "params": params}]

    tasks("valid file (control)", POINT_TASKS, expect="ok")
    tasks("malformed JSON", '[{"family": "point-goal", "params": ')
    tasks("empty file", "")
    tasks("binary garbage", bytes(range(256)))
    tasks("an object, not a list", {"tasks": POINT_TASKS})
    tasks("an empty list", [])
    tasks("a list of numbers", [1, 2, 3])
    tasks("another family's tasks", [{"family": "cheetah-vel",
                                      "params": {"target_velocity": 1.0}}])
    tasks("family key missing", [{"params": goal["params"]}])
    tasks("goal out of range", task(goal=[100.0, 0.0]))
    tasks("NaN goal", '[{"family": "point-goal", "params": {"goal": [NaN, 0.5]}}]')
    tasks("infinite goal", '[{"family": "point-goal", "params": {"goal": [Infinity, 0.5]}}]')
    tasks("huge integer", '[{"family": "point-goal", "params": {"goal": [1' + "0" * 400
          + ', 0]}}]')
    tasks("a string value", task(goal=["abc", 0.5]))
    tasks("wrong vector size", task(goal=[0.5]))
    tasks("missing parameter", task())
    tasks("unknown parameter", task(goal=[0.8, 0.6], speed=1.0))
    tasks("a missing file", None)
    cases.append(Case(c, "a directory", ["evaluate", *ZERO, "--tasks-file", "{dir}",
                                        "--out", "{dir}/r.json"]))
    return cases


# -- checkpoints -------------------------------------------------------------------------------
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


# -- SB3 zips ----------------------------------------------------------------------------------
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


# -- actions (library scripts in the target) ---------------------------------------------------
ACTION_SCRIPT = r'''
import json, sys
import numpy as np
from robo_meta import envs
from robo_meta.envs import RoboMetaError

FAMILY, N, A = "cheetah-vel", 3, 6

def single():
    env = envs.make(FAMILY, task=envs.get_family(FAMILY).tasks("test")[0])
    env.reset(seed=0)
    return env

def vec():
    v = envs.make_vec(FAMILY, N, tasks=envs.get_family(FAMILY).tasks("test")[:N], nthread=1)
    v.reset(seed=0)
    return v

def same(make, given, reference):
    a, b = make().step(given), make().step(reference)
    equal = all(np.array_equal(np.asarray(x), np.asarray(y)) for x, y in zip(a[:4], b[:4]))
    return {"ok": bool(equal), "detail": "as its float64 values" if equal else
            "differs from stepping its float64 values"}

def nan_single():
    env = single()
    obs, reward, terminated, truncated, info = env.step(np.full(A, np.nan))
    ok = bool(info["sim_failed"] and truncated and reward == 0.0 and np.isfinite(obs).all())
    env.reset(seed=1)
    ok = ok and not env.step(np.zeros(A))[4]["sim_failed"]
    return {"ok": ok, "detail": f"sim_failed={info['sim_failed']}, reward={reward}"}

def nan_vec():
    actions = np.random.default_rng(0).uniform(-1, 1, (N, A))
    poisoned = actions.copy(); poisoned[1, 2] = np.nan
    got, want = vec().step(poisoned), vec().step(actions)
    failed = np.asarray(got[4]["sim_failed"]).tolist()
    others = all(np.array_equal(g[[0, 2]], w[[0, 2]]) for g, w in zip(got[:2], want[:2]))
    ok = failed == [False, True, False] and others and np.isfinite(got[0]).all()
    return {"ok": bool(ok), "detail": f"sim_failed={failed}, others unchanged: {others}"}

def transposed():
    actions = np.random.default_rng(0).uniform(-1, 1, (N, A))
    got = vec().step(actions.T.copy())
    want = vec().step(actions)
    return {"detail": "stepped without error; rewards "
            + ("equal" if np.array_equal(got[1], want[1]) else "differ")
            + " from the intended actions (components moved between simulations)"}

REFUSE = {
    "single: scalar": lambda: single().step(0.5),
    "single: one component short": lambda: single().step(np.zeros(A - 1)),
    "single: one component long": lambda: single().step(np.zeros(A + 1)),
    "single: a (1, A) row": lambda: single().step(np.zeros((1, A))),
    "single: 3-D": lambda: single().step(np.zeros((1, A, 1))),
    "single: complex": lambda: single().step(np.full(A, 0.5 + 0.5j)),
    "single: object dtype": lambda: single().step(np.zeros(A).astype(object)),
    "single: str dtype": lambda: single().step(np.full(A, "0.5")),
    "single: ragged list": lambda: single().step([[0.1, 0.2], [0.3]]),
    "vector: transposed (A, n)": transposed,
    "vector: flat (n*A,)": lambda: vec().step(np.zeros(N * A)),
    "vector: one action for all (A,)": lambda: vec().step(np.zeros(A)),
    "vector: one component short": lambda: vec().step(np.zeros((N, A - 1))),
    "vector: 3-D (n, A, 1)": lambda: vec().step(np.zeros((N, A, 1))),
    "vector: complex": lambda: vec().step(np.full((N, A), 0.5 + 0.5j)),
    "vector: str dtype": lambda: vec().step(np.full((N, A), "0.5")),
}
OK = {
    "single: list": lambda: same(single, [0.1] * A, np.full(A, 0.1)),
    "single: tuple of ints": lambda: same(single, (1, 0, -1, 0, 1, 0),
                                          np.array([1.0, 0, -1, 0, 1, 0])),
    "single: float32": lambda: same(single, np.full(A, 0.3, np.float32),
                                    np.full(A, 0.3, np.float32).astype(np.float64)),
    "single: out of bounds clipped": lambda: same(
        single, np.array([1e6, -1e6, np.inf, -np.inf, 2.0, -2.0]),
        np.array([1.0, -1.0, 1.0, -1.0, 1.0, -1.0])),
    "single: NaN contained": nan_single,
    "vector: nested lists": lambda: same(vec, [[0.1] * A] * N, np.full((N, A), 0.1)),
    "vector: int array": lambda: same(vec, np.ones((N, A), np.int64), np.ones((N, A))),
    "vector: out of bounds clipped": lambda: same(vec, np.full((N, A), 5.0), np.ones((N, A))),
    "vector: NaN in one simulation": nan_vec,
}

case = sys.argv[1]
try:
    result = (REFUSE.get(case) or OK[case])()
    result = result if isinstance(result, dict) else {"detail": "stepped without error"}
    result["raised"] = None
except Exception as exc:
    result = {"raised": type(exc).__name__, "robo": isinstance(exc, RoboMetaError),
              "message": str(exc)}
result["expect"] = "refuse" if case in REFUSE else "ok"
print("PROBE-RESULT " + json.dumps(result))
'''

ACTION_CASES = {
    "single: scalar": SILENT, "single: one component short": ACCEPTED,
    "single: one component long": ACCEPTED, "single: a (1, A) row": ACCEPTED,
    "single: 3-D": ACCEPTED, "single: complex": SILENT, "single: object dtype": ACCEPTED,
    "single: str dtype": ACCEPTED, "single: ragged list": ACCEPTED,
    "vector: transposed (A, n)": SILENT, "vector: flat (n*A,)": ACCEPTED,
    "vector: one action for all (A,)": SILENT, "vector: one component short": ACCEPTED,
    "vector: 3-D (n, A, 1)": ACCEPTED, "vector: complex": SILENT,
    "vector: str dtype": ACCEPTED,
    "single: list": None, "single: tuple of ints": None, "single: float32": None,
    "single: out of bounds clipped": None, "single: NaN contained": None,
    "vector: nested lists": None, "vector: int array": None,
    "vector: out of bounds clipped": None, "vector: NaN in one simulation": None,
}


def action_cases() -> list[Case]:
    return [Case("actions", name, script=name, expect="ok" if kind is None else "refuse",
                 if_accepted=kind or ACCEPTED, timeout=60)
            for name, kind in ACTION_CASES.items()]


def library_verdict(case: Case, folder: Path, proc: Proc) -> tuple[str, str]:
    if proc.timed_out:
        return HANG, f"no end after {proc.seconds:.0f} s"
    marks = [line for line in proc.out.splitlines() if line.startswith("PROBE-RESULT ")]
    if not marks:
        return TRACE, "the script died: " + _last(proc.err)
    result = json.loads(marks[-1][len("PROBE-RESULT "):])
    raised = result["raised"]
    if raised is not None and not result["robo"]:
        return TRACE, f"{raised}: {_last(result['message'])}"
    if case.expect == "refuse":
        if raised is None:
            return case.if_accepted, result.get("detail", "")
        if "\n" in result["message"].strip():
            return UNCLEAR, "RoboMetaError of several lines"
        return CLEAN, result["message"]
    if raised is not None:
        return REFUSED, result["message"]
    return (CLEAN, result["detail"]) if result["ok"] else (SILENT, result["detail"])


# -- runs: kill -9, concurrency, closed pipes --------------------------------------------------
LONG = ["--total-steps", "40960", "--eval-every", "2048", "--checkpoint-every", "1024"]


def _rows(path: Path) -> list[dict[str, str]]:
    import csv

    if not path.is_file():
        return []
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def metrics_problems(run_dir: Path) -> list[str]:
    """What is wrong with a run directory after it ended: rows, steps, temporaries."""
    problems = []
    steps = []
    for row in _rows(run_dir / "metrics.csv"):
        try:
            steps.append(int(float(row["step"])))
        except (KeyError, TypeError, ValueError):
            problems.append(f"a malformed metrics row {str(row)[:60]}")
    duplicates = len(steps) - len(set(steps))
    backwards = sum(1 for a, b in zip(steps, steps[1:], strict=False) if b <= a)
    if duplicates:
        problems.append(f"{duplicates} duplicated step rows")
    if backwards:
        problems.append(f"{backwards} non-increasing steps")
    stray = [p.name for p in run_dir.rglob("*") if p.name.startswith((".tmp", "tmp"))]
    if stray:
        problems.append(f"{len(stray)} temporary files left ({stray[0]})")
    return problems


def _wait_rows(path: Path, process: subprocess.Popen, rows: int, limit: float) -> bool:
    """Wait until metrics.csv has ``rows`` rows and a checkpoint exists (a run killed before
    its first checkpoint has nothing to resume)."""
    end = time.monotonic() + limit
    while time.monotonic() < end and process.poll() is None:
        if len(_rows(path)) >= rows and (path.parent / "state.pt").is_file():
            return True
        time.sleep(0.05)
    return False


def kill_resume(target: Target, folder: Path) -> tuple[str, str]:
    rng = random.Random(13)
    run_dir = folder / "run"
    kills = 0
    for attempt in range(4):
        argv = (["train", *TINY, *LONG, "--out", str(run_dir)] if attempt == 0
                else ["train", "--resume", str(run_dir), "--no-progress", "--threads", "1"])
        process = spawn(target, argv, folder, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        have = len(_rows(run_dir / "metrics.csv"))
        if _wait_rows(run_dir / "metrics.csv", process, have + rng.randint(2, 12), 60):
            time.sleep(rng.uniform(0, 0.2))
            kill(process)
            kills += 1
        _, err = process.communicate(timeout=60)
        if process.returncode not in (0, -signal.SIGKILL):
            return _kind_of_failure(err), f"after {kills} kills: " + _last(err)
        if process.returncode == 0:
            break
    proc = run(target, ["train", "--resume", str(run_dir), "--no-progress", "--threads", "1"],
               folder, timeout=180)
    kind, detail = verdict(Case("", "", expect="ok"), target, folder, proc)
    if kind != CLEAN:
        return kind, f"final resume after {kills} kills: {detail}"
    problems = metrics_problems(run_dir)
    steps = [int(float(r["step"])) for r in _rows(run_dir / "metrics.csv")]
    if not steps or steps[-1] != 40960:
        problems.append(f"ended at step {steps[-1] if steps else None}, not 40960")
    if problems:
        return TORN, f"{kills} kills then resume: " + "; ".join(problems)
    return CLEAN, f"{kills} kills then resume: {len(steps)} rows, steps strictly increasing"


def _kind_of_failure(err: str) -> str:
    return TRACE if "Traceback (most recent call last)" in err else UNCLEAR


def two_on_one_dir(resume: bool):
    """Two trainings (or two resumes of one run) started together on one directory: one may
    run, the other must be refused in one line, and the run directory must stay whole."""
    def custom(target: Target, folder: Path) -> tuple[str, str]:
        run_dir = folder / "run"
        if resume:
            shutil.copytree(run_dr(target), run_dir)
            argv = ["train", "--resume", str(run_dir), "--total-steps", "40960",
                    "--no-progress", "--threads", "1"]
        else:
            argv = ["train", *TINY, *LONG, "--out", str(run_dir)]
        started = time.monotonic()
        both = [spawn(target, argv, folder, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                for _ in range(2)]
        ends = [finish(p, 240, started) for p in both]
        problems = metrics_problems(run_dir)
        ran = [e for e in ends if e.rc == 0]
        if len(ran) == 2:
            return TORN, "both ran on one directory" + (
                ": " + "; ".join(problems) if problems else "")
        refused = [e for e in ends if e.rc != 0]
        verdicts = [verdict(Case("", ""), target, folder, e) for e in refused]
        worst = next((v for v in verdicts if v[0] != CLEAN), None)
        if worst is not None:
            return worst[0], ("neither ran; " if not ran else "") + worst[1]
        if not ran:
            return UNCLEAR, "neither ran: " + verdicts[0][1]
        if problems:
            return TORN, "; ".join(problems)
        return CLEAN, "one ran; the other: " + verdicts[0][1]
    return custom


def existing_run_dir(target: Target, folder: Path) -> tuple[str, str]:
    run_dir = copy_run(target, folder)
    _remember(run_dir, folder)
    proc = run(target, ["train", *TINY, "--total-steps", "128", "--out", str(run_dir)], folder)
    kind, detail = verdict(Case("", ""), target, folder, proc)
    if kind in (CLEAN, ACCEPTED):
        changed = run_dir_unchanged(lambda f: f / "run")(target, folder, proc)
        if changed is not None:
            problems = metrics_problems(run_dir)
            return TORN, changed[1] + ("; " + "; ".join(problems) if problems else "")
    return kind, detail


def closed_pipe(target: Target, folder: Path, unbuffered: bool = False) -> tuple[str, str]:
    """``families -v`` into a pipe whose reader has gone, through ``scripts/families.py`` (run
    as a file, as the ``robo-meta`` console script is: under ``python -c`` or ``-m`` the
    interpreter itself reports the failed flush of its buffered stdout at exit).
    ``unbuffered``: each line written as printed (PYTHONUNBUFFERED=1), as output longer than
    stdout's buffer is, so the failed write happens inside the command."""
    env = target.env()
    if unbuffered:
        env["PYTHONUNBUFFERED"] = "1"
    read, write = os.pipe()
    os.close(read)  # the reader is gone before the output comes (| head -1 that has read)
    started = time.monotonic()
    process = subprocess.Popen([sys.executable, str(target.root / "scripts" / "families.py"),
                                "-v"], cwd=folder, env=env, stdout=write,
                               stderr=subprocess.PIPE, text=True, start_new_session=True)
    os.close(write)
    proc = finish(process, TIMEOUT, started)
    if proc.timed_out:
        return HANG, "no end"
    if "Traceback (most recent call last)" in proc.err:
        return TRACE, _last(proc.err)
    if proc.lines:  # e.g. the interpreter's "Exception ignored ... BrokenPipeError" at exit
        return UNCLEAR, f"exit {proc.rc}: " + " / ".join(proc.lines)[:160]
    return CLEAN, f"ended quietly (exit {proc.rc})"


def run_cases() -> list[Case]:
    c = "runs"
    return [
        Case(c, "kill -9 at random moments, then --resume", custom=kill_resume, timeout=300),
        Case(c, "two trainings started together on one --out", custom=two_on_one_dir(False)),
        Case(c, "two --resume of one run started together", custom=two_on_one_dir(True)),
        Case(c, "a new training on an existing run directory", custom=existing_run_dir),
        Case(c, "families -v | head -1 (the reader gone)", custom=closed_pipe),
        Case(c, "families -v | head -1 (the reader gone, unbuffered output)",
             custom=lambda target, folder: closed_pipe(target, folder, unbuffered=True)),
    ]


# -- the probe ---------------------------------------------------------------------------------
def all_cases(cuda: bool = False) -> list[Case]:
    return (cli_flag_cases(cuda) + spec_cases() + tasks_cases() + checkpoint_cases()
            + sb3_cases() + action_cases() + run_cases())


def probe(root: Path, scratch: Path, jobs: int = 2, only: str | None = None,
          report: Callable[[Outcome], None] | None = None) -> list[Outcome]:
    """Run every case (or those whose category or name contains ``only``) against ``root``."""
    import torch

    check_root(root)
    features, _ = detect(root)
    target = Target(root, scratch, features, cuda=torch.cuda.is_available())
    cases = all_cases(target.cuda)
    if only:
        cases = [c for c in cases if only in f"{c.category}: {c.name}"]
    outcomes: list[Outcome | None] = [None] * len(cases)
    # slow cases first, so the pool's tail is short
    order = sorted(range(len(cases)), key=lambda i: cases[i].custom is None)
    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = {pool.submit(run_case, cases[i], target, i): i for i in order}
        for future in concurrent.futures.as_completed(futures):
            i = futures[future]
            try:
                outcome = future.result()
            except Exception as exc:  # a bug in the probe, not in the target: say so
                outcome = Outcome(cases[i].category, cases[i].name, "probe error",
                                  f"{type(exc).__name__}: {exc}")
            outcomes[i] = outcome
            if report is not None:
                report(outcome)
    for leftover in (target.root / "policies" / "pretrained").glob("probe-never-written"):
        shutil.rmtree(leftover, ignore_errors=True)
    return [o for o in outcomes if o is not None]


def totals(outcomes: list[Outcome]) -> dict[str, dict[str, int]]:
    """Per category: tried (n/a excluded), clean, mishandled, and mishandled per kind."""
    table: dict[str, dict[str, int]] = {}
    for o in outcomes:
        for key in (o.category, "total"):
            row = table.setdefault(key, {"tried": 0, "clean": 0, "mishandled": 0, "n/a": 0})
            if o.kind == NA:
                row["n/a"] += 1
                continue
            row["tried"] += 1
            if o.kind == CLEAN:
                row["clean"] += 1
            else:
                row["mishandled"] += 1
                row[o.kind] = row.get(o.kind, 0) + 1
    return table


# -- command line and tables -------------------------------------------------------------------
def save(path: Path, root: Path, outcomes: list[Outcome], seconds: float) -> None:
    commit = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain",
                            "--untracked-files=no"], capture_output=True, text=True).stdout
    data = {"root": str(root), "commit": commit + ("+dirty" if dirty.strip() else ""),
            "seconds": round(seconds, 1), "cpus": os.cpu_count(),
            "load": [round(x, 2) for x in os.getloadavg()],
            "totals": totals(outcomes), "cases": [vars(o) for o in outcomes]}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1) + "\n")


def markdown(before: dict, after: dict) -> str:
    """Before/after tables (per category, per kind) and the cases still mishandled after."""
    b, a = before["totals"], after["totals"]
    blank = {"tried": 0, "clean": 0, "mishandled": 0, "n/a": 0}
    lines = ["| category | tried (before / after) | clean | mishandled | n/a |",
             "|---|---:|---:|---:|---:|"]
    for name in [*CATEGORIES, "total"]:
        x, y = b.get(name, blank), a.get(name, blank)
        bold = "**" if name == "total" else ""
        lines.append(f"| {bold}{name}{bold} | {x['tried']} / {y['tried']} | {x['clean']} / "
                     f"{y['clean']} | {bold}{x['mishandled']} / {y['mishandled']}{bold} | "
                     f"{x['n/a']} / {y['n/a']} |")
    lines += ["", "| kind of mishandling | before | after |", "|---|---:|---:|"]
    for kind in [*KINDS, "probe error"]:
        x, y = b["total"].get(kind, 0), a["total"].get(kind, 0)
        if x or y or kind in KINDS:
            lines.append(f"| {kind} | {x} | {y} |")
    lines += ["", "Per category and kind (before / after):", "",
              "| kind | " + " | ".join(CATEGORIES) + " |",
              "|---|" + "---:|" * len(CATEGORIES)]
    for kind in KINDS:
        cells = [f"{b.get(c, {}).get(kind, 0)} / {a.get(c, {}).get(kind, 0)}"
                 for c in CATEGORIES]
        lines.append(f"| {kind} | " + " | ".join(cells) + " |")
    left = [c for c in after["cases"] if c["kind"] not in (CLEAN, NA)]
    lines += ["", f"Still mishandled after ({len(left)}):", ""]
    lines += ["| category | case | kind | what happened |", "|---|---|---|---|"]
    for c in left:
        detail = c["detail"].replace("|", "\\|")
        lines.append(f"| {c['category']} | {c['name']} | {c['kind']} | {detail} |")
    return "\n".join(lines)


def print_totals(outcomes: list[Outcome], file=sys.stdout) -> None:
    table = totals(outcomes)
    print(f"{'category':<16} {'tried':>6} {'clean':>6} {'mishandled':>11} {'n/a':>5}  kinds",
          file=file)
    for name in [*CATEGORIES, "total"]:
        row = table.get(name)
        if row is None:
            continue
        kinds = ", ".join(f"{k}: {row[k]}" for k in [*KINDS, "probe error"] if row.get(k))
        print(f"{name:<16} {row['tried']:>6} {row['clean']:>6} {row['mishandled']:>11} "
              f"{row['n/a']:>5}  {kinds}", file=file)


def main(argv: list[str] | None = None) -> int:
    import argparse
    import tempfile

    parser = argparse.ArgumentParser(
        prog="probe_reliability.py",
        description="Feed bad input to every boundary of a robo_meta tree; classify each case.")
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[3],
                        help="the robo_meta source tree to probe (default: this checkout)")
    parser.add_argument("--jobs", type=int, default=2, help="cases run at once (default 2)")
    parser.add_argument("--only", help="only cases whose 'category: name' contains this")
    parser.add_argument("--json", type=Path, help="write every outcome and the totals here")
    parser.add_argument("--scratch", type=Path, help="working folder (default: a temporary "
                        "one, removed at the end)")
    parser.add_argument("--quiet", action="store_true", help="only the totals")
    parser.add_argument("--list", action="store_true", help="list the cases and exit")
    parser.add_argument("--markdown", nargs=2, type=Path, metavar=("BEFORE", "AFTER"),
                        help="print the before/after tables of two --json files and exit")
    args = parser.parse_args(argv)
    if args.markdown:
        before, after = (json.loads(p.read_text()) for p in args.markdown)
        print(markdown(before, after))
        return 0
    if args.list:
        for case in all_cases():
            print(f"{case.category}: {case.name}")
        return 0
    if args.jobs < 1:
        parser.error("--jobs must be at least 1")
    root = args.root.resolve()
    scratch = args.scratch or Path(tempfile.mkdtemp(prefix="robo-meta-probe-"))
    started = time.monotonic()

    def report(outcome: Outcome) -> None:
        if not args.quiet:
            mark = "ok  " if outcome.kind in (CLEAN, NA) else "BAD "
            print(f"{mark}{outcome.category}: {outcome.name}: {outcome.kind}"
                  + (f" ({outcome.detail[:140]})" if outcome.kind != CLEAN else ""),
                  flush=True)

    try:
        outcomes = probe(root, scratch, args.jobs, args.only, report)
    finally:
        if args.scratch is None:
            for frozen in scratch.rglob("readonly"):
                _unfreeze(frozen.parent)
            shutil.rmtree(scratch, ignore_errors=True)
    seconds = time.monotonic() - started
    print(f"\n{root}: {len(outcomes)} cases in {seconds:.0f} s")
    print_totals(outcomes)
    if args.json:
        save(args.json, root, outcomes, seconds)
    return 0
