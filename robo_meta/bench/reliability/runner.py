"""The probe run: the case table of every category in its fixed order (``all_cases``, the
order ``--list`` prints and the JSON reports keep), one case run in a folder of its own
(``run_case``: its setup, then its process or its custom run, then the verdict; ``n/a`` where
the tree lacks a feature or a fixture), and the table run against a tree in a thread pool,
slow cases first (``probe``).
"""

from __future__ import annotations

import concurrent.futures
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from robo_meta.bench.reliability.actions import ACTION_SCRIPT, action_cases, library_verdict
from robo_meta.bench.reliability.checkpoints import checkpoint_cases
from robo_meta.bench.reliability.cli_flags import cli_flag_cases
from robo_meta.bench.reliability.core import (
    CODE,
    NA,
    Case,
    FixtureError,
    NotApplicable,
    Outcome,
    Target,
    _unfreeze,
    check_root,
    detect,
    run,
    verdict,
)
from robo_meta.bench.reliability.runs import run_cases
from robo_meta.bench.reliability.sb3_zips import sb3_cases
from robo_meta.bench.reliability.specs import spec_cases
from robo_meta.bench.reliability.tasks_files import tasks_cases


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
