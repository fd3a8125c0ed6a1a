"""Thin entry point: ``python scripts/demo.py ...`` is ``robo-meta demo ...``."""

import sys

from robo_meta.cli.main import main

if __name__ == "__main__":
    sys.exit(main(["demo", *sys.argv[1:]]))
