"""Thin entry point: ``python scripts/bench.py ...`` is ``robo-meta bench ...``."""

import sys

from robo_meta.cli.main import main

if __name__ == "__main__":
    sys.exit(main(["bench", *sys.argv[1:]]))
