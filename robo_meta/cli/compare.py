"""``robo-meta compare``: several evaluation reports as one figure and one table.

Curves (mean return ± 95 % CI per episode index) of every report share one plot. Where a
``dr`` report and an ``oracle`` report cover the same tasks (same family, same task list),
every other report on those tasks also gets the normalized score
(R_k - R_dr,k) / (R_oracle,k - R_dr,k), printed and drawn in a second panel.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from robo_meta.envs.errors import RoboMetaError


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "compare", help="compare evaluation reports (curves, table, normalized score)",
        description="Plot the adaptation curves of several `robo-meta evaluate` reports and "
                    "print them as a table; with dr and oracle reports on the same tasks, "
                    "also the normalized score of the others.",
    )
    parser.add_argument("reports", nargs="+", type=Path, help="report JSON files")
    parser.add_argument("--out", type=Path, default=Path("reports/compare.png"),
                        help="figure path (default reports/compare.png)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from robo_meta import io
    from robo_meta import report as reports

    if args.out.suffix.lower() != ".png":
        raise RoboMetaError(f"--out {args.out}: the figure is a PNG (name it .png)")
    loaded = [reports.load_report(path) for path in args.reports]
    names = reports.labels(loaded, args.reports)
    groups, notes = reports.normalized_scores(loaded)
    if len({reports.tasks_key(r) for r in loaded}) > 1:
        sets = sorted({f"{r['family']} {reports.split_label(r)} ({r['num_tasks']} tasks)"
                       for r in loaded})
        print("note: these reports are on different tasks (" + "; ".join(sets) + "): their "
              "curves are not directly comparable, and only reports that share their tasks "
              "with a dr and an oracle report get a normalized score")
    for note in notes:
        print(f"note: {note}")
    png = reports.render_png(reports.plot_compare(loaded, names, groups))
    print(reports.compare_tables(loaded, names, groups))
    with io.atomic_path(args.out) as tmp:
        tmp.write_bytes(png)
    print(f"figure: {args.out}")
    return 0
