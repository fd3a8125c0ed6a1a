"""Runs: the accidents of long trainings on shared machines must leave the run directory
whole.

``kill -9`` at random moments of a training (after a checkpoint exists), then ``--resume``
to the end: metrics.csv steps strictly increasing, no temporaries, the last step reached
(``metrics_problems``). Two trainings, or two resumes of one run, started together on one
directory: one may run, the other must be refused in one line. A new training on an existing
run directory must not touch it. ``families -v`` into a pipe whose reader has gone, with
buffered and unbuffered output, must end quietly.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from robo_meta.bench.reliability.core import (
    ACCEPTED,
    CLEAN,
    HANG,
    TIMEOUT,
    TINY,
    TORN,
    TRACE,
    UNCLEAR,
    Case,
    Target,
    _last,
    _remember,
    _rows,
    copy_run,
    finish,
    kill,
    run,
    run_dir_unchanged,
    run_dr,
    spawn,
    verdict,
)

LONG = ["--total-steps", "40960", "--eval-every", "2048", "--checkpoint-every", "1024"]


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
