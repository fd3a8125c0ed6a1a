"""``robo-meta compare``: several evaluation reports as one figure and a few tables.

Everything is computed from the report JSON files alone (their per-task, per-seed returns
and episode lengths). The reports must be *paired*: the same family, task list and seeds per
task (``robo-meta evaluate`` with the same ``--split``/``--tasks-file``, ``--seeds`` and
``--seed``); otherwise compare says so in one line and exits with status 2, writing nothing.
``--curves-only`` lifts that and draws the curves alone (say the test and ood curves of one
policy). For paired reports it prints

- the curves: mean return ± 95 % CI over tasks per episode index (and success, lengths);
- the paired difference A - B per episode with a 95 % CI on the per-task differences, for
  every report against each dr report and each oracle report (oracle - dr once); without
  either, every report against the first one given;
- with a dr and an oracle report, the normalized score (R_k - R_dr,k) / (R_oracle,k - R_dr,k)
  of every other report, with a 95 % bootstrap interval over tasks, also drawn in a second
  panel of the figure.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from robo_meta.argtypes import check_writable
from robo_meta.envs.errors import RoboMetaError


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "compare", help="compare evaluation reports (curves, paired differences, normalized "
                        "score)",
        description="Plot the adaptation curves of several `robo-meta evaluate` reports of the "
                    "same tasks and seeds and print them as a table, with the paired "
                    "difference of each report against dr and oracle (or against the first "
                    "report) and, given dr and oracle reports, the normalized score of the "
                    "others; 95%% intervals throughout.",
    )
    parser.add_argument("reports", nargs="+", type=Path, help="report JSON files")
    parser.add_argument("--out", type=Path, default=Path("reports/compare.png"),
                        help="figure path (default reports/compare.png)")
    parser.add_argument("--curves-only", action="store_true",
                        help="reports of different tasks or seeds: curves and means only, no "
                             "paired statistics")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from robo_meta import io
    from robo_meta import report as reports

    if args.out.suffix.lower() != ".png":
        raise RoboMetaError(f"--out {args.out}: the figure is a PNG (name it .png)")
    check_writable(args.out, "--out")
    loaded = [reports.load_report(path) for path in args.reports]
    comparison = reports.compare(loaded, args.reports, curves_only=args.curves_only)
    png = reports.render_png(reports.plot_compare(comparison))
    for note in comparison.notes:
        print(f"note: {note}")
    print(reports.compare_tables(comparison))
    with io.atomic_path(args.out) as tmp:
        tmp.write_bytes(png)
    print(f"figure: {args.out}")
    return 0
