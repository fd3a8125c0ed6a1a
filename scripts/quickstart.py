"""Thin entry point: ``python scripts/quickstart.py ...`` is ``robo-meta quickstart ...``."""

import sys

from robo_meta.cli.main import main

if __name__ == "__main__":
    sys.exit(main(["quickstart", *sys.argv[1:]]))
