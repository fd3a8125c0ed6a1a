"""Thin entry point: ``python scripts/probe_reliability.py [--root TREE] [--json OUT]``.

Feeds bad input to every boundary of a robo_meta source tree (CLI flags, family specs, tasks
files, checkpoints, SB3 zips, actions, kill -9 and concurrent runs) and classifies how each
case was handled; see the package robo_meta/bench/reliability/ and docs/reliability.md.
"""

import sys

from robo_meta.bench.reliability import main

if __name__ == "__main__":
    sys.exit(main())
