"""The probe's command line (``main``, behind scripts/probe_reliability.py) and its
tables: the totals per category and kind, the JSON file of ``--json`` (every outcome, the
totals, the commit and the load), the terminal summary, and the before/after Markdown tables
of two such files (``--markdown``) that docs/reliability.md shows.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from robo_meta.bench.reliability.core import (
    CATEGORIES,
    CLEAN,
    KINDS,
    NA,
    Outcome,
    _unfreeze,
)
from robo_meta.bench.reliability.runner import all_cases, probe


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
