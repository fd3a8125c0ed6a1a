"""Thin entry point: ``python scripts/evaluate.py ...`` is ``robo-meta evaluate ...``."""

import sys

from robo_meta.cli.main import main

if __name__ == "__main__":
    sys.exit(main(["evaluate", *sys.argv[1:]]))
