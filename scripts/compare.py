"""Thin entry point: ``python scripts/compare.py ...`` is ``robo-meta compare ...``."""

import sys

from robo_meta.cli.main import main

if __name__ == "__main__":
    sys.exit(main(["compare", *sys.argv[1:]]))
